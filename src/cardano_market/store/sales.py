"""Sales: the sales the service knows (`marketplace_sales`) and the sale starts it priced for a
seller (`marketplace_pending_sales`), their records and repositories.

A sale row holds its SaleDatum terms, pointer token and bookkeeping; a cost policy of NULL (with
a NULL asset name) means USD. Repositories wrap a caller's `Session` and never commit (see
`Database.session`); they return frozen records, never ORM rows. A pending sale is single-use,
claimed with one conditional UPDATE ... RETURNING (see `quotes.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Index,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    bindparam,
    func,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column

from ..domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from ..domain.sale import Sale, SaleStatus
from ..domain.values import AssetId
from ._sql import (
    asset,
    asset_columns,
    claim_single_use,
    dialect_insert,
    fresh,
    optional_asset,
    parse_uuid,
    purge_expired,
    require_uuid,
    single_use_row,
    ttl,
    update_returning,
)
from .columns import ExactInt, UtcDateTime, check_aware, check_exact_int
from .schema import (
    ADDRESS_HEX,
    COST_IS_ASSET_OR_USD,
    ENUM_TEXT,
    NAME_HEX,
    POLICY_HEX,
    Base,
    one_of,
)

T = TypeVar("T")
_S = TypeVar("_S", bound=Select[Any])

# -- tables -------------------------------------------------------------------------------------


class SaleRow(Base):
    """A sale the service knows: its SaleDatum terms, pointer token and bookkeeping."""

    __tablename__ = "marketplace_sales"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(ENUM_TEXT))
    pointer_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    pointer_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    owner_address: Mapped[str] = mapped_column(String(ADDRESS_HEX))
    bundle_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    bundle_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    bundle_amount: Mapped[int] = mapped_column(ExactInt)
    cost_policy_id: Mapped[str | None] = mapped_column(String(POLICY_HEX))
    cost_asset_name: Mapped[str | None] = mapped_column(String(NAME_HEX))
    cost_amount: Mapped[int] = mapped_column(ExactInt)
    max_bundle_size: Mapped[int] = mapped_column(ExactInt)
    total_bundle_quantity: Mapped[int] = mapped_column(ExactInt)
    available_bundle_quantity: Mapped[int] = mapped_column(ExactInt)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("pointer_policy_id", "pointer_asset_name"),
        Index(None, "owner_address"),
        Index(None, "status"),
        Index(None, "bundle_policy_id"),
        Index(None, "created_at", "id"),
        CheckConstraint(one_of("status", (s.value for s in SaleStatus)), name="status"),
        CheckConstraint(COST_IS_ASSET_OR_USD, name="cost_asset"),
    )


class PendingSaleRow(Base):
    """A sale-start amount handed to a seller: the terms its start transaction will lock."""

    __tablename__ = "marketplace_pending_sales"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_address: Mapped[str] = mapped_column(String(ADDRESS_HEX))
    bundle_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    bundle_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    bundle_amount: Mapped[int] = mapped_column(ExactInt)
    cost_policy_id: Mapped[str | None] = mapped_column(String(POLICY_HEX))
    cost_asset_name: Mapped[str | None] = mapped_column(String(NAME_HEX))
    cost_amount: Mapped[int] = mapped_column(ExactInt)
    total_bundle_quantity: Mapped[int] = mapped_column(ExactInt)
    amount_cbor_hex: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(None, "expires_at"),
        CheckConstraint(COST_IS_ASSET_OR_USD, name="cost_asset"),
    )


# -- records ------------------------------------------------------------------------------------


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


# -- repositories -------------------------------------------------------------------------------

_SALES = cast(Table, SaleRow.__table__)
_SALE_BY_ID = select(_SALES).where(_SALES.c.id == bindparam("sale_id"))


class SaleRepo:
    """Sales (`marketplace_sales`), mapped to and from `domain.sale.Sale`."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, sale: Sale, *, pointer_policy: bytes, now: datetime) -> StoredSale:
        """Insert `sale`, or return the stored one when the same sale is already there.

        Two requests that read the same sale from the chain may both add it: the second gets the
        stored record (its status and availability win). DuplicateRecordError when the id or the
        pointer token is taken by a sale with different terms.
        """
        now = check_aware("now", now)
        values = _sale_values(sale, pointer_policy)
        stmt = (
            dialect_insert(self._session, SaleRow)
            .values(id=uuid.UUID(sale.id), created_at=now, updated_at=now, **values)
            .on_conflict_do_nothing()
        )
        self._session.execute(stmt)
        stored = self.get(sale.id)
        if stored is None:
            holder = self.get_by_pointer((pointer_policy, sale.pointer_name))
            raise DuplicateRecordError(
                f"sale {sale.id}: pointer {pointer_policy.hex()}.{sale.pointer_name.hex()} "
                f"already belongs to sale {holder.sale.id if holder else '(unknown)'}"
            )
        if _sale_terms(stored.sale) != _sale_terms(sale) or stored.pointer_policy != pointer_policy:
            raise DuplicateRecordError(f"sale {sale.id} is already stored with different terms")
        return stored

    def get(self, sale_id: str | uuid.UUID) -> StoredSale | None:
        key = parse_uuid(sale_id)
        if key is None:
            return None
        # Core on the session's connection, not an ORM query: the amount route's hot path. A
        # Core row is always read from the database, like `fresh` ORM rows.
        row = self._session.connection().execute(_SALE_BY_ID, {"sale_id": key}).first()
        return None if row is None else _stored_sale(row)

    def get_by_pointer(self, pointer: AssetId) -> StoredSale | None:
        """The sale whose pointer token is `(policy, name)`, as a monitor finds it on chain."""
        policy, name = pointer
        stmt = select(SaleRow).where(
            SaleRow.pointer_policy_id == policy.hex(), SaleRow.pointer_asset_name == name.hex()
        )
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _stored_sale(row)

    def update_state(
        self,
        sale_id: str | uuid.UUID,
        *,
        status: SaleStatus,
        available_bundle_quantity: int,
        now: datetime,
    ) -> StoredSale:
        """Record what the chain says now (status, bundles left); the terms never change.

        Raises StoreError if `available_bundle_quantity` exceeds the total, UnknownRecordError if
        there is no such sale.
        """
        now = check_aware("now", now)
        status = SaleStatus(status)
        check_exact_int("available bundle quantity", available_bundle_quantity)
        key = parse_uuid(sale_id)
        if key is None:
            raise UnknownRecordError(f"sale {sale_id!r} not found")
        row = update_returning(
            self._session,
            SaleRow,
            SaleRow.id == key,
            SaleRow.total_bundle_quantity >= available_bundle_quantity,
            status=status.value,
            available_bundle_quantity=available_bundle_quantity,
            updated_at=now,
        )
        if row is not None:
            return _stored_sale(row)
        stored = self.get(key)
        if stored is None:
            raise UnknownRecordError(f"sale {sale_id} not found")
        raise StoreError(
            f"sale {sale_id} available bundle quantity ({available_bundle_quantity}) exceeds "
            f"its total ({stored.sale.total_bundle_quantity})"
        )

    def find(
        self,
        filter: SaleFilter | None = None,
        *,
        offset: int = 0,
        limit: int = 25,
        descending: bool = False,
    ) -> list[StoredSale]:
        """One page of sales, oldest first (newest first with `descending`), ties by id."""
        if offset < 0 or limit < 0:
            raise StoreError(f"offset ({offset}) and limit ({limit}) must not be negative")
        order = (
            (SaleRow.created_at.desc(), SaleRow.id.desc())
            if descending
            else (SaleRow.created_at.asc(), SaleRow.id.asc())
        )
        stmt = _filtered(select(SaleRow), filter).order_by(*order).offset(offset).limit(limit)
        return [_stored_sale(row) for row in self._session.scalars(fresh(stmt))]

    def count(self, filter: SaleFilter | None = None) -> int:
        stmt = _filtered(select(func.count()).select_from(SaleRow), filter)
        return int(self._session.execute(stmt).scalar_one())


