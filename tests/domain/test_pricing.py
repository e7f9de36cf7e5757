"""Order amounts (PROTOCOL section 3): worked examples, exact-arithmetic invariants, every
validation message, the queue/cash-register split, configuration reading and the fees quote.

The reference used for exactness is written differently from the code on purpose: `math.floor`
over `Fraction`s, and division checked by its bounds (q * d <= n < (q + 1) * d).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import cbor2
import pycardano as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardano_market.domain.errors import ConfigError, InvalidSaleError, PricingError
from cardano_market.domain.pricing import (
    ORDER_EXTRA_LOVELACE,
    FeesQuote,
    MarketplaceConfig,
    OrderAmount,
    exact_decimal,
    order_amount,
    order_fees,
)
from cardano_market.domain.sale import Sale, SaleStatus
from cardano_market.domain.values import ADA, AssetId, Value, asset_from_unit, unit_of

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "order_amounts.json"

NEWM: AssetId = (bytes.fromhex("35fd557ad91312f175fa7af7e78d8ed6e06651c1c8384d285f392b44"), b"NEWM")
SONG: AssetId = (
    bytes.fromhex("ff885855281b488551b29d7f26034f430df5241cbafa630ef23ac21c"),
    b"Song1",
)
USDM: AssetId = (bytes.fromhex("4c6389cada23110edec8f4bf464d320f3f5409d955858a1d5e263b02"), b"USDM")
POINTER = bytes.fromhex("ca11ab1e00") + bytes(range(27))
OWNER = bytes.fromhex("01") + bytes(range(56))
SALE_ID = "842f5460-76f8-41d8-add9-d043a7a381de"
PRICE = 2723  # $0.002723 per NEWM (USD x 10^6)
DOLLAR_FIFTY = 1_500_000_000_000  # USD x 10^12
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

CONFIG = MarketplaceConfig(currency=NEWM)

Case = tuple[Sale, int, int | None, int, MarketplaceConfig]
"""(sale, bundle quantity, incentive or None, currency price, config): order_amount's arguments."""


def make_sale(
    *,
    cost: AssetId | None = None,
    cost_amount: int = DOLLAR_FIFTY,
    available: int = 50,
    total: int = 100,
    status: SaleStatus = SaleStatus.STARTED,
) -> Sale:
    return Sale(
        id=SALE_ID,
        status=status,
        pointer_name=POINTER,
        owner_address=OWNER,
        bundle=SONG,
        bundle_amount=1000,
        cost=cost,
        cost_amount=cost_amount,
        total_bundle_quantity=total,
        available_bundle_quantity=available,
    )


def pycardano_hex(coin: int, tokens: dict[AssetId, int]) -> str:
    """The same amount encoded by pycardano, as an independent check of our CBOR bytes."""
    if not tokens:
        return pc.Value(coin).to_cbor_hex()  # type: ignore[no-any-return]
    multi = pc.MultiAsset()
    for (policy, name), qty in tokens.items():
        multi += pc.MultiAsset({pc.ScriptHash(policy): pc.Asset({pc.AssetName(name): qty})})
    return pc.Value(coin, multi).to_cbor_hex()  # type: ignore[no-any-return]


# -- worked examples --------------------------------------------------------------------------


