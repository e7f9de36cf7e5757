"""Plutus V3 on the devnet ledger, end to end through `Ledger.submit` (not just the evaluator).

The project's OpShin `datum_echo` validator is locked and spent (reference script, collateral with
its return and total, script data hash, ex-units from `Ledger.evaluate`, fee from
`domain.fees.min_fee`); a failing redeemer is rejected with the validator's trace, or takes the
collateral when the transaction says it is invalid. NEWM's deployed mainnet queue script, read
from `../shared` at test time, guards a devnet UTxO: its owner cancels; anyone else is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from devnet_helpers import Built, Draft, Redeemer, build, expected_script_data_hash, redeemers_cbor
from test_plutus import NEWM_QUEUE_HASH, NEWM_STAKE_SCRIPT, NEWM_TOKEN, newm_queue

from cardano_market.chain.base import EvaluationError, SubmitError, TxState
from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.ledger import plutus_evaluator
from cardano_market.contracts import load_script
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum, Token, Wallet
from cardano_market.domain.fees import min_fee
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import ProtocolParameters
from cardano_market.domain.scriptdata import language_views, script_data_hash
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.ledger.parse import parse_transaction
from keys import ALICE, BOB, CAROL, enterprise
from txcheck import expected_min_fee
from worlds import START_MS, Clock

pytest.importorskip("uplc", reason="the devnet's Plutus evaluator needs uplc")

__all__ = ["newm_queue"]  # the fixture (skip or fail without ../shared) comes from test_plutus


ADA = 1_000_000
ECHO = load_script("datum_echo", traced=True)  # the failing case reads its message
ECHO_ADDRESS = make_address(Credential.script(script_hash(3, ECHO)), None, 0)
TAGS = ("spend", "mint", "cert", "reward", "vote", "propose")
GENEROUS = (10_000_000, 5_000_000_000)  # declared units for transactions that must fail


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A file-backed devnet ledger with the real (uplc) Plutus evaluator."""
    with Ledger(tmp_path / "devnet.sqlite", system_start_ms=START_MS, clock=Clock()) as led:
        yield led


# -- drafting with the project's fee and script data hash -----------------------------------------


def settle(draft: Draft, params: ProtocolParameters, ref_size: int = 0) -> Built:
    """Build with the fee of `domain.fees.min_fee` for the final size and declared units."""
    mem = sum(r.mem for r in draft.redeemers)
    steps = sum(r.steps for r in draft.redeemers)
    fee = 0
    for _ in range(8):
        built = build(dataclasses.replace(draft, fee=fee), params)
        needed = min_fee(params, len(built.cbor), mem=mem, steps=steps, ref_script_size=ref_size)
        if needed == fee:  # the independent formula agrees
            assert fee == expected_min_fee(params, len(built.cbor), mem, steps, ref_size)
            return built
        fee = needed
    raise AssertionError("the fee did not converge")


def with_data_hash(draft: Draft, params: ProtocolParameters) -> Draft:
    """Body key 11 from `domain.scriptdata` (PlutusV3 language view), checked independently."""
    redeemers = redeemers_cbor(draft.redeemers)
    digest = script_data_hash(redeemers, None, language_views({3}, params.cost_models))
    assert digest == expected_script_data_hash(redeemers, None, params.cost_models["PlutusV3"])
    return dataclasses.replace(draft, script_data_hash=digest)


def evaluated(ledger: Ledger, draft: Draft, ref_size: int) -> Built:
    """Placeholder units first, then `Ledger.evaluate`'s, until the units (and fee) settle."""
    redeemers = [dataclasses.replace(r, mem=0, steps=0) for r in draft.redeemers]
    for _ in range(4):
        draft = with_data_hash(dataclasses.replace(draft, redeemers=redeemers), ledger.params)
        built = settle(draft, ledger.params, ref_size)
        used = ledger.evaluate(built.cbor)
        assert set(used) == {(TAGS[r.tag], r.index) for r in redeemers}
        again = [
            dataclasses.replace(
                r, mem=used[(TAGS[r.tag], r.index)].mem, steps=used[(TAGS[r.tag], r.index)].steps
            )
            for r in redeemers
        ]
        if again == redeemers:
            return built
        redeemers = again
    raise AssertionError("the ex-units did not settle")


def generous(draft: Draft, params: ProtocolParameters, ref_size: int) -> Built:
    """A transaction whose script must fail: a budget far above what it could use."""
    redeemers = [
        dataclasses.replace(r, mem=GENEROUS[0], steps=GENEROUS[1]) for r in draft.redeemers
    ]
    return settle(
        with_data_hash(dataclasses.replace(draft, redeemers=redeemers), params), params, ref_size
    )


def script_ref(script: bytes) -> bytes:
    """A PlutusV3 script reference `[3, script]` for an output."""
    return cbor2.dumps([3, script])


