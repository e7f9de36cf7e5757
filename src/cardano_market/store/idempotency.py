"""`Idempotency-Key`s (`v2_idempotency_keys`): one answer per user and key, forever the same.
`IdempotencyRepo.begin` inserts the key or finds the first request's answer, in one statement.
Record and repository."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError, UnknownRecordError
from ._sql import dialect_insert, fresh, update_returning
from .columns import UtcDateTime, check_aware
from .errors import IdempotencyInProgressError, IdempotencyKeyReusedError, IllegalTransitionError
from .ids import require_object_id
from .schema import OBJECT_ID_HEX, Base

IDEMPOTENCY_KEY_CHARS = 255
_IDEMPOTENCY_KEY = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_CHARS}}}")


class IdempotencyKeyRow(Base):
    __tablename__ = "v2_idempotency_keys"

    user_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_users.id", ondelete="RESTRICT"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_CHARS), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of what the request asked: the same key with another request is refused."""
    response_status: Mapped[int | None] = mapped_column(Integer)
    """None while the first request is still running."""
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(OBJECT_ID_HEX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "created_at"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    """The response an `Idempotency-Key` first produced, to be returned again as it was."""

    status_code: int
    body: Any
    transaction_id: str | None
    created_at: datetime


class IdempotencyRepo:
    """`Idempotency-Key`s (`v2_idempotency_keys`): one answer per user and key, forever the same.

    A POST calls `begin`; None means "first time: do the work, then `store_response`" (in the
    same unit of work, so the key and its transaction commit together or not at all); a
    `StoredResponse` is the first request's answer, to send again unchanged.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        """What identifies a request for a key: SHA-256 of method, path and body."""
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.encode(), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def begin(
        self, user_id: str, key: str, *, request_hash: str, now: datetime
    ) -> StoredResponse | None:
        """Take `key` for this request, or find what it answered.

        IdempotencyKeyReusedError when the key was used for another request,
        IdempotencyInProgressError when the first request has not stored its answer yet.
        """
        now = check_aware("now", now)
        user = require_object_id("user", user_id)
        idem = _require_idempotency_key(key)
        stmt = (
            dialect_insert(self._session, IdempotencyKeyRow)
            .values(
                user_id=user,
                key=idem,
                request_hash=request_hash,
                response_status=None,
                response_body=None,
                transaction_id=None,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKeyRow.key)
        )
        try:
            inserted = self._session.execute(stmt).first()
        except IntegrityError as exc:
            raise UnknownRecordError(f"user {user} not found") from exc
        if inserted is not None:
            return None
        row = self._row(user, idem)
        if row is None:  # pragma: no cover - a key is never deleted inside its retention
            raise StoreError(f"idempotency key {idem!r} vanished")
        if row.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"idempotency key {idem!r} was already used for a different request"
            )
        if row.response_status is None:
            raise IdempotencyInProgressError(
                f"the request with idempotency key {idem!r} is running"
            )
        return _response(row)

    def store_response(
        self,
        user_id: str,
        key: str,
        *,
        status_code: int,
        body: Any,
        now: datetime,
        transaction_id: str | None = None,
    ) -> StoredResponse:
        """Record the answer of the request that `begin` let through (once)."""
        check_aware("now", now)
        user = require_object_id("user", user_id)
        idem = _require_idempotency_key(key)
        row = update_returning(
            self._session,
            IdempotencyKeyRow,
            IdempotencyKeyRow.user_id == user,
            IdempotencyKeyRow.key == idem,
            IdempotencyKeyRow.response_status.is_(None),
            response_status=status_code,
            response_body=body,
            transaction_id=transaction_id,
        )
        if row is None:
            raise IllegalTransitionError(
                f"idempotency key {idem!r} is unknown or already has its response"
            )
        return _response(row)

    def release(self, user_id: str, key: str) -> bool:
        """Free a key whose request was refused before it did anything (no answer stored);
        True when it was released."""
        user = require_object_id("user", user_id)
        idem = _require_idempotency_key(key)
        stmt = delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.user_id == user,
            IdempotencyKeyRow.key == idem,
            IdempotencyKeyRow.response_status.is_(None),
        )
        return bool(self._session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def purge(self, created_before: datetime) -> int:
        """Forget keys older than the retention; returns how many."""
        before = check_aware("created_before", created_before)
        result = self._session.execute(
            delete(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.created_at < before)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    def _row(self, user: str, key: str) -> IdempotencyKeyRow | None:
        stmt = select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.user_id == user, IdempotencyKeyRow.key == key
        )
        return self._session.scalars(fresh(stmt)).first()


def _response(row: IdempotencyKeyRow) -> StoredResponse:
    if row.response_status is None:  # pragma: no cover - callers check first
        raise StoreError(f"idempotency key {row.key!r} has no response yet")
    return StoredResponse(
        status_code=row.response_status,
        body=row.response_body,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
    )


def _require_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise StoreError(
            f"an Idempotency-Key must be 1..{IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )
    return key