def test_usd_sale_worked_example() -> None:
    # 3 bundles at $1.50 (1_500_000_000_000 USD x 10^12), NEWM at $0.002723, default settings.
    # order = 1_500_000_000_000 * 3                          = 4_500_000_000_000
    # svc   = 4_500_000_000_000 * 10 / 100                   =   450_000_000_000
    # sub   = 4_500_000_000_000 + 450_000_000_000 + 500_000_000_000 = 5_450_000_000_000
    # extra = 5_450_000_000_000 * 2.5 / 100                  =   136_250_000_000
    # (sub + extra) // 2723 = 5_586_250_000_000 // 2723      = 2_051_505_692
    #   (2723 * 2_051_505_692 = 5_586_249_999_316, remainder 684)
    # currency = 2_051_505_692 + 2 * 5_000_000               = 2_061_505_692
    # fee = 450_000_000_000 // 2723 = 165_258_905 (2723 * 165_258_905 = 449_999_998_315, rem 1685)
    amount = order_amount(make_sale(), 3, None, PRICE, CONFIG)
    assert (amount.order, amount.svc, amount.sub, amount.extra) == (
        4_500_000_000_000,
        450_000_000_000,
        5_450_000_000_000,
        136_250_000_000,
    )
    assert amount.incentive_amount == 5_000_000
    assert amount.currency_amount == 2_061_505_692
    assert amount.service_fee == 165_258_905
    assert amount.service_fee_asset == NEWM
    assert amount.cost_total == 4_500_000_000_000
    # lovelace 4_504_110 + 3_000_000 = 7_504_110
    assert amount.value == Value.of(7_504_110, {NEWM: 2_061_505_692})
    assert amount.amount_cbor_hex == pycardano_hex(7_504_110, {NEWM: 2_061_505_692})
    # queue: 4_504_110 lovelace, 2_061_505_692 - 165_258_905 = 1_896_246_787 NEWM
    assert amount.queue_value(CONFIG) == Value.of(4_504_110, {NEWM: 1_896_246_787})
    assert amount.cash_register_value() == Value.of(0, {NEWM: 165_258_905})


def test_usd_sale_with_explicit_incentive() -> None:
    # 1 bundle at $1.50, incentive 7.5 NEWM (7_500_000).
    # order 1_500_000_000_000; svc 150_000_000_000; sub 2_150_000_000_000; extra 53_750_000_000
    # 2_203_750_000_000 // 2723 = 809_309_585 (rem 45); + 2 * 7_500_000 = 824_309_585
    # fee = 150_000_000_000 // 2723 = 55_086_301 (rem 2377)
    amount = order_amount(make_sale(), 1, 7_500_000, PRICE, CONFIG)
    assert amount.incentive_amount == 7_500_000
    assert amount.currency_amount == 824_309_585
    assert amount.service_fee == 55_086_301


def test_token_sale_pays_cost_and_fee_in_the_cost_token() -> None:
    # 4 bundles at 1.5 USDM (1_500_000 base units): order 6_000_000, svc 600_000 USDM.
    # sub = profit 500_000_000_000; extra 12_500_000_000; 512_500_000_000 // 2723 = 188_211_531
    # currency = 188_211_531 + 2 * 6_000_000 = 200_211_531
    amount = order_amount(make_sale(cost=USDM, cost_amount=1_500_000), 4, 6_000_000, PRICE, CONFIG)
    assert (amount.order, amount.svc, amount.sub, amount.extra) == (
        6_000_000,
        600_000,
        500_000_000_000,
        12_500_000_000,
    )
    assert amount.currency_amount == 200_211_531
    # The fee is 10% of the order in USDM, not converted to NEWM (the deployed server's bug).
    assert (amount.service_fee, amount.service_fee_asset) == (600_000, USDM)
    assert amount.value == Value.of(7_504_110, {USDM: 6_600_000, NEWM: 200_211_531})
    assert amount.amount_cbor_hex == pycardano_hex(7_504_110, {USDM: 6_600_000, NEWM: 200_211_531})
    assert amount.queue_value(CONFIG) == Value.of(4_504_110, {USDM: 6_000_000, NEWM: 200_211_531})
    assert amount.cash_register_value() == Value.of(0, {USDM: 600_000})


def test_token_sale_priced_in_the_currency_sums_entries() -> None:
    # 2 bundles at 100 NEWM (100_000_000): order 200_000_000, svc 20_000_000 NEWM.
    # currency = 188_211_531 + 10_000_000 = 198_211_531
    # one NEWM entry: 200_000_000 + 20_000_000 + 198_211_531 = 418_211_531
    amount = order_amount(make_sale(cost=NEWM, cost_amount=100_000_000), 2, None, PRICE, CONFIG)
    assert amount.currency_amount == 198_211_531
    assert amount.value == Value.of(7_504_110, {NEWM: 418_211_531})
    assert amount.amount_cbor_hex == pycardano_hex(7_504_110, {NEWM: 418_211_531})
    # queue: 200_000_000 + 198_211_531 = 398_211_531; cash register: the 20_000_000 fee
    assert amount.queue_value(CONFIG) == Value.of(4_504_110, {NEWM: 398_211_531})
    assert amount.cash_register_value() == Value.of(0, {NEWM: 20_000_000})


