"""Custodial transactions (`v2_transactions`): the v2 API's purchases, sells, delists and
cancels, a state machine the worker advances, and the worker's leases on them.

Everything that can race is one conditional statement: `V2TransactionRepo.claim_next` leases
the oldest workable transaction to one worker (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers
never wait on each other's rows; SQLite: one UPDATE whose subquery runs under the database write
lock); state changes name the state they leave (`WHERE status = :from`) and the worker holding
the lease, so a stale worker cannot overwrite a newer one's work. Commit promptly after any of
them: until then the row (PostgreSQL) or the database (SQLite) stays write-locked.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ...domain.errors import StoreError, UnknownRecordError
from .._sql import add_row, fresh, page, require_tx_hash, update_returning
from ..columns import UtcDateTime, check_aware
from ..errors import IllegalTransitionError, LeaseLostError
from ..ids import new_object_id, parse_object_id, require_object_id
from ..schema import ENUM_TEXT, OBJECT_ID_HEX, TX_ID_HEX, WORKER_ID_CHARS, Base, one_of


class V2TxType(enum.StrEnum):
    PRIMARY_PURCHASE = "primary_purchase"
    SECONDARY_PURCHASE = "secondary_purchase"
    SELL = "sell"
    DELIST = "delist"
    ORDER_CANCEL = "order_cancel"
    """The owner takes a queued order back (QueueCancel); `token_id` is the token it buys."""


class V2TxStatus(enum.StrEnum):
    """pending -> submitted -> confirmed -> completed, or failed from pending or submitted.

    pending: not yet on the network (the worker builds, signs and stores the bytes, then submits);
    submitted: the stored signed bytes were sent; confirmed: on chain; completed: the database
    effects (deal quantities, audit) are applied too.
    """

    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (V2TxStatus.COMPLETED, V2TxStatus.FAILED)


TX_TRANSITIONS: dict[V2TxStatus, frozenset[V2TxStatus]] = {
    V2TxStatus.PENDING: frozenset({V2TxStatus.SUBMITTED, V2TxStatus.FAILED}),
    V2TxStatus.SUBMITTED: frozenset({V2TxStatus.CONFIRMED, V2TxStatus.FAILED}),
    V2TxStatus.CONFIRMED: frozenset({V2TxStatus.COMPLETED}),
    V2TxStatus.COMPLETED: frozenset(),
    V2TxStatus.FAILED: frozenset(),
}
"""The legal moves. A confirmed transaction is on chain: it can only be completed, never failed."""


WORKABLE = (V2TxStatus.PENDING, V2TxStatus.SUBMITTED, V2TxStatus.CONFIRMED)
"""What a worker advances: build/sign/submit, watch for confirmation, apply the effects."""


class CustodialTransactionRow(Base):
    __tablename__ = "v2_transactions"

    id: Mapped[str] = mapped_column(String(OBJECT_ID_HEX), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_users.id", ondelete="RESTRICT")
    )
    token_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_tokens.id", ondelete="RESTRICT")
    )
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(ENUM_TEXT))
    deal_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("v2_deals.id", ondelete="RESTRICT")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    tx_hash: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    unsigned_cbor: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_cbor: Mapped[bytes | None] = mapped_column(LargeBinary)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(WORKER_ID_CHARS))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(None, "status", "created_at"),
        Index(None, "user_id", "created_at"),
        Index(None, "token_id", "created_at"),
        Index(None, "deal_id"),
        Index(None, "tx_hash"),
        CheckConstraint(one_of("status", (s.value for s in V2TxStatus)), name="status"),
        CheckConstraint(one_of("type", (t.value for t in V2TxType)), name="type"),
        CheckConstraint(
            "status NOT IN ('submitted', 'confirmed', 'completed') OR signed_cbor IS NOT NULL",
            name="signed_before_submit",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class V2Transaction:
    """A custodial transaction the worker advances (`V2TxStatus`)."""

    id: str
    user_id: str
    token_id: str
    type: V2TxType
    status: V2TxStatus
    deal_id: int | None
    payload: dict[str, Any]
    """The request's terms (quantity, prices, ...), as JSON."""
    tx_hash: str | None
    unsigned_cbor: bytes | None = field(repr=False)
    signed_cbor: bytes | None = field(repr=False)
    failure_reason: str | None
    attempts: int
    """How many times a worker claimed it."""
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    """When it became completed or failed."""


