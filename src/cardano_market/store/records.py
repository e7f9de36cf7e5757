"""The immutable records repositories return: domain objects plus the store's bookkeeping.

Layers above the store never see ORM rows, only these frozen dataclasses, so a session can close
without leaving half-loaded objects behind and a record can cross threads freely.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from ..domain.pricing import OrderAmount
from ..domain.sale import Sale, SaleStatus
from ..domain.values import AssetId

T = TypeVar("T")


class TxKind(enum.StrEnum):
    """What an issued transaction does."""

    ORDER = "order"
    SALE_START = "sale_start"
    SALE_END = "sale_end"
    ORDER_CANCEL = "order_cancel"  # the owner takes a queued order back (QueueCancel)


class TxStatus(enum.StrEnum):
    """Where an issued transaction is: returned unsigned, submitted, then on chain or dropped."""

    ISSUED = "issued"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSale:
    """A sale as stored: the domain record, its pointer token's policy, and when it changed."""

    sale: Sale
    pointer_policy: bytes
    created_at: datetime
    updated_at: datetime

    @property
    def pointer(self) -> AssetId:
        return (self.pointer_policy, self.sale.pointer_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOrder:
    """An order amount issued to a buyer, priced once: the transaction uses exactly these terms."""

    id: str
    sale_id: str
    amount: OrderAmount
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleTerms:
    """What a seller asks to lock in a new sale (the SaleDatum's terms before the pointer exists).

    `cost is None` means USD (`cost_amount` in USD x 10^12).
    """

    owner_address: bytes
    bundle: AssetId
    bundle_amount: int
    cost: AssetId | None
    cost_amount: int
    total_bundle_quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingSale:
    """A sale-start amount issued to a seller; its id becomes the sale's id."""

    id: str
    terms: SaleTerms
    amount_cbor_hex: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedTransaction:
    """An unsigned transaction exactly as issued (`cbor`), and what became of it."""

    tx_id: str
    kind: TxKind
    status: TxStatus
    cbor: bytes
    signed_cbor: bytes | None
    reference_id: str | None
    created_at: datetime
    submitted_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Criteria(Generic[T]):
    """One filter: keep rows whose value is in `includes` (when given) and not in `excludes`."""

    includes: Collection[T] | None = None
    excludes: Collection[T] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleFilter:
    """`GET /v1/marketplace/sales` filters; None (or empty criteria) filters nothing."""

    ids: Criteria[str] | None = None
    owner_addresses: Criteria[bytes] | None = None
    statuses: Criteria[SaleStatus] | None = None
    bundle_policies: Criteria[bytes] | None = None
    older_than: datetime | None = None
    """Only sales created strictly before this time."""
    newer_than: datetime | None = None
    """Only sales created strictly after this time."""
