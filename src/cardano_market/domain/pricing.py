"""Order amounts for the primary market (PROTOCOL section 3), in exact integer arithmetic.

`order_amount` turns a sale, a bundle quantity, an incentive and the oracle's currency price into
the Value a buyer's wallet must supply (`amountCborHex`) and the split the order transaction makes
of it (queue output, cash-register fee). Every step truncates like the deployed server; percentages
are `Fraction`s read exactly from configuration, so no float ever touches an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .errors import ConfigError, InvalidValueError, PricingError
from .sale import Sale
from .values import ADA, MAX_UINT64, AssetId, Value, asset_from_unit, check_asset_id, unit_of

ORDER_EXTRA_LOVELACE = 3_000_000
"""Added to `orderLovelace` in the amount so the wallet's UTxOs also cover the fee, the
cash-register output's min-ADA and a change output (the deployed server's choice)."""

USD_SCALE = 10**12
"""USD amounts (sale costs, profit) are USD x 10^12."""

_PERCENT = 100
_DEFAULT_USD_PRICE_ADJUSTMENT = Fraction("2.5")
_DEFAULT_SERVICE_FEE = Fraction("10.0")

MAPPING_KEYS: Mapping[str, str] = {
    "currency": "currency",
    "orderLovelace": "order_lovelace",
    "saleLovelace": "sale_lovelace",
    "pendingOrderTtl": "order_ttl_seconds",
    "pendingSaleTtl": "sale_ttl_seconds",
    "incentiveMinAmount": "incentive_min_amount",
    "profitAmountUsd": "profit_amount_usd",
    "usdPriceAdjustmentPercentage": "usd_price_adjustment_percentage",
    "serviceFeePercentage": "service_fee_percentage",
}
"""camelCase key of a configuration mapping (`MarketplaceConfig.from_mapping`) -> attribute."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketplaceConfig:
    """Marketplace settings that pricing and the order/sale builders read (deployed defaults).

    Amounts are base units (lovelace, currency base units) or USD x 10^12; percentages are exact
    `Fraction`s in [0, 100] with a finite decimal expansion (so they render exactly in JSON).
    """

    currency: AssetId
    """The marketplace currency token (NEWM): payment of USD sales, service fee, incentive."""
    order_lovelace: int = 4_504_110
    sale_lovelace: int = 4_504_110
    order_ttl_seconds: int = 300
    sale_ttl_seconds: int = 300
    incentive_min_amount: int = 5_000_000
    profit_amount_usd: int = 500_000_000_000
    usd_price_adjustment_percentage: Fraction = _DEFAULT_USD_PRICE_ADJUSTMENT
    service_fee_percentage: Fraction = _DEFAULT_SERVICE_FEE

    def __post_init__(self) -> None:
        if (
            not isinstance(self.currency, tuple)
            or len(self.currency) != 2
            or not all(isinstance(part, bytes) for part in self.currency)
        ):
            raise ConfigError(f"currency must be a (policy, name) pair of bytes: {self.currency!r}")
        if self.currency == ADA:
            raise ConfigError("currency must be a native token, not ADA")
        try:
            check_asset_id(self.currency)
        except InvalidValueError as exc:
            raise ConfigError(f"currency: {exc}") from exc
        for name in (
            "order_lovelace",
            "sale_lovelace",
            "order_ttl_seconds",
            "sale_ttl_seconds",
            "incentive_min_amount",
            "profit_amount_usd",
        ):
            _read_int(name, getattr(self, name))
        for name in ("usd_price_adjustment_percentage", "service_fee_percentage"):
            # Normalise an int, str or Decimal to Fraction; frozen, hence object.__setattr__.
            object.__setattr__(self, name, _read_percentage(name, getattr(self, name)))

    @classmethod
    def from_mapping(cls, d: Mapping[str, object]) -> MarketplaceConfig:
        """Read the camelCase settings (PROTOCOL section 3 names; TTLs in seconds).

        Keys: `currency` (required, a Blockfrost unit: policy hex + name hex), `orderLovelace`,
        `saleLovelace`, `pendingOrderTtl`, `pendingSaleTtl`, `incentiveMinAmount`,
        `profitAmountUsd` (integers, or strings of integers), `usdPriceAdjustmentPercentage`,
        `serviceFeePercentage` (int, decimal string such as "2.5", Decimal, or float, which is read
        through `str()` so 2.5 means exactly 5/2). Missing keys take the deployed defaults; an
        unknown key is an error, so a misspelt money setting cannot silently fall back.
        """
        unknown = sorted(set(d) - set(MAPPING_KEYS))
        if unknown:
            raise ConfigError(f"unknown marketplace setting(s): {', '.join(unknown)}")
        if "currency" not in d:
            raise ConfigError("marketplace setting currency is required")
        raw_currency = d["currency"]
        if not isinstance(raw_currency, str):
            raise ConfigError(f"currency must be a unit string, got {raw_currency!r}")
        try:
            currency = asset_from_unit(raw_currency)
        except InvalidValueError as exc:
            raise ConfigError(f"currency: {exc}") from exc
        default = cls(currency=currency)

        def integer(key: str) -> int:
            attr = MAPPING_KEYS[key]
            return _read_int(key, d[key]) if key in d else int(getattr(default, attr))

        def percentage(key: str) -> Fraction:
            attr = MAPPING_KEYS[key]
            return _read_percentage(key, d[key]) if key in d else Fraction(getattr(default, attr))

        return cls(
            currency=currency,
            order_lovelace=integer("orderLovelace"),
            sale_lovelace=integer("saleLovelace"),
            order_ttl_seconds=integer("pendingOrderTtl"),
            sale_ttl_seconds=integer("pendingSaleTtl"),
            incentive_min_amount=integer("incentiveMinAmount"),
            profit_amount_usd=integer("profitAmountUsd"),
            usd_price_adjustment_percentage=percentage("usdPriceAdjustmentPercentage"),
            service_fee_percentage=percentage("serviceFeePercentage"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAmount:
    """A priced order: what the wallet supplies and how the order transaction splits it.

    `order`, `svc` are in USD x 10^12 for a USD sale, else in base units of the cost asset;
    `sub`, `extra` are always USD x 10^12 (PROTOCOL section 3, steps 3-5).
    """

    bundle_quantity: int
    incentive_amount: int
    """ONE incentive unit (the QueueDatum's `incentive.amt`); the amount holds two."""
    currency: AssetId
    cost: AssetId | None
    """The sale's cost asset; None for USD."""
    currency_amount: int
    """Step 6: currency base units the buyer pays (price conversion plus two incentives)."""
    service_fee: int
    service_fee_asset: AssetId
    cost_total: int
    """`costAmount * bundleQuantity` in the cost's units (USD x 10^12 for a USD sale)."""
    value: Value
    amount_cbor_hex: str
    order: int
    svc: int
    sub: int
    extra: int

    @property
    def is_usd_priced(self) -> bool:
        return self.cost is None

    @property
    def total_incentive(self) -> int:
        return 2 * self.incentive_amount

    def queue_value(self, config: MarketplaceConfig) -> Value:
        """Output 0 to the queue (PROTOCOL section 4), before any min-ADA top-up.

        `config` must be the one the order was priced with (its `order_lovelace`).
        """
        queue = Value.of(config.order_lovelace)
        if self.cost is None:
            return queue + _single(self.currency, self.currency_amount - self.service_fee)
        return (
            queue
            + _single(self.cost, self.cost_total)
            + _single(self.currency, self.currency_amount)
        )

    def cash_register_value(self) -> Value:
        """Output 1 to the cash register: the service fee only.

        Lovelace is 0 unless the fee itself is ADA (an ADA-priced sale); the builder raises the
        lovelace to the output's min-ADA. May be empty (a fee that truncates to 0).
        """
        return _single(self.service_fee_asset, self.service_fee)


@dataclass(frozen=True, slots=True)
class FeesQuote:
    """GET /v1/marketplace/orders/fees: exact decimals, rendered by the edge as JSON numbers."""

    service_fee_percentage: Decimal
    profit_amount_usd: Decimal

    def to_json(self) -> dict[str, Decimal]:
        return {
            "serviceFeePercentage": self.service_fee_percentage,
            "profitAmountUsd": self.profit_amount_usd,
        }


def order_fees(config: MarketplaceConfig) -> FeesQuote:
    """The fee settings as exact decimals: 10 percent, $0.5 profit with the deployed defaults."""
    return FeesQuote(
        service_fee_percentage=exact_decimal(config.service_fee_percentage),
        profit_amount_usd=exact_decimal(Fraction(config.profit_amount_usd, USD_SCALE)),
    )


def order_amount(
    sale: Sale,
    bundle_quantity: int,
    incentive_amount: int | None,
    currency_price: int,
    config: MarketplaceConfig,
) -> OrderAmount:
    """Price an order of `bundle_quantity` bundles (PROTOCOL section 3, steps 1-8).

    `incentive_amount` is one incentive unit in currency base units (None: the configured minimum);
    `currency_price` is the oracle's USD per whole currency token x 10^6. Raises PricingError with
    the deployed server's wording when the request cannot be priced.
    """
    # Step 1: validate, in the protocol's order.
    _require_int("Bundle quantity", bundle_quantity)
    _require_int("Currency price", currency_price)
    if incentive_amount is None:
        inc = config.incentive_min_amount
    else:
        _require_int("Incentive amount", incentive_amount)
        inc = incentive_amount
        if inc < config.incentive_min_amount:
            raise PricingError(
                f"Incentive amount ({inc}) is less than minimum required "
                f"({config.incentive_min_amount})"
            )
    if bundle_quantity < 1:
        raise PricingError(f"Bundle quantity ({bundle_quantity}) must be at least 1")
    if not sale.is_started:
        raise PricingError(f"Sale {sale.id} is not started (status: {sale.status.value})")
    if bundle_quantity > sale.available_bundle_quantity:
        raise PricingError(
            f"Bundle quantity ({bundle_quantity}) exceeds sale availability "
            f"({sale.available_bundle_quantity})"
        )
    # Step 2: the oracle price.
    if currency_price <= 0:
        raise PricingError(f"Currency price ({currency_price}) must be positive")

    # Step 3.
    order = sale.cost_amount * bundle_quantity
    svc = _percent_of(order, config.service_fee_percentage)
    # Step 4, and step 7: the fee, kept in the asset it is actually paid in.
    if sale.cost is None:
        sub = order + svc + config.profit_amount_usd
        service_fee, service_fee_asset = svc // currency_price, config.currency
    else:
        sub = config.profit_amount_usd
        service_fee, service_fee_asset = svc, sale.cost
    # Steps 5 and 6.
    extra = _percent_of(sub, config.usd_price_adjustment_percentage)
    currency_amount = (sub + extra) // currency_price + 2 * inc

    # Step 8: the amount the wallet must cover.
    value = Value.of(config.order_lovelace + ORDER_EXTRA_LOVELACE)
    if sale.cost is not None:
        value = value + _single(sale.cost, order + svc)
    value = value + _single(config.currency, currency_amount)
    _check_ledger_limits(value)

    return OrderAmount(
        bundle_quantity=bundle_quantity,
        incentive_amount=inc,
        currency=config.currency,
        cost=sale.cost,
        currency_amount=currency_amount,
        service_fee=service_fee,
        service_fee_asset=service_fee_asset,
        cost_total=order,
        value=value,
        amount_cbor_hex=value.to_cbor_hex(),
        order=order,
        svc=svc,
        sub=sub,
        extra=extra,
    )


def exact_decimal(number: Fraction) -> Decimal:
    """The Decimal equal to `number`, without trailing zeros; ConfigError if it never terminates."""
    numerator, denominator = number.numerator, number.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        raise ConfigError(f"{number} has no finite decimal expansion")
    places = max(twos, fives)
    scaled = numerator * 10**places // number.denominator  # exact: the denominator divides 10^k
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(places + 1, "0")
    if not places:
        return Decimal(sign + digits)
    return Decimal(f"{sign}{digits[:-places]}.{digits[-places:]}")


# -- helpers ----------------------------------------------------------------------------------


def _percent_of(amount: int, percentage: Fraction) -> int:
    """`amount * percentage / 100`, truncated toward zero (amounts here are never negative)."""
    return int(amount * percentage / _PERCENT)


def _single(asset: AssetId, quantity: int) -> Value:
    """A Value of one asset (ADA as lovelace); empty when `quantity` is 0."""
    if asset == ADA:
        return Value.of(quantity)
    return Value.of(0, {asset: quantity} if quantity else None)


def _check_ledger_limits(value: Value) -> None:
    if value.coin > MAX_UINT64:
        raise PricingError(
            f"Order lovelace ({value.coin}) exceeds the ledger maximum ({MAX_UINT64})"
        )
    for asset, quantity in value.assets.items():
        if quantity > MAX_UINT64:
            raise PricingError(
                f"Order amount ({quantity}) of {unit_of(asset)} exceeds the ledger maximum "
                f"({MAX_UINT64})"
            )


def _require_int(what: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PricingError(f"{what} ({value!r}) must be an integer")


def _read_int(name: str, raw: object) -> int:
    """A non-negative integer setting: an int, or a string holding one (never a float)."""
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw.strip(), 10)
        except ValueError as exc:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    else:
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    if value < 0:
        raise ConfigError(f"{name} ({value}) must not be negative")
    return value


def _read_percentage(name: str, raw: object) -> Fraction:
    """An exact percentage in [0, 100]. A float is read through `str()` (2.5 -> 5/2), never as
    its binary value; the result must have a finite decimal expansion."""
    try:
        if isinstance(raw, bool):
            raise TypeError
        if isinstance(raw, Fraction | int | Decimal):
            value = Fraction(raw)
        elif isinstance(raw, float):
            value = Fraction(str(raw))
        elif isinstance(raw, str):
            value = Fraction(raw.strip())
        else:
            raise TypeError
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{name} must be a decimal number, got {raw!r}") from exc
    if not 0 <= value <= _PERCENT:
        raise ConfigError(f"{name} ({raw}) must be between 0 and 100")
    exact_decimal(value)  # raises for e.g. 1/3, which no JSON number renders exactly
    return value
