"""A primary-market sale as the service knows it: the on-chain SaleDatum plus bookkeeping.

Pricing, order building and the v1 API all read sales through this one immutable record, so its
invariants (32-byte pointer, quantities in range, well-formed assets) are checked once, here.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Protocol

from .cip30 import Utxo
from .datums import DEFAULT_MAX_BUNDLE_SIZE, POINTER_NAME_SIZE, SaleDatum
from .errors import InvalidSaleError, MarketError
from .values import ADA, AssetId, check_asset_id, unit_of


class SaleStatus(enum.StrEnum):
    """Lifecycle of a started sale; names and values are the deployed server's."""

    STARTED = "Started"
    """Pointer minted and bundles at the sale address: orders are accepted."""
    SOLD_OUT = "SoldOut"
    """A purchase took the last bundle; the sale UTxO may still exist until it is ended."""
    ENDED = "Ended"
    """The sale UTxO was spent with RemoveSale and its pointer burnt."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sale:
    """A sale of bundles of one token, priced per bundle in USD, ADA or a native token.

    `cost is None` means USD and `cost_amount` is then USD x 10^12; otherwise `cost_amount` is in
    base units of `cost` (lovelace when `cost == ADA`).
    """

    id: str
    status: SaleStatus
    pointer_name: bytes
    owner_address: bytes
    bundle: AssetId
    bundle_amount: int
    cost: AssetId | None
    cost_amount: int
    total_bundle_quantity: int
    available_bundle_quantity: int
    max_bundle_size: int = DEFAULT_MAX_BUNDLE_SIZE

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.id)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidSaleError(f"sale id {self.id!r} is not a UUID") from exc
        if not isinstance(self.status, SaleStatus):
            raise InvalidSaleError(f"sale {self.id} status {self.status!r} is not a SaleStatus")
        if not isinstance(self.pointer_name, bytes) or len(self.pointer_name) != POINTER_NAME_SIZE:
            raise InvalidSaleError(
                f"sale {self.id} pointer name must be {POINTER_NAME_SIZE} bytes, "
                f"got {self.pointer_name!r}"
            )
        if not isinstance(self.owner_address, bytes) or not self.owner_address:
            raise InvalidSaleError(f"sale {self.id} owner address must be non-empty bytes")
        _check_asset(self.id, "bundle", self.bundle)
        if self.cost is not None and self.cost != ADA:
            _check_asset(self.id, "cost", self.cost)
        _check_int(self.id, "bundle amount", self.bundle_amount, minimum=1)
        _check_int(self.id, "cost amount", self.cost_amount, minimum=0)
        _check_int(self.id, "total bundle quantity", self.total_bundle_quantity, minimum=0)
        _check_int(self.id, "available bundle quantity", self.available_bundle_quantity, minimum=0)
        _check_int(self.id, "max bundle size", self.max_bundle_size, minimum=1)
        if self.available_bundle_quantity > self.total_bundle_quantity:
            raise InvalidSaleError(
                f"sale {self.id} available bundle quantity ({self.available_bundle_quantity}) "
                f"exceeds its total ({self.total_bundle_quantity})"
            )

    @property
    def is_usd_priced(self) -> bool:
        """True when the cost is in USD (x 10^12) and is converted to the currency at order time."""
        return self.cost is None

    @property
    def is_started(self) -> bool:
        return self.status is SaleStatus.STARTED


class SaleTermsOf(Protocol):
    """The terms a seller locked in a sale (`store.sales.SaleTerms` fits)."""

    @property
    def owner_address(self) -> bytes: ...
    @property
    def bundle(self) -> AssetId: ...
    @property
    def bundle_amount(self) -> int: ...
    @property
    def cost(self) -> AssetId | None: ...
    @property
    def cost_amount(self) -> int: ...
    @property
    def total_bundle_quantity(self) -> int: ...


def sale_from_utxo(
    sale_id: str, terms: SaleTermsOf, pointer_name: bytes, utxo: Utxo
) -> Sale | None:
    """The sale a started sale's UTxO stands for: the seller's terms, the bundles its UTxO still
    holds (Started, or SoldOut at none) and the datum's max bundle size; None when the UTxO holds
    no readable SaleDatum."""
    try:
        datum = SaleDatum.from_cbor(utxo.inline_datum or b"")
    except MarketError:
        return None
    held = utxo.value.quantity(terms.bundle)
    available = min(held // terms.bundle_amount, terms.total_bundle_quantity)
    return Sale(
        id=sale_id,
        status=SaleStatus.STARTED if available else SaleStatus.SOLD_OUT,
        pointer_name=pointer_name,
        owner_address=terms.owner_address,
        bundle=terms.bundle,
        bundle_amount=terms.bundle_amount,
        cost=terms.cost,
        cost_amount=terms.cost_amount,
        total_bundle_quantity=terms.total_bundle_quantity,
        available_bundle_quantity=available,
        max_bundle_size=datum.max_bundle_size,
    )


def _check_asset(sale_id: str, what: str, asset: AssetId) -> None:
    if (
        not isinstance(asset, tuple)
        or len(asset) != 2
        or not all(isinstance(part, bytes) for part in asset)
    ):
        raise InvalidSaleError(f"sale {sale_id} {what} must be a (policy, name) pair of bytes")
    if asset == ADA:
        raise InvalidSaleError(f"sale {sale_id} {what} must be a native token, not ADA")
    try:
        check_asset_id(asset)
    except ValueError as exc:
        raise InvalidSaleError(f"sale {sale_id} {what} {unit_of(asset)}: {exc}") from exc


def _check_int(sale_id: str, what: str, value: int, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidSaleError(f"sale {sale_id} {what} must be an int, got {value!r}")
    if value < minimum:
        raise InvalidSaleError(f"sale {sale_id} {what} ({value}) must be at least {minimum}")
