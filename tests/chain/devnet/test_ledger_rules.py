"""The devnet ledger: for each rule one transaction accepted and one breaking exactly it rejected.

Transactions are drafted in `devnet_helpers` (independent fee formula, witness sets and script
data hash); phase 2 uses a stand-in evaluator that passes with the declared budget, except in the
tests that run real Plutus V3 scripts through `uplc`. Also: persistence, reset, time, idempotent
submit, statuses, and the order transaction signed by a `DevnetWallet` and accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

import cbor2
import pytest
from devnet_helpers import (
    ALWAYS_FAILS_V3,
    ALWAYS_SUCCEEDS_V3,
    UNIT_DATA,
    Built,
    Draft,
    Redeemer,
    build,
    datum_hash,
    declared_units,
    expected_script_data_hash,
    native_hash,
    plutus_v3_hash,
    redeemers_cbor,
    script_address,
    sig_script,
)

from cardano_market.chain.base import EvaluationError, SubmitError, TxState
from cardano_market.chain.devnet import DevnetBackend, DevnetWallet, Ledger
from cardano_market.chain.devnet.ledger import Evaluator
from cardano_market.chain.devnet.scripts import eval_native
from cardano_market.domain.address import decode_address
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.datums import QueueDatum
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import ProtocolParameters, default_parameters
from cardano_market.domain.scriptdata import language_views
from cardano_market.domain.slots import SlotConfig
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.ledger.witness import splice_witnesses
from cardano_market.scenario import load_scenario, run_order
from keys import ALICE, BOB, CAROL, enterprise
from txcheck import expected_min_ada, expected_min_fee
from worlds import NOW_SLOT, START_MS, Clock

ROOT = Path(__file__).resolve().parents[3]
ADA = 1_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    led = Ledger(
        tmp_path / "devnet.sqlite", system_start_ms=START_MS, clock=clock, evaluator=declared_units
    )
    yield led
    led.close()


@pytest.fixture
def params(ledger: Ledger) -> ProtocolParameters:
    return ledger.params


@pytest.fixture
def alice_utxos(ledger: Ledger) -> list[Utxo]:
    return ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA)) for _ in range(4)])


@pytest.fixture
def bob_utxo(ledger: Ledger) -> Utxo:
    return ledger.genesis([TxOutput(enterprise(BOB), Value(50 * ADA))])[0]


def payment(inputs: list[Utxo], **changes: object) -> Draft:
    """Alice pays Bob 10 ADA, the rest back to her, signed by her."""
    draft = Draft(
        inputs=inputs,
        outputs=[TxOutput(enterprise(BOB), Value(10 * ADA)), TxOutput(enterprise(ALICE), Value(0))],
        signers=[ALICE],
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def accept(ledger: Ledger, draft: Draft) -> Built:
    built = build(draft, ledger.params)
    assert ledger.submit(built.cbor) == built.tx_id
    for utxo in draft.inputs:
        assert ledger.utxo(utxo.out_ref) is None
    for ix, out in enumerate(built.outputs):
        stored = ledger.utxo((built.tx_id, ix))
        assert stored is not None and stored.output_cbor == out.to_cbor()
    return built


def reject(ledger: Ledger, draft: Draft, rule: str) -> SubmitError:
    built = build(draft, ledger.params)
    before = _utxo_set(ledger)
    with pytest.raises(SubmitError) as info:
        ledger.submit(built.cbor)
    assert info.value.rule == rule, str(info.value)
    assert str(info.value).startswith(rule)
    assert _utxo_set(ledger) == before  # nothing applied
    assert ledger.transaction(built.tx_id) is None
    return info.value


def _utxo_set(ledger: Ledger) -> set[tuple[bytes, int, bytes]]:
    with sqlite3.connect(ledger.path) as conn:
        return set(conn.execute("SELECT tx_id, ix, output FROM utxos"))


# -- inputs ---------------------------------------------------------------------------------------


def test_a_signed_payment_is_accepted_and_moves_the_value(
    ledger: Ledger, alice_utxos: list[Utxo]
) -> None:
    built = accept(ledger, payment(alice_utxos[:1]))
    assert [u.value.coin for u in ledger.utxos_at(enterprise(BOB))] == [10 * ADA]
    change = ledger.utxo((built.tx_id, 1))
    assert change is not None
    assert change.value.coin == 100 * ADA - 10 * ADA - built.fee


def test_bad_inputs_spent_twice(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    accept(ledger, payment(alice_utxos[:1]))
    again = payment(alice_utxos[:1], outputs=[TxOutput(enterprise(ALICE), Value(0))])
    error = reject(ledger, again, "BadInputsUTxO")
    assert alice_utxos[0].tx_hash.hex() in str(error)


def test_bad_inputs_unknown_input(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    ghost = dataclasses.replace(alice_utxos[0], tx_hash=b"\x07" * 32)
    reject(ledger, payment([ghost]), "BadInputsUTxO")


def test_bad_inputs_reference_input(
    ledger: Ledger, alice_utxos: list[Utxo], bob_utxo: Utxo
) -> None:
    accept(ledger, payment(alice_utxos[:1], reference_inputs=[bob_utxo]))
    ghost = dataclasses.replace(bob_utxo, index=9)
    reject(ledger, payment(alice_utxos[1:2], reference_inputs=[ghost]), "BadInputsUTxO")


def test_input_set_empty(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    reject(
        ledger,
        Draft(
            inputs=[], outputs=[TxOutput(enterprise(ALICE), Value(2 * ADA))], fee=0, balance=False
        ),
        "InputSetEmptyUTxO",
    )


# -- value ----------------------------------------------------------------------------------------


def test_value_not_conserved_one_lovelace_too_many(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    balanced = build(payment(alice_utxos[:1]), params)
    change = balanced.outputs[1]
    draft = payment(
        alice_utxos[:1],
        outputs=[balanced.outputs[0], change.with_coin(change.value.coin + 1)],
        fee=balanced.fee,
        balance=False,
    )
    error = reject(ledger, draft, "ValueNotConservedUTxO")
    assert "lovelace consumed" in str(error)
    accept(ledger, payment(alice_utxos[:1], fee=balanced.fee + 1))  # a larger fee balances too


def test_value_not_conserved_tokens_from_nowhere(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    policy = native_hash(sig_script(ALICE))
    token = Value.of(2 * ADA, {(policy, b"coin"): 5})
    draft = payment(
        alice_utxos[:1],
        outputs=[TxOutput(enterprise(BOB), token), TxOutput(enterprise(ALICE), Value(0))],
    )
    error = reject(ledger, draft, "ValueNotConservedUTxO")
    assert "deficit of 5" in str(error)


def test_mint_must_match_the_mint_field(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    script = sig_script(ALICE)
    asset = (native_hash(script), b"coin")
    outputs = [
        TxOutput(enterprise(BOB), Value.of(2 * ADA, {asset: 100})),
        TxOutput(enterprise(ALICE), Value(0)),
    ]
    short = payment(alice_utxos[:1], outputs=outputs, mint={asset: 99}, native_scripts=[script])
    reject(ledger, short, "ValueNotConservedUTxO")
    minted = accept(
        ledger,
        payment(alice_utxos[:1], outputs=outputs, mint={asset: 100}, native_scripts=[script]),
    )
    held = ledger.utxo((minted.tx_id, 0))
    assert held is not None and held.value.quantity(asset) == 100
    # burning more than is spent does not balance either
    over_burn = payment(
        [held, alice_utxos[1]],
        outputs=[TxOutput(enterprise(ALICE), Value(0))],
        mint={asset: -101},
        native_scripts=[script],
        signers=[ALICE, BOB],  # the tokens sit at Bob's address
    )
    reject(ledger, over_burn, "ValueNotConservedUTxO")
    accept(ledger, dataclasses.replace(over_burn, mint={asset: -100}))


def test_minting_without_the_policy_script(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    asset = (native_hash(sig_script(ALICE)), b"coin")
    outputs = [
        TxOutput(enterprise(BOB), Value.of(2 * ADA, {asset: 1})),
        TxOutput(enterprise(ALICE), Value(0)),
    ]
    reject(
        ledger,
        payment(alice_utxos[:1], outputs=outputs, mint={asset: 1}),
        "MissingScriptWitnessesUTXOW",
    )


# -- fees -----------------------------------------------------------------------------------------


def test_fee_too_small_by_one_lovelace(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    error = reject(ledger, payment(alice_utxos[:1], fee_delta=-1), "FeeTooSmallUTxO")
    built = build(payment(alice_utxos[:1]), params)
    assert built.fee == expected_min_fee(params, len(built.cbor))
    assert f"is {built.fee}" in str(error)  # the message names the minimum
    accept(ledger, payment(alice_utxos[:1]))


def test_fee_counts_reference_scripts_in_tiers(
    ledger: Ledger, alice_utxos: list[Utxo], bob_utxo: Utxo
) -> None:
    # two reference inputs with 15,000-byte scripts: 25,600 bytes at 15/byte, 4,400 at 18/byte
    big = [cbor2.dumps([3, bytes([i]) * 15_000]) for i in (1, 2)]
    holders = ledger.genesis(
        [
            TxOutput(enterprise(BOB), Value(70 * ADA), script_ref=big[0]),
            TxOutput(enterprise(BOB), Value(70 * ADA), script_ref=big[1]),
        ]
    )
    assert expected_min_fee(default_parameters(), 0, ref_bytes=30_000) - 155_381 == 463_200
    unpaid = payment(alice_utxos[:1], reference_inputs=holders)
    reject(ledger, unpaid, "FeeTooSmallUTxO")
    reject(
        ledger,
        dataclasses.replace(unpaid, ref_script_bytes=30_000, fee_delta=-1),
        "FeeTooSmallUTxO",
    )
    accept(ledger, dataclasses.replace(unpaid, ref_script_bytes=30_000))


def test_fee_counts_declared_ex_units(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    reject(ledger, _plutus_spend(locked, alice_utxos[0], fee_delta=-1), "FeeTooSmallUTxO")
    accept(ledger, _plutus_spend(locked, alice_utxos[0]))


# -- outputs and size -----------------------------------------------------------------------------


def test_output_too_small(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    probe = TxOutput(enterprise(BOB), Value(1_000_000)).to_cbor()
    minimum = expected_min_ada(probe, ledger.params)
    assert len(TxOutput(enterprise(BOB), Value(minimum - 1)).to_cbor()) == len(probe)

    def paying(coin: int) -> Draft:
        return payment(
            alice_utxos[:1],
            outputs=[TxOutput(enterprise(BOB), Value(coin)), TxOutput(enterprise(ALICE), Value(0))],
        )

    error = reject(ledger, paying(minimum - 1), "BabbageOutputTooSmallUTxO")
    assert str(minimum) in str(error)
    accept(ledger, paying(minimum))


def test_output_too_big(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    assets = {
        (hashlib.blake2b(bytes([i]), digest_size=28).digest(), bytes([i]) * 32): 1
        for i in range(80)
    }
    [rich] = ledger.genesis([TxOutput(enterprise(ALICE), Value.of(100 * ADA, assets))])
    assert len(Value.of(0, assets).to_cbor()) > 5000
    whole = payment(
        [rich],
        outputs=[
            TxOutput(enterprise(BOB), Value.of(30 * ADA, assets)),
            TxOutput(enterprise(ALICE), Value(0)),
        ],
    )
    reject(ledger, whole, "OutputTooBigUTxO")
    names = sorted(assets)
    halves = [dict.fromkeys(names[:40], 1), dict.fromkeys(names[40:], 1)]
    split = dataclasses.replace(
        whole,
        outputs=[
            TxOutput(enterprise(BOB), Value.of(20 * ADA, halves[0])),
            TxOutput(enterprise(BOB), Value.of(20 * ADA, halves[1])),
            TxOutput(enterprise(ALICE), Value(0)),
        ],
    )
    accept(ledger, split)


def _metadata(chunks: int) -> bytes:
    return cbor2.dumps({674: {"msg": [bytes([i % 256]) * 64 for i in range(chunks)]}})


def test_max_tx_size(ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters) -> None:
    big = payment(alice_utxos[:1], auxiliary_data=_metadata(250))
    assert len(build(big, params).cbor) > params.max_tx_size
    error = reject(ledger, big, "MaxTxSizeUTxO")
    assert "16384" in str(error)
    accept(ledger, payment(alice_utxos[:1], auxiliary_data=_metadata(200)))


def test_metadata_hash(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    aux = _metadata(2)
    reject(
        ledger,
        payment(alice_utxos[:1], auxiliary_data=aux, aux_hash=None),
        "MissingTxBodyMetadataHash",
    )
    reject(
        ledger,
        payment(alice_utxos[:1], auxiliary_data=aux, aux_hash=b"\x01" * 32),
        "ConflictingMetadataHash",
    )
    reject(ledger, payment(alice_utxos[:1], aux_hash=b"\x01" * 32), "MissingTxMetadata")
    accept(ledger, payment(alice_utxos[:1], auxiliary_data=aux))


def test_wrong_network(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    mainnet_bob = bytes([0x61]) + BOB.hash
    draft = payment(
        alice_utxos[:1],
        outputs=[TxOutput(mainnet_bob, Value(10 * ADA)), TxOutput(enterprise(ALICE), Value(0))],
    )
    reject(ledger, draft, "WrongNetwork")


def test_malformed_bytes(ledger: Ledger) -> None:
    with pytest.raises(SubmitError) as info:
        ledger.submit(b"\x84\x01\x02")
    assert info.value.rule == "DeserialiseFailure"


# -- witnesses ------------------------------------------------------------------------------------


def test_missing_vkey_witness(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    error = reject(ledger, payment(alice_utxos[:1], signers=[]), "MissingVKeyWitnessesUTXOW")
    assert ALICE.hash.hex() in str(error)
    reject(ledger, payment(alice_utxos[:1], signers=[BOB]), "MissingVKeyWitnessesUTXOW")


def test_required_signers_must_sign(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    error = reject(
        ledger, payment(alice_utxos[:1], required_signers=[BOB.hash]), "MissingVKeyWitnessesUTXOW"
    )
    assert BOB.hash.hex() in str(error)
    accept(ledger, payment(alice_utxos[:1], required_signers=[BOB.hash], signers=[ALICE, BOB]))


def test_invalid_witness(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    built = build(payment(alice_utxos[:1]), params)
    signature = ALICE.sign(built.tx_id)
    forged = bytearray(signature)
    forged[0] ^= 0x01
    tampered = built.cbor.replace(signature, bytes(forged))
    assert tampered != built.cbor and len(tampered) == len(built.cbor)
    with pytest.raises(SubmitError) as info:
        ledger.submit(tampered)
    assert info.value.rule == "InvalidWitnessesUTXOW"
    # a signature by the right key over another transaction is just as invalid
    other = build(payment(alice_utxos[1:2]), params)
    swapped = built.cbor.replace(signature, ALICE.sign(other.tx_id))
    with pytest.raises(SubmitError) as info:
        ledger.submit(swapped)
    assert info.value.rule == "InvalidWitnessesUTXOW"
    assert ledger.submit(built.cbor) == built.tx_id


# -- time -----------------------------------------------------------------------------------------


def test_ttl(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    assert ledger.current_slot() == NOW_SLOT
    error = reject(ledger, payment(alice_utxos[:1], ttl=NOW_SLOT), "OutsideValidityIntervalUTxO")
    assert "expired" in str(error)
    accept(ledger, payment(alice_utxos[:1], ttl=NOW_SLOT + 1))


def test_validity_start_and_advance(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    early = payment(alice_utxos[:1], validity_start=NOW_SLOT + 10, ttl=NOW_SLOT + 20)
    reject(ledger, early, "OutsideValidityIntervalUTxO")
    ledger.advance(9)
    reject(ledger, early, "OutsideValidityIntervalUTxO")
    tip = ledger.advance(1)
    assert tip.slot == NOW_SLOT + 10
    assert tip.time_ms == START_MS + (NOW_SLOT + 10) * 1000
    accept(ledger, early)
    late = payment(alice_utxos[1:2], ttl=NOW_SLOT + 20)
    ledger.advance(10)
    reject(ledger, late, "OutsideValidityIntervalUTxO")


def test_slots_follow_the_clock(ledger: Ledger, clock: Clock, alice_utxos: list[Utxo]) -> None:
    draft = payment(alice_utxos[:1], ttl=NOW_SLOT + 30)
    clock.now += 30
    assert ledger.current_slot() == NOW_SLOT + 30
    reject(ledger, draft, "OutsideValidityIntervalUTxO")
    with pytest.raises(ValueError):
        ledger.advance(-1)


# -- native scripts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "signers", "start", "ttl", "ok"),
    [
        ([0, ALICE.hash], {ALICE.hash}, None, None, True),
        ([0, ALICE.hash], {BOB.hash}, None, None, False),
        ([1, [[0, ALICE.hash], [0, BOB.hash]]], {ALICE.hash}, None, None, False),
        ([1, [[0, ALICE.hash], [0, BOB.hash]]], {ALICE.hash, BOB.hash}, None, None, True),
        ([1, []], set(), None, None, True),
        ([2, [[0, ALICE.hash], [0, BOB.hash]]], {BOB.hash}, None, None, True),
        ([2, [[0, ALICE.hash], [0, BOB.hash]]], {CAROL.hash}, None, None, False),
        ([2, []], set(), None, None, False),
        (
            [3, 2, [[0, ALICE.hash], [0, BOB.hash], [0, CAROL.hash]]],
            {ALICE.hash, CAROL.hash},
            None,
            None,
            True,
        ),
        (
            [3, 2, [[0, ALICE.hash], [0, BOB.hash], [0, CAROL.hash]]],
            {ALICE.hash},
            None,
            None,
            False,
        ),
        ([3, 0, []], set(), None, None, True),
        ([4, 100], set(), 100, None, True),
        ([4, 100], set(), 99, None, False),
        ([4, 100], set(), None, 200, False),
        ([5, 100], set(), None, 100, True),
        ([5, 100], set(), None, 101, False),
        ([5, 100], set(), 50, None, False),
    ],
)
def test_native_script_semantics(
    script: list[object], signers: set[bytes], start: int | None, ttl: int | None, ok: bool
) -> None:
    assert eval_native(cbor2.dumps(script), signers, start, ttl) is ok


def test_native_script_lock(ledger: Ledger, alice_utxos: list[Utxo], bob_utxo: Utxo) -> None:
    script = cbor2.dumps([3, 2, [[0, ALICE.hash], [0, BOB.hash], [0, CAROL.hash]]])
    [locked] = ledger.genesis([TxOutput(script_address(native_hash(script)), Value(20 * ADA))])
    spend = Draft(
        inputs=[locked, bob_utxo],
        outputs=[TxOutput(enterprise(BOB), Value(0))],
        signers=[BOB],
        native_scripts=[script],
    )
    reject(ledger, spend, "ScriptWitnessNotValidatingUTXOW")
    reject(ledger, dataclasses.replace(spend, native_scripts=[]), "MissingScriptWitnessesUTXOW")
    extra = dataclasses.replace(
        spend, signers=[BOB, CAROL], native_scripts=[script, sig_script(CAROL)]
    )
    reject(ledger, extra, "ExtraneousScriptWitnessesUTXOW")
    accept(ledger, dataclasses.replace(spend, signers=[BOB, CAROL]))


def test_native_script_as_reference_script(ledger: Ledger, bob_utxo: Utxo) -> None:
    script = sig_script(BOB)
    holder, locked = ledger.genesis(
        [
            TxOutput(enterprise(CAROL), Value(5 * ADA), script_ref=b"\x82\x00" + script),
            TxOutput(script_address(native_hash(script)), Value(20 * ADA)),
        ]
    )
    draft = Draft(
        inputs=[locked, bob_utxo],
        outputs=[TxOutput(enterprise(BOB), Value(0))],
        signers=[BOB],
        reference_inputs=[holder],
        ref_script_bytes=len(script),
    )
    accept(ledger, draft)


def test_time_locked_minting_policy(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    deadline = NOW_SLOT + 100
    script = cbor2.dumps([1, [[0, ALICE.hash], [5, deadline]]])
    asset = (native_hash(script), b"")
    outputs = [
        TxOutput(enterprise(ALICE), Value.of(2 * ADA, {asset: 1})),
        TxOutput(enterprise(ALICE), Value(0)),
    ]
    mint = payment(alice_utxos[:1], outputs=outputs, mint={asset: 1}, native_scripts=[script])
    reject(ledger, mint, "ScriptWitnessNotValidatingUTXOW")  # no TTL: not provably before
    reject(ledger, dataclasses.replace(mint, ttl=deadline + 1), "ScriptWitnessNotValidatingUTXOW")
    accept(ledger, dataclasses.replace(mint, ttl=deadline))


# -- Plutus: collateral, script data hash, ex-units, phase 2 --------------------------------------


def _lock_at_plutus(
    ledger: Ledger,
    script: bytes = ALWAYS_SUCCEEDS_V3,
    *,
    inline: bytes | None = UNIT_DATA,
    hashed: bytes | None = None,
) -> Utxo:
    out = TxOutput(
        script_address(plutus_v3_hash(script)),
        Value(20 * ADA),
        inline_datum=inline,
        datum_hash=None if hashed is None else datum_hash(hashed),
    )
    return ledger.genesis([out])[0]


def _plutus_spend(locked: Utxo, fee_payer: Utxo, **changes: object) -> Draft:
    """Spend `locked` (spend redeemer 0 when it sorts first) with Alice's collateral."""
    inputs = sorted([locked, fee_payer], key=lambda u: u.out_ref)
    draft = Draft(
        inputs=inputs,
        outputs=[TxOutput(enterprise(ALICE), Value(0))],
        signers=[ALICE],
        plutus_v3=[ALWAYS_SUCCEEDS_V3],
        redeemers=[Redeemer(0, inputs.index(locked))],
        collateral=[fee_payer],
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def test_plutus_spend_with_collateral(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    accept(ledger, _plutus_spend(locked, alice_utxos[0]))


def test_no_collateral_inputs(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    reject(ledger, _plutus_spend(locked, alice_utxos[0], collateral=[]), "NoCollateralInputs")


def test_too_many_collateral_inputs(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    reject(
        ledger,
        _plutus_spend(locked, alice_utxos[0], collateral=alice_utxos),
        "TooManyCollateralInputs",
    )
    accept(ledger, _plutus_spend(locked, alice_utxos[0], collateral=alice_utxos[1:]))


def test_collateral_must_be_key_locked(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    other = _lock_at_plutus(ledger, inline=cbor2.dumps(7))
    reject(ledger, _plutus_spend(locked, alice_utxos[0], collateral=[other]), "ScriptsNotPaidUTxO")


def test_collateral_key_must_sign(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    [carols] = ledger.genesis([TxOutput(enterprise(CAROL), Value(5 * ADA))])
    draft = _plutus_spend(locked, alice_utxos[0], collateral=[carols])
    error = reject(ledger, draft, "MissingVKeyWitnessesUTXOW")
    assert CAROL.hash.hex() in str(error)
    accept(ledger, dataclasses.replace(draft, signers=[ALICE, CAROL]))


def test_insufficient_collateral_and_total_collateral(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    locked = _lock_at_plutus(ledger)
    [small] = ledger.genesis([TxOutput(enterprise(ALICE), Value(2 * ADA))])
    back = TxOutput(enterprise(ALICE), Value(1_800_000))  # leaves 0.2 ADA: under 150% of the fee
    draft = _plutus_spend(locked, alice_utxos[0], collateral=[small], collateral_return=back)
    error = reject(ledger, draft, "InsufficientCollateral")
    assert "200000" in str(error)
    enough = dataclasses.replace(
        draft, collateral_return=back.with_coin(1_000_000), total_collateral=999_999
    )
    reject(ledger, enough, "IncorrectTotalCollateralField")
    built = accept(ledger, dataclasses.replace(enough, total_collateral=1_000_000))
    assert built.fee * 150 <= 1_000_000 * 100
    assert ledger.utxo(small.out_ref) is not None  # a valid transaction keeps its collateral


def test_collateral_contains_non_ada(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    asset = (b"\x11" * 28, b"T")
    [tokens] = ledger.genesis([TxOutput(enterprise(ALICE), Value.of(5 * ADA, {asset: 3}))])
    draft = _plutus_spend(locked, alice_utxos[0], collateral=[tokens])
    reject(ledger, draft, "CollateralContainsNonADA")
    partial = TxOutput(enterprise(ALICE), Value.of(3 * ADA, {asset: 2}))
    reject(
        ledger, dataclasses.replace(draft, collateral_return=partial), "CollateralContainsNonADA"
    )
    full = TxOutput(enterprise(ALICE), Value.of(3 * ADA, {asset: 3}))
    accept(ledger, dataclasses.replace(draft, collateral_return=full))


def test_script_data_hash(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    locked = _lock_at_plutus(ledger)
    reject(
        ledger,
        _plutus_spend(locked, alice_utxos[0], script_data_hash=None),
        "PPViewHashesDontMatch",
    )
    model = list(params.cost_models["PlutusV3"])
    other_model = [*model[:-1], model[-1] + 1]
    reject(
        ledger,
        _plutus_spend(locked, alice_utxos[0], cost_model_v3=other_model),
        "PPViewHashesDontMatch",
    )
    # a data hash on a transaction with neither redeemers nor datums
    reject(
        ledger, payment(alice_utxos[1:2], script_data_hash=b"\x00" * 32), "PPViewHashesDontMatch"
    )
    accept(ledger, _plutus_spend(locked, alice_utxos[0]))


def test_script_data_hash_formula_matches_pycardano(params: ProtocolParameters) -> None:
    """Our expected hash (V3 language view `{2: [model]}`) equals pycardano's, computed apart."""
    import pycardano
    from pycardano.plutus import CostModels, ExecutionUnits, RawPlutusData, RedeemerTag, Unit
    from pycardano.serialization import default_encoder

    model = list(params.cost_models["PlutusV3"])
    assert len(model) == 297
    cost_models = CostModels({2: dict(enumerate(model))})
    theirs = pycardano.RedeemerMap({})
    theirs[pycardano.RedeemerKey(RedeemerTag.SPEND, 1)] = pycardano.RedeemerValue(
        Unit(), ExecutionUnits(1_000_000, 500_000_000)
    )
    ours = redeemers_cbor([Redeemer(0, 1)])
    assert ours == cbor2.dumps(theirs, default=default_encoder)
    assert (
        expected_script_data_hash(ours, None, model)
        == pycardano.script_data_hash(theirs, None, cost_models).payload
    )
    datums = [RawPlutusData(cbor2.CBORTag(121, [42]))]
    datums_cbor = cbor2.dumps(datums, default=default_encoder)  # the bytes pycardano hashes
    assert (
        expected_script_data_hash(ours, datums_cbor, model)
        == pycardano.script_data_hash(theirs, datums, cost_models).payload
    )


def test_language_views_order_and_forms(params: ProtocolParameters) -> None:
    """Keys ordered by their encoded bytes (V2 `01`, V3 `02`, V1 `41 00`); V1 double-wrapped."""
    views = language_views({1, 2, 3}, params.cost_models)
    decoded = cbor2.loads(views)
    assert list(decoded) == [1, 2, b"\x00"]
    assert views.startswith(b"\xa3\x01")
    assert decoded[2] == params.cost_models["PlutusV3"]
    assert decoded[1] == params.cost_models["PlutusV2"]
    v1 = decoded[b"\x00"]
    assert isinstance(v1, bytes) and v1[0] == 0x9F and v1[-1] == 0xFF  # indefinite list inside
    assert cbor2.loads(v1) == params.cost_models["PlutusV1"]
    assert language_views({3}, params.cost_models) == b"\xa1\x02" + cbor2.dumps(
        params.cost_models["PlutusV3"]
    )


def test_ex_units_too_big(
    ledger: Ledger, alice_utxos: list[Utxo], params: ProtocolParameters
) -> None:
    locked = _lock_at_plutus(ledger)
    [collateral] = ledger.genesis([TxOutput(enterprise(ALICE), Value(10 * ADA))])
    at_limit = Redeemer(0, 0, mem=params.max_tx_ex_mem, steps=params.max_tx_ex_steps)
    draft = _plutus_spend(locked, alice_utxos[0], collateral=[collateral])
    index = draft.redeemers[0].index
    over = dataclasses.replace(at_limit, index=index, mem=params.max_tx_ex_mem + 1)
    reject(ledger, dataclasses.replace(draft, redeemers=[over]), "ExUnitsTooBigUTxO")
    accept(
        ledger, dataclasses.replace(draft, redeemers=[dataclasses.replace(at_limit, index=index)])
    )


def test_redeemers_must_match_scripts(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    draft = _plutus_spend(locked, alice_utxos[0])
    reject(ledger, dataclasses.replace(draft, redeemers=[]), "MissingRedeemers")
    wrong = [draft.redeemers[0], Redeemer(1, 0)]
    reject(ledger, dataclasses.replace(draft, redeemers=wrong), "ExtraRedeemers")


def test_datum_hash_inputs_need_their_datum(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    datum = cbor2.dumps(cbor2.CBORTag(121, [42]))
    locked = _lock_at_plutus(ledger, inline=None, hashed=datum)
    draft = _plutus_spend(locked, alice_utxos[0])
    reject(ledger, draft, "MissingRequiredDatums")
    stray = cbor2.dumps(cbor2.CBORTag(121, [43]))
    reject(
        ledger, dataclasses.replace(draft, datums=[datum, stray]), "NotAllowedSupplementalDatums"
    )
    accept(ledger, dataclasses.replace(draft, datums=[datum]))


def _failing(message: str) -> Evaluator:
    def evaluator(
        tx: bytes,
        resolved: Mapping[OutRef, Utxo],
        params: ProtocolParameters,
        slot_config: SlotConfig,
        *,
        enforce_budget: bool = True,
    ) -> dict[RedeemerKey, ExUnits]:
        raise EvaluationError(message, trace=["checking the datum", "nope"])

    return evaluator


def test_script_failure_rejects_a_valid_tagged_transaction(tmp_path: Path, clock: Clock) -> None:
    with Ledger(
        tmp_path / "f.sqlite",
        system_start_ms=START_MS,
        clock=clock,
        evaluator=_failing("the validator said no"),
    ) as ledger:
        [fee_payer] = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))])
        locked = _lock_at_plutus(ledger)
        error = reject(ledger, _plutus_spend(locked, fee_payer), "ScriptFailure")
        assert error.trace == ["checking the datum", "nope"]
        assert "the validator said no" in str(error)


def test_phase_two_failure_tagged_invalid_takes_the_collateral(
    tmp_path: Path, clock: Clock
) -> None:
    with Ledger(
        tmp_path / "f.sqlite", system_start_ms=START_MS, clock=clock, evaluator=_failing("no")
    ) as ledger:
        fee_payer, collateral = ledger.genesis(
            [
                TxOutput(enterprise(ALICE), Value(100 * ADA)),
                TxOutput(enterprise(ALICE), Value(5 * ADA)),
            ]
        )
        locked = _lock_at_plutus(ledger)
        back = TxOutput(enterprise(ALICE), Value(4 * ADA))
        draft = _plutus_spend(
            locked,
            fee_payer,
            collateral=[collateral],
            collateral_return=back,
            total_collateral=1 * ADA,
            is_valid=False,
        )
        built = build(draft, ledger.params)
        assert ledger.submit(built.cbor) == built.tx_id
        assert ledger.utxo(collateral.out_ref) is None
        assert ledger.utxo(locked.out_ref) is not None and ledger.utxo(fee_payer.out_ref)
        returned = ledger.utxo((built.tx_id, 1))  # index = number of outputs
        assert returned is not None and returned.output_cbor == back.to_cbor()
        assert ledger.utxo((built.tx_id, 0)) is None
        record = ledger.transaction(built.tx_id)
        assert record is not None and not record.is_valid and record.fee == 1 * ADA


def test_invalid_tag_on_passing_scripts(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    locked = _lock_at_plutus(ledger)
    reject(ledger, _plutus_spend(locked, alice_utxos[0], is_valid=False), "ValidationTagMismatch")


def test_real_plutus_v3_scripts(tmp_path: Path, clock: Clock) -> None:
    pytest.importorskip("uplc", reason="the Plutus evaluator needs uplc")
    with Ledger(tmp_path / "p.sqlite", system_start_ms=START_MS, clock=clock) as ledger:
        fee_payer, other = ledger.genesis(
            [TxOutput(enterprise(ALICE), Value(100 * ADA)) for _ in range(2)]
        )
        good = _lock_at_plutus(ledger)
        accept(ledger, _plutus_spend(good, fee_payer))
        bad = _lock_at_plutus(ledger, ALWAYS_FAILS_V3)
        draft = _plutus_spend(bad, other, plutus_v3=[ALWAYS_FAILS_V3])
        reject(ledger, draft, "ScriptFailure")


# -- persistence, reset, idempotence, status ------------------------------------------------------


def test_state_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "devnet.sqlite"
    with Ledger(path, system_start_ms=START_MS, clock=clock) as ledger:
        funds = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))])
        built = accept(ledger, payment(funds))
        ledger.advance(50)
        height = ledger.tip().block_height
    with Ledger(path, clock=clock) as reopened:  # system start read back from the file
        assert reopened.current_slot() == NOW_SLOT + 50
        assert reopened.utxo(funds[0].out_ref) is None
        bob = reopened.utxos_at(enterprise(BOB))
        assert [u.out_ref for u in bob] == [(built.tx_id, 0)]
        assert bob[0].output_cbor == built.outputs[0].to_cbor()
        status = reopened.tx_status(built.tx_id)
        assert status.state is TxState.CONFIRMED and status.depth >= 2
        assert reopened.tip().block_height == height
        assert reopened.submit(built.cbor) == built.tx_id  # still known


def test_reset_starts_over(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    built = accept(ledger, payment(alice_utxos[:1]))
    ledger.advance(100)
    ledger.reset()
    assert ledger.utxos_at(enterprise(ALICE)) == [] and ledger.utxos_at(enterprise(BOB)) == []
    assert ledger.tx_status(built.tx_id).state is TxState.UNKNOWN
    assert ledger.current_slot() == NOW_SLOT
    again = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))])
    accept(ledger, payment(again))


def test_submit_is_idempotent(ledger: Ledger, alice_utxos: list[Utxo]) -> None:
    built = accept(ledger, payment(alice_utxos[:1]))
    state = _utxo_set(ledger)
    height = ledger.tip().block_height
    for _ in range(3):
        assert ledger.submit(built.cbor) == built.tx_id
    assert _utxo_set(ledger) == state
    assert ledger.tip().block_height == height
    # the same body with another witness set: the same transaction, already applied
    resigned = build(payment(alice_utxos[:1], fee=built.fee, signers=[ALICE, BOB]), ledger.params)
    assert resigned.tx_id == built.tx_id and resigned.cbor != built.cbor
    assert ledger.submit(resigned.cbor) == built.tx_id
    assert _utxo_set(ledger) == state


def test_status_depth_grows_with_blocks(
    ledger: Ledger, clock: Clock, alice_utxos: list[Utxo]
) -> None:
    assert ledger.tx_status(b"\x00" * 32).state is TxState.UNKNOWN
    built = accept(ledger, payment(alice_utxos[:1]))
    first = ledger.tx_status(built.tx_id)
    assert first.state is TxState.CONFIRMED and first.depth == 1 and first.slot == NOW_SLOT
    clock.now += 20  # the tip read after time moved cuts a new block
    assert ledger.tx_status(built.tx_id).depth == 2
    accept(ledger, payment(alice_utxos[1:2]))
    assert ledger.tx_status(built.tx_id).depth == 3


def test_mempool_until_the_next_block(tmp_path: Path, clock: Clock) -> None:
    with Ledger(
        tmp_path / "m.sqlite", system_start_ms=START_MS, clock=clock, block_on_submit=False
    ) as ledger:
        funds = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))])
        built = accept(ledger, payment(funds))  # applied at once, as a node's mempool does
        assert ledger.tx_status(built.tx_id).state is TxState.IN_MEMPOOL
        clock.now += 1
        status = ledger.tx_status(built.tx_id)
        assert status.state is TxState.CONFIRMED and status.depth == 1