def test_ada_priced_sale_adds_cost_and_fee_to_the_coin() -> None:
    # 5 bundles at 10 ADA: order 50_000_000, svc 5_000_000 lovelace.
    # coin = 4_504_110 + 3_000_000 + 55_000_000 = 62_504_110
    amount = order_amount(make_sale(cost=ADA, cost_amount=10_000_000), 5, None, PRICE, CONFIG)
    assert amount.currency_amount == 198_211_531
    assert (amount.service_fee, amount.service_fee_asset) == (5_000_000, ADA)
    assert amount.value == Value.of(62_504_110, {NEWM: 198_211_531})
    assert amount.amount_cbor_hex == pycardano_hex(62_504_110, {NEWM: 198_211_531})
    assert amount.queue_value(CONFIG) == Value.of(54_504_110, {NEWM: 198_211_531})
    assert amount.cash_register_value() == Value.of(5_000_000)


def test_free_token_sale_has_no_cost_entry_and_an_empty_fee() -> None:
    amount = order_amount(make_sale(cost=USDM, cost_amount=0), 1, None, PRICE, CONFIG)
    assert amount.value == Value.of(7_504_110, {NEWM: 198_211_531})
    assert amount.cash_register_value() == Value.of(0)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sale", "quantity", "incentive", "price", "message"),
    [
        (make_sale(), 100, None, PRICE, "Bundle quantity (100) exceeds sale availability (50)"),
        (make_sale(), 51, None, PRICE, "Bundle quantity (51) exceeds sale availability (50)"),
        (make_sale(), 0, None, PRICE, "Bundle quantity (0) must be at least 1"),
        (make_sale(), -3, None, PRICE, "Bundle quantity (-3) must be at least 1"),
        (
            make_sale(),
            1,
            10,
            PRICE,
            "Incentive amount (10) is less than minimum required (5000000)",
        ),
        (
            make_sale(status=SaleStatus.ENDED),
            1,
            None,
            PRICE,
            f"Sale {SALE_ID} is not started (status: Ended)",
        ),
        (
            make_sale(status=SaleStatus.SOLD_OUT, available=0),
            1,
            None,
            PRICE,
            f"Sale {SALE_ID} is not started (status: SoldOut)",
        ),
        (make_sale(), 1, None, 0, "Currency price (0) must be positive"),
        (make_sale(), 1, None, -5, "Currency price (-5) must be positive"),
        (make_sale(), True, None, PRICE, "Bundle quantity (True) must be an integer"),
    ],
)
def test_rejections_name_the_numbers(
    sale: Sale, quantity: int, incentive: int | None, price: int, message: str
) -> None:
    with pytest.raises(PricingError) as caught:
        order_amount(sale, quantity, incentive, price, CONFIG)
    assert str(caught.value) == message


def test_checks_run_in_protocol_order() -> None:
    # Everything wrong at once: incentive first, then quantity, status, availability, price.
    ended = make_sale(status=SaleStatus.ENDED, available=5)
    with pytest.raises(PricingError, match=r"^Incentive amount \(1\)"):
        order_amount(ended, 0, 1, 0, CONFIG)
    with pytest.raises(PricingError, match=r"^Bundle quantity \(0\) must be at least 1$"):
        order_amount(ended, 0, None, 0, CONFIG)
    with pytest.raises(PricingError, match=r"is not started"):
        order_amount(ended, 9, None, 0, CONFIG)
    with pytest.raises(PricingError, match=r"exceeds sale availability \(5\)"):
        order_amount(make_sale(available=5), 9, None, 0, CONFIG)


def test_whole_availability_can_be_ordered() -> None:
    assert order_amount(make_sale(available=50), 50, None, PRICE, CONFIG).bundle_quantity == 50


def test_incentive_at_the_minimum_and_zero_incentive_are_explicit() -> None:
    assert order_amount(make_sale(), 1, 5_000_000, PRICE, CONFIG).incentive_amount == 5_000_000
    # 0 is an explicit amount (rejected against a positive minimum), not "use the default".
    with pytest.raises(PricingError, match=r"^Incentive amount \(0\)"):
        order_amount(make_sale(), 1, 0, PRICE, CONFIG)


