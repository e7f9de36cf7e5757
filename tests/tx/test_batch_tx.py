"""The batch builders' arithmetic without a ledger: pricing as the scripts floor it, the purchase
plan (n = min(requested, bundles left), exact payouts), when an order can still be filled, the
oracle window, and the errors that send an order to a refund. The transactions themselves run on
the devnet in `tests/chain/devnet/test_settlement.py`."""

from __future__ import annotations

import cbor2
import pytest

from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import (
    USD,
    BatcherData,
    Contracts,
    Fees,
    Keepers,
    OracleDatum,
    ProfitData,
    QueueDatum,
    ReferenceDatum,
    SaleDatum,
    Staking,
    Token,
    Wallet,
)
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.protocol import BATCHER_PREFIX
from cardano_market.domain.slots import SlotConfig
from cardano_market.domain.values import AssetId, Value
from cardano_market.tx.settle.deployment import BatchDeployment
from cardano_market.tx.settle.errors import BatchError, NotFillableError, OracleWindowError
from cardano_market.tx.settle.pricing import check_oracle_window, order_can_be_filled, order_pricing
from cardano_market.tx.settle.purchase import PurchasePlan, plan_purchase

H = {name: bytes([i + 1]) * 28 for i, name in enumerate(
    ["sale", "queue", "vault", "stake", "hot", "feed", "feed_pid", "pointer", "batcher", "ref",
     "store", "buyer", "artist", "song", "newm"]
)}  # fmt: skip
NEWM: AssetId = (H["newm"], b"NEWM")
SONG: AssetId = (H["song"], b"song")
POINTER_NAME = bytes.fromhex("ca11ab1e00") + b"\x07" * 27
POINTER: AssetId = (H["pointer"], POINTER_NAME)
CERTIFICATE: AssetId = (H["batcher"], BATCHER_PREFIX + b"x")
PRICE = 2723
MARGIN = 500_000_000_000
SLOTS = SlotConfig(zero_time_ms=1_700_000_000_000)


def reference(margin: int = MARGIN) -> ReferenceDatum:
    return ReferenceDatum(
        hot_key=H["hot"],
        keepers=Keepers((H["hot"],), 1),
        staking=Staking(H["hot"], Wallet(H["hot"])),
        contracts=Contracts(H["sale"], H["queue"], H["hot"], H["vault"], H["stake"]),
        fees=Fees(1_000_000, 1_000_000, 1_000_000),
        pointer=H["pointer"],
        batcher_data=BatcherData(H["hot"], H["hot"], (b"",), H["batcher"]),
        profit_data=ProfitData(H["feed"], H["feed_pid"], b"OracleFeed", *NEWM, margin),
    )


def utxo(tag: int, output: TxOutput) -> Utxo:
    return Utxo.from_cbor(b"\x82" + cbor2.dumps([bytes([tag]) * 32, 0]) + output.to_cbor())


def deployment(margin: int = MARGIN) -> BatchDeployment:
    ref_address = make_address(Credential.script(H["ref"]), None, 0)
    store = make_address(Credential.script(H["store"]), None, 0)
    datum = reference(margin).to_cbor()
    starter = Value.of(2_000_000, {(H["hot"], b"NEWMarketplace"): 1})
    scripts = [utxo(2 + i, TxOutput(store, Value(2_000_000))) for i in range(3)]
    return BatchDeployment(utxo(1, TxOutput(ref_address, starter, inline_datum=datum)), *scripts)


def sale_datum(cost: Token | None = None) -> SaleDatum:
    return SaleDatum(Wallet(H["artist"]), Token.of(SONG, 2), cost or Token.of(USD, 10**12))


def sale(d: BatchDeployment, songs: int = 10, cost: Token | None = None) -> Utxo:
    value = Value.of(5_000_000, {POINTER: 1, SONG: songs})
    return utxo(10, TxOutput(d.sale_address, value, inline_datum=sale_datum(cost).to_cbor()))


