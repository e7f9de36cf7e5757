"""The project's queue validator on real transactions, side by side with NEWM's deployed one.

Every scenario builds one transaction and evaluates it against `own_market()` (our queue and
vault, starter NFT applied) and `newm_market()` (NEWM's mainnet scripts from `../shared`, skipped
when absent): a valid case passes both, and each broken case (a payout off by one unit, a missing
signature or certificate, a validity interval leaving the oracle window, ...) is refused by both,
by the queue's redeemer. Traces are checked on ours (the deployed scripts carry none).
"""

from __future__ import annotations

import pytest
from settlement_helpers import (
    ADA,
    BATCHER,
    BOUND,
    BUNDLES,
    BUYER,
    BUYER_STAKE,
    CANCEL,
    CERTIFICATE,
    FEE,
    HOT,
    INCENTIVE,
    MALFORMED,
    MARKETS,
    NEWM,
    NOW,
    PROFIT,
    PURCHASE,
    REFUND,
    SALE_PURCHASE,
    SLOTS,
    SOLD,
    SONG,
    STRANGER,
    Market,
    Spend,
    Tx,
    add_to_vault,
    certificate_utxo,
    evaluate,
    key_address,
    oracle_utxo,
    order_value,
    plus,
    queue_datum,
    queue_utxo,
    reference_utxo,
    rejected,
    sale_utxo,
    stray_address,
    unit_cost,
    utxo,
    vault_utxo,
)

from cardano_market.chain.devnet.plutus_scripts import ScriptFailure
from cardano_market.domain.datums import Token
from cardano_market.domain.hashes import datum_hash
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.values import AssetId, Value

pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")

LOVELACE: AssetId = (b"", b"")
OTHER_TOKEN: AssetId = (b"\x66" * 28, b"other")


@pytest.fixture(scope="module", params=["own", "deployed", "newm"])
def market(request: pytest.FixtureRequest) -> Market:
    return MARKETS[request.param]()


# -- QueuePurchase --------------------------------------------------------------------------------


def purchase(
    market: Market,
    *,
    sale_off: int = 0,
    queue_off: int = 0,
    vault_off: int = 0,
    certificate: bool = True,
    fee: int = FEE,
    oracle_end_slot: int = NOW + 3_600,
    signers: tuple[bytes, ...] = (BATCHER.hash,),
    incentive_asset: AssetId = NEWM,
) -> tuple[Tx, Spend]:
    """The batcher fills a 3-bundle USD order: vault +profit, sale +cost -songs, queue the rest.

    `*_off` move that many NEWM units from the named payout to the batcher's output. The order
    pays its incentive in `incentive_asset` (NEWM, the cost's asset, or another).
    """
    sale, vault = sale_utxo(market), vault_utxo(market)
    queue = queue_utxo(market)
    if incentive_asset != NEWM:  # the incentives in that asset, and 10 NEWM left over
        held = plus(plus(queue.value, NEWM, 10 - 2 * INCENTIVE), incentive_asset, 2 * INCENTIVE)
        datum = queue_datum(incentive_asset=incentive_asset).to_cbor()
        queue = queue_utxo(market, value=held, datum=datum)
    cost = unit_cost() * BUNDLES
    order = Spend(queue, PURCHASE)
    vault_profit = PROFIT - vault_off
    vault_out = plus(vault.value, NEWM, vault_profit)
    sale_out = plus(plus(sale.value, NEWM, cost - sale_off), SONG, -SOLD)
    queue_out = plus(queue.value, NEWM, -cost - PROFIT - queue_off)
    queue_out = plus(queue_out, incentive_asset, -INCENTIVE)
    queue_out = plus(plus(queue_out, SONG, SOLD), (b"", b""), -fee)
    batcher_out = Value.of(5 * ADA, {CERTIFICATE: 1}) if certificate else Value(5 * ADA)
    if incentive_asset == NEWM:
        batcher_out = plus(batcher_out, NEWM, INCENTIVE + sale_off + queue_off + vault_off)
    else:
        batcher_out = plus(batcher_out, NEWM, sale_off + queue_off + vault_off)
        batcher_out = plus(batcher_out, incentive_asset, INCENTIVE)
    tx = Tx(
        spends=[
            Spend(certificate_utxo(certificate)),
            Spend(sale, SALE_PURCHASE),
            order,
            Spend(vault, add_to_vault([Token.of(NEWM, vault_profit)])),
        ],
        outputs=[
            TxOutput(market.vault_address, vault_out, inline_datum=vault.inline_datum),
            TxOutput(market.sale_address, sale_out, inline_datum=sale.inline_datum),
            TxOutput(market.queue_address, queue_out, inline_datum=queue.inline_datum),
            TxOutput(key_address(BATCHER.hash), batcher_out),
        ],
        references=[
            reference_utxo(market),
            oracle_utxo(end_ms=SLOTS.slot_to_posix_ms(oracle_end_slot)),
        ],
        signers=list(signers),
        fee=fee,
        scripts=[market.queue, market.vault, market.sale],
    )
    return tx, order


