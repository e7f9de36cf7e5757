"""Settlement on the devnet: orders placed with the order builder, then filled, refunded or
cancelled by the batch builders, with the project's sale, queue and vault validators running on
the ledger (uplc) at every submit.

The demo seed deploys the contracts (queue and vault applied to the starter NFT), gives the cash
register (the hot key) the batcher certificate and a vault. Each scenario checks that lovelace and
tokens add up across every party (nothing created, nothing lost but the fees) and records the fee
and ex-units of each transaction against the reference datum's bounds (printed with `-s`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cbor2
import pytest
from devnet_helpers import traced_demo_seed

from cardano_market.chain.base import EvaluationError, SubmitError
from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.ledger import plutus_evaluator
from cardano_market.chain.devnet.seed import SeedResult, apply_seed, load_seed
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.datums import QueueDatum, SaleDatum
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.pricing import OrderAmount, order_amount
from cardano_market.domain.sale import Sale
from cardano_market.domain.values import AssetId, Value, sum_values
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.synthetic import SyntheticWallet
from cardano_market.tx.order import build_order_transaction
from cardano_market.tx.sale import SaleTerms, build_sale_start_transaction
from cardano_market.tx.script import ScriptInput, ScriptTransaction, Shape, build_script_transaction
from cardano_market.tx.settle.cancel import QUEUE_CANCEL, build_cancel_transaction
from cardano_market.tx.settle.deployment import BatchDeployment
from cardano_market.tx.settle.errors import (
    FeeBoundError,
    NotFillableError,
    OracleWindowError,
    StillFillableError,
)
from cardano_market.tx.settle.fee import ExUnitsMemo
from cardano_market.tx.settle.inputs import SettlementInputs
from cardano_market.tx.settle.purchase import build_purchase_transaction, plan_purchase
from cardano_market.tx.settle.refund import build_refund_transaction
from cardano_market.tx.settle.result import BatchTransaction
from txcheck import ledger_ref_script_size, script_min_fee
from worlds import START_MS, Clock, order_request, sale_deployment, seeded_ledger

pytest.importorskip("uplc", reason="the devnet's Plutus evaluator needs uplc")

TTL_SLOTS = 300
FIGURES: list[str] = []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Ledger, SeedResult]]:
    with seeded_ledger(tmp_path / "devnet.sqlite", traced_demo_seed()) as world:
        yield world


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Iterator[None]:
    yield
    print("\n" + "\n".join(FIGURES))


# -- the parties ----------------------------------------------------------------------------------


def deployment(seeded: SeedResult) -> BatchDeployment:
    c = seeded.contracts
    assert c is not None
    return BatchDeployment(
        c.reference_utxo, c.sale_script_utxo, c.queue_script_utxo, c.vault_script_utxo
    )


def batcher(seeded: SeedResult) -> SyntheticWallet:
    assert seeded.batcher is not None
    return seeded.batcher


def collateral(seeded: SeedResult) -> SyntheticWallet:
    assert seeded.collateral is not None
    return seeded.collateral


def independent_min_fee(
    ledger: Ledger, tx: ScriptTransaction, signers: Sequence[SyntheticWallet]
) -> int:
    """The ledger's minimum fee for `tx` signed by `signers`, read from the signed bytes by the
    independent checker (`txcheck.script_min_fee`), not the builders' `required_fee`: signed size,
    declared ex-units, and the bytes of every reference script its inputs and references carry."""
    seeds = [signer.payment_key.seed for signer in signers]
    signed = splice_witnesses(tx.cbor, sign_transaction(tx.cbor, seeds))
    return script_min_fee(signed, ledger.params, ledger_ref_script_size(ledger))


def submit(ledger: Ledger, tx: ScriptTransaction, signers: Sequence[SyntheticWallet]) -> bytes:
    witnesses = sign_transaction(tx.cbor, [w.payment_key.seed for w in signers])
    signed = splice_witnesses(tx.cbor, witnesses)
    assert len(signed) == tx.signed_size  # the fee paid for exactly these witnesses
    return ledger.submit(signed)


def record(name: str, batch: BatchTransaction, ledger: Ledger, bound: int | None) -> None:
    s = batch.summary(ledger.params)
    limit = f" (bound {bound})" if bound is not None else ""
    units = ", ".join(f"{k} {m}/{st}" for k, (m, st) in s["exUnits"].items())
    FIGURES.append(
        f"{name}: fee {s['fee']}{limit}, minimum {s['minimumFee']}, {s['size']} bytes, "
        f"ref scripts {s['referenceScriptBytes']} bytes, ex-units {units}"
    )


def submit_at_minimum_fee(
    ledger: Ledger, seeded: SeedResult, batch: BatchTransaction, name: str, bound: int
) -> None:
    """Check that `batch` pays exactly the ledger's minimum fee (the independent checker's), within
    `bound`; submit it signed by the batcher and the collateral wallet; record its figures."""
    signers = [batcher(seeded), collateral(seeded)]
    assert batch.fee == independent_min_fee(ledger, batch.transaction, signers) <= bound
    submit(ledger, batch.transaction, signers)
    record(name, batch, ledger, bound)


def holdings(ledger: Ledger, addresses: Sequence[bytes]) -> Value:
    return sum_values(u.value for a in set(addresses) for u in ledger.utxos_at(a))


def place_order(
    ledger: Ledger,
    seeded: SeedResult,
    sale: Sale,
    bundles: int,
    *,
    buyer: str = "alice",
    short_by: int = 0,
) -> Utxo:
    """Alice's order for `bundles` of `sale`, priced at the oracle's price; `short_by` currency
    units fewer than the order amount asks (a short-paid order)."""
    assert seeded.marketplace is not None and seeded.oracle is not None
    config = seeded.marketplace
    c = seeded.contracts
    assert c is not None and seeded.cash_register is not None
    amount: OrderAmount = order_amount(sale, bundles, None, seeded.oracle.datum.price, config)
    if short_by:
        amount = dataclasses.replace(amount, currency_amount=amount.currency_amount - short_by)
    wallet = seeded.wallets[buyer]
    order = build_order_transaction(order_request(ledger, seeded, wallet, amount, sale, TTL_SLOTS))
    witnesses = sign_transaction(order.balanced.cbor, [wallet.payment_key.seed])
    tx_id = ledger.submit(splice_witnesses(order.balanced.cbor, witnesses))
    queued = ledger.utxo((tx_id, 0))
    assert queued is not None and queued.address == c.queue_address
    return queued


def purchase(
    ledger: Ledger,
    seeded: SeedResult,
    sale: Utxo,
    order: Utxo,
    *,
    certificate: Utxo | None = None,
    vault: Utxo | None = None,
    units_memo: ExUnitsMemo | None = None,
) -> BatchTransaction:
    return build_purchase_transaction(
        settlement_inputs(ledger, seeded, sale, order, certificate, units_memo=units_memo),
        vault_utxo=vault or current_vault(ledger, seeded),
    )


def refund(
    ledger: Ledger,
    seeded: SeedResult,
    sale: Utxo,
    order: Utxo,
    *,
    certificate: Utxo | None = None,
    pending: Sequence[Utxo] = (),
    units_memo: ExUnitsMemo | None = None,
) -> BatchTransaction:
    return build_refund_transaction(
        settlement_inputs(
            ledger, seeded, sale, order, certificate, pending=pending, units_memo=units_memo
        )
    )


def settlement_inputs(
    ledger: Ledger,
    seeded: SeedResult,
    sale: Utxo,
    order: Utxo,
    certificate: Utxo | None,
    *,
    pending: Sequence[Utxo] = (),
    units_memo: ExUnitsMemo | None,
) -> SettlementInputs:
    """What a purchase or refund of `order` against `sale` is built from, valid from now for
    TTL_SLOTS, with the batcher's current certificate unless `certificate` is given."""
    assert seeded.oracle is not None
    now = ledger.current_slot()
    return SettlementInputs(
        deployment=deployment(seeded),
        sale_utxo=sale,
        queue_utxo=order,
        certificate_utxo=certificate or current_certificate(ledger, seeded),
        oracle_utxo=seeded.oracle.utxo,
        collateral_utxos=ledger.utxos_at(collateral(seeded).address),
        params=ledger.params,
        evaluate=ledger.evaluate,
        slot_config=ledger.slot_config,
        validity_start=now,
        ttl=now + TTL_SLOTS,
        pending_utxos=pending,
        units_memo=units_memo,
    )