def order(d: BatchDeployment, newm: int, bundles: int = 3) -> Utxo:
    datum = QueueDatum(Wallet(H["buyer"]), bundles, Token.of(NEWM, 5_000_000), POINTER_NAME)
    value = Value.of(4_504_110, {NEWM: newm})
    return utxo(11, TxOutput(d.queue_address, value, inline_datum=datum.to_cbor()))


def oracle(d: BatchDeployment, start_ms: int = 0, end_ms: int = 2 * 10**12) -> Utxo:
    datum = OracleDatum(PRICE, start_ms, end_ms).to_cbor()
    value = Value.of(2_000_000, {(H["feed_pid"], b"OracleFeed"): 1})
    return utxo(12, TxOutput(d.oracle_address, value, inline_datum=datum))


def vault(d: BatchDeployment) -> Utxo:
    datum = Wallet(H["hot"]).to_cbor()
    return utxo(13, TxOutput(d.vault_address, Value(10_000_000), inline_datum=datum))


def certificate(with_token: bool = True) -> Utxo:
    address = make_address(Credential.key(H["hot"]), None, 0)
    return utxo(14, TxOutput(address, Value.of(5_000_000, {CERTIFICATE: 1} if with_token else {})))


UNIT = 10**12 // PRICE  # $1 a bundle in NEWM base units, floored: 367_242_012
PROFIT = MARGIN // PRICE  # 183_621_006
PAID = 3 * UNIT + PROFIT + 2 * 5_000_000  # what a 3-bundle order must hold (two incentives)


def plan(
    d: BatchDeployment,
    sale_utxo: Utxo,
    order_utxo: Utxo,
    *,
    certificate_utxo: Utxo | None = None,
    oracle_utxo: Utxo | bool | None = True,
    vault_utxo: Utxo | bool | None = True,
) -> PurchasePlan:
    """`plan_purchase` with the usual certificate, oracle and vault (True: the default one)."""
    return plan_purchase(
        deployment=d,
        sale_utxo=sale_utxo,
        queue_utxo=order_utxo,
        certificate_utxo=certificate_utxo or certificate(),
        oracle_utxo=oracle(d) if oracle_utxo is True else oracle_utxo or None,
        vault_utxo=vault(d) if vault_utxo is True else vault_utxo or None,
    )


# -- pricing --------------------------------------------------------------------------------------


def test_usd_cost_and_profit_are_floored_by_the_price() -> None:
    p = order_pricing(reference(), sale_datum(), OracleDatum(PRICE, 0, 1))
    assert (p.unit_asset, p.unit_cost, p.profit) == (NEWM, 367_242_012, 183_621_006)
    assert PRICE * p.unit_cost <= 10**12 < PRICE * (p.unit_cost + 1)
    assert p.needs_oracle


def test_a_token_sale_without_margin_needs_no_oracle() -> None:
    p = order_pricing(reference(0), sale_datum(Token.of(NEWM, 150)), None)
    assert (p.unit_asset, p.unit_cost, p.profit, p.needs_oracle) == (NEWM, 150, 0, False)
    with pytest.raises(BatchError, match="needs the oracle"):
        order_pricing(reference(), sale_datum(Token.of(NEWM, 150)), None)


def test_the_oracle_window_bounds_are_inclusive() -> None:
    start, end = SLOTS.slot_to_posix_ms(100), SLOTS.slot_to_posix_ms(200)
    window = OracleDatum(PRICE, start, end)
    check_oracle_window(window, SLOTS, 100, 200)
    for lower, upper in ((99, 150), (150, 201)):
        with pytest.raises(OracleWindowError, match="not inside the oracle window"):
            check_oracle_window(window, SLOTS, lower, upper)


# -- the purchase plan ----------------------------------------------------------------------------