def test_purchase_is_accepted(market: Market) -> None:
    tx, order = purchase(market)
    used = evaluate(tx)
    assert len(used) == 3 and ("spend", tx.spend_index(order.utxo.out_ref)) in used


@pytest.mark.parametrize("asset", [LOVELACE, OTHER_TOKEN], ids=["lovelace", "other token"])
def test_purchase_with_an_incentive_in_another_asset(market: Market, asset: AssetId) -> None:
    """The incentive not in the cost's asset: the queue checks it as a delta of its own (it folds
    the incentive into the cost's delta only when they are one asset)."""
    tx, order = purchase(market, incentive_asset=asset)
    assert ("spend", tx.spend_index(order.utxo.out_ref)) in evaluate(tx)
    rejected(
        purchase(market, incentive_asset=asset, queue_off=1)[0],
        market,
        order,
        "the queue output does not hold exactly",
    )


def test_purchase_needs_the_reference_datum_inline(market: Market) -> None:
    """The starter NFT's UTxO with its datum by hash instead of inline: no ReferenceDatum to read
    (ours skips reference inputs without an inline datum, the script references, and then finds
    none; the NFT is unique)."""
    tx, order = purchase(market)
    inline = reference_utxo(market)
    by_hash = utxo(
        0x01,
        TxOutput(inline.address, inline.value, datum_hash=datum_hash(inline.inline_datum or b"")),
    )
    references = [by_hash if r.out_ref == inline.out_ref else r for r in tx.references]
    without = tx.replace(references=references)
    if market.name == "newm":  # NEWM's sale, evaluated first, refuses it already
        with pytest.raises(ScriptFailure):
            evaluate(without)
        return
    rejected(without, market, order, "holds the starter NFT")


def test_a_second_order_under_another_stake_credential_cannot_ride_along(market: Market) -> None:
    """The attack: beside a valid purchase, a second order at the queue script under another stake
    credential (counted by full address, each is "the one queue input") spent with QueuePurchase,
    given the same sale output and vault redeemer as its proof, and bundles the batcher supplies:
    the order's payment goes to the batcher, not the seller and the vault. Ours counts the inputs
    the queue script locks; NEWM's trio accepts it."""
    tx, order = purchase(market)
    first = order.utxo
    first_out = next(o for o in tx.outputs if o.address == market.queue_address)
    address = stray_address(market.queue)
    second = utxo(0x07, TxOutput(address, first.value, inline_datum=first.inline_datum))
    songs = utxo(0x08, TxOutput(key_address(BATCHER.hash), Value.of(2 * ADA, {SONG: SOLD})))
    ride = tx.replace(
        spends=[*tx.spends, Spend(second, PURCHASE), Spend(songs)],
        outputs=[
            *tx.outputs,
            TxOutput(address, first_out.value, inline_datum=first.inline_datum),
        ],
    )
    if market.name == "newm":
        assert len(evaluate(ride)) == 4
        return
    rejected(ride, market, order, "exactly one queue input")


