"""The audit log (`v2_audit_log`): append-only, every listing, delisting and trade, with who
did it and what moved. Record and repository."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError
from ._sql import fresh, page, require_tx_hash
from .columns import ExactInt, UtcDateTime, check_aware, check_exact_int
from .schema import OBJECT_ID_HEX, TX_ID_HEX, WORKER_ID_CHARS, Base, one_of


class AuditAction(enum.StrEnum):
    LIST = "list"
    DELIST = "delist"
    TRADE = "trade"
    PRIMARY_PURCHASE = "primary_purchase"


class AuditLogRow(Base):
    """Append-only: every listing, delisting and trade, with who did it and what moved."""

    __tablename__ = "v2_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(WORKER_ID_CHARS))
    action: Mapped[str] = mapped_column(String(32))
    deal_id: Mapped[int | None] = mapped_column(Integer)
    token_id: Mapped[str | None] = mapped_column(String(OBJECT_ID_HEX))
    quantity: Mapped[int | None] = mapped_column(ExactInt)
    price_token_id: Mapped[str | None] = mapped_column(String(OBJECT_ID_HEX))
    amount: Mapped[int | None] = mapped_column(ExactInt)
    transaction_id: Mapped[str | None] = mapped_column(String(OBJECT_ID_HEX))
    tx_hash: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index(None, "deal_id"),
        Index(None, "actor", "at"),
        CheckConstraint(one_of("action", (a.value for a in AuditAction)), name="action"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    """Who: a user id, or a worker/system name."""
    action: AuditAction
    deal_id: int | None
    token_id: str | None
    quantity: int | None
    price_token_id: str | None
    amount: int | None
    """Total value moved, in base units of the price token."""
    transaction_id: str | None
    tx_hash: str | None
    details: dict[str, Any] | None


class AuditLogRepo:
    """The audit log (`v2_audit_log`): append and read, never change."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        *,
        actor: str,
        action: AuditAction,
        now: datetime,
        deal_id: int | None = None,
        token_id: str | None = None,
        quantity: int | None = None,
        price_token_id: str | None = None,
        amount: int | None = None,
        transaction_id: str | None = None,
        tx_hash: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        now = check_aware("now", now)
        if not isinstance(actor, str) or not 0 < len(actor) <= WORKER_ID_CHARS:
            raise StoreError(f"audit actor must be 1..{WORKER_ID_CHARS} characters")
        for field, value in (("quantity", quantity), ("amount", amount)):
            if value is not None:
                check_exact_int(f"audit {field}", value)
        row = AuditLogRow(
            at=now,
            actor=actor,
            action=AuditAction(action).value,
            deal_id=deal_id,
            token_id=token_id,
            quantity=quantity,
            price_token_id=price_token_id,
            amount=amount,
            transaction_id=transaction_id,
            tx_hash=None if tx_hash is None else require_tx_hash(tx_hash),
            details=details,
        )
        self._session.add(row)
        self._session.flush()
        return _audit(row)

    def list(
        self,
        *,
        deal_id: int | None = None,
        actor: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries oldest first, optionally only one deal's or one actor's."""
        stmt = select(AuditLogRow)
        if deal_id is not None:
            stmt = stmt.where(AuditLogRow.deal_id == deal_id)
        if actor is not None:
            stmt = stmt.where(AuditLogRow.actor == actor)
        stmt = page(stmt.order_by(AuditLogRow.id), offset, limit)
        return [_audit(row) for row in self._session.scalars(fresh(stmt))]


def _audit(row: AuditLogRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=AuditAction(row.action),
        deal_id=row.deal_id,
        token_id=row.token_id,
        quantity=row.quantity,
        price_token_id=row.price_token_id,
        amount=row.amount,
        transaction_id=row.transaction_id,
        tx_hash=row.tx_hash,
        details=row.details,
    )
