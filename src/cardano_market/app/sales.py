"""Reading sales: by id (the database first, then the chain for a sale this service started but
the monitor has not recorded yet), pages and counts, and the deployed server's JSON view of one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..chain.base import ChainError
from ..domain.datums import USD
from ..domain.pointer import pointer_asset_name
from ..domain.pricing import USD_SCALE, exact_decimal
from ..domain.sale import Sale, sale_from_utxo
from ..store.sales import PendingSaleRepo, SaleFilter, SaleRepo, StoredSale
from ..store.transactions import IssuedTransactionRepo, TxKind
from ..tx.body import transaction_inputs
from .context import Context
from .errors import NotFoundError

MAX_RECENT_SALES = 10_000
"""Sales `SaleCatalog.recent` keeps at most (a sale's record is a few hundred bytes)."""

CURRENCY_DECIMALS = 6
"""The oracle quotes USD x 10^6 per whole currency token and pricing divides USD x 10^12 by it,
so the protocol's currency has 6 decimals (NEWM, tNEWM)."""


RECENT_SALE_SECONDS = 1.0
"""How old a sale `SaleCatalog.recent` hands out may be: pricing an order (hundreds a second)
needs the terms, which never change, and an availability at most this stale; the order
transaction re-reads the sale in its own database transaction."""


class SaleNotFoundError(NotFoundError):
    """No such sale (404)."""


def sale_not_found(sale_id: object) -> SaleNotFoundError:
    """The deployed server's wording, so clients matching on it keep working."""
    return SaleNotFoundError(
        f"Entity MarketplaceSaleEntity, id={sale_id} not found in the database"
    )


@dataclass(frozen=True, slots=True)
class SalePage:
    sales: list[StoredSale]
    price: int | None
    """The oracle's USD x 10^6 per whole currency token when it could be read, for the views."""


class SaleCatalog:
    """Sales as the v1 API reads them."""

    def __init__(
        self,
        market: Context,
        *,
        recent_seconds: float = RECENT_SALE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._market = market
        self._recent_seconds = recent_seconds
        self._monotonic = monotonic
        self._recent: dict[str, tuple[float, StoredSale]] = {}
        """By the sale's id as `Sale.id` spells it (a canonical UUID)."""

    def recent(self, sale_id: uuid.UUID) -> StoredSale:
        """Like `get`, but a sale read at most `recent_seconds` ago may be answered from memory.

        For the amount route only: its availability may be that stale (never after `forget`).
        Thread-safe: each dict operation is atomic, and a race at worst re-reads the database.
        """
        key = str(sale_id)
        now = self._monotonic()
        cached = self._recent.get(key)
        if cached is not None and now - cached[0] < self._recent_seconds:
            return cached[1]
        stored = self.get(sale_id)
        if len(self._recent) >= MAX_RECENT_SALES:
            self._recent.clear()  # a crude bound: hot sales are back after one read each
        self._recent[key] = (now, stored)
        return stored

    def forget(self, sale_id: str | uuid.UUID) -> None:
        """Drop a sale from `recent`'s memory (after an order transaction changed what it says);
        `sale_id` as `Sale.id` spells it, or the UUID."""
        self._recent.pop(str(sale_id), None)

    def get(self, sale_id: uuid.UUID) -> StoredSale:
        """The sale `sale_id`, from the database or, for one this service started, the chain
        (SaleNotFoundError, 404, when neither has it)."""
        with self._market.database.session() as session:
            stored = SaleRepo(session).get(sale_id)
        if stored is not None:
            return stored
        discovered = self._discover(sale_id)
        if discovered is None:
            raise sale_not_found(sale_id)
        return discovered

    def find(
        self, sale_filter: SaleFilter, *, offset: int, limit: int, descending: bool
    ) -> list[StoredSale]:
        with self._market.database.session() as session:
            return SaleRepo(session).find(
                sale_filter, offset=offset, limit=limit, descending=descending
            )

    def count(self, sale_filter: SaleFilter) -> int:
        with self._market.database.session() as session:
            return SaleRepo(session).count(sale_filter)

    def price_or_none(self) -> int | None:
        """The oracle price for the views; a view without it is better than no view."""
        try:
            return self._market.prices.current().price
        except ChainError:  # no price: render the sale without conversions
            return None

    def _discover(self, sale_id: uuid.UUID) -> StoredSale | None:
        """A sale started through this service: its pending sale names the start transaction,
        whose first input names the pointer, whose UTxO at the sale address holds the datum."""
        market = self._market
        policy = market.addresses.pointer_policy
        if policy is None:
            return None
        with market.database.session() as session:
            pending = PendingSaleRepo(session).get(sale_id)
            if pending is None or pending.used_at is None:
                return None
            issued = IssuedTransactionRepo(session).by_reference(sale_id, TxKind.SALE_START)
        if issued is None:
            return None
        pointer = pointer_asset_name(transaction_inputs(issued.cbor))
        holders = market.backend.utxos_with_asset(market.addresses.sale, (policy, pointer))
        if not holders or holders[0].inline_datum is None:
            return None
        sale = sale_from_utxo(str(sale_id), pending.terms, pointer, holders[0])
        if sale is None:
            return None
        with market.database.session() as session:
            return SaleRepo(session).add(sale, pointer_policy=policy, now=market.clock())


def sale_view(
    stored: StoredSale, *, price: int | None, currency_is_cost: bool, address: str
) -> dict[str, Any]:
    """The deployed server's `Sale` JSON (camelCase), plus the pointer and owner it leaves out.

    `costAmountUsd` and `costAmountNewm` are exact decimal strings of one bundle's price: USD and
    whole currency tokens, converted with the oracle price `price` (USD x 10^6 per token); null
    when no conversion exists (no price, or a cost token that is neither USD nor the currency).
    """
    sale = stored.sale
    cost = USD if sale.cost is None else sale.cost
    usd, newm = _conversions(sale, price, currency_is_cost)
    return {
        "id": sale.id,
        "createdAt": _local_iso(stored.created_at),
        "status": sale.status.value,
        "pointerPolicyId": stored.pointer_policy.hex(),
        "pointerAssetName": sale.pointer_name.hex(),
        "ownerAddress": address,
        "bundlePolicyId": sale.bundle[0].hex(),
        "bundleAssetName": sale.bundle[1].hex(),
        "bundleAmount": sale.bundle_amount,
        "costPolicyId": cost[0].hex(),
        "costAssetName": cost[1].hex(),
        "costAmount": sale.cost_amount,
        "costAmountUsd": usd,
        "costAmountNewm": newm,
        "maxBundleSize": sale.max_bundle_size,
        "totalBundleQuantity": sale.total_bundle_quantity,
        "availableBundleQuantity": sale.available_bundle_quantity,
        "song": None,
    }


def _conversions(sale: Sale, price: int | None, currency_is_cost: bool) -> tuple[str | None, ...]:
    scale = 10**CURRENCY_DECIMALS
    if sale.cost is None:
        # USD x 10^12 / (USD x 10^6 per token) = currency base units, truncated as pricing does.
        newm = None if not price else _text(Fraction(sale.cost_amount // price, scale))
        return _text(Fraction(sale.cost_amount, USD_SCALE)), newm
    if currency_is_cost:
        usd = None if price is None else _text(Fraction(sale.cost_amount * price, scale * scale))
        return usd, _text(Fraction(sale.cost_amount, scale))
    return None, None  # ADA or another token: no USD feed for it


def _text(number: Fraction) -> str:
    value: Decimal = exact_decimal(number)
    return format(value, "f")


def _local_iso(moment: datetime) -> str:
    """UTC without an offset, as the deployed server's LocalDateTime serializer writes it."""
    return moment.replace(tzinfo=None).isoformat()
