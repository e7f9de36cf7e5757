"""`DevnetBackend` (ChainBackend over the devnet) and `DevnetWallet` (CIP-30 getUtxos, signTx)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from devnet_helpers import (
    ALWAYS_SUCCEEDS_V3,
    UNIT_DATA,
    Draft,
    Redeemer,
    build,
    declared_units,
    native_hash,
    plutus_v3_hash,
    script_address,
)

from cardano_market.chain.base import ChainBackend, ChainError, EvaluationError, TxState
from cardano_market.chain.devnet import DevnetBackend, DevnetWallet, TxSignError
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import OracleDatum
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import MAINNET_PARAMETERS_FILE
from cardano_market.domain.values import ADA as LOVELACE
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits
from cardano_market.ledger.witness import splice_witnesses, vkey_witnesses
from cardano_market.synthetic import wallet
from keys import enterprise
from worlds import NOW_SLOT, START_MS, Clock

ADA = 1_000_000
FEED = (b"\xf1" * 28, b"OracleFeed")
TOKEN = (b"\x5e" * 28, b"Song")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DevnetBackend]:
    chain = DevnetBackend.open(
        tmp_path / "devnet.sqlite",
        system_start_ms=START_MS,
        clock=Clock(),
        evaluator=declared_units,
    )
    yield chain
    chain.close()


def test_it_is_a_chain_backend(backend: DevnetBackend) -> None:
    assert isinstance(backend, ChainBackend)
    assert backend.network_id == 0
    assert backend.protocol_parameters().min_fee_a == 44
    assert len(backend.protocol_parameters().cost_models["PlutusV3"]) == 297
    tip = backend.tip()
    assert tip.slot == NOW_SLOT and tip.time_ms == START_MS + NOW_SLOT * 1000
    assert backend.slot_to_posix_ms(10) == START_MS + 10_000
    assert backend.posix_ms_to_slot(START_MS + 10_999) == 10


def test_parameters_from_a_file(tmp_path: Path) -> None:
    raw = json.loads(MAINNET_PARAMETERS_FILE.read_text())
    raw["min_fee_a"] = 45
    path = tmp_path / "params.json"
    path.write_text(json.dumps(raw))
    chain = DevnetBackend.open(tmp_path / "d.sqlite", params=path)
    try:
        assert chain.protocol_parameters().min_fee_a == 45
        assert chain.protocol_parameters() is chain.protocol_parameters()  # parsed once
    finally:
        chain.close()


def test_utxo_queries(backend: DevnetBackend) -> None:
    alice = wallet("alice")
    plain, rich = backend.ledger.genesis(
        [
            TxOutput(alice.address, Value(5 * ADA)),
            TxOutput(alice.address, Value.of(3 * ADA, {TOKEN: 7})),
        ]
    )
    assert {u.out_ref for u in backend.utxos_at(alice.address)} == {plain.out_ref, rich.out_ref}
    assert backend.utxos_with_asset(alice.address, TOKEN) == [rich]
    assert len(backend.utxos_with_asset(alice.address, LOVELACE)) == 2
    assert backend.utxos_by_ref([rich.out_ref, (b"\x00" * 32, 0)]) == [rich]
    assert backend.utxos_at(wallet("nobody").address) == []


def test_oracle_price(backend: DevnetBackend) -> None:
    oracle = script_address(b"\x0c" * 28)
    datum = OracleDatum(2723, START_MS, START_MS + 3_600_000).to_cbor()
    backend.ledger.genesis(
        [
            TxOutput(oracle, Value(2 * ADA), inline_datum=UNIT_DATA),  # no feed token: ignored
            TxOutput(oracle, Value.of(2 * ADA, {FEED: 1}), inline_datum=datum),
        ]
    )
    price = backend.oracle_price(oracle, FEED)
    assert (price.price, price.valid_from_ms, price.valid_to_ms) == (
        2723,
        START_MS,
        START_MS + 3_600_000,
    )
    assert price.utxo.inline_datum == datum
    with pytest.raises(ChainError, match="feed token"):
        backend.oracle_price(oracle, (b"\xf2" * 28, b"Other"))


def test_oracle_price_needs_a_price_datum(backend: DevnetBackend) -> None:
    oracle = script_address(b"\x0c" * 28)
    backend.ledger.genesis([TxOutput(oracle, Value.of(2 * ADA, {FEED: 1}), inline_datum=UNIT_DATA)])
    with pytest.raises(ChainError, match="Charli3"):
        backend.oracle_price(oracle, FEED)


def test_submit_status_and_advance(backend: DevnetBackend) -> None:
    alice = wallet("alice")
    [funds] = backend.ledger.genesis([TxOutput(alice.address, Value(50 * ADA))])
    draft = Draft(
        inputs=[funds],
        outputs=[
            TxOutput(enterprise(PaymentKey.derive("bob")), Value(ADA * 2)),
            TxOutput(alice.address, Value(0)),
        ],
        signers=[alice.payment_key],
        ttl=NOW_SLOT + 100,
    )
    built = build(draft, backend.protocol_parameters())
    assert backend.submit(built.cbor) == built.tx_id
    assert backend.submit(built.cbor) == built.tx_id
    assert backend.tx_status(built.tx_id).state is TxState.CONFIRMED
    tip = backend.advance(5)
    assert tip.slot == NOW_SLOT + 5
    assert backend.tx_status(built.tx_id).depth == 2


def test_evaluate_with_additional_utxos(backend: DevnetBackend) -> None:
    """A chained transaction: its script input is not on the devnet yet, only given as extra."""
    alice = wallet("alice")
    [funds] = backend.ledger.genesis([TxOutput(alice.address, Value(50 * ADA))])
    pending = Utxo.from_cbor(
        cbor2.dumps(
            [
                [b"\xee" * 32, 0],
                {
                    0: script_address(plutus_v3_hash(ALWAYS_SUCCEEDS_V3)),
                    1: 5 * ADA,
                    2: [1, cbor2.CBORTag(24, UNIT_DATA)],
                },
            ]
        )
    )
    inputs = sorted([funds, pending], key=lambda u: u.out_ref)
    draft = Draft(
        inputs=inputs,
        outputs=[TxOutput(alice.address, Value(0))],
        signers=[alice.payment_key],
        plutus_v3=[ALWAYS_SUCCEEDS_V3],
        redeemers=[Redeemer(0, inputs.index(pending), mem=1234, steps=5678)],
        collateral=[funds],
    )
    tx = build(draft, backend.protocol_parameters()).cbor
    assert backend.evaluate(tx, [pending]) == {
        ("spend", inputs.index(pending)): ExUnits(1234, 5678)
    }
    with pytest.raises(EvaluationError, match="BadInputsUTxO"):
        backend.evaluate(tx)


# -- the CIP-30 wallet ----------------------------------------------------------------------------


def test_get_utxos(backend: DevnetBackend) -> None:
    buyer = DevnetWallet(backend, "buyer")
    assert buyer.address == wallet("buyer").address
    assert buyer.bech32.startswith("addr_test1")
    assert buyer.get_utxos() == []
    assert buyer.get_utxos(Value(1)) is None
    small, big, tokens = backend.ledger.genesis(
        [
            TxOutput(buyer.address, Value(2 * ADA)),
            TxOutput(buyer.address, Value(40 * ADA)),
            TxOutput(buyer.address, Value.of(3 * ADA, {TOKEN: 10})),
        ]
    )
    every = buyer.get_utxos()
    assert every is not None and sorted(every) == sorted(
        u.to_cbor_hex() for u in (small, big, tokens)
    )
    assert buyer.get_utxos(Value(30 * ADA)) == [big.to_cbor_hex()]
    want = Value.of(4 * ADA, {TOKEN: 10})
    chosen = buyer.get_utxos(want)
    assert chosen is not None and chosen[0] == tokens.to_cbor_hex() and len(chosen) == 2
    total = Value(0)
    for h in chosen:
        total = total + Utxo.from_cbor(h).value
    assert total.covers(want)
    assert buyer.get_utxos(Value.of(0, {TOKEN: 11})) is None
    assert buyer.get_utxos(Value(46 * ADA)) is None
    assert buyer.balance() == Value.of(45 * ADA, {TOKEN: 10})


def test_sign_tx_signs_only_what_it_must(backend: DevnetBackend) -> None:
    alice, bob = DevnetWallet(backend, "alice"), DevnetWallet(backend, "bob")
    mine, theirs = backend.ledger.genesis(
        [TxOutput(alice.address, Value(20 * ADA)), TxOutput(bob.address, Value(20 * ADA))]
    )
    draft = Draft(inputs=[mine, theirs], outputs=[TxOutput(alice.address, Value(0))], fee=300_000)
    unsigned = build(draft, backend.protocol_parameters()).cbor

    alice_witnesses = alice.sign_tx(unsigned.hex())
    [(vkey, _sig)] = vkey_witnesses(splice_witnesses(unsigned, alice_witnesses))
    assert vkey == alice.keys.payment_key.vkey
    with pytest.raises(TxSignError) as info:
        alice.sign_tx(unsigned.hex(), partial_sign=False)
    assert info.value.code == 1 and bob.keys.payment_key.hash.hex() in str(info.value)

    signed = splice_witnesses(
        splice_witnesses(unsigned, alice_witnesses), bob.sign_tx(unsigned.hex())
    )
    assert len(vkey_witnesses(signed)) == 2
    assert backend.submit(signed)
    # a wallet no input needs signs nothing
    assert DevnetWallet(backend, "carol").sign_tx(unsigned.hex()) == "a0"


def test_sign_tx_for_required_signers_and_native_scripts(backend: DevnetBackend) -> None:
    alice, carol = DevnetWallet(backend, "alice"), DevnetWallet(backend, "carol")
    [funds] = backend.ledger.genesis([TxOutput(alice.address, Value(20 * ADA))])
    draft = Draft(
        inputs=[funds],
        outputs=[TxOutput(alice.address, Value(0))],
        required_signers=[carol.keys.payment_key.hash],
        fee=300_000,
    )
    unsigned = build(draft, backend.protocol_parameters()).cbor
    with pytest.raises(TxSignError):
        carol.sign_tx(unsigned.hex(), partial_sign=False)
    [(vkey, _sig)] = vkey_witnesses(splice_witnesses(unsigned, carol.sign_tx(unsigned.hex())))
    assert vkey == carol.keys.payment_key.vkey

    script = cbor2.dumps([2, [[0, carol.keys.payment_key.hash], [0, b"\x09" * 28]]])
    [locked] = backend.ledger.genesis(
        [TxOutput(script_address(native_hash(script)), Value(9 * ADA))]
    )
    spend = Draft(
        inputs=[locked, funds],
        outputs=[TxOutput(alice.address, Value(0))],
        native_scripts=[script],
        fee=300_000,
    )
    unsigned = build(spend, backend.protocol_parameters()).cbor
    keys = {
        vk for vk, _ in vkey_witnesses(splice_witnesses(unsigned, carol.sign_tx(unsigned.hex())))
    }
    assert keys == {carol.keys.payment_key.vkey}


def test_sign_tx_rejects_garbage(backend: DevnetBackend) -> None:
    with pytest.raises(TxSignError):
        DevnetWallet(backend, "alice").sign_tx("zz")


def test_a_simple_payment_loads_neither_pycardano_nor_uplc(tmp_path: Path) -> None:
    """The devnet's hot path stays light: validating a payment imports no pycardano, no uplc."""
    program = f"""
import sys
from cardano_market.chain.devnet import DevnetBackend, DevnetWallet
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.tx.body import encode_body, encode_transaction
from cardano_market.ledger.witness import splice_witnesses
chain = DevnetBackend.open({str(tmp_path / "light.sqlite")!r})
alice = DevnetWallet(chain, "alice")
[u] = chain.ledger.genesis([TxOutput(alice.address, Value(10_000_000))])
body = encode_body([u.out_ref], [TxOutput(alice.address, Value(9_700_000)).to_cbor()], 300_000)
tx = encode_transaction(body)
chain.submit(splice_witnesses(tx, alice.sign_tx(tx.hex())))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pycardano", "uplc")))
"""
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