def test_two_refunds_cannot_share_one_payout(market: Market) -> None:
    """The same for refunds: two equal orders of one owner, one under another stake credential,
    refunded with one payout to the owner (each finds "some output" holding exactly its value),
    the other order's value kept by the batcher."""
    tx, order = refund(market)
    first = order.utxo
    second = utxo(
        0x07, TxOutput(stray_address(market.queue), first.value, inline_datum=first.inline_datum)
    )
    batcher_out = tx.outputs[0]
    kept = TxOutput(batcher_out.address, batcher_out.value + second.value)
    shared = tx.replace(spends=[*tx.spends, Spend(second, REFUND)], outputs=[kept, *tx.outputs[1:]])
    if market.name == "newm":
        assert len(evaluate(shared)) == 2
        return
    rejected(shared, market, order, "exactly one queue input")


def test_purchase_needs_a_vault_whose_datum_decodes(market: Market) -> None:
    """The attack: a vault UTxO whose datum is not a Wallet takes the vault's hot-key path, which
    ignores the AddToVault the queue reads as the proof of the profit's payout. With the hot key's
    signature the profit could go anywhere; ours refuses at the queue, NEWM's as well."""
    tx, order = purchase(market, signers=(BATCHER.hash, HOT.hash))
    vault = next(s.utxo for s in tx.spends if s.utxo.address == market.vault_address)
    not_a_wallet = utxo(
        vault.tx_hash[0],
        TxOutput(vault.address, vault.value, inline_datum=encode_plutus(constr(1, []))),
    )
    spends = [Spend(not_a_wallet, s.redeemer) if s.utxo is vault else s for s in tx.spends]
    outputs = [o for o in tx.outputs if o.address != market.vault_address]
    elsewhere = tx.replace(spends=spends, outputs=outputs)
    if market.name == "newm":
        with pytest.raises(ScriptFailure):
            evaluate(elsewhere)
        return
    with pytest.raises(ScriptFailure) as failure:
        evaluate(elsewhere)
    assert failure.value.key == ("spend", elsewhere.spend_index(order.utxo.out_ref))


def test_purchase_sale_payout_one_unit_short(market: Market) -> None:
    tx, order = purchase(market, sale_off=1)
    rejected(tx, market, order, "the sale output does not hold exactly the payment")


def test_purchase_queue_payout_one_unit_short(market: Market) -> None:
    tx, order = purchase(market, queue_off=1)
    rejected(tx, market, order, "the queue output does not hold exactly")


def test_purchase_queue_payout_one_unit_over(market: Market) -> None:
    tx, order = purchase(market, queue_off=-1)
    rejected(tx, market, order, "the queue output does not hold exactly")


def test_purchase_vault_profit_one_unit_short(market: Market) -> None:
    """The vault's redeemer lists the smaller profit (the vault agrees): the queue refuses."""
    tx, order = purchase(market, vault_off=1)
    rejected(tx, market, order, "the vault does not receive exactly the profit")


def test_purchase_after_the_oracle_window(market: Market) -> None:
    tx, order = purchase(market, oracle_end_slot=NOW + 59)  # the interval ends at NOW + 60
    rejected(tx, market, order, "the validity interval leaves the oracle window")


def test_purchase_before_the_oracle_window(market: Market) -> None:
    tx, order = purchase(market)
    early = tx.replace(valid_from=NOW - 3_601)
    rejected(early, market, order, "the validity interval leaves the oracle window")


def test_purchase_needs_a_finite_validity_interval(market: Market) -> None:
    tx, order = purchase(market)
    rejected(tx.replace(valid_to=None), market, order, "leaves the oracle window")