def test_amounts_beyond_uint64_are_rejected() -> None:
    huge = make_sale(cost=USDM, cost_amount=2**62, available=100)
    with pytest.raises(PricingError, match=r"exceeds the ledger maximum \(18446744073709551615\)"):
        order_amount(huge, 8, None, PRICE, CONFIG)


# -- invariants -------------------------------------------------------------------------------

percentages = st.decimals(min_value=0, max_value=100, places=3).map(Fraction)
configs = st.builds(
    MarketplaceConfig,
    currency=st.just(NEWM),
    order_lovelace=st.integers(0, 10**8),
    incentive_min_amount=st.integers(0, 10**8),
    profit_amount_usd=st.integers(0, 10**13),
    usd_price_adjustment_percentage=percentages,
    service_fee_percentage=percentages,
)
costs = st.sampled_from([None, ADA, NEWM, USDM])


@st.composite
def priced_orders(draw: st.DrawFn) -> Case:
    config = draw(configs)
    cost = draw(costs)
    cost_amount = draw(st.integers(0, 10**13 if cost is None else 10**10))
    available = draw(st.integers(1, 10_000))
    sale = make_sale(cost=cost, cost_amount=cost_amount, available=available, total=available)
    quantity = draw(st.integers(1, available))
    incentive = draw(
        st.none() | st.integers(config.incentive_min_amount, config.incentive_min_amount + 10**8)
    )
    price = draw(st.integers(1, 10**7))
    return sale, quantity, incentive, price, config


def reference_figures(
    sale: Sale, quantity: int, incentive: int | None, price: int, config: MarketplaceConfig
) -> dict[str, int]:
    """The protocol's steps with Fraction and math.floor (not the code's int() truncation)."""
    inc = config.incentive_min_amount if incentive is None else incentive
    order = sale.cost_amount * quantity
    svc = math.floor(Fraction(order) * config.service_fee_percentage / 100)
    usd = sale.cost is None
    sub = order + svc + config.profit_amount_usd if usd else config.profit_amount_usd
    extra = math.floor(Fraction(sub) * config.usd_price_adjustment_percentage / 100)
    currency = math.floor(Fraction(sub + extra, price)) + 2 * inc
    fee = math.floor(Fraction(svc, price)) if usd else svc
    return {
        "order": order,
        "svc": svc,
        "sub": sub,
        "extra": extra,
        "currency": currency,
        "fee": fee,
    }


@settings(max_examples=300)
@given(priced_orders())
def test_matches_exact_reference(case: Case) -> None:
    sale, quantity, incentive, price, config = case
    amount = order_amount(sale, quantity, incentive, price, config)
    ref = reference_figures(sale, quantity, incentive, price, config)
    assert (amount.order, amount.svc, amount.sub, amount.extra) == (
        ref["order"],
        ref["svc"],
        ref["sub"],
        ref["extra"],
    )
    assert amount.currency_amount == ref["currency"]
    assert amount.service_fee == ref["fee"]
    # Division by its bounds: q * d <= n < (q + 1) * d, with the percentage as num/den.
    fee_pct = config.service_fee_percentage
    assert amount.svc * 100 * fee_pct.denominator <= amount.order * fee_pct.numerator
    assert amount.order * fee_pct.numerator < (amount.svc + 1) * 100 * fee_pct.denominator
    converted = amount.currency_amount - 2 * amount.incentive_amount
    assert converted * price <= amount.sub + amount.extra < (converted + 1) * price


@settings(max_examples=300)
@given(priced_orders())
def test_everything_is_an_int(case: Case) -> None:
    amount = order_amount(*case)
    for figure in (
        amount.bundle_quantity,
        amount.incentive_amount,
        amount.currency_amount,
        amount.service_fee,
        amount.cost_total,
        amount.order,
        amount.svc,
        amount.sub,
        amount.extra,
        amount.value.coin,
        *amount.value.assets.values(),
    ):
        assert type(figure) is int
    assert all(type(leaf) in (int, bytes) for leaf in _leaves(cbor2.loads(amount.value.to_cbor())))


def _leaves(obj: object) -> list[object]:
    if isinstance(obj, list):
        return [leaf for item in obj for leaf in _leaves(item)]
    if isinstance(obj, dict):
        return [leaf for k, v in obj.items() for leaf in (*_leaves(k), *_leaves(v))]
    return [obj]


