"""Pricing as the scripts compute it: one bundle's cost and the marketplace's profit (floor
division by the oracle price), the oracle window a transaction must lie in, and the queue's test
of whether an order can still be filled."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.cip30 import Utxo
from ...domain.datums import USD, OracleDatum, QueueDatum, ReferenceDatum, SaleDatum
from ...domain.slots import SlotConfig
from ...domain.values import ADA, AssetId, Value, value_of
from .errors import BatchError, OracleWindowError


@dataclass(frozen=True, slots=True)
class Pricing:
    """One bundle's cost in the asset the order pays with, and the marketplace's profit."""

    unit_asset: AssetId
    unit_cost: int
    profit_asset: AssetId
    profit: int
    needs_oracle: bool


def order_pricing(
    reference: ReferenceDatum, sale: SaleDatum, oracle: OracleDatum | None
) -> Pricing:
    """Floor division as on chain: profit = margin // price; a USD cost = cost // price of the
    profit (currency) token. The oracle is needed when the margin is not zero or the cost is USD."""
    profit_data = reference.profit_data
    profit_asset = (profit_data.profit_pid, profit_data.profit_tkn)
    margin = profit_data.profit_margin
    usd = sale.cost.asset == USD
    if margin == 0 and not usd:
        return Pricing(sale.cost.asset, sale.cost.amount, profit_asset, 0, False)
    if oracle is None:
        raise BatchError("the sale's pricing needs the oracle: pass the oracle UTxO")
    if oracle.price <= 0:
        raise BatchError(f"the oracle price {oracle.price} is not positive")
    profit = margin // oracle.price
    if usd:
        return Pricing(profit_asset, sale.cost.amount // oracle.price, profit_asset, profit, True)
    return Pricing(sale.cost.asset, sale.cost.amount, profit_asset, profit, True)


def check_oracle_window(
    oracle: OracleDatum, slot_config: SlotConfig, validity_start: int, ttl: int
) -> None:
    """The validity interval [validity_start, ttl] (slots) must lie inside the oracle's window."""
    lower = slot_config.slot_to_posix_ms(validity_start)
    upper = slot_config.slot_to_posix_ms(ttl)
    if not (0 <= oracle.start_ms <= lower and upper <= oracle.end_ms):
        raise OracleWindowError(
            f"the validity interval [{lower}, {upper}] ms (slots {validity_start}..{ttl}) is not "
            f"inside the oracle window [{oracle.start_ms}, {oracle.end_ms}] ms"
        )


def order_can_be_filled(
    queue_value: Value, order: QueueDatum, sale_utxo: Utxo, sale: SaleDatum, pricing: Pricing
) -> bool:
    """The queue's test: what the order holds of the paying asset, less the incentive and the
    profit when they are paid in it, covers every bundle requested, and a whole bundle is left."""
    payable = _amount(queue_value, pricing.unit_asset)
    if order.incentive.asset == pricing.unit_asset:
        payable -= order.incentive.amount
    if pricing.profit_asset == pricing.unit_asset:
        payable -= pricing.profit
    whole_bundle = sale_utxo.value.quantity(sale.bundle.asset) >= sale.bundle.amount
    return payable >= pricing.unit_cost * order.number_of_bundles and whole_bundle


def _amount(value: Value, asset: AssetId) -> int:
    return value.coin if asset == ADA else value.quantity(asset)


def value_of_amount(asset: AssetId, quantity: int) -> Value:
    """`quantity` of `asset` as a Value; empty when it is zero (a zero profit or incentive)."""
    return value_of(asset, quantity) if quantity else Value()