def test_purchase_needs_a_batcher_certificate(market: Market) -> None:
    tx, order = purchase(market, certificate=False)
    rejected(tx, market, order, "no batcher certificate is spent")


def test_purchase_fee_above_the_bound(market: Market) -> None:
    tx, order = purchase(market, fee=BOUND + 1)
    rejected(tx, market, order, "the fee exceeds the purchase bound")


def test_purchase_with_a_changed_queue_datum(market: Market) -> None:
    tx, order = purchase(market)
    outputs = list(tx.outputs)
    other = queue_datum(incentive=INCENTIVE + 1).to_cbor()
    queue_out = outputs[2]
    outputs[2] = TxOutput(queue_out.address, queue_out.value, inline_datum=other)
    rejected(tx.replace(outputs=outputs), market, order, "the queue output must keep the datum")


# -- QueueRefund ----------------------------------------------------------------------------------


def refund(
    market: Market,
    *,
    songs: int = 0,
    paid: Value | None = None,
    owner_off: int = 0,
    certificate: bool = True,
    fee: int = FEE,
) -> tuple[Tx, Spend]:
    """The batcher returns the order: output 0 the batcher (+incentive), output 1 the owner.

    By default the sale is sold out (`songs` = 0), so the order can no longer be filled.
    """
    queue = queue_utxo(market, value=paid)
    order = Spend(queue, REFUND)
    owner_out = plus(plus(queue.value, NEWM, -INCENTIVE - owner_off), (b"", b""), -fee)
    batcher_out = Value.of(5 * ADA, {CERTIFICATE: 1}) if certificate else Value(5 * ADA)
    tx = Tx(
        spends=[Spend(certificate_utxo(certificate)), order],
        outputs=[
            TxOutput(key_address(BATCHER.hash), plus(batcher_out, NEWM, INCENTIVE + owner_off)),
            TxOutput(key_address(BUYER.hash, BUYER_STAKE), owner_out),
        ],
        references=[reference_utxo(market), oracle_utxo(), sale_utxo(market, songs=songs)],
        signers=[BATCHER.hash],
        fee=fee,
        scripts=[market.queue],
    )
    return tx, order


def test_refund_of_a_sold_out_sale_is_accepted(market: Market) -> None:
    tx, order = refund(market)
    assert list(evaluate(tx)) == [("spend", tx.spend_index(order.utxo.out_ref))]


def test_refund_of_a_short_paid_order_is_accepted(market: Market) -> None:
    """The sale still has bundles, but the order is one NEWM unit short of paying for them.

    (The check sets aside one incentive and the profit; an order holds two incentives.)
    """
    tx, order = refund(market, songs=10, paid=order_value(extra=-INCENTIVE - 1))
    assert list(evaluate(tx)) == [("spend", tx.spend_index(order.utxo.out_ref))]


def test_refund_of_a_fillable_order(market: Market) -> None:
    tx, order = refund(market, songs=10)
    rejected(tx, market, order, "the order can still be filled")
    tx, order = refund(market, songs=10, paid=order_value(extra=-INCENTIVE))
    rejected(tx, market, order, "the order can still be filled")


def test_refund_owner_payout_one_unit_short(market: Market) -> None:
    tx, order = refund(market, owner_off=1)
    rejected(tx, market, order, "the owner is not paid exactly")


def test_refund_owner_payout_one_unit_over(market: Market) -> None:
    tx, order = refund(market, owner_off=-1)
    rejected(tx, market, order, "the owner is not paid exactly")


def test_refund_fee_above_the_bound(market: Market) -> None:
    tx, order = refund(market, fee=BOUND + 1)
    rejected(tx, market, order, "the fee exceeds the refund bound")


def test_refund_needs_a_batcher_certificate(market: Market) -> None:
    tx, order = refund(market, certificate=False)
    rejected(tx, market, order, "no batcher certificate is spent")