class PendingSaleRepo:
    """Pending sales (`marketplace_pending_sales`): sale-start amounts awaiting a transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        terms: SaleTerms,
        *,
        amount_cbor_hex: str,
        now: datetime,
        ttl_seconds: int,
        sale_id: str | uuid.UUID | None = None,
    ) -> PendingSale:
        """Store the terms of a sale to start, expiring `ttl_seconds` after `now`."""
        now = check_aware("now", now)
        key = uuid.uuid4() if sale_id is None else require_uuid("sale id", sale_id)
        expires_at = now + ttl(ttl_seconds)
        values = _terms_values(terms)
        stmt = dialect_insert(self._session, PendingSaleRow).values(
            id=key,
            amount_cbor_hex=amount_cbor_hex,
            created_at=now,
            expires_at=expires_at,
            used_at=None,
            **values,
        )
        self._session.execute(stmt)
        return PendingSale(
            id=str(key),
            terms=terms,
            amount_cbor_hex=amount_cbor_hex,
            created_at=now,
            expires_at=expires_at,
            used_at=None,
        )

    def get(self, sale_id: str | uuid.UUID) -> PendingSale | None:
        row = single_use_row(self._session, PendingSaleRow, sale_id)
        return None if row is None else _pending_sale(row)

    def claim_sale(self, sale_id: str | uuid.UUID, now: datetime) -> PendingSale:
        """As `PendingOrderRepo.claim_order`, for a sale start."""
        row = claim_single_use(self._session, PendingSaleRow, "sale", sale_id, now)
        return _pending_sale(row)

    def purge(self, expired_before: datetime, *, unused_only: bool = False) -> int:
        return purge_expired(self._session, PendingSaleRow, expired_before, unused_only=unused_only)


# -- row <-> record -----------------------------------------------------------------------------


def _sale_values(sale: Sale, pointer_policy: bytes) -> dict[str, Any]:
    if not isinstance(pointer_policy, bytes) or len(pointer_policy) != 28:
        raise StoreError(f"sale {sale.id}: pointer policy must be 28 bytes, got {pointer_policy!r}")
    cost_policy, cost_name = asset_columns(sale.cost)
    return {
        "status": sale.status.value,
        "pointer_policy_id": pointer_policy.hex(),
        "pointer_asset_name": sale.pointer_name.hex(),
        "owner_address": sale.owner_address.hex(),
        "bundle_policy_id": sale.bundle[0].hex(),
        "bundle_asset_name": sale.bundle[1].hex(),
        "bundle_amount": check_exact_int("bundle amount", sale.bundle_amount),
        "cost_policy_id": cost_policy,
        "cost_asset_name": cost_name,
        "cost_amount": check_exact_int("cost amount", sale.cost_amount),
        "max_bundle_size": check_exact_int("max bundle size", sale.max_bundle_size),
        "total_bundle_quantity": check_exact_int(
            "total bundle quantity", sale.total_bundle_quantity
        ),
        "available_bundle_quantity": check_exact_int(
            "available bundle quantity", sale.available_bundle_quantity
        ),
    }


def _sale_terms(sale: Sale) -> tuple[object, ...]:
    """What never changes once a sale exists (status and availability do)."""
    return (
        sale.pointer_name,
        sale.owner_address,
        sale.bundle,
        sale.bundle_amount,
        sale.cost,
        sale.cost_amount,
        sale.total_bundle_quantity,
        sale.max_bundle_size,
    )


def _stored_sale(row: SaleRow | Row[Any]) -> StoredSale:
    sale = Sale(
        id=str(row.id),
        status=SaleStatus(row.status),
        pointer_name=bytes.fromhex(row.pointer_asset_name),
        owner_address=bytes.fromhex(row.owner_address),
        bundle=asset(row.bundle_policy_id, row.bundle_asset_name),
        bundle_amount=row.bundle_amount,
        cost=optional_asset(row.cost_policy_id, row.cost_asset_name),
        cost_amount=row.cost_amount,
        total_bundle_quantity=row.total_bundle_quantity,
        available_bundle_quantity=row.available_bundle_quantity,
        max_bundle_size=row.max_bundle_size,
    )
    return StoredSale(
        sale=sale,
        pointer_policy=bytes.fromhex(row.pointer_policy_id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _terms_values(terms: SaleTerms) -> dict[str, Any]:
    cost_policy, cost_name = asset_columns(terms.cost)
    if not terms.owner_address:
        raise StoreError("pending sale owner address must be non-empty bytes")
    return {
        "owner_address": terms.owner_address.hex(),
        "bundle_policy_id": terms.bundle[0].hex(),
        "bundle_asset_name": terms.bundle[1].hex(),
        "bundle_amount": check_exact_int("bundle amount", terms.bundle_amount),
        "cost_policy_id": cost_policy,
        "cost_asset_name": cost_name,
        "cost_amount": check_exact_int("cost amount", terms.cost_amount),
        "total_bundle_quantity": check_exact_int(
            "total bundle quantity", terms.total_bundle_quantity
        ),
    }


def _pending_sale(row: PendingSaleRow) -> PendingSale:
    terms = SaleTerms(
        owner_address=bytes.fromhex(row.owner_address),
        bundle=asset(row.bundle_policy_id, row.bundle_asset_name),
        bundle_amount=row.bundle_amount,
        cost=optional_asset(row.cost_policy_id, row.cost_asset_name),
        cost_amount=row.cost_amount,
        total_bundle_quantity=row.total_bundle_quantity,
    )
    return PendingSale(
        id=str(row.id),
        terms=terms,
        amount_cbor_hex=row.amount_cbor_hex,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


# -- filters ------------------------------------------------------------------------------------


def _filtered(stmt: _S, sale_filter: SaleFilter | None) -> _S:
    if sale_filter is None:
        return stmt
    conditions: list[ColumnElement[bool]] = []
    f = sale_filter
    if f.ids is not None:
        conditions += _criteria(SaleRow.id, f.ids, parse_uuid)
    if f.owner_addresses is not None:
        conditions += _criteria(SaleRow.owner_address, f.owner_addresses, bytes.hex)
    if f.statuses is not None:
        conditions += _criteria(SaleRow.status, f.statuses, lambda s: SaleStatus(s).value)
    if f.bundle_policies is not None:
        conditions += _criteria(SaleRow.bundle_policy_id, f.bundle_policies, bytes.hex)
    if f.older_than is not None:
        conditions.append(SaleRow.created_at < check_aware("older_than", f.older_than))
    if f.newer_than is not None:
        conditions.append(SaleRow.created_at > check_aware("newer_than", f.newer_than))
    return stmt.where(*conditions) if conditions else stmt


def _criteria(
    column: InstrumentedAttribute[Any], criteria: Criteria[Any], convert: Any
) -> list[ColumnElement[bool]]:
    """IN / NOT IN conditions; values that cannot be stored (e.g. a malformed id) match nothing."""

    def stored(values: Any) -> list[Any]:
        converted = (convert(v) for v in values)
        return [v for v in converted if v is not None]

    out: list[ColumnElement[bool]] = []
    if criteria.includes is not None:
        out.append(column.in_(stored(criteria.includes)))
    excludes = stored(criteria.excludes)
    if excludes:
        out.append(column.not_in(excludes))
    return out