def test_plan_pays_each_party_exactly() -> None:
    d = deployment()
    s, o = sale(d), order(d, PAID + 1_234)
    p = plan(d, s, o)
    assert p.bundles == 3
    vault_out, sale_out, queue_out, batcher_out = p.outputs(700_000)
    assert vault_out.value == Value(10_000_000) + Value.of(0, {NEWM: PROFIT})
    assert sale_out.value == Value.of(5_000_000, {POINTER: 1, SONG: 4, NEWM: 3 * UNIT})
    assert queue_out.value == Value.of(4_504_110 - 700_000, {NEWM: 5_001_234, SONG: 6})
    assert batcher_out.value == certificate().value + Value.of(0, {NEWM: 5_000_000})
    assert sale_out.inline_datum == s.inline_datum and queue_out.inline_datum == o.inline_datum
    total_in = s.value + o.value + vault(d).value + certificate().value
    total_out = sum((x.value for x in (vault_out, sale_out, queue_out, batcher_out)), Value())
    assert total_out + Value(700_000) == total_in  # nothing created, nothing lost


def test_plan_fills_what_is_left() -> None:
    d = deployment()
    p = plan(d, sale(d, songs=5), order(d, PAID))  # two whole bundles of 2 left, one song over
    assert p.bundles == 2
    assert p.sale_output.value.quantity(SONG) == 1


def test_sold_out_and_short_paid_orders_are_sent_to_a_refund() -> None:
    d = deployment()
    with pytest.raises(NotFillableError, match="sold out"):
        plan(d, sale(d, songs=1), order(d, PAID))
    with pytest.raises(NotFillableError, match="cannot pay"):
        plan(d, sale(d), order(d, PAID - 5_000_000 - 1))  # one unit short (one incentive kept)


def test_plan_refuses_wrong_inputs() -> None:
    d = deployment()
    with pytest.raises(BatchError, match="no batcher certificate"):
        plan(d, sale(d), order(d, PAID), certificate_utxo=certificate(False))
    with pytest.raises(BatchError, match="must spend a vault"):
        plan(d, sale(d), order(d, PAID), vault_utxo=None)
    with pytest.raises(BatchError, match="not a sale UTxO"):
        plan(d, order(d, PAID), order(d, PAID))
    other = deployment()
    foreign = sale(other)
    value = Value.of(5_000_000, {SONG: 10, (H["pointer"], b"\xca\x11\xab\x1e" + b"\x01" * 28): 1})
    wrong_pointer = utxo(10, TxOutput(d.sale_address, value, inline_datum=foreign.inline_datum))
    with pytest.raises(BatchError, match="does not hold the order's pointer"):
        plan(d, wrong_pointer, order(d, PAID))


def test_no_vault_and_no_profit_without_a_margin() -> None:
    d = deployment(0)
    s = sale(d, cost=Token.of(NEWM, 150))
    p = plan(d, s, order(d, 3 * 150 + 10_000_000), oracle_utxo=None, vault_utxo=None)
    assert p.vault_output is None and p.pricing.profit == 0
    assert [o.address for o in p.outputs(1)][:2] == [d.sale_address, d.queue_address]


# -- when a refund is allowed ---------------------------------------------------------------------


def test_an_order_can_be_filled_until_it_is_one_unit_short() -> None:
    d = deployment()
    s = sale(d)
    pricing = order_pricing(reference(), sale_datum(), OracleDatum(PRICE, 0, 1))
    datum = QueueDatum.from_cbor(order(d, 1).inline_datum or b"")
    enough = Value.of(4_504_110, {NEWM: 3 * UNIT + PROFIT + 5_000_000})
    assert order_can_be_filled(enough, datum, s, sale_datum(), pricing)
    short = Value.of(4_504_110, {NEWM: 3 * UNIT + PROFIT + 5_000_000 - 1})
    assert not order_can_be_filled(short, datum, s, sale_datum(), pricing)
    assert not order_can_be_filled(enough, datum, sale(d, songs=1), sale_datum(), pricing)