def current_certificate(ledger: Ledger, seeded: SeedResult) -> Utxo:
    c = seeded.contracts
    assert c is not None
    [held] = [
        u
        for u in ledger.utxos_at(batcher(seeded).address)
        if u.value.quantity(c.batcher_certificate)
    ]
    return held


def current_vault(ledger: Ledger, seeded: SeedResult) -> Utxo:
    c = seeded.contracts
    assert c is not None
    [vault] = ledger.utxos_at(c.vault_address)
    return vault


def sale_record(seeded: SeedResult, index: int) -> Sale:
    return seeded.sales[index].sale


def parties(seeded: SeedResult, *buyers: str) -> list[bytes]:
    """Every address value can move between in these scenarios."""
    c = seeded.contracts
    assert c is not None and seeded.cash_register is not None
    return [
        c.sale_address,
        c.queue_address,
        c.vault_address,
        batcher(seeded).address,
        seeded.cash_register.address,
        collateral(seeded).address,
        *(seeded.wallets[b].address for b in buyers),
    ]


def bound_of(seeded: SeedResult, kind: str) -> int:
    c = seeded.contracts
    assert c is not None
    fees = c.reference_datum.fees
    return fees.purchase_queue_bound if kind == "purchase" else fees.refund_queue_bound


# -- purchase, then refund ------------------------------------------------------------------------