# -- the order transaction, end to end ------------------------------------------------------------


def test_order_transaction_signed_by_a_devnet_wallet_is_accepted(
    ledger: Ledger,
) -> None:
    scenario = load_scenario(ROOT / "fixtures" / "orders" / "usd-sale.json")
    funds = [Utxo.from_cbor(h) for h in scenario.utxo_cbor_hex_list]
    ledger.genesis(funds)
    report = run_order(scenario)
    unsigned = bytes.fromhex(report["txCborHex"])
    buyer = DevnetWallet(DevnetBackend(ledger), "usd-sale-buyer")
    assert buyer.address == scenario.change_address
    witness_set = buyer.sign_tx(unsigned.hex(), partial_sign=False)
    signed = splice_witnesses(unsigned, witness_set)
    tx_id = ledger.submit(signed)
    assert tx_id.hex() == report["transaction"]["txId"]
    queue = ledger.utxos_at(scenario.queue_address)
    assert len(queue) == 1 and queue[0].out_ref == (tx_id, 0)
    queue_out = report["transaction"]["outputs"][0]
    assert queue[0].inline_datum is not None
    assert queue[0].inline_datum.hex() == queue_out["inlineDatum"]
    datum = QueueDatum.from_cbor(queue[0].inline_datum)
    assert datum.number_of_bundles == scenario.bundle_quantity
    assert datum.pointer_name == scenario.sale.pointer_name
    assert queue[0].value.coin == queue_out["lovelace"]
    cash = ledger.utxos_at(scenario.cash_register_address)
    assert len(cash) == 1
    assert decode_address(report["transaction"]["outputs"][1]["address"]) == cash[0].address
    for ref in report["transaction"]["inputs"]:
        tx_hash, ix = ref.split("#")
        assert ledger.utxo((bytes.fromhex(tx_hash), int(ix))) is None