def rejected(ledger: Ledger, built: Built, rule: str) -> SubmitError:
    with pytest.raises(SubmitError) as info:
        ledger.submit(built.cbor)
    assert info.value.rule == rule, str(info.value)
    assert ledger.transaction(built.tx_id) is None
    return info.value


# -- the project's own validator: datum_echo ------------------------------------------------------

DATUM = cbor2.dumps(cbor2.CBORTag(121, [b"cardano-market", [1, 2, 3]]))


def lock_echo(ledger: Ledger, funds: Utxo) -> tuple[Utxo, Utxo, Utxo]:
    """Alice's transaction: 5 ADA at datum_echo (inline datum) and the script as a reference.

    (locked, reference-script holder, Alice's change), all read back from the ledger.
    """
    holder = TxOutput(enterprise(ALICE), Value(0), script_ref=script_ref(ECHO))
    draft = Draft(
        inputs=[funds],
        outputs=[
            TxOutput(ECHO_ADDRESS, Value(5 * ADA), inline_datum=DATUM),
            holder.with_min_ada(ledger.params),
            TxOutput(enterprise(ALICE), Value(0)),
        ],
        signers=[ALICE],
    )
    built = settle(draft, ledger.params)
    assert ledger.submit(built.cbor) == built.tx_id
    locked, ref_holder, change = (ledger.utxo(built.utxo(i)) for i in range(3))
    assert locked is not None and ref_holder is not None and change is not None
    assert locked.address == ECHO_ADDRESS and locked.inline_datum == DATUM
    assert ledger.utxos_at(ECHO_ADDRESS) == [locked]
    return locked, ref_holder, change


def spend_echo(
    locked: Utxo, fee_payer: Utxo, ref_holder: Utxo, collateral: Utxo, redeemer: bytes
) -> Draft:
    """Unlock `locked` to Bob by the reference script; 5 ADA of `collateral` at stake."""
    inputs = sorted([locked, fee_payer], key=lambda u: u.out_ref)
    return Draft(
        inputs=inputs,
        outputs=[TxOutput(enterprise(BOB), Value(5 * ADA)), TxOutput(enterprise(ALICE), Value(0))],
        signers=[ALICE],
        reference_inputs=[ref_holder],
        redeemers=[Redeemer(0, inputs.index(locked), data=redeemer)],
        collateral=[collateral],
        collateral_return=TxOutput(enterprise(ALICE), Value(collateral.value.coin - 5 * ADA)),
        total_collateral=5 * ADA,
    )


def test_datum_echo_locked_and_spent_on_the_devnet(ledger: Ledger) -> None:
    funds, collateral = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))] * 2)
    locked, ref_holder, change = lock_echo(ledger, funds)
    assert ref_holder.script_ref is not None and script_hash(3, ECHO) == ECHO_ADDRESS[1:]
    draft = spend_echo(locked, change, ref_holder, collateral, DATUM)
    built = evaluated(ledger, draft, ref_size=len(ECHO))
    [units] = cbor2.loads(built.cbor)[1][5].values()
    assert 0 < units[1][0] < 1_000_000 and 0 < units[1][1] < 1_000_000_000
    assert built.fee * 150 <= 5 * ADA * 100

    short = dataclasses.replace(
        draft,
        redeemers=[dataclasses.replace(draft.redeemers[0], mem=units[1][0] - 1, steps=units[1][1])],
    )
    over = settle(with_data_hash(short, ledger.params), ledger.params, len(ECHO))
    assert "over" in str(rejected(ledger, over, "ScriptFailure"))

    assert ledger.submit(built.cbor) == built.tx_id
    assert ledger.utxos_at(ECHO_ADDRESS) == []
    assert ledger.utxo(locked.out_ref) is None and ledger.utxo(change.out_ref) is None
    [paid] = ledger.utxos_at(enterprise(BOB))
    assert paid.out_ref == (built.tx_id, 0) and paid.value == Value(5 * ADA)
    assert ledger.utxo(collateral.out_ref) == collateral  # a valid transaction keeps it
    assert ledger.utxo(ref_holder.out_ref) == ref_holder  # referenced, not spent
    assert ledger.utxo((built.tx_id, 2)) is None  # no collateral return on success
    record = ledger.transaction(built.tx_id)
    assert record is not None and record.is_valid and record.fee == built.fee
    assert ledger.tx_status(built.tx_id).state is TxState.CONFIRMED
    lock_record = ledger.transaction(locked.tx_hash)
    assert lock_record is not None
    alice = sum(u.value.coin for u in ledger.utxos_at(enterprise(ALICE)))
    assert alice == 195 * ADA - lock_record.fee - built.fee  # Bob's 5 ADA and two fees