def test_purchase_then_refund_pays_everyone_exactly(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    c = seeded.contracts
    assert c is not None and seeded.marketplace is not None and seeded.oracle is not None
    currency = seeded.marketplace.currency
    song = seeded.seed.asset("SONG")
    sale_utxo = seeded.sales[0].utxo
    assert sale_utxo is not None
    order = place_order(ledger, seeded, sale_record(seeded, 0), 2)
    everyone = parties(seeded, "alice")
    before = holdings(ledger, everyone)
    vault_before = current_vault(ledger, seeded)
    certificate_before = current_certificate(ledger, seeded)

    bought = purchase(ledger, seeded, sale_utxo, order)
    record("purchase (USD sale, 2 bundles)", bought, ledger, bound_of(seeded, "purchase"))
    # the refund is built before the purchase lands (chaining through additional UTxOs)
    refunded = refund(
        ledger,
        seeded,
        bought.output_utxos()[1],
        bought.queue_utxo,
        certificate=bought.batcher_utxo,
        pending=bought.output_utxos(),
    )
    record("refund after purchase", refunded, ledger, bound_of(seeded, "refund"))
    signers = [batcher(seeded), collateral(seeded)]
    bought_minimum = independent_min_fee(ledger, bought.transaction, signers)  # inputs unspent
    assert submit(ledger, bought.transaction, signers) == bought.tx_id
    refunded_minimum = independent_min_fee(ledger, refunded.transaction, signers)
    assert submit(ledger, refunded.transaction, signers) == refunded.tx_id

    price = seeded.oracle.datum.price
    unit = 500_000_000_000 // price
    profit = 500_000_000_000 // price
    incentive = seeded.marketplace.incentive_min_amount
    datum = SaleDatum.from_cbor(sale_utxo.inline_datum or b"")
    sold = 2 * datum.bundle.amount
    # the sale: +2 bundles' cost, -2 bundles, datum kept
    [sale_after] = [u for u in ledger.utxos_at(c.sale_address) if u.tx_hash == bought.tx_id]
    assert sale_after.value == sale_utxo.value + Value.of(0, {currency: 2 * unit}) - Value.of(
        0, {song: sold}
    )
    assert sale_after.inline_datum == sale_utxo.inline_datum
    # the vault: +profit, datum kept
    vault_after = current_vault(ledger, seeded)
    assert vault_after.value == vault_before.value + Value.of(0, {currency: profit})
    assert vault_after.inline_datum == vault_before.inline_datum
    # the batcher: two incentives (purchase and refund) on its certificate UTxO
    assert current_certificate(ledger, seeded).value == certificate_before.value + Value.of(
        0, {currency: 2 * incentive}
    )
    # alice: the songs and the rest of her order, less both fees and both incentives
    [back] = ledger.utxos_by_ref([(refunded.tx_id, 1)])
    expected = order.value - Value.of(bought.fee + refunded.fee)
    expected = expected - Value.of(0, {currency: 2 * unit + profit + 2 * incentive})
    assert back.value == expected + Value.of(0, {song: sold})
    assert back.address == seeded.wallets["alice"].address
    assert ledger.utxos_at(c.queue_address) == []
    # nothing created or lost but the two fees (the collateral is returned untouched)
    after = holdings(ledger, everyone)
    assert after == before - Value.of(bought.fee + refunded.fee)
    assert bought.fee <= bound_of(seeded, "purchase") and refunded.fee <= bound_of(seeded, "refund")
    assert (bought.fee, refunded.fee) == (bought_minimum, refunded_minimum)


# -- a partial fill, a sold-out sale, a short-paid order ------------------------------------------


def start_small_sale(ledger: Ledger, seeded: SeedResult, bundles: int) -> tuple[Utxo, Sale]:
    """A fresh USD sale of `bundles` bundles (the artist, the hot key and the collateral sign)."""
    c = seeded.contracts
    assert c is not None and seeded.cash_register is not None and seeded.marketplace is not None
    artist = seeded.wallets["artist"]
    song = seeded.seed.asset("SONG")
    started = build_sale_start_transaction(
        utxos=ledger.utxos_at(artist.address),
        change_address=artist.address,
        terms=SaleTerms(song, 1_000_000, bundles, None, 500_000_000_000),
        sale_lovelace=seeded.marketplace.sale_lovelace,
        deployment=sale_deployment(seeded),
        collateral_utxos=ledger.utxos_at(collateral(seeded).address),
        collateral_key_hash=collateral(seeded).payment_key.hash,
        hot_key_hash=seeded.cash_register.payment_key.hash,
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + TTL_SLOTS,
    )
    signers = [artist, seeded.cash_register, collateral(seeded)]
    tx_id = submit(ledger, started.transaction, signers)
    sale_utxo = ledger.utxo((tx_id, 0))
    assert sale_utxo is not None
    record = dataclasses.replace(
        sale_record(seeded, 0),
        id="5b0c3a52-7d8e-5f1a-9c3b-2e4d6f8a0b1c",
        pointer_name=started.pointer[1],
        total_bundle_quantity=10,  # a stale record: the pricing lets orders exceed the sale
        available_bundle_quantity=10,
    )
    return sale_utxo, record


def test_partial_fill_then_sold_out(world: tuple[Ledger, SeedResult]) -> None:
    """Three bundles ordered from a sale with two: two are bought and the rest is refunded;
    a later order on the sold-out sale can only be refunded."""
    ledger, seeded = world
    assert seeded.marketplace is not None
    currency = seeded.marketplace.currency
    song = seeded.seed.asset("SONG")
    sale_utxo, sale = start_small_sale(ledger, seeded, 2)
    order = place_order(ledger, seeded, sale, 3)
    everyone = parties(seeded, "alice", "artist")
    before = holdings(ledger, everyone)

    bought = purchase(ledger, seeded, sale_utxo, order)
    assert bought.bundles == 2
    record("purchase (partial fill, 2 of 3)", bought, ledger, bound_of(seeded, "purchase"))
    sale_after = bought.output_utxos()[1]
    assert sale_after.value.quantity(song) == 0
    with pytest.raises(StillFillableError):  # a refund of the original order is refused
        refund(ledger, seeded, sale_utxo, order)
    refunded = refund(
        ledger,
        seeded,
        sale_after,
        bought.queue_utxo,
        certificate=bought.batcher_utxo,
        pending=bought.output_utxos(),
    )
    signers = [batcher(seeded), collateral(seeded)]
    submit(ledger, bought.transaction, signers)
    submit(ledger, refunded.transaction, signers)
    [back] = ledger.utxos_by_ref([(refunded.tx_id, 1)])
    assert back.value.quantity(song) == 2_000_000
    # the third bundle's share stays with alice: the order less two bundles, profit, incentives
    unit = 500_000_000_000 // 2723
    spent = 2 * unit + unit + 2 * seeded.marketplace.incentive_min_amount  # profit = unit here
    assert back.value.quantity(currency) == order.value.quantity(currency) - spent
    assert holdings(ledger, everyone) == before - Value.of(bought.fee + refunded.fee)

    sold_out = ledger.utxo(sale_after.out_ref)
    assert sold_out is not None
    late = place_order(ledger, seeded, sale, 1)
    with pytest.raises(NotFillableError, match="sold out"):
        purchase(ledger, seeded, sold_out, late)
    refunded_late = refund(ledger, seeded, sold_out, late)
    record("refund (sold-out sale)", refunded_late, ledger, bound_of(seeded, "refund"))
    submit(ledger, refunded_late.transaction, signers)
    [back] = ledger.utxos_by_ref([(refunded_late.tx_id, 1)])
    incentive = Value.of(0, {currency: seeded.marketplace.incentive_min_amount})
    assert back.value == late.value - incentive - Value.of(refunded_late.fee)


def test_short_paid_order_is_refunded_not_filled(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    sale_utxo = seeded.sales[0].utxo
    assert sale_utxo is not None
    order = place_order(ledger, seeded, sale_record(seeded, 0), 1, short_by=20_000_000)
    with pytest.raises(NotFillableError, match="cannot pay"):
        purchase(ledger, seeded, sale_utxo, order)
    refunded = refund(ledger, seeded, sale_utxo, order)
    record("refund (short-paid order)", refunded, ledger, bound_of(seeded, "refund"))
    submit(ledger, refunded.transaction, [batcher(seeded), collateral(seeded)])
    assert ledger.utxo(order.out_ref) is None
    assert ledger.utxo(sale_utxo.out_ref) == sale_utxo  # referenced, not spent


def test_token_priced_sale_is_filled(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    assert seeded.marketplace is not None
    sale_utxo = seeded.sales[1].utxo  # 150 NEWM per bundle
    assert sale_utxo is not None
    order = place_order(ledger, seeded, sale_record(seeded, 1), 3)
    bought = purchase(ledger, seeded, sale_utxo, order)
    record("purchase (NEWM sale, 3 bundles)", bought, ledger, bound_of(seeded, "purchase"))
    submit(ledger, bought.transaction, [batcher(seeded), collateral(seeded)])
    [sale_after] = ledger.utxos_by_ref([(bought.tx_id, 1)])
    currency = seeded.marketplace.currency
    assert sale_after.value.quantity(currency) == 3 * 150_000_000


# -- cancel ---------------------------------------------------------------------------------------


def generous(tx: bytes, _pending: Sequence[Utxo] = ()) -> Mapping[RedeemerKey, ExUnits]:
    """A stand-in evaluation for transactions whose scripts must fail: the transaction's whole
    budget shared among its redeemers (far more than a failing run uses), so the ledger's own run
    (not the budget) decides."""
    tags = ("spend", "mint")
    keys = list(cbor2.loads(tx)[1][5])
    mem, steps = 10_000_000 // len(keys), 6_000_000_000 // len(keys)
    return {(tags[k[0]], k[1]): ExUnits(mem, steps) for k in keys}


def rejected_on_submit(ledger: Ledger, tx: ScriptTransaction, signers, says: str) -> None:
    with pytest.raises(SubmitError) as info:
        submit(ledger, tx, signers)
    assert info.value.rule == "ScriptFailure", info.value
    assert any(says in line for line in info.value.trace), info.value.trace


def test_cancel_by_the_owner_and_not_by_another(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    alice, bob = seeded.wallets["alice"], seeded.wallets["bob"]
    order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
    c = seeded.contracts
    assert c is not None

    # bob pays the fee and signs in alice's place: the queue refuses
    stolen = build_script_transaction(
        wallet_utxos=ledger.utxos_at(bob.address),
        change_address=bob.address,
        shape=Shape([TxOutput(bob.address, order.value).with_min_ada(ledger.params)]),
        params=ledger.params,
        evaluate=generous,
        collateral_utxos=[u for u in ledger.utxos_at(bob.address) if u.value.is_ada_only],
        script_inputs=[ScriptInput(order, QUEUE_CANCEL)],
        reference_inputs=[c.queue_script_utxo],
        required_signers=[bob.payment_key.hash],
        ttl=ledger.current_slot() + TTL_SLOTS,
    )
    rejected_on_submit(ledger, stolen, [bob], "the owner did not sign")

    cancelled = build_cancel_transaction(
        deployment=deployment(seeded),
        queue_utxo=order,
        owner_utxos=ledger.utxos_at(alice.address),
        collateral_utxos=[u for u in ledger.utxos_at(alice.address) if u.value.is_ada_only],
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + TTL_SLOTS,
    )
    record("cancel (owner pays)", cancelled, ledger, None)
    before = holdings(ledger, [alice.address, c.queue_address])
    submit(ledger, cancelled.transaction, [alice])
    assert ledger.utxo(order.out_ref) is None
    assert holdings(ledger, [alice.address, c.queue_address]) == before - Value.of(cancelled.fee)


# -- the oracle window and the fee bound ----------------------------------------------------------


def test_purchase_outside_the_oracle_window(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    assert seeded.oracle is not None
    sale_utxo = seeded.sales[0].utxo
    assert sale_utxo is not None
    order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
    end_slot = ledger.slot_config.posix_ms_to_slot(seeded.oracle.datum.end_ms)
    late_inputs = dataclasses.replace(
        settlement_inputs(ledger, seeded, sale_utxo, order, None, units_memo=None), ttl=end_slot + 1
    )
    with pytest.raises(OracleWindowError, match="not inside the oracle window"):
        build_purchase_transaction(late_inputs, vault_utxo=current_vault(ledger, seeded))

    # the same purchase built without the builder's check: the scripts refuse it on the ledger
    plan = plan_purchase(
        deployment=deployment(seeded),
        sale_utxo=sale_utxo,
        queue_utxo=order,
        certificate_utxo=current_certificate(ledger, seeded),
        oracle_utxo=seeded.oracle.utxo,
        vault_utxo=current_vault(ledger, seeded),
    )
    vault = current_vault(ledger, seeded)
    from cardano_market.domain.datums import Token, Wallet
    from cardano_market.domain.redeemers import add_to_vault
    from cardano_market.tx.settle.purchase import QUEUE_PURCHASE, SALE_PURCHASE

    c = seeded.contracts
    assert c is not None
    fee = 2_300_000  # pays for the budget `generous` declares; the order keeps its min-ADA
    late = build_script_transaction(
        wallet_utxos=[current_certificate(ledger, seeded)],
        change_address=batcher(seeded).address,
        shape=Shape(plan.outputs(fee)),
        params=ledger.params,
        evaluate=generous,
        collateral_utxos=ledger.utxos_at(collateral(seeded).address),
        script_inputs=[
            ScriptInput(sale_utxo, SALE_PURCHASE),
            ScriptInput(order, QUEUE_PURCHASE),
            ScriptInput(
                vault,
                add_to_vault([Token.of(plan.pricing.profit_asset, plan.pricing.profit)]),
            ),
        ],
        reference_inputs=[
            c.reference_utxo,
            c.sale_script_utxo,
            c.queue_script_utxo,
            c.vault_script_utxo,
            seeded.oracle.utxo,
        ],
        required_signers=[Wallet.from_cbor(vault.inline_datum or b"").pkh],
        validity_start=late_inputs.validity_start,
        ttl=end_slot + 1,
    )
    assert late.fee == fee  # the order's output was computed for this fee
    rejected_on_submit(
        ledger, late, [batcher(seeded), collateral(seeded)], "leaves the oracle window"
    )
    with pytest.raises(EvaluationError):
        ledger.evaluate(late.cbor)


def test_our_deployed_scripts_fit_mainnet_fee_bounds(tmp_path: Path) -> None:
    """The demo seed deploys the trace-free build under mainnet's 1 ADA bounds: a USD and a
    token-priced purchase (1 and 3 bundles) and their refunds each pay the ledger's minimum fee,
    within the bound."""
    with seeded_ledger(tmp_path / "mainnet.sqlite") as (ledger, seeded):
        c = seeded.contracts
        assert c is not None and c.reference_datum.fees.purchase_queue_bound == 1_000_000
        for index, bundles in ((0, 1), (1, 3)):
            sale_utxo = current_sale(ledger, seeded, index)
            order = place_order(ledger, seeded, sale_record(seeded, index), bundles)
            bought = purchase(ledger, seeded, sale_utxo, order)
            submit_at_minimum_fee(
                ledger, seeded, bought, f"deployed build, purchase of {bundles}", 1_000_000
            )
            back = refund(ledger, seeded, current_sale(ledger, seeded, index), bought.queue_utxo)
            submit_at_minimum_fee(
                ledger, seeded, back, f"deployed build, refund after {bundles}", 1_000_000
            )


def test_a_32_byte_bundle_token_name_fits_mainnet_fee_bounds(tmp_path: Path) -> None:
    """Real token names run to 32 bytes (the demo's is 8): a purchase and a refund of a sale
    whose bundle token has a 32-byte asset name still pay the ledger's minimum fee within
    mainnet's 1 ADA bounds."""
    import json

    from cardano_market.chain.devnet.seed import DEFAULT_SEED, parse_seed

    data = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    data["tokens"]["SONG"] = {"assetNameHex": "ab" * 32, "decimals": 6}
    with seeded_ledger(tmp_path / "long-name.sqlite", parse_seed(data)) as (ledger, seeded):
        c = seeded.contracts
        assert c is not None and c.reference_datum.fees.purchase_queue_bound == 1_000_000
        assert len(seeded.seed.asset("SONG")[1]) == 32
        order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
        bought = purchase(ledger, seeded, current_sale(ledger, seeded, 0), order)
        name = "deployed build, 32-byte name"
        submit_at_minimum_fee(ledger, seeded, bought, f"{name}, purchase of 1", 1_000_000)
        back = refund(ledger, seeded, current_sale(ledger, seeded, 0), bought.queue_utxo)
        submit_at_minimum_fee(ledger, seeded, back, f"{name}, refund after 1", 1_000_000)


def current_sale(ledger: Ledger, seeded: SeedResult, index: int) -> Utxo:
    c = seeded.contracts
    assert c is not None
    pointer = (c.pointer_policy, sale_record(seeded, index).pointer_name)
    [utxo] = [u for u in ledger.utxos_at(c.sale_address) if u.value.quantity(pointer)]
    return utxo


def test_a_fee_above_the_bound_is_refused_naming_what_it_needs(tmp_path: Path) -> None:
    """With a bound below what the purchase costs the builder refuses, naming the fee."""
    import json

    from cardano_market.chain.devnet.seed import DEFAULT_SEED, parse_seed

    data = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    data["marketplace"]["purchaseQueueBound"] = 500_000
    with seeded_ledger(tmp_path / "low-bound.sqlite", parse_seed(data)) as (ledger, seeded):
        sale_utxo = seeded.sales[0].utxo
        assert sale_utxo is not None
        order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
        with pytest.raises(FeeBoundError) as info:
            purchase(ledger, seeded, sale_utxo, order)
    assert info.value.bound == 500_000 and info.value.fee > 500_000
    assert "reference-script bytes" in str(info.value)
    FIGURES.append(f"low bound: {info.value}")


def test_queue_datum_is_kept_by_the_purchase(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    sale_utxo = seeded.sales[0].utxo
    assert sale_utxo is not None
    order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
    bought = purchase(ledger, seeded, sale_utxo, order)
    assert bought.queue_utxo.inline_datum == order.inline_datum
    assert QueueDatum.from_cbor(bought.queue_utxo.inline_datum or b"").number_of_bundles == 1
    asset: AssetId = seeded.seed.asset("SONG")
    assert bought.queue_utxo.value.quantity(asset) == 1_000_000


def test_a_generous_fee_bound_still_pays_the_minimum_fee(tmp_path: Path) -> None:
    """Regression: the first build offers the whole bound as the fee the order gives up; had the
    surplus over that build's fee gone to an ADA-only change output, the transaction would pay
    less than the order gave up and the queue would refuse it. The builder settles on the
    ledger's minimum fee whatever the bound."""
    import json

    from cardano_market.chain.devnet.seed import DEFAULT_SEED, parse_seed

    data = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    data["marketplace"]["purchaseQueueBound"] = 3_000_000
    data["marketplace"]["refundQueueBound"] = 3_000_000
    with seeded_ledger(tmp_path / "generous.sqlite", parse_seed(data)) as (ledger, seeded):
        sale_utxo = seeded.sales[0].utxo
        assert sale_utxo is not None
        order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
        bought = purchase(ledger, seeded, sale_utxo, order)
        assert (
            bought.fee
            == independent_min_fee(
                ledger, bought.transaction, [batcher(seeded), collateral(seeded)]
            )
            < 3_000_000
        )
        assert len(bought.transaction.outputs) == 4  # vault, sale, queue, batcher: no change
        submit(ledger, bought.transaction, [batcher(seeded), collateral(seeded)])
        sale_now = ledger.utxo((bought.transaction.tx_id, 1))
        assert sale_now is not None
        back = refund(ledger, seeded, sale_now, bought.queue_utxo)
        assert (
            back.fee
            == independent_min_fee(ledger, back.transaction, [batcher(seeded), collateral(seeded)])
            < 3_000_000
        )
        submit(ledger, back.transaction, [batcher(seeded), collateral(seeded)])


# -- one script run per batcher transaction -------------------------------------------------------


class CountingEvaluator:
    """The ledger's own evaluator (uplc), counting the runs it makes (the ledger's memory of
    earlier runs sits in front of it, so a run it reuses is not counted)."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, tx: bytes, resolved: Mapping[OutRef, Utxo], *args: Any, **kw: Any) -> Any:
        self.runs += 1
        return plutus_evaluator(tx, resolved, *args, **kw)


def fresh_units(ledger: Ledger, tx: ScriptTransaction, pending: Sequence[Utxo] = ()) -> Any:
    """A full evaluation of `tx` outside the ledger (no remembered run, no guess)."""
    from cardano_market.chain.devnet.plutus import evaluate_scripts

    extra = {u.out_ref: u for u in pending}
    resolved = {
        ref: extra.get(ref) or ledger.utxo(ref)
        for ref in (*(u.out_ref for u in tx.inputs), *(u.out_ref for u in tx.reference_inputs))
    }
    return evaluate_scripts(tx.cbor, resolved, ledger.params, ledger.slot_config)


def test_a_batcher_transaction_runs_its_scripts_once(tmp_path: Path) -> None:
    """The fee settles without running a script: on the units the scripts used in an earlier
    transaction of the same kind and layout (`ExUnitsMemo`), or else on one run of the first
    build. Then the scripts run once on the final bytes, and the ledger reuses that run at
    submit: at most two runs per transaction (there were three), one when the memo knows the
    layout. Every transaction's declared ex-units equal a full re-evaluation of its bytes, and
    a build on guessed units is byte for byte the one built without a guess."""
    counter = CountingEvaluator()
    with Ledger(
        tmp_path / "once.sqlite", system_start_ms=START_MS, clock=Clock(), evaluator=counter
    ) as ledger:
        seeded = apply_seed(ledger, load_seed())
        memo = ExUnitsMemo()
        signers = [batcher(seeded), collateral(seeded)]
        calls: list[bytes] = []
        evaluate = ledger.evaluate

        def counted(tx: bytes, pending: Sequence[Utxo] = ()) -> dict[RedeemerKey, ExUnits]:
            calls.append(tx)
            return evaluate(tx, pending)

        ledger.evaluate = counted  # type: ignore[method-assign]
        for _ in range(2):
            order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
            sale_utxo = current_sale(ledger, seeded, 0)
            before = counter.runs
            bought = purchase(ledger, seeded, sale_utxo, order, units_memo=memo)
            assert counter.runs - before <= 2
            assert fresh_units(ledger, bought.transaction) == bought.transaction.ex_units
            before, asked = counter.runs, len(calls)
            again = purchase(ledger, seeded, sale_utxo, order, units_memo=memo)
            assert len(calls) - asked == 1  # the same layout: the memo's units, one evaluation
            assert counter.runs == before  # of the same bytes as before, which the ledger knows
            assert again.cbor == bought.cbor
            assert purchase(ledger, seeded, sale_utxo, order).cbor == bought.cbor  # no memo
            before = counter.runs
            submit(ledger, bought.transaction, signers)
            assert counter.runs == before  # the builder's run on these bytes, reused
            before = counter.runs
            back = refund(
                ledger, seeded, current_sale(ledger, seeded, 0), bought.queue_utxo, units_memo=memo
            )
            assert counter.runs - before <= 2
            assert fresh_units(ledger, back.transaction) == back.transaction.ex_units
            before = counter.runs
            submit(ledger, back.transaction, signers)
            assert counter.runs == before


def test_a_wrong_guess_costs_a_run_not_a_wrong_transaction(tmp_path: Path) -> None:
    """Units remembered off by a few (another order's scripts may use other units) are caught by
    the run on the final bytes: the fee settles again on the measured units, and the result is
    the transaction built without any guess."""
    counter = CountingEvaluator()
    with Ledger(
        tmp_path / "wrong.sqlite", system_start_ms=START_MS, clock=Clock(), evaluator=counter
    ) as ledger:
        seeded = apply_seed(ledger, load_seed())
        order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
        sale_utxo = current_sale(ledger, seeded, 0)
        exact = purchase(ledger, seeded, sale_utxo, order)
        memo = ExUnitsMemo()
        units = exact.transaction.ex_units
        off = {k: ExUnits(u.mem + 7, u.steps - 1_000) for k, u in units.items()}
        memo.remember("purchase", dataclasses.replace(exact.transaction, ex_units=off))
        before = counter.runs
        guessed = purchase(ledger, seeded, sale_utxo, order, units_memo=memo)
        assert counter.runs - before == 1  # the final bytes were run afresh (new tx id)...
        assert guessed.cbor == exact.cbor  # ...and the fee settled again on what they used
        assert fresh_units(ledger, guessed.transaction) == guessed.transaction.ex_units


# -- an order carrying other assets ---------------------------------------------------------------


@pytest.mark.parametrize("others", [3, 5])
def test_an_order_carrying_other_assets_settles_within_mainnet_bounds(
    tmp_path: Path, others: int
) -> None:
    """An order's value may carry assets the sale never asks for (a wallet sends what it holds):
    the queue checks every asset of the order, so each costs ex-units and bytes. With `others`
    other assets in the order the purchase and the refund pay the ledger's minimum fee within
    mainnet's 1 ADA bounds, and the owner gets them back untouched (five: 832,945 lovelace, see
    docs/settlement.md)."""
    import json

    from cardano_market.chain.devnet.seed import DEFAULT_SEED, parse_seed
    from cardano_market.tx.balance import balance

    data = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    extra_names = [f"Extra{i}" for i in range(others)]
    for name in extra_names:
        data["tokens"][name] = {"assetName": name, "decimals": 0}
    data["wallets"]["alice"]["assets"].update({name: 1_000 for name in extra_names})
    with seeded_ledger(tmp_path / "five.sqlite", parse_seed(data)) as (ledger, seeded):
        c = seeded.contracts
        assert c is not None and seeded.marketplace is not None and seeded.oracle is not None
        assert seeded.cash_register is not None
        bounds = c.reference_datum.fees
        assert bounds.purchase_queue_bound == bounds.refund_queue_bound == 1_000_000
        alice = seeded.wallets["alice"]
        sale = sale_record(seeded, 0)
        amount = order_amount(sale, 1, None, seeded.oracle.datum.price, seeded.marketplace)
        plain = build_order_transaction(
            order_request(ledger, seeded, alice, amount, sale, TTL_SLOTS)
        )
        extras = Value(0, {seeded.seed.asset(name): 7 for name in extra_names})
        queue_out = plain.balanced.outputs[0]
        carrying = TxOutput(
            queue_out.address, queue_out.value + extras, inline_datum=queue_out.inline_datum
        ).with_min_ada(ledger.params)
        fixed = plain.balanced.outputs[: len(plain.balanced.outputs) - plain.balanced.change_count]
        built = balance(
            utxos=ledger.utxos_at(alice.address),
            outputs=[carrying, *fixed[1:]],
            change_address=alice.address,
            params=ledger.params,
            ttl=ledger.current_slot() + TTL_SLOTS,
        )
        witnesses = sign_transaction(built.cbor, [alice.payment_key.seed])
        order = ledger.utxo((ledger.submit(splice_witnesses(built.cbor, witnesses)), 0))
        assert order is not None and len(order.value.assets) == 1 + others  # NEWM and the others

        bought = purchase(ledger, seeded, current_sale(ledger, seeded, 0), order)
        submit_at_minimum_fee(
            ledger, seeded, bought, f"{others} other assets, purchase of 1", 1_000_000
        )
        back = refund(ledger, seeded, current_sale(ledger, seeded, 0), bought.queue_utxo)
        submit_at_minimum_fee(
            ledger, seeded, back, f"{others} other assets, refund after 1", 1_000_000
        )
        [returned] = [
            u for u in ledger.utxos_at(alice.address) if u.out_ref[0] == back.transaction.tx_id
        ]
        for name in extra_names:
            assert returned.value.quantity(seeded.seed.asset(name)) == 7
