"""Repositories: the only code that turns domain records into rows and back.

Each repository wraps a caller's `Session` and never commits: the caller's unit of work decides
(see `Database.session`). Single-use ids are claimed with one conditional UPDATE ... RETURNING, so
two requests racing for the same pending order cannot both win, on PostgreSQL (the row lock makes
the loser re-check the condition) or SQLite (writes are serialised). Commit promptly after a claim:
until then the row stays locked (PostgreSQL) or the database write-locked (SQLite).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..domain.errors import (
    DuplicateRecordError,
    ExpiredPendingError,
    StoreError,
    UnknownPendingError,
    UnknownRecordError,
    UsedPendingError,
)
from ..domain.pricing import OrderAmount
from ..domain.sale import Sale, SaleStatus
from ..domain.values import AssetId, Value
from .columns import check_aware, check_exact_int
from .models import IssuedTransactionRow, PendingOrderRow, PendingSaleRow, SaleRow
from .records import (
    Criteria,
    IssuedTransaction,
    PendingOrder,
    PendingSale,
    SaleFilter,
    SaleTerms,
    StoredSale,
    TxKind,
    TxStatus,
)

_TX_ID = re.compile(r"[0-9a-f]{64}")
_S = TypeVar("_S", bound=Select[Any])

_SALES = cast(Table, SaleRow.__table__)
_SALE_BY_ID = select(_SALES).where(_SALES.c.id == bindparam("sale_id"))
_PENDING_ORDER_INSERT = insert(cast(Table, PendingOrderRow.__table__))


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
            _insert(self._session, SaleRow)
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
        key = _parse_uuid(sale_id)
        if key is None:
            return None
        # Core on the session's connection, not an ORM query: the amount route's hot path. A
        # Core row is always read from the database, like `_fresh` ORM rows.
        row = self._session.connection().execute(_SALE_BY_ID, {"sale_id": key}).first()
        return None if row is None else _stored_sale(row)

    def get_by_pointer(self, pointer: AssetId) -> StoredSale | None:
        """The sale whose pointer token is `(policy, name)`, as a monitor finds it on chain."""
        policy, name = pointer
        stmt = select(SaleRow).where(
            SaleRow.pointer_policy_id == policy.hex(), SaleRow.pointer_asset_name == name.hex()
        )
        row = self._session.scalars(_fresh(stmt)).first()
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
        key = _parse_uuid(sale_id)
        if key is None:
            raise UnknownRecordError(f"sale {sale_id!r} not found")
        stmt = (
            update(SaleRow)
            .where(
                SaleRow.id == key,
                SaleRow.total_bundle_quantity >= available_bundle_quantity,
            )
            .values(
                status=status.value,
                available_bundle_quantity=available_bundle_quantity,
                updated_at=now,
            )
            .returning(SaleRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
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
        return [_stored_sale(row) for row in self._session.scalars(_fresh(stmt))]

    def count(self, filter: SaleFilter | None = None) -> int:
        stmt = _filtered(select(func.count()).select_from(SaleRow), filter)
        return int(self._session.execute(stmt).scalar_one())


class PendingOrderRepo:
    """Pending orders (`marketplace_pending_orders`): priced amounts awaiting a transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        sale_id: str | uuid.UUID,
        amount: OrderAmount,
        now: datetime,
        ttl_seconds: int,
        order_id: str | uuid.UUID | None = None,
    ) -> PendingOrder:
        """Store a priced order that expires `ttl_seconds` after `now`; a new UUID4 by default."""
        now = check_aware("now", now)
        key = uuid.uuid4() if order_id is None else _require_uuid("order id", order_id)
        sale_key = _require_uuid("sale id", sale_id)
        expires_at = now + _ttl(ttl_seconds)
        cost_policy, cost_name = _asset_columns(amount.cost)
        values: dict[str, Any] = {
            "id": key,
            "sale_id": sale_key,
            "bundle_quantity": _amount("bundle quantity", amount.bundle_quantity),
            "incentive_amount": _amount("incentive amount", amount.incentive_amount),
            "currency_policy_id": amount.currency[0].hex(),
            "currency_asset_name": amount.currency[1].hex(),
            "cost_policy_id": cost_policy,
            "cost_asset_name": cost_name,
            "currency_amount": _amount("currency amount", amount.currency_amount),
            "service_fee_amount": _amount("service fee", amount.service_fee),
            "service_fee_policy_id": amount.service_fee_asset[0].hex(),
            "service_fee_asset_name": amount.service_fee_asset[1].hex(),
            "order_amount": _amount("order amount", amount.order),
            "service_fee_total": _amount("service fee total", amount.svc),
            "subtotal_usd": _amount("subtotal", amount.sub),
            "price_adjustment_usd": _amount("price adjustment", amount.extra),
            "amount_cbor_hex": amount.amount_cbor_hex,
            "created_at": now,
            "expires_at": expires_at,
            "used_at": None,
        }
        try:
            # A prebuilt INSERT with bound values (the amount route's hot path): built once, its
            # compiled form cached per dialect, where `.values(...)` would build a new one.
            self._session.connection().execute(_PENDING_ORDER_INSERT, values)
        except IntegrityError as exc:
            raise StoreError(
                f"pending order {key} cannot be stored: sale {sale_key} is not in the database "
                "or the order id is taken"
            ) from exc
        return PendingOrder(
            id=str(key),
            sale_id=str(sale_key),
            amount=amount,
            created_at=now,
            expires_at=expires_at,
            used_at=None,
        )

    def get(self, order_id: str | uuid.UUID) -> PendingOrder | None:
        """The order whether or not it is still usable (see `claim_order` to use it)."""
        key = _parse_uuid(order_id)
        if key is None:
            return None
        stmt = select(PendingOrderRow).where(PendingOrderRow.id == key)
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _pending_order(row)

    def claim_order(self, order_id: str | uuid.UUID, now: datetime) -> PendingOrder:
        """Mark the order used at `now` and return it, atomically: of any number of concurrent
        claims exactly one succeeds (once committed).

        Raises UnknownPendingError (no such id, or not a UUID), UsedPendingError (claimed before)
        or ExpiredPendingError (`now` is at or past its expiry).
        """
        row = _claim(self._session, PendingOrderRow, "order", order_id, now)
        return _pending_order(row)

    def set_owner(self, order_id: str | uuid.UUID, owner_address: bytes) -> None:
        """Record the wallet a used order's transaction was built for (its change address)."""
        key = _require_uuid("order id", order_id)
        self._session.execute(
            update(PendingOrderRow)
            .where(PendingOrderRow.id == key)
            .values(owner_address=owner_address.hex())
            .execution_options(synchronize_session=False)
        )

    def purge(self, expired_before: datetime, *, unused_only: bool = False) -> int:
        """Delete orders that expired before `expired_before` (used or not, or with
        `unused_only` those never claimed); returns how many."""
        return _purge(self._session, PendingOrderRow, expired_before, unused_only=unused_only)


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
        key = uuid.uuid4() if sale_id is None else _require_uuid("sale id", sale_id)
        expires_at = now + _ttl(ttl_seconds)
        values = _terms_values(terms)
        stmt = _insert(self._session, PendingSaleRow).values(
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
        key = _parse_uuid(sale_id)
        if key is None:
            return None
        stmt = select(PendingSaleRow).where(PendingSaleRow.id == key)
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _pending_sale(row)

    def claim_sale(self, sale_id: str | uuid.UUID, now: datetime) -> PendingSale:
        """As `PendingOrderRepo.claim_order`, for a sale start."""
        row = _claim(self._session, PendingSaleRow, "sale", sale_id, now)
        return _pending_sale(row)

    def purge(self, expired_before: datetime, *, unused_only: bool = False) -> int:
        return _purge(self._session, PendingSaleRow, expired_before, unused_only=unused_only)


class IssuedTransactionRepo:
    """Transactions as issued (`issued_transactions`), by id, for witness splicing and submit."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        *,
        tx_id: str,
        cbor: bytes,
        kind: TxKind,
        now: datetime,
        reference_id: str | uuid.UUID | None = None,
    ) -> IssuedTransaction:
        """Keep `cbor` byte for byte under `tx_id` (hex). Recording the same bytes again returns
        the stored record; different bytes under the same id raise DuplicateRecordError."""
        now = check_aware("now", now)
        key = _require_tx_id(tx_id)
        kind = TxKind(kind)
        ref = None if reference_id is None else _require_uuid("reference id", reference_id)
        stmt = (
            _insert(self._session, IssuedTransactionRow)
            .values(
                tx_id=key,
                kind=kind.value,
                status=TxStatus.ISSUED.value,
                cbor=bytes(cbor),
                signed_cbor=None,
                reference_id=ref,
                created_at=now,
                submitted_at=None,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        self._session.execute(stmt)
        stored = self.get(key)
        if stored is None:  # pragma: no cover - the insert or the conflicting row is there
            raise StoreError(f"transaction {key} vanished while being recorded")
        if stored.cbor != cbor:
            raise DuplicateRecordError(f"transaction {key} was already issued with other bytes")
        return stored

    def get(self, tx_id: str) -> IssuedTransaction | None:
        key = tx_id.lower() if isinstance(tx_id, str) else ""
        if not _TX_ID.fullmatch(key):
            return None
        stmt = select(IssuedTransactionRow).where(IssuedTransactionRow.tx_id == key)
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _issued(row)

    def by_reference(self, reference_id: str | uuid.UUID, kind: TxKind) -> IssuedTransaction | None:
        """The newest transaction of `kind` issued for a pending order or sale."""
        key = _parse_uuid(reference_id)
        if key is None:
            return None
        stmt = (
            select(IssuedTransactionRow)
            .where(
                IssuedTransactionRow.reference_id == key,
                IssuedTransactionRow.kind == TxKind(kind).value,
            )
            .order_by(IssuedTransactionRow.created_at.desc())
            .limit(1)
        )
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _issued(row)

    def lock(self, tx_id: str) -> IssuedTransaction | None:
        """The issued transaction, its row held until the session ends (PostgreSQL: a row lock;
        SQLite: the database's write lock), so one submitTx at a time co-signs and submits it."""
        key = tx_id.lower() if isinstance(tx_id, str) else ""
        if not _TX_ID.fullmatch(key):
            return None
        stmt = (
            update(IssuedTransactionRow)
            .where(IssuedTransactionRow.tx_id == key)
            .values(updated_at=IssuedTransactionRow.updated_at)
            .returning(IssuedTransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else _issued(row)

    def mark_submitted(self, tx_id: str, *, signed_cbor: bytes, now: datetime) -> bool:
        """Move an issued transaction to submitted, keeping the signed bytes.

        True for the one call that made the change; False when it was already submitted (or
        further along), so a repeated submitTx is idempotent. UnknownRecordError if never issued.
        """
        now = check_aware("now", now)
        key = _require_tx_id(tx_id)
        stmt = (
            update(IssuedTransactionRow)
            .where(
                IssuedTransactionRow.tx_id == key,
                IssuedTransactionRow.status == TxStatus.ISSUED.value,
            )
            .values(
                status=TxStatus.SUBMITTED.value,
                signed_cbor=bytes(signed_cbor),
                submitted_at=now,
                updated_at=now,
            )
            .returning(IssuedTransactionRow.tx_id)
            .execution_options(synchronize_session=False)
        )
        if self._session.execute(stmt).first() is not None:
            return True
        if self.get(key) is None:
            raise UnknownRecordError(f"transaction {key} was not issued by this service")
        return False

    def set_status(self, tx_id: str, status: TxStatus, *, now: datetime) -> IssuedTransaction:
        """Record what the monitor saw (confirmed, failed); UnknownRecordError if never issued."""
        now = check_aware("now", now)
        key = _require_tx_id(tx_id)
        status = TxStatus(status)
        stmt = (
            update(IssuedTransactionRow)
            .where(IssuedTransactionRow.tx_id == key)
            .values(status=status.value, updated_at=now)
            .returning(IssuedTransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is None:
            raise UnknownRecordError(f"transaction {key} was not issued by this service")
        return _issued(row)

    def purge_unsubmitted(self, created_before: datetime, *, keep: Iterable[TxKind] = ()) -> int:
        """Delete transactions still `issued` (never submitted through us) created before
        `created_before`, except those of the kinds in `keep`; returns how many."""
        before = check_aware("created_before", created_before)
        stmt = delete(IssuedTransactionRow).where(
            IssuedTransactionRow.status == TxStatus.ISSUED.value,
            IssuedTransactionRow.created_at < before,
        )
        kept = [kind.value for kind in keep]
        if kept:
            stmt = stmt.where(IssuedTransactionRow.kind.not_in(kept))
        result = self._session.execute(stmt.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0))

    def with_status(self, status: TxStatus, *, limit: int = 100) -> list[IssuedTransaction]:
        """Up to `limit` transactions in `status`, oldest first (for the monitor)."""
        stmt = (
            select(IssuedTransactionRow)
            .where(IssuedTransactionRow.status == TxStatus(status).value)
            .order_by(IssuedTransactionRow.created_at, IssuedTransactionRow.tx_id)
            .limit(limit)
        )
        return [_issued(row) for row in self._session.scalars(_fresh(stmt))]


# -- single-use claims --------------------------------------------------------------------------


def _claim(
    session: Session,
    model: type[PendingOrderRow] | type[PendingSaleRow],
    kind: str,
    raw_id: str | uuid.UUID,
    now: datetime,
) -> Any:
    now = check_aware("now", now)
    label = f"Pending {kind} {raw_id}"
    key = _parse_uuid(raw_id)
    if key is None:
        raise UnknownPendingError(f"{label} not found", kind=kind, id=str(raw_id))
    stmt = (
        update(model)
        .where(model.id == key, model.used_at.is_(None), model.expires_at > now)
        .values(used_at=now)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    row = session.scalars(stmt).first()
    if row is not None:
        return row
    # Lost: say why. The row cannot become claimable again, so this read cannot contradict it.
    state = session.execute(select(model.used_at, model.expires_at).where(model.id == key)).first()
    if state is None:
        raise UnknownPendingError(f"{label} not found", kind=kind, id=str(key))
    used_at, expires_at = state
    if used_at is not None:
        raise UsedPendingError(
            f"{label} was already used (at {used_at.isoformat()})", kind=kind, id=str(key)
        )
    raise ExpiredPendingError(
        f"{label} expired (at {expires_at.isoformat()})", kind=kind, id=str(key)
    )


def _purge(
    session: Session,
    model: type[PendingOrderRow] | type[PendingSaleRow],
    before: datetime,
    *,
    unused_only: bool = False,
) -> int:
    before = check_aware("expired_before", before)
    stmt = delete(model).where(model.expires_at < before)
    if unused_only:
        stmt = stmt.where(model.used_at.is_(None))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


# -- row <-> record -----------------------------------------------------------------------------


def _sale_values(sale: Sale, pointer_policy: bytes) -> dict[str, Any]:
    if not isinstance(pointer_policy, bytes) or len(pointer_policy) != 28:
        raise StoreError(f"sale {sale.id}: pointer policy must be 28 bytes, got {pointer_policy!r}")
    cost_policy, cost_name = _asset_columns(sale.cost)
    return {
        "status": sale.status.value,
        "pointer_policy_id": pointer_policy.hex(),
        "pointer_asset_name": sale.pointer_name.hex(),
        "owner_address": sale.owner_address.hex(),
        "bundle_policy_id": sale.bundle[0].hex(),
        "bundle_asset_name": sale.bundle[1].hex(),
        "bundle_amount": _amount("bundle amount", sale.bundle_amount),
        "cost_policy_id": cost_policy,
        "cost_asset_name": cost_name,
        "cost_amount": _amount("cost amount", sale.cost_amount),
        "max_bundle_size": _amount("max bundle size", sale.max_bundle_size),
        "total_bundle_quantity": _amount("total bundle quantity", sale.total_bundle_quantity),
        "available_bundle_quantity": _amount(
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
        bundle=_asset(row.bundle_policy_id, row.bundle_asset_name),
        bundle_amount=row.bundle_amount,
        cost=_optional_asset(row.cost_policy_id, row.cost_asset_name),
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


def _pending_order(row: PendingOrderRow) -> PendingOrder:
    amount = OrderAmount(
        bundle_quantity=row.bundle_quantity,
        incentive_amount=row.incentive_amount,
        currency=_asset(row.currency_policy_id, row.currency_asset_name),
        cost=_optional_asset(row.cost_policy_id, row.cost_asset_name),
        currency_amount=row.currency_amount,
        service_fee=row.service_fee_amount,
        service_fee_asset=_asset(row.service_fee_policy_id, row.service_fee_asset_name),
        cost_total=row.order_amount,
        value=Value.from_cbor(row.amount_cbor_hex),
        amount_cbor_hex=row.amount_cbor_hex,
        order=row.order_amount,
        svc=row.service_fee_total,
        sub=row.subtotal_usd,
        extra=row.price_adjustment_usd,
    )
    return PendingOrder(
        id=str(row.id),
        sale_id=str(row.sale_id),
        amount=amount,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


def _terms_values(terms: SaleTerms) -> dict[str, Any]:
    cost_policy, cost_name = _asset_columns(terms.cost)
    if not terms.owner_address:
        raise StoreError("pending sale owner address must be non-empty bytes")
    return {
        "owner_address": terms.owner_address.hex(),
        "bundle_policy_id": terms.bundle[0].hex(),
        "bundle_asset_name": terms.bundle[1].hex(),
        "bundle_amount": _amount("bundle amount", terms.bundle_amount),
        "cost_policy_id": cost_policy,
        "cost_asset_name": cost_name,
        "cost_amount": _amount("cost amount", terms.cost_amount),
        "total_bundle_quantity": _amount("total bundle quantity", terms.total_bundle_quantity),
    }


def _pending_sale(row: PendingSaleRow) -> PendingSale:
    terms = SaleTerms(
        owner_address=bytes.fromhex(row.owner_address),
        bundle=_asset(row.bundle_policy_id, row.bundle_asset_name),
        bundle_amount=row.bundle_amount,
        cost=_optional_asset(row.cost_policy_id, row.cost_asset_name),
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


def _issued(row: IssuedTransactionRow) -> IssuedTransaction:
    return IssuedTransaction(
        tx_id=row.tx_id,
        kind=TxKind(row.kind),
        status=TxStatus(row.status),
        cbor=bytes(row.cbor),
        signed_cbor=None if row.signed_cbor is None else bytes(row.signed_cbor),
        reference_id=None if row.reference_id is None else str(row.reference_id),
        created_at=row.created_at,
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
    )


# -- filters ------------------------------------------------------------------------------------


def _filtered(stmt: _S, sale_filter: SaleFilter | None) -> _S:
    if sale_filter is None:
        return stmt
    conditions: list[ColumnElement[bool]] = []
    f = sale_filter
    if f.ids is not None:
        conditions += _criteria(SaleRow.id, f.ids, _parse_uuid)
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


# -- helpers ------------------------------------------------------------------------------------


def _insert(session: Session, model: type[Any]) -> Any:
    """The dialect's INSERT (it has ON CONFLICT DO NOTHING on both supported databases)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise StoreError(f"unsupported database dialect {dialect!r} (use SQLite or PostgreSQL)")


def _fresh(stmt: _S) -> _S:
    """Reload rows even if the session holds them: updates here bypass the identity map."""
    return stmt.execution_options(populate_existing=True)


def _amount(field: str, value: int) -> int:
    return check_exact_int(field, value)


def _ttl(seconds: int) -> timedelta:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise StoreError(f"TTL must be a non-negative number of seconds, got {seconds!r}")
    return timedelta(seconds=seconds)


def _parse_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _require_uuid(field: str, value: str | uuid.UUID) -> uuid.UUID:
    key = _parse_uuid(value)
    if key is None:
        raise StoreError(f"{field} {value!r} is not a UUID")
    return key


def _require_tx_id(tx_id: str) -> str:
    key = tx_id.lower() if isinstance(tx_id, str) else ""
    if not _TX_ID.fullmatch(key):
        raise StoreError(f"transaction id {tx_id!r} is not 64 hex digits")
    return key


def _asset_columns(asset: AssetId | None) -> tuple[str | None, str | None]:
    """(policy hex, name hex); (None, None) for USD; ("", "") for ADA."""
    if asset is None:
        return None, None
    return asset[0].hex(), asset[1].hex()


def _asset(policy_hex: str, name_hex: str) -> AssetId:
    return bytes.fromhex(policy_hex), bytes.fromhex(name_hex)


def _optional_asset(policy_hex: str | None, name_hex: str | None) -> AssetId | None:
    if policy_hex is None or name_hex is None:
        return None
    return _asset(policy_hex, name_hex)


__all__: Sequence[str] = (
    "IssuedTransactionRepo",
    "PendingOrderRepo",
    "PendingSaleRepo",
    "SaleRepo",
)