def test_datum_echo_failing_redeemer(ledger: Ledger) -> None:
    funds, collateral = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))] * 2)
    locked, ref_holder, change = lock_echo(ledger, funds)
    wrong = cbor2.dumps(cbor2.CBORTag(121, [b"cardano-market", [1, 2, 4]]))
    draft = spend_echo(locked, change, ref_holder, collateral, wrong)
    with pytest.raises(EvaluationError) as evaluation:
        ledger.evaluate(generous(draft, ledger.params, len(ECHO)).cbor)
    assert any("redeemer does not match the datum" in line for line in evaluation.value.trace)

    claims_valid = generous(draft, ledger.params, len(ECHO))
    error = rejected(ledger, claims_valid, "ScriptFailure")
    assert any("redeemer does not match the datum" in line for line in error.trace)
    assert str(error).startswith("ScriptFailure")
    assert ledger.utxo(locked.out_ref) == locked and ledger.utxo(collateral.out_ref) == collateral

    invalid = generous(dataclasses.replace(draft, is_valid=False), ledger.params, len(ECHO))
    assert ledger.submit(invalid.cbor) == invalid.tx_id
    assert ledger.utxo(collateral.out_ref) is None  # the collateral pays ...
    returned = ledger.utxo((invalid.tx_id, 2))  # ... its return lands after the two outputs
    assert returned is not None and returned.value == Value(95 * ADA)
    assert ledger.utxo(locked.out_ref) == locked and ledger.utxo(change.out_ref) == change
    assert ledger.utxo((invalid.tx_id, 0)) is None and ledger.utxos_at(enterprise(BOB)) == []
    record = ledger.transaction(invalid.tx_id)
    assert record is not None and not record.is_valid and record.fee == 5 * ADA


# -- NEWM's mainnet queue script on a devnet transaction ------------------------------------------

OWNER = PaymentKey.derive("newm-queue-owner")
OWNER_STAKE = PaymentKey.derive("newm-queue-owner-stake").hash
OWNER_ADDRESS = make_address(Credential.key(OWNER.hash), Credential.key(OWNER_STAKE), 0)
DEPLOYER = PaymentKey.derive("newm-queue-deployer")
QUEUE_CANCEL = cbor2.dumps(cbor2.CBORTag(123, []))  # the queue redeemer's constructor 2


def queue_setup(ledger: Ledger, queue: bytes) -> dict[str, Utxo]:
    """The queued order (genesis, NEWM tokens), the reference script (submitted), wallets."""
    address = make_address(
        Credential.script(script_hash(3, queue)), Credential.script(NEWM_STAKE_SCRIPT), 0
    )
    datum = QueueDatum(
        Wallet(OWNER.hash, OWNER_STAKE),
        3,
        Token(NEWM_TOKEN[0], NEWM_TOKEN[1], 5_000_000),
        bytes.fromhex("ca11ab1e") + b"\x07" * 28,
    )
    order = TxOutput(
        address, Value.of(5 * ADA, {NEWM_TOKEN: 90_000_000}), inline_datum=datum.to_cbor()
    )
    queued, owner_funds, owner_collateral, deployer, carol = ledger.genesis(
        [
            order,
            TxOutput(OWNER_ADDRESS, Value(50 * ADA)),
            TxOutput(OWNER_ADDRESS, Value(10 * ADA)),
            TxOutput(enterprise(DEPLOYER), Value(100 * ADA)),
            TxOutput(enterprise(CAROL), Value(50 * ADA)),
        ]
    )
    holder = TxOutput(enterprise(DEPLOYER), Value(0), script_ref=script_ref(queue))
    deploy = settle(
        Draft(
            inputs=[deployer],
            outputs=[holder.with_min_ada(ledger.params), TxOutput(enterprise(DEPLOYER), Value(0))],
            signers=[DEPLOYER],
        ),
        ledger.params,
    )
    assert ledger.submit(deploy.cbor) == deploy.tx_id
    ref_holder = ledger.utxo(deploy.utxo(0))
    assert ref_holder is not None and ref_holder.script_ref is not None
    return {
        "queued": queued,
        "owner": owner_funds,
        "collateral": owner_collateral,
        "carol": carol,
        "ref": ref_holder,
    }


def queue_cancel(
    utxos: dict[str, Utxo], payer: str, key: PaymentKey, signers: list[bytes]
) -> Draft:
    """Cancel the queued order: everything back to the owner; `payer`'s UTxOs pay the fee."""
    queued = utxos["queued"]
    inputs = sorted([queued, utxos[payer]], key=lambda u: u.out_ref)
    collateral = utxos["collateral" if payer == "owner" else payer]
    change = utxos[payer].address
    return Draft(
        inputs=inputs,
        outputs=[TxOutput(OWNER_ADDRESS, queued.value), TxOutput(change, Value(0))],
        signers=[key],
        reference_inputs=[utxos["ref"]],
        redeemers=[Redeemer(0, inputs.index(queued), data=QUEUE_CANCEL)],
        collateral=[collateral],
        collateral_return=TxOutput(change, Value(collateral.value.coin - 3 * ADA)),
        total_collateral=3 * ADA,
        required_signers=signers,
    )


