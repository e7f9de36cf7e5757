"""Transactions the v1 API issued (`issued_transactions`): the unsigned bytes exactly as
returned, kept by id for witness splicing and submit, and what became of them."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    LargeBinary,
    String,
    Uuid,
    delete,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ...domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from .._sql import (
    dialect_insert,
    fresh,
    parse_tx_hash,
    parse_uuid,
    require_tx_hash,
    require_uuid,
    update_returning,
)
from ..columns import UtcDateTime, check_aware
from ..schema import ENUM_TEXT, TX_ID_HEX, Base, one_of


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


class IssuedTransactionRow(Base):
    """An unsigned transaction exactly as the service returned it, kept for witness splicing."""

    __tablename__ = "issued_transactions"

    tx_id: Mapped[str] = mapped_column(String(TX_ID_HEX), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(ENUM_TEXT))
    cbor: Mapped[bytes] = mapped_column(LargeBinary)
    signed_cbor: Mapped[bytes | None] = mapped_column(LargeBinary)
    reference_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The pending order or sale the transaction was built for, when there is one."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(None, "reference_id"),
        Index(None, "status"),
        CheckConstraint(one_of("status", (s.value for s in TxStatus)), name="status"),
    )


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
        key = require_tx_hash(tx_id, "transaction id")
        kind = TxKind(kind)
        ref = None if reference_id is None else require_uuid("reference id", reference_id)
        stmt = (
            dialect_insert(self._session, IssuedTransactionRow)
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
        key = parse_tx_hash(tx_id)
        if key is None:
            return None
        stmt = select(IssuedTransactionRow).where(IssuedTransactionRow.tx_id == key)
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _issued(row)

    def by_reference(self, reference_id: str | uuid.UUID, kind: TxKind) -> IssuedTransaction | None:
        """The newest transaction of `kind` issued for a pending order or sale."""
        key = parse_uuid(reference_id)
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
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _issued(row)

    def lock(self, tx_id: str) -> IssuedTransaction | None:
        """The issued transaction, its row held until the session ends (PostgreSQL: a row lock;
        SQLite: the database's write lock), so one submitTx at a time co-signs and submits it."""
        key = parse_tx_hash(tx_id)
        if key is None:
            return None
        row = update_returning(
            self._session,
            IssuedTransactionRow,
            IssuedTransactionRow.tx_id == key,
            updated_at=IssuedTransactionRow.updated_at,
        )
        return None if row is None else _issued(row)

    def mark_submitted(self, tx_id: str, *, signed_cbor: bytes, now: datetime) -> bool:
        """Move an issued transaction to submitted, keeping the signed bytes.

        True for the one call that made the change; False when it was already submitted (or
        further along), so a repeated submitTx is idempotent. UnknownRecordError if never issued.
        """
        now = check_aware("now", now)
        key = require_tx_hash(tx_id, "transaction id")
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
        key = require_tx_hash(tx_id, "transaction id")
        status = TxStatus(status)
        row = update_returning(
            self._session,
            IssuedTransactionRow,
            IssuedTransactionRow.tx_id == key,
            status=status.value,
            updated_at=now,
        )
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
        return [_issued(row) for row in self._session.scalars(fresh(stmt))]


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