@settings(max_examples=300)
@given(priced_orders())
def test_covers_two_incentives(case: Case) -> None:
    amount = order_amount(*case)
    assert amount.currency_amount >= 2 * amount.incentive_amount
    assert amount.total_incentive == 2 * amount.incentive_amount


@settings(max_examples=300)
@given(priced_orders())
def test_monotone_in_quantity(case: Case) -> None:
    sale, quantity, incentive, price, config = case
    if quantity == sale.available_bundle_quantity:
        sale = make_sale(
            cost=sale.cost, cost_amount=sale.cost_amount, available=quantity + 1, total=quantity + 1
        )
    fewer = order_amount(sale, quantity, incentive, price, config)
    more = order_amount(sale, quantity + 1, incentive, price, config)
    assert fewer.currency_amount <= more.currency_amount
    assert fewer.service_fee <= more.service_fee
    assert more.value.covers(fewer.value)


@settings(max_examples=300)
@given(priced_orders())
def test_queue_plus_cash_register_is_the_amount(
    case: Case,
) -> None:
    sale, _, _, _, config = case
    amount = order_amount(*case)
    queue = amount.queue_value(config)
    cash = amount.cash_register_value()
    # The wallet supplies exactly what the two outputs carry, plus 3 ADA for fee and min-ADA.
    assert queue.tokens() + cash.tokens() == amount.value.tokens()
    assert queue + cash + Value.of(ORDER_EXTRA_LOVELACE) == amount.value
    assert queue.coin >= config.order_lovelace
    if sale.cost is None:
        assert queue.quantity(NEWM) == amount.currency_amount - amount.service_fee
    elif sale.cost != ADA:
        assert queue.quantity(sale.cost) >= amount.cost_total


@settings(max_examples=300)
@given(priced_orders())
def test_amount_cbor_is_canonical_and_round_trips(
    case: Case,
) -> None:
    amount = order_amount(*case)
    raw = bytes.fromhex(amount.amount_cbor_hex)
    assert Value.from_cbor(raw) == amount.value
    assert cbor2.dumps(cbor2.loads(raw), canonical=True) == raw
    assert amount.amount_cbor_hex == pycardano_hex(amount.value.coin, dict(amount.value.assets))


# -- worked vectors ---------------------------------------------------------------------------


def _vectors() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(VECTORS.read_text())["cases"]
    return cases


def _sale_from_vector(raw: dict[str, Any]) -> Sale:
    cost_unit = raw["cost"]
    return Sale(
        id=raw["id"],
        status=SaleStatus(raw["status"]),
        pointer_name=bytes.fromhex(raw["pointerName"]),
        owner_address=bytes.fromhex(raw["ownerAddress"]),
        bundle=asset_from_unit(raw["bundle"]),
        bundle_amount=raw["bundleAmount"],
        cost=None if cost_unit == "USD" else asset_from_unit(cost_unit),
        cost_amount=raw["costAmount"],
        total_bundle_quantity=raw["totalBundleQuantity"],
        available_bundle_quantity=raw["availableBundleQuantity"],
        max_bundle_size=raw["maxBundleSize"],
    )


def test_vectors_cover_usd_token_and_ada_sales() -> None:
    kinds = {case["sale"]["cost"] for case in _vectors()}
    assert "USD" in kinds and "lovelace" in kinds and len(kinds - {"USD", "lovelace"}) >= 2


@pytest.mark.parametrize("case", _vectors(), ids=lambda case: case["name"])
def test_worked_vectors(case: dict[str, Any]) -> None:
    config = MarketplaceConfig.from_mapping(case["config"])
    sale = _sale_from_vector(case["sale"])
    amount = order_amount(
        sale, case["bundleQuantity"], case["incentiveAmount"], case["currencyPrice"], config
    )
    expected = case["expected"]
    assert amount.order == expected["order"]
    assert amount.svc == expected["svc"]
    assert amount.sub == expected["sub"]
    assert amount.extra == expected["extra"]
    assert amount.incentive_amount == expected["incentiveAmount"]
    assert amount.currency_amount == expected["currencyAmount"]
    assert amount.service_fee == expected["serviceFee"]
    assert unit_of(amount.service_fee_asset) == expected["serviceFeeUnit"]
    assert amount.cost_total == expected["costTotal"]
    assert amount.amount_cbor_hex == expected["amountCborHex"]
    assert amount.queue_value(config).to_cbor_hex() == expected["queueValueCborHex"]
    assert amount.cash_register_value().to_cbor_hex() == expected["cashRegisterValueCborHex"]
    ref = reference_figures(
        sale, case["bundleQuantity"], case["incentiveAmount"], case["currencyPrice"], config
    )
    assert (ref["currency"], ref["fee"]) == (expected["currencyAmount"], expected["serviceFee"])