def test_refund_after_the_oracle_window(market: Market) -> None:
    tx, order = refund(market)
    late = tx.replace(valid_to=NOW + 3_601)
    rejected(late, market, order, "the validity interval leaves the oracle window")


# -- QueueCancel ----------------------------------------------------------------------------------


def cancel(market: Market, signers: list[bytes], *, second: bool = False) -> tuple[Tx, Spend]:
    queue = queue_utxo(market)
    order = Spend(queue, CANCEL)
    spends = [order]
    outputs = [TxOutput(key_address(BUYER.hash, BUYER_STAKE), plus(queue.value, (b"", b""), -FEE))]
    if second:
        other = queue_utxo(market, tag=0x07)
        spends.append(Spend(other, CANCEL))
        outputs.append(TxOutput(key_address(BUYER.hash), plus(other.value, (b"", b""), 0)))
    tx = Tx(spends=spends, outputs=outputs, signers=signers, scripts=[market.queue])
    return tx, order


def test_cancel_by_the_owner_is_accepted(market: Market) -> None:
    tx, _ = cancel(market, [BUYER.hash])
    assert list(evaluate(tx)) == [("spend", 0)]


def test_cancel_without_the_owners_signature(market: Market) -> None:
    for signers in ([], [STRANGER.hash], [HOT.hash]):
        tx, order = cancel(market, signers)
        rejected(tx, market, order, "the owner did not sign")


def test_cancel_of_two_orders_at_once(market: Market) -> None:
    tx, order = cancel(market, [BUYER.hash], second=True)
    rejected(tx, market, order, "exactly one queue input")


# -- a UTxO without a QueueDatum: the hot key recovers it -----------------------------------------


REDEEMERS = {
    "purchase": PURCHASE,
    "refund": REFUND,
    "cancel": CANCEL,
    "an int": encode_plutus(7),
    "constructor 5": encode_plutus(constr(5, [])),
}


def taken_by_the_hot_key(market: Market, datum: bytes | None, redeemer: bytes) -> tuple[Tx, Spend]:
    queue = queue_utxo(market, datum=datum)
    spend = Spend(queue, redeemer)
    tx = Tx(
        spends=[spend],
        outputs=[TxOutput(key_address(HOT.hash), queue.value)],
        references=[reference_utxo(market)],
        signers=[HOT.hash],
        scripts=[market.queue],
    )
    return tx, spend


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_malformed_datum_is_recovered_by_the_hot_key(market: Market, shape: str) -> None:
    """Whatever the queue redeemer (one that is none of the three is refused, as NEWM's does).
    Ours decides differently by redeemer (on a cancel by the datum's shape first, otherwise by
    the hot key's signature, then `check_integrity`), so every redeemer meets every shape, with
    and without the hot key."""
    for name, redeemer in REDEEMERS.items():
        tx, spend = taken_by_the_hot_key(market, MALFORMED[shape], redeemer)
        if name in ("an int", "constructor 5"):  # not a queue redeemer: refused, as by NEWM's
            with pytest.raises(ScriptFailure):
                evaluate(tx)
            continue
        assert list(evaluate(tx)) == [("spend", 0)], name
        without = tx.replace(signers=[BUYER.hash])
        if name == "cancel":
            rejected(without, market, spend, "the hot key did not sign")
        else:  # no hot key: the datum must decode, and it does not
            with pytest.raises(ScriptFailure) as failure:
                evaluate(without)
            assert failure.value.key == ("spend", 0), name


@pytest.mark.parametrize("redeemer", sorted(REDEEMERS))
def test_the_hot_key_cannot_take_a_well_formed_order(market: Market, redeemer: str) -> None:
    tx, spend = taken_by_the_hot_key(market, None, REDEEMERS[redeemer])
    with pytest.raises(ScriptFailure) as failure:
        evaluate(tx)
    assert failure.value.key == ("spend", 0)
    if redeemer == "cancel":
        rejected(tx, market, spend, "the owner did not sign")