def test_newm_queue_cancel_by_its_owner_on_the_devnet(ledger: Ledger, newm_queue: bytes) -> None:
    assert script_hash(3, newm_queue).hex() == NEWM_QUEUE_HASH
    utxos = queue_setup(ledger, newm_queue)
    queued = utxos["queued"]
    ref_size = len(newm_queue)

    # refused first (the queued order is still there): no owner among the required signers ...
    for signers in ([], [CAROL.hash]):
        stranger = generous(queue_cancel(utxos, "carol", CAROL, signers), ledger.params, ref_size)
        with pytest.raises(EvaluationError):
            ledger.evaluate(stranger.cbor)
        error = rejected(ledger, stranger, "ScriptFailure")
        assert NEWM_QUEUE_HASH in str(error) and "over" not in str(error)
    # ... or the owner required but not signing: phase 1 refuses before any script runs
    unsigned = generous(queue_cancel(utxos, "carol", CAROL, [OWNER.hash]), ledger.params, ref_size)
    assert OWNER.hash.hex() in str(rejected(ledger, unsigned, "MissingVKeyWitnessesUTXOW"))
    assert ledger.utxo(queued.out_ref) == queued

    built = evaluated(ledger, queue_cancel(utxos, "owner", OWNER, [OWNER.hash]), ref_size)
    assert ledger.submit(built.cbor) == built.tx_id
    assert ledger.utxo(queued.out_ref) is None and ledger.utxos_at(queued.address) == []
    refund = ledger.utxo((built.tx_id, 0))
    assert refund is not None and refund.address == OWNER_ADDRESS
    assert refund.value.assets == {NEWM_TOKEN: 90_000_000} and refund.value.coin == 5 * ADA
    assert ledger.utxo(utxos["collateral"].out_ref) == utxos["collateral"]
    assert ledger.utxo(utxos["ref"].out_ref) == utxos["ref"]
    record = ledger.transaction(built.tx_id)
    assert record is not None and record.is_valid and record.fee == built.fee


# -- a script run is remembered for the same bytes only -------------------------------------------


def test_a_script_run_is_remembered_for_the_same_bytes_only(tmp_path: Path) -> None:
    """Evaluating the final transaction and then submitting it signed runs its scripts once;
    a transaction with the same body but other redeemers runs them afresh (evaluate skips the
    phase-1 script data hash check, so the body alone must not pick a remembered run)."""
    runs: list[bytes] = []

    def counting(tx: bytes, *args: Any, **kwargs: Any) -> dict[RedeemerKey, ExUnits]:
        runs.append(tx)
        return plutus_evaluator(tx, *args, **kwargs)

    with Ledger(
        tmp_path / "d.sqlite", system_start_ms=START_MS, clock=Clock(), evaluator=counting
    ) as ledger:
        funds, collateral = ledger.genesis([TxOutput(enterprise(ALICE), Value(100 * ADA))] * 2)
        locked, ref_holder, change = lock_echo(ledger, funds)
        wrong = cbor2.dumps(cbor2.CBORTag(121, [b"cardano-market", [1, 2, 4]]))
        failing = generous(
            spend_echo(locked, change, ref_holder, collateral, wrong), ledger.params, len(ECHO)
        )
        passing = generous(
            spend_echo(locked, change, ref_holder, collateral, DATUM), ledger.params, len(ECHO)
        )
        # the failing transaction's body with the passing redeemers spliced in: evaluate runs it
        _body, witnesses, is_valid, aux = cbor2.loads(failing.cbor)
        witnesses[5] = cbor2.loads(passing.cbor)[1][5]
        spliced = b"\x84" + parse_transaction(failing.cbor).body + cbor2.dumps(witnesses)
        spliced += cbor2.dumps(is_valid) + cbor2.dumps(aux)
        assert parse_transaction(spliced).tx_id == failing.tx_id
        ledger.evaluate(spliced)
        error = rejected(ledger, failing, "ScriptFailure")  # its own redeemers ran, not the spliced
        assert any("redeemer does not match the datum" in line for line in error.trace)

        built = evaluated(
            ledger, spend_echo(locked, change, ref_holder, collateral, DATUM), len(ECHO)
        )
        before = len(runs)
        assert ledger.submit(built.cbor) == built.tx_id
        assert len(runs) == before  # evaluated as these very bytes: not run again
