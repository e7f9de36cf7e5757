"""Sample domain records for the store tests (sales, terms, priced order amounts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cardano_market.domain.pricing import MarketplaceConfig, OrderAmount, order_amount
from cardano_market.domain.sale import Sale, SaleStatus
from cardano_market.domain.values import ADA, AssetId
from cardano_market.store.sales import SaleTerms

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""A fixed 'now' with microseconds, so round trips must keep them."""

POINTER_POLICY = bytes.fromhex("26c0f8e2d3be37de297fa57c48820fcb24c7b09aebe280430cef9d87")
BUNDLE: AssetId = (bytes.fromhex("aa" * 28), b"song-token")
CURRENCY: AssetId = (bytes.fromhex("682fe60c" + "11" * 24), b"NEWM")
TOKEN_COST: AssetId = (bytes.fromhex("bb" * 28), b"")
OWNER = bytes.fromhex("01" + "22" * 28 + "33" * 28)
CONFIG = MarketplaceConfig(currency=CURRENCY)
PRICE = 2723  # $0.002723 per NEWM, x 10^6


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pointer_name(n: int) -> bytes:
    return bytes.fromhex("ca11ab1e") + n.to_bytes(28, "big")


def make_sale(n: int = 0, **overrides: Any) -> Sale:
    """Sale number `n` (distinct id and pointer per n), USD-priced unless overridden."""
    fields: dict[str, Any] = {
        "id": str(uuid.UUID(int=n + 1)),
        "status": SaleStatus.STARTED,
        "pointer_name": pointer_name(n),
        "owner_address": OWNER,
        "bundle": BUNDLE,
        "bundle_amount": 1_000_000,
        "cost": None,
        "cost_amount": 1_500_000_000_000,
        "total_bundle_quantity": 100,
        "available_bundle_quantity": 50,
    }
    fields.update(overrides)
    return Sale(**fields)


def make_terms(**overrides: Any) -> SaleTerms:
    fields: dict[str, Any] = {
        "owner_address": OWNER,
        "bundle": BUNDLE,
        "bundle_amount": 1_000_000,
        "cost": None,
        "cost_amount": 1_500_000_000_000,
        "total_bundle_quantity": 100,
    }
    fields.update(overrides)
    return SaleTerms(**fields)


def make_amount(sale: Sale, bundle_quantity: int = 3, incentive: int | None = None) -> OrderAmount:
    """A real priced order (domain.pricing), so the stored record is what the API would store."""
    return order_amount(sale, bundle_quantity, incentive, PRICE, CONFIG)


COSTS: dict[str, AssetId | None] = {"usd": None, "ada": ADA, "token": TOKEN_COST}
