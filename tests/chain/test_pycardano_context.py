"""`PycardanoContext`: pycardano's TransactionBuilder pays, submits and evaluates on the devnet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import cbor2
import pytest
from pycardano import (
    Address,
    CostModels,
    ExecutionUnits,
    Network,
    PaymentSigningKey,
    PlutusData,
    PlutusV3Script,
    Redeemer,
    TransactionBuilder,
    TransactionFailedException,
    TransactionOutput,
)

from cardano_market.chain.base import SubmitError
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.chain.pycardano_context import PycardanoContext, cost_model, redeemer_key
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import default_parameters
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.synthetic import SyntheticWallet, wallet
from worlds import START_MS

NOW_S = START_MS / 1000 + 5_000  # slot 5000
ADA = 1_000_000
ALWAYS_SUCCEEDS_V3 = bytes.fromhex("450101002499")  # (program 1.1.0 (lam ctx (con unit ())))
TOKEN = (b"\x5e" * 28, b"Song")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DevnetBackend]:
    chain = DevnetBackend.open(
        tmp_path / "devnet.sqlite", system_start_ms=START_MS, clock=lambda: NOW_S
    )
    yield chain
    chain.close()


@pytest.fixture
def alice() -> SyntheticWallet:
    return wallet("alice")


@pytest.fixture
def bob() -> SyntheticWallet:
    return wallet("bob")


@pytest.fixture
def funded(backend: DevnetBackend, alice: SyntheticWallet, bob: SyntheticWallet) -> DevnetBackend:
    backend.ledger.genesis(
        [
            TxOutput(alice.address, Value(50 * ADA)),
            TxOutput(alice.address, Value(20 * ADA, {TOKEN: 7})),
            TxOutput(bob.address, Value(10 * ADA)),
        ]
    )
    return backend


def balance(backend: DevnetBackend, owner: SyntheticWallet) -> Value:
    return sum_values(u.value for u in backend.utxos_at(owner.address))


def signing_key(owner: SyntheticWallet) -> Any:
    return PaymentSigningKey(owner.payment_key.seed)  # pycardano signs with the raw Ed25519 seed


def test_pycardano_builder_pays_on_the_devnet(
    funded: DevnetBackend, alice: SyntheticWallet, bob: SyntheticWallet
) -> None:
    context = PycardanoContext(funded)
    alice_addr = Address.from_primitive(alice.bech32)
    before_alice, before_bob = balance(funded, alice), balance(funded, bob)

    builder = TransactionBuilder(context)
    builder.add_input_address(alice_addr)
    builder.add_output(TransactionOutput(Address.from_primitive(bob.address), 7 * ADA))
    tx = builder.build_and_sign([signing_key(alice)], change_address=alice_addr)
    assert signing_key(alice).to_verification_key().hash().payload == alice.payment_key.hash

    tx_id = context.submit_tx(tx)

    assert tx_id == tx.id.payload.hex()
    fee = tx.transaction_body.fee
    assert fee >= 155_381  # pycardano priced it with our parameters; the devnet accepted it
    assert balance(funded, bob) == before_bob + Value(7 * ADA)
    assert balance(funded, alice) == before_alice - Value(7 * ADA + fee)
    assert funded.ledger.transaction(bytes.fromhex(tx_id)) is not None
    # The same bytes again: the backend's idempotent submit, same id.
    assert context.submit_tx_cbor(tx.to_cbor_hex()) == tx_id


def test_a_rejected_transaction_raises_pycardanos_error_with_the_ledger_rule(
    funded: DevnetBackend, alice: SyntheticWallet, bob: SyntheticWallet
) -> None:
    context = PycardanoContext(funded)
    alice_addr = Address.from_primitive(alice.bech32)
    builder = TransactionBuilder(context)
    builder.add_input_address(alice_addr)
    builder.add_output(TransactionOutput(Address.from_primitive(bob.address), 3 * ADA))
    tx = builder.build_and_sign([signing_key(bob)], change_address=alice_addr)  # wrong key

    with pytest.raises(TransactionFailedException) as caught:
        context.submit_tx(tx)

    assert isinstance(caught.value.__cause__, SubmitError)
    assert caught.value.__cause__.rule == "MissingVKeyWitnessesUTXOW"
    assert balance(funded, bob) == Value(10 * ADA)


def test_pycardano_spends_a_plutus_v3_script_output(
    funded: DevnetBackend, alice: SyntheticWallet
) -> None:
    """evaluate_tx_cbor feeds pycardano's builder and the cost models give the devnet's
    script data hash (else PPViewHashesDontMatch)."""
    pytest.importorskip("uplc")
    script = PlutusV3Script(ALWAYS_SUCCEEDS_V3)
    script_hash = hashlib.blake2b(b"\x03" + ALWAYS_SUCCEEDS_V3, digest_size=28).digest()
    locked_at = make_address(Credential.script(script_hash), None, 0)
    [locked] = funded.ledger.genesis(
        [TxOutput(locked_at, Value(5 * ADA), inline_datum=bytes.fromhex("d87980"))]
    )
    context = PycardanoContext(funded)
    [script_utxo] = context.utxos(Address.from_primitive(locked_at))
    alice_addr = Address.from_primitive(alice.bech32)

    builder = TransactionBuilder(context)
    builder.add_script_input(script_utxo, script=script, redeemer=Redeemer(PlutusData()))
    builder.add_input_address(alice_addr)
    builder.required_signers = [signing_key(alice).to_verification_key().hash()]
    tx = builder.build_and_sign([signing_key(alice)], change_address=alice_addr)
    redeemers = cbor2.loads(tx.to_cbor())[1][5]  # Conway map {(tag, index): [data, units]}
    [(key, (_, (mem, steps)))] = redeemers.items()
    assert key == (0, 0) and mem > 0 and steps > 0  # units from our evaluator

    context.submit_tx(tx)

    assert funded.utxos_by_ref([locked.out_ref]) == []
    assert funded.utxos_at(locked_at) == []


def test_protocol_parameters_map_to_our_numbers(backend: DevnetBackend) -> None:
    ours = default_parameters()
    theirs = PycardanoContext(backend).protocol_param

    assert theirs.min_fee_coefficient == ours.min_fee_a == 44
    assert theirs.min_fee_constant == ours.min_fee_b == 155_381
    assert theirs.max_tx_size == ours.max_tx_size
    assert theirs.max_val_size == ours.max_val_size
    assert theirs.coins_per_utxo_byte == ours.coins_per_utxo_byte == 4310
    assert theirs.price_mem == ours.price_mem == Fraction(577, 10_000)
    assert theirs.price_step == ours.price_step == Fraction(721, 10_000_000)
    assert isinstance(theirs.price_mem, Fraction) and isinstance(theirs.price_step, Fraction)
    assert theirs.max_tx_ex_mem == ours.max_tx_ex_mem
    assert theirs.max_tx_ex_steps == ours.max_tx_ex_steps
    assert theirs.collateral_percent == ours.collateral_percent == 150
    assert theirs.max_collateral_inputs == ours.max_collateral_inputs
    assert theirs.key_deposit == ours.key_deposit == 2_000_000
    assert theirs.pool_deposit == ours.pool_deposit == 500_000_000
    assert theirs.protocol_major_version == ours.protocol_major_ver == 10
    assert theirs.max_block_size == 90112 and theirs.max_block_header_size == 1100
    assert theirs.pool_influence == Fraction(3, 10) and theirs.monetary_expansion == Fraction(
        3, 1000
    )
    assert theirs.min_fee_reference_scripts == {"base": 15, "range": 25_600, "multiplier": 1.2}
    assert set(theirs.cost_models) == set(ours.cost_models) == {"PlutusV1", "PlutusV2", "PlutusV3"}
    for name, raw in ours.cost_models.items():
        assert list(theirs.cost_models[name].values()) == raw


def test_reference_script_fee_follows_the_conway_tiers(backend: DevnetBackend) -> None:
    from pycardano.utils import tiered_reference_script_fee

    from cardano_market.domain.fees import ref_script_fee

    context = PycardanoContext(backend)
    params = backend.protocol_parameters()
    for size in (0, 1, 25_600, 25_601, 60_000, 200_000):
        ours = ref_script_fee(params, size)
        # pycardano rounds up (in floats) where the ledger floors: never short, at most 1 over.
        assert ours <= tiered_reference_script_fee(context, size) <= ours + 1
    assert ref_script_fee(params, 200_000) > 6_000_000  # a flat 15/byte tier would say 3,000,000


def test_cost_models_keep_the_ledger_order_for_every_language() -> None:
    raw = [9, 1, 5, 3, 7, 2, 8, 4, 6, 0, 11, 10]
    model = cost_model(raw)
    encoded = CostModels({0: model, 2: model}).to_shallow_primitive()
    assert encoded[2] == raw  # PlutusV3: insertion order
    v1 = cbor2.loads(encoded[cbor2.dumps(0)])  # PlutusV1: pycardano sorts the keys
    assert list(v1) == raw
    assert cost_model({"b": 2, "a": 1}) == {"b": 2, "a": 1}


def test_utxos_round_trip_byte_exact(funded: DevnetBackend, alice: SyntheticWallet) -> None:
    [with_datum] = funded.ledger.genesis(
        [
            TxOutput(
                alice.address,
                Value(3 * ADA, {TOKEN: 1, (b"\x01" * 28, b"zz"): 5, (b"\x01" * 28, b"a"): 2}),
                inline_datum=bytes.fromhex("d8799f0102ff"),  # indefinite: kept as written
                script_ref=cbor2.dumps([3, ALWAYS_SUCCEEDS_V3]),
            )
        ]
    )
    ours = funded.utxos_at(alice.address)
    context = PycardanoContext(funded)

    for query in (alice.bech32, Address.from_primitive(alice.address)):
        theirs = context.utxos(query)
        assert len(theirs) == len(ours) == 3
        by_ref = {(u.input.transaction_id.payload, u.input.index): u for u in theirs}
        for utxo in ours:
            mine = by_ref[utxo.out_ref]
            assert mine.to_cbor() == utxo.to_cbor()
            assert Utxo.from_cbor(mine.to_cbor()) == utxo
            assert mine.output.amount.coin == utxo.value.coin
    scripted = by_ref[with_datum.out_ref].output
    assert scripted.script is not None and scripted.datum is not None
    assert context.utxos(Address.from_primitive(wallet("nobody").address)) == []


def test_tip_network_and_genesis_come_from_the_backend(funded: DevnetBackend) -> None:
    context = PycardanoContext(funded)
    tip = funded.tip()
    assert context.last_block_slot == tip.slot == 5_000
    assert context.epoch == tip.epoch
    assert context.network == Network.TESTNET
    genesis = context.genesis_param
    assert genesis.system_start == START_MS // 1000
    assert genesis.slot_length == 1
    assert genesis.epoch_length == funded.ledger.epoch_length
    assert PycardanoContext(funded, network_magic=7).genesis_param.network_magic == 7


class _Evaluating:
    """Only `evaluate` and `network_id` are used by evaluate_tx_cbor."""

    network_id = 1

    def __init__(self, units: dict[RedeemerKey, ExUnits]) -> None:
        self.units = units
        self.seen: list[bytes] = []

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        self.seen.append(tx)
        return self.units


def test_evaluate_keys_are_pycardanos_redeemer_tags() -> None:
    backend = _Evaluating(
        {("spend", 0): ExUnits(10, 20), ("mint", 1): ExUnits(3, 4), ("cert", 2): ExUnits(5, 6)}
    )
    context = PycardanoContext(backend)  # type: ignore[arg-type]
    result = context.evaluate_tx_cbor("84a0a0f5f6")
    assert backend.seen == [bytes.fromhex("84a0a0f5f6")]
    assert result == {
        "spend:0": ExecutionUnits(10, 20),
        "mint:1": ExecutionUnits(3, 4),
        "certificate:2": ExecutionUnits(5, 6),
    }
    assert context.network == Network.MAINNET
    assert [redeemer_key((p, 0)) for p in ("reward", "vote", "propose")] == [
        "withdrawal:0",
        "voting:0",
        "proposing:0",
    ]
    with pytest.raises(ValueError, match="purpose"):
        redeemer_key(("nonsense", 0))