# -- configuration ----------------------------------------------------------------------------


def test_config_defaults_are_the_deployed_ones() -> None:
    config = MarketplaceConfig.from_mapping({"currency": unit_of(NEWM)})
    assert config == CONFIG
    assert (config.order_lovelace, config.sale_lovelace) == (4_504_110, 4_504_110)
    assert (config.order_ttl_seconds, config.sale_ttl_seconds) == (300, 300)
    assert config.incentive_min_amount == 5_000_000
    assert config.profit_amount_usd == 500_000_000_000
    assert config.usd_price_adjustment_percentage == Fraction(5, 2)
    assert config.service_fee_percentage == Fraction(10)


def test_config_reads_every_camel_case_key() -> None:
    config = MarketplaceConfig.from_mapping(
        {
            "currency": unit_of(USDM),
            "orderLovelace": 2_000_000,
            "saleLovelace": "3000000",
            "pendingOrderTtl": 60,
            "pendingSaleTtl": 120,
            "incentiveMinAmount": 1,
            "profitAmountUsd": 0,
            "usdPriceAdjustmentPercentage": 0,
            "serviceFeePercentage": "12.75",
        }
    )
    assert config == MarketplaceConfig(
        currency=USDM,
        order_lovelace=2_000_000,
        sale_lovelace=3_000_000,
        order_ttl_seconds=60,
        sale_ttl_seconds=120,
        incentive_min_amount=1,
        profit_amount_usd=0,
        usd_price_adjustment_percentage=Fraction(0),
        service_fee_percentage=Fraction(51, 4),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (2.5, Fraction(5, 2)),
        (0.1, Fraction(1, 10)),  # not the binary 0.1000000000000000055...
        (33.3, Fraction(333, 10)),
        ("2.5", Fraction(5, 2)),
        (Decimal("7.25"), Fraction(29, 4)),
        (10, Fraction(10)),
        (Fraction(1, 8), Fraction(1, 8)),
    ],
)
def test_percentages_are_read_exactly(raw: object, expected: Fraction) -> None:
    config = MarketplaceConfig.from_mapping(
        {"currency": unit_of(NEWM), "serviceFeePercentage": raw}
    )
    assert config.service_fee_percentage == expected
    assert type(config.service_fee_percentage) is Fraction


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({}, "currency is required"),
        ({"currency": "lovelace"}, "currency must be a native token"),
        ({"currency": "abcd"}, "policy id"),
        ({"currency": unit_of(NEWM), "orderLovelce": 1}, "unknown marketplace setting"),
        ({"currency": unit_of(NEWM), "orderLovelace": -1}, "must not be negative"),
        ({"currency": unit_of(NEWM), "orderLovelace": 4504110.0}, "must be an integer"),
        ({"currency": unit_of(NEWM), "orderLovelace": True}, "must be an integer"),
        ({"currency": unit_of(NEWM), "serviceFeePercentage": 100.5}, "between 0 and 100"),
        ({"currency": unit_of(NEWM), "serviceFeePercentage": "-1"}, "between 0 and 100"),
        ({"currency": unit_of(NEWM), "serviceFeePercentage": "ten"}, "decimal number"),
        ({"currency": unit_of(NEWM), "serviceFeePercentage": float("nan")}, "decimal number"),
        ({"currency": unit_of(NEWM), "serviceFeePercentage": "1/3"}, "no finite decimal"),
        ({"currency": unit_of(NEWM), "usdPriceAdjustmentPercentage": False}, "decimal number"),
    ],
)
def test_config_rejects(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MarketplaceConfig.from_mapping(mapping)


def test_config_constructor_normalises_and_validates() -> None:
    config = MarketplaceConfig(currency=NEWM, service_fee_percentage="5")  # type: ignore[arg-type]
    assert config.service_fee_percentage == Fraction(5)
    with pytest.raises(ConfigError, match="between 0 and 100"):
        MarketplaceConfig(currency=NEWM, usd_price_adjustment_percentage=Fraction(101))
    with pytest.raises(ConfigError, match="must not be negative"):
        MarketplaceConfig(currency=NEWM, incentive_min_amount=-1)
    with pytest.raises(ConfigError, match="native token"):
        MarketplaceConfig(currency=ADA)


# -- fees quote -------------------------------------------------------------------------------


def test_fees_quote_with_deployed_defaults() -> None:
    quote = order_fees(CONFIG)
    assert quote == FeesQuote(Decimal("10"), Decimal("0.5"))
    assert quote.to_json() == {
        "serviceFeePercentage": Decimal("10"),
        "profitAmountUsd": Decimal("0.5"),
    }
    assert str(quote.profit_amount_usd) == "0.5"
    assert str(quote.service_fee_percentage) == "10"


@given(percentages, st.integers(0, 10**20))
def test_fees_quote_is_exact(fee: Fraction, profit: int) -> None:
    config = MarketplaceConfig(currency=NEWM, service_fee_percentage=fee, profit_amount_usd=profit)
    quote = order_fees(config)
    assert Fraction(quote.service_fee_percentage) == fee
    assert Fraction(quote.profit_amount_usd) == Fraction(profit, 10**12)
    # str() is what the edge emits: always valid JSON number syntax (tiny values as 1E-12).
    for number in quote.to_json().values():
        assert JSON_NUMBER.fullmatch(str(number))
        assert Fraction(json.loads(str(number), parse_float=Decimal)) == Fraction(number)


def test_exact_decimal_renders_plainly() -> None:
    assert str(exact_decimal(Fraction(1, 1000))) == "0.001"
    assert str(exact_decimal(Fraction(-5, 4))) == "-1.25"
    assert str(exact_decimal(Fraction(100))) == "100"
    with pytest.raises(ConfigError):
        exact_decimal(Fraction(1, 3))


# -- sale record ------------------------------------------------------------------------------


def test_sale_price_kind() -> None:
    assert make_sale().is_usd_priced
    assert not make_sale(cost=ADA, cost_amount=1).is_usd_priced
    assert not make_sale(cost=NEWM, cost_amount=1).is_usd_priced
    assert make_sale().max_bundle_size == 9223372036854775807
    assert SaleStatus("SoldOut") is SaleStatus.SOLD_OUT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "not-a-uuid"}, "is not a UUID"),
        ({"pointer_name": bytes(31)}, "pointer name must be 32 bytes"),
        ({"owner_address": b""}, "owner address"),
        ({"bundle": ADA}, "bundle must be a native token"),
        ({"bundle": (b"short", b"x")}, "policy id"),
        ({"cost": (bytes(28), bytes(33))}, "at most 32"),
        ({"bundle_amount": 0}, r"bundle amount \(0\) must be at least 1"),
        ({"cost_amount": -1}, r"cost amount \(-1\)"),
        ({"available_bundle_quantity": 101}, r"available bundle quantity \(101\) exceeds"),
        ({"max_bundle_size": 0}, "max bundle size"),
        ({"status": "Started"}, "is not a SaleStatus"),
    ],
)
def test_sale_rejects(changes: dict[str, object], message: str) -> None:
    fields: dict[str, Any] = {
        "id": SALE_ID,
        "status": SaleStatus.STARTED,
        "pointer_name": POINTER,
        "owner_address": OWNER,
        "bundle": SONG,
        "bundle_amount": 1000,
        "cost": None,
        "cost_amount": DOLLAR_FIFTY,
        "total_bundle_quantity": 100,
        "available_bundle_quantity": 50,
    }
    fields.update(changes)
    with pytest.raises(InvalidSaleError, match=message):
        Sale(**fields)


def test_order_amount_is_immutable() -> None:
    amount: OrderAmount = order_amount(make_sale(), 1, None, PRICE, CONFIG)
    with pytest.raises(AttributeError):
        amount.currency_amount = 1  # type: ignore[misc]