class V2TransactionRepo:
    """Custodial transactions (`v2_transactions`) and the worker's leases on them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        user_id: str,
        token_id: str,
        type: V2TxType,
        payload: dict[str, Any],
        now: datetime,
        deal_id: int | None = None,
        tx_id: str | None = None,
    ) -> V2Transaction:
        """A pending transaction for the worker to build (a fresh 24-hex id unless given)."""
        now = check_aware("now", now)
        key = (
            new_object_id(now.timestamp())
            if tx_id is None
            else require_object_id("transaction", tx_id)
        )
        if not isinstance(payload, dict):
            raise StoreError(f"transaction {key}: payload must be a JSON object")
        row = CustodialTransactionRow(
            id=key,
            user_id=require_object_id("user", user_id),
            token_id=require_object_id("token", token_id),
            type=V2TxType(type).value,
            status=V2TxStatus.PENDING.value,
            deal_id=deal_id,
            payload=payload,
            tx_hash=None,
            unsigned_cbor=None,
            signed_cbor=None,
            failure_reason=None,
            attempts=0,
            claimed_by=None,
            claimed_until=None,
            created_at=now,
            updated_at=now,
            submitted_at=None,
            finished_at=None,
        )
        add_row(
            self._session,
            row,
            f"transaction {key} cannot be stored: the id is taken, or the user, token or deal "
            "does not exist",
        )
        return _transaction(row)

    def get(self, tx_id: str) -> V2Transaction | None:
        row = self._row(tx_id)
        return None if row is None else _transaction(row)

    def list_by_user(
        self, user_id: str, *, offset: int = 0, limit: int = 50
    ) -> list[V2Transaction]:
        """The user's transactions, newest first."""
        column = CustodialTransactionRow.user_id
        return self._list(column == (parse_object_id(user_id) or ""), offset, limit)

    def list_by_token(
        self, token_id: str, *, offset: int = 0, limit: int = 50
    ) -> list[V2Transaction]:
        """Transactions about `token_id`, newest first."""
        column = CustodialTransactionRow.token_id
        return self._list(column == (parse_object_id(token_id) or ""), offset, limit)

    def claim_next(
        self,
        worker_id: str,
        *,
        lease_seconds: int,
        now: datetime,
        statuses: Sequence[V2TxStatus] = WORKABLE,
    ) -> V2Transaction | None:
        """Lease the oldest transaction in `statuses` that nobody holds (no lease, or an
        expired one) to `worker_id` until `now + lease_seconds`, counting the attempt.

        None when there is nothing to do. Concurrent workers never get the same transaction.
        """
        now = check_aware("now", now)
        worker = _require_worker(worker_id)
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int):
            raise StoreError(f"lease must be a whole number of seconds, got {lease_seconds!r}")
        if lease_seconds <= 0:
            raise StoreError(f"lease must be positive, got {lease_seconds}")
        wanted = [V2TxStatus(s).value for s in statuses]
        if any(V2TxStatus(s).is_final for s in wanted):
            raise StoreError("completed and failed transactions are never claimed")
        free = (CustodialTransactionRow.claimed_until.is_(None)) | (
            CustodialTransactionRow.claimed_until <= now
        )
        candidate = (
            select(CustodialTransactionRow.id)
            .where(CustodialTransactionRow.status.in_(wanted), free)
            .order_by(CustodialTransactionRow.created_at, CustodialTransactionRow.id)
            .limit(1)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        row = update_returning(
            self._session,
            CustodialTransactionRow,
            CustodialTransactionRow.id == candidate.scalar_subquery(),
            CustodialTransactionRow.status.in_(wanted),
            free,
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=CustodialTransactionRow.attempts + 1,
            updated_at=now,
        )
        return None if row is None else _transaction(row)

    def renew_lease(
        self, tx_id: str, worker_id: str, *, lease_seconds: int, now: datetime
    ) -> V2Transaction:
        """Extend `worker_id`'s lease (long steps); LeaseLostError if another worker took it."""
        now = check_aware("now", now)
        return self._leased_update(
            tx_id,
            worker_id,
            claimed_until=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )

    def release(
        self, tx_id: str, worker_id: str, *, now: datetime, retry_after_seconds: int = 0
    ) -> V2Transaction:
        """Give the transaction back, claimable again after `retry_after_seconds` (a backoff
        after a transient error). LeaseLostError if another worker holds it."""
        now = check_aware("now", now)
        return self._leased_update(
            tx_id,
            worker_id,
            claimed_until=now + timedelta(seconds=max(0, retry_after_seconds)),
            updated_at=now,
        )

    def store_signed(
        self,
        tx_id: str,
        worker_id: str,
        *,
        unsigned_cbor: bytes,
        signed_cbor: bytes,
        tx_hash: str,
        now: datetime,
    ) -> V2Transaction:
        """Keep the signed bytes before they are submitted: from here on a worker resubmits
        these, never builds another transaction. Storing the same bytes again is a no-op;
        other bytes are refused (IllegalTransitionError), as is a transaction not pending."""
        now = check_aware("now", now)
        key = require_object_id("transaction", tx_id)
        worker = _require_worker(worker_id)
        tx_hash = require_tx_hash(tx_hash)
        if not unsigned_cbor or not signed_cbor:
            raise StoreError(f"transaction {key}: the transaction bytes must not be empty")
        row = update_returning(
            self._session,
            CustodialTransactionRow,
            CustodialTransactionRow.id == key,
            CustodialTransactionRow.status == V2TxStatus.PENDING.value,
            CustodialTransactionRow.signed_cbor.is_(None),
            CustodialTransactionRow.claimed_by == worker,
            unsigned_cbor=bytes(unsigned_cbor),
            signed_cbor=bytes(signed_cbor),
            tx_hash=tx_hash,
            updated_at=now,
        )
        if row is not None:
            return _transaction(row)
        current = self._require(key)
        if current.signed_cbor is not None:
            if current.signed_cbor == signed_cbor and current.tx_hash == tx_hash:
                return current
            raise IllegalTransitionError(
                f"transaction {key} already has signed bytes ({current.tx_hash}): resubmit them, "
                "never build a second transaction"
            )
        if current.status is not V2TxStatus.PENDING:
            raise IllegalTransitionError(f"transaction {key} is {current.status}, not pending")
        raise LeaseLostError(f"transaction {key} is held by {current.claimed_by}, not {worker}")

    def transition(
        self,
        tx_id: str,
        to: V2TxStatus,
        *,
        now: datetime,
        worker_id: str | None = None,
        failure_reason: str | None = None,
    ) -> V2Transaction:
        """Move along the state machine (`TX_TRANSITIONS`); already being in `to`
        is a no-op, so a worker repeating a step after a crash is harmless.

        IllegalTransitionError for a forbidden move (or one raced by another writer), submitted
        without stored signed bytes, or failed without a reason; LeaseLostError when
        `worker_id` no longer holds the lease. A final state drops the lease.
        """
        now = check_aware("now", now)
        to = V2TxStatus(to)
        key = require_object_id("transaction", tx_id)
        worker = None if worker_id is None else _require_worker(worker_id)
        current = self._require(key)
        if current.status is to:
            return current
        if to not in TX_TRANSITIONS[current.status]:
            raise IllegalTransitionError(
                f"transaction {key} cannot move from {current.status} to {to}"
            )
        if to is V2TxStatus.SUBMITTED and current.signed_cbor is None:
            raise IllegalTransitionError(f"transaction {key} has no stored signed bytes to submit")
        if to is V2TxStatus.FAILED and not failure_reason:
            raise IllegalTransitionError(f"transaction {key}: a failure needs a reason")
        values: dict[str, Any] = {"status": to.value, "updated_at": now}
        if to is V2TxStatus.SUBMITTED:
            values["submitted_at"] = now
        if to is V2TxStatus.FAILED:
            values["failure_reason"] = failure_reason
        if to.is_final:
            values.update(finished_at=now, claimed_by=None, claimed_until=None)
        conditions = [
            CustodialTransactionRow.id == key,
            CustodialTransactionRow.status == current.status.value,
        ]
        if worker is not None:
            conditions.append(CustodialTransactionRow.claimed_by == worker)
        row = update_returning(self._session, CustodialTransactionRow, *conditions, **values)
        if row is not None:
            return _transaction(row)
        latest = self._require(key)
        if worker is not None and latest.claimed_by != worker:
            raise LeaseLostError(f"transaction {key} is held by {latest.claimed_by}, not {worker}")
        raise IllegalTransitionError(
            f"transaction {key} moved from {current.status} to {latest.status} meanwhile"
        )

    # -- internals --

    def _row(self, tx_id: str) -> CustodialTransactionRow | None:
        key = parse_object_id(tx_id)
        if key is None:
            return None
        stmt = select(CustodialTransactionRow).where(CustodialTransactionRow.id == key)
        return self._session.scalars(fresh(stmt)).first()

    def _require(self, key: str) -> V2Transaction:
        row = self._row(key)
        if row is None:
            raise UnknownRecordError(f"transaction {key} not found")
        return _transaction(row)

    def _list(self, condition: Any, offset: int, limit: int) -> list[V2Transaction]:
        stmt = select(CustodialTransactionRow).where(condition)
        stmt = stmt.order_by(
            CustodialTransactionRow.created_at.desc(), CustodialTransactionRow.id.desc()
        )
        return [
            _transaction(row) for row in self._session.scalars(fresh(page(stmt, offset, limit)))
        ]

    def _leased_update(self, tx_id: str, worker_id: str, **values: Any) -> V2Transaction:
        key = require_object_id("transaction", tx_id)
        worker = _require_worker(worker_id)
        row = update_returning(
            self._session,
            CustodialTransactionRow,
            CustodialTransactionRow.id == key,
            CustodialTransactionRow.claimed_by == worker,
            **values,
        )
        if row is not None:
            return _transaction(row)
        latest = self._require(key)
        raise LeaseLostError(f"transaction {key} is held by {latest.claimed_by}, not {worker}")


def _transaction(row: CustodialTransactionRow) -> V2Transaction:
    return V2Transaction(
        id=row.id,
        user_id=row.user_id,
        token_id=row.token_id,
        type=V2TxType(row.type),
        status=V2TxStatus(row.status),
        deal_id=row.deal_id,
        payload=dict(row.payload),
        tx_hash=row.tx_hash,
        unsigned_cbor=None if row.unsigned_cbor is None else bytes(row.unsigned_cbor),
        signed_cbor=None if row.signed_cbor is None else bytes(row.signed_cbor),
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submitted_at=row.submitted_at,
        finished_at=row.finished_at,
    )


def _require_worker(worker_id: str) -> str:
    if not isinstance(worker_id, str) or not 0 < len(worker_id) <= WORKER_ID_CHARS:
        raise StoreError(f"worker id must be 1..{WORKER_ID_CHARS} characters")
    return worker_id
