"""Deals (`v2_deals`): sell orders on the secondary market, with integer ids, their states,
record and repository.

Everything that can race is one conditional statement, so it stays right with any number of
service replicas and workers: `DealRepo.reserve` takes quantity from a deal only while enough
remains (PostgreSQL: `UPDATE ... SET remaining = remaining - :q WHERE remaining >= :q`; SQLite,
whose `ExactInt` is text, so no SQL arithmetic: compare-and-set on the deal's version; its
writes are serialised, so the loser re-reads and retries); state changes name the states they
leave. Commit promptly: until then the row (PostgreSQL) or the database (SQLite) stays
write-locked.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError, UnknownRecordError
from ._sql import add_row, fresh, page, require_tx_hash, update_returning
from .columns import ExactInt, UtcDateTime, check_aware, check_exact_int
from .errors import DealUnavailableError, IllegalTransitionError, InsufficientQuantityError
from .ids import parse_object_id, require_object_id
from .schema import ENUM_TEXT, OBJECT_ID_HEX, TX_ID_HEX, Base, one_of


class DealStatus(enum.StrEnum):
    """pending (escrow transaction not yet on chain) -> active -> completed | cancelled."""

    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


DEAL_TRANSITIONS: dict[DealStatus, frozenset[DealStatus]] = {
    DealStatus.PENDING: frozenset({DealStatus.ACTIVE, DealStatus.CANCELLED}),
    DealStatus.ACTIVE: frozenset({DealStatus.COMPLETED, DealStatus.CANCELLED}),
    DealStatus.COMPLETED: frozenset(),
    DealStatus.CANCELLED: frozenset(),
}


# -- table -------------------------------------------------------------------------------------


class DealRow(Base):
    __tablename__ = "v2_deals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_users.id", ondelete="RESTRICT")
    )
    token_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_tokens.id", ondelete="RESTRICT")
    )
    quantity: Mapped[int] = mapped_column(ExactInt)
    remaining: Mapped[int] = mapped_column(ExactInt)
    price_token_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_tokens.id", ondelete="RESTRICT")
    )
    unit_price: Mapped[int] = mapped_column(ExactInt)
    """Base units of the price token per token."""
    status: Mapped[str] = mapped_column(String(ENUM_TEXT))
    escrow_tx_hash: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    escrow_output_index: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(None, "seller_id"),
        Index(None, "token_id", "status"),
        CheckConstraint(one_of("status", (s.value for s in DealStatus)), name="status"),
        CheckConstraint("remaining <= quantity", name="remaining"),
        CheckConstraint(
            "(escrow_tx_hash IS NULL AND escrow_output_index IS NULL)"
            " OR (escrow_tx_hash IS NOT NULL AND escrow_output_index IS NOT NULL)",
            name="escrow",
        ),
    )


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowRef:
    """The output holding a deal's tokens on chain."""

    tx_hash: str
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deal:
    """A sell order on the secondary market: `remaining` of `quantity` still for sale at
    `unit_price` base units of the price token each."""

    id: int
    seller_id: str
    token_id: str
    quantity: int
    remaining: int
    price_token_id: str
    unit_price: int
    status: DealStatus
    escrow: EscrowRef | None
    version: int
    """Bumped by every change: a caller holding an older version can tell it is stale."""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    """When it was completed or cancelled (delisted)."""


# -- repository --------------------------------------------------------------------------------


class DealRepo:
    """Deals (`v2_deals`): sell orders on the secondary market, with integer ids."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        seller_id: str,
        token_id: str,
        quantity: int,
        price_token_id: str,
        unit_price: int,
        now: datetime,
    ) -> Deal:
        """A pending deal (its escrow transaction is not on chain yet), all of it remaining."""
        now = check_aware("now", now)
        check_exact_int("deal quantity", quantity)
        check_exact_int("unit price", unit_price)
        if quantity < 1:
            raise StoreError(f"deal quantity must be at least 1, got {quantity}")
        row = DealRow(
            seller_id=require_object_id("seller", seller_id),
            token_id=require_object_id("token", token_id),
            quantity=quantity,
            remaining=quantity,
            price_token_id=require_object_id("price token", price_token_id),
            unit_price=unit_price,
            status=DealStatus.PENDING.value,
            escrow_tx_hash=None,
            escrow_output_index=None,
            version=1,
            created_at=now,
            updated_at=now,
            closed_at=None,
        )
        add_row(self._session, row, "deal cannot be stored: unknown seller, token or price token")
        return _deal(row)

    def get(self, deal_id: int) -> Deal | None:
        if isinstance(deal_id, bool) or not isinstance(deal_id, int):
            return None
        stmt = select(DealRow).where(DealRow.id == deal_id)
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _deal(row)

    def list_by_seller(
        self,
        seller_id: str,
        *,
        statuses: Iterable[DealStatus] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Deal]:
        """The seller's deals, newest first."""
        stmt = select(DealRow).where(DealRow.seller_id == (parse_object_id(seller_id) or ""))
        return self._list(stmt, statuses, offset, limit)

    def list_by_token(
        self,
        token_id: str,
        *,
        statuses: Iterable[DealStatus] | None = (DealStatus.ACTIVE,),
        offset: int = 0,
        limit: int = 100,
    ) -> list[Deal]:
        """Deals selling `token_id` (by default the active ones), newest first."""
        stmt = select(DealRow).where(DealRow.token_id == (parse_object_id(token_id) or ""))
        return self._list(stmt, statuses, offset, limit)

    def activate(self, deal_id: int, *, escrow: EscrowRef, now: datetime) -> Deal:
        """pending -> active, once the escrow output is on chain."""
        return self._move(
            deal_id,
            DealStatus.ACTIVE,
            now,
            escrow_tx_hash=require_tx_hash(escrow.tx_hash),
            escrow_output_index=_require_index(escrow.index),
        )

    def move_escrow(self, deal_id: int, *, escrow: EscrowRef, now: datetime) -> Deal:
        """Record the output now holding an active deal's tokens (after a partial fill)."""
        return self._change(
            deal_id,
            now,
            (DealStatus.ACTIVE,),
            escrow_tx_hash=require_tx_hash(escrow.tx_hash),
            escrow_output_index=_require_index(escrow.index),
        )

    def cancel(self, deal_id: int, *, now: datetime, expected_version: int | None = None) -> Deal:
        """pending|active -> cancelled (delisted, or its escrow transaction failed).

        With `expected_version`, IllegalTransitionError if the deal changed since it was read.
        """
        return self._move(
            deal_id, DealStatus.CANCELLED, now, expected_version=expected_version, closed_at=now
        )

    def complete(self, deal_id: int, *, now: datetime) -> Deal:
        """active -> completed, when nothing remains (every purchase settled)."""
        deal = self._require(deal_id)
        if deal.remaining != 0:
            raise IllegalTransitionError(
                f"deal {deal_id} still has {deal.remaining} for sale: it cannot complete"
            )
        return self._move(
            deal_id, DealStatus.COMPLETED, now, expected_version=deal.version, closed_at=now
        )

    def reserve(self, deal_id: int, quantity: int, *, now: datetime) -> Deal:
        """Take `quantity` from an active deal's remaining, atomically: concurrent reservations
        never sum to more than the deal had. DealUnavailableError if it is not active,
        InsufficientQuantityError if less than `quantity` remains, UnknownRecordError if absent.
        """
        now = check_aware("now", now)
        check_exact_int("quantity", quantity)
        if quantity < 1:
            raise StoreError(f"a reservation must be at least 1, got {quantity}")
        if self._session.get_bind().dialect.name == "postgresql":
            row = update_returning(
                self._session,
                DealRow,
                DealRow.id == deal_id,
                DealRow.status == DealStatus.ACTIVE.value,
                DealRow.remaining >= quantity,
                remaining=DealRow.remaining - quantity,
                version=DealRow.version + 1,
                updated_at=now,
            )
            if row is not None:
                return _deal(row)
            deal = self._require(deal_id)
            raise _unreservable(deal, quantity)
        while True:  # SQLite: compare-and-set; a lost race means another write won, so retry
            deal = self._require(deal_id)
            if deal.status is not DealStatus.ACTIVE or deal.remaining < quantity:
                raise _unreservable(deal, quantity)
            swapped = self._swap(deal, now, remaining=deal.remaining - quantity)
            if swapped is not None:
                return swapped

    def release(self, deal_id: int, quantity: int, *, now: datetime) -> Deal:
        """Give back a reservation whose purchase failed (the deal may have been cancelled
        meanwhile: the quantity still returns, so the record stays true)."""
        now = check_aware("now", now)
        check_exact_int("quantity", quantity)
        while True:
            deal = self._require(deal_id)
            if deal.remaining + quantity > deal.quantity:
                raise StoreError(
                    f"deal {deal_id}: releasing {quantity} would exceed its quantity "
                    f"({deal.remaining} of {deal.quantity} remain)"
                )
            swapped = self._swap(deal, now, remaining=deal.remaining + quantity)
            if swapped is not None:
                return swapped

    # -- internals --

    def _list(
        self,
        stmt: Any,
        statuses: Iterable[DealStatus] | None,
        offset: int,
        limit: int,
    ) -> list[Deal]:
        if statuses is not None:
            stmt = stmt.where(DealRow.status.in_([DealStatus(s).value for s in statuses]))
        stmt = page(stmt.order_by(DealRow.id.desc()), offset, limit)
        return [_deal(row) for row in self._session.scalars(fresh(stmt))]

    def _require(self, deal_id: int) -> Deal:
        deal = self.get(deal_id)
        if deal is None:
            raise UnknownRecordError(f"deal {deal_id} not found")
        return deal

    def _swap(self, deal: Deal, now: datetime, **values: Any) -> Deal | None:
        """Write `values` if the deal is still at `deal.version`; None if it moved on."""
        row = update_returning(
            self._session,
            DealRow,
            DealRow.id == deal.id,
            DealRow.version == deal.version,
            version=deal.version + 1,
            updated_at=now,
            **values,
        )
        return None if row is None else _deal(row)

    def _move(
        self,
        deal_id: int,
        to: DealStatus,
        now: datetime,
        *,
        expected_version: int | None = None,
        **values: Any,
    ) -> Deal:
        sources = tuple(s for s, targets in DEAL_TRANSITIONS.items() if to in targets)
        return self._change(
            deal_id, now, sources, expected_version=expected_version, status=to.value, **values
        )

    def _change(
        self,
        deal_id: int,
        now: datetime,
        sources: tuple[DealStatus, ...],
        *,
        expected_version: int | None = None,
        **values: Any,
    ) -> Deal:
        now = check_aware("now", now)
        conditions = [DealRow.id == deal_id, DealRow.status.in_([s.value for s in sources])]
        if expected_version is not None:
            conditions.append(DealRow.version == expected_version)
        row = update_returning(
            self._session,
            DealRow,
            *conditions,
            version=DealRow.version + 1,
            updated_at=now,
            **values,
        )
        if row is not None:
            return _deal(row)
        deal = self._require(deal_id)
        if deal.status not in sources:
            target = values.get("status", "changed")
            raise IllegalTransitionError(f"deal {deal_id} is {deal.status}: it cannot be {target}")
        raise IllegalTransitionError(
            f"deal {deal_id} changed since it was read (version {deal.version}, "
            f"expected {expected_version})"
        )


# -- helpers ------------------------------------------------------------------------------------


def _deal(row: DealRow) -> Deal:
    escrow = None
    if row.escrow_tx_hash is not None and row.escrow_output_index is not None:
        escrow = EscrowRef(tx_hash=row.escrow_tx_hash, index=row.escrow_output_index)
    return Deal(
        id=row.id,
        seller_id=row.seller_id,
        token_id=row.token_id,
        quantity=row.quantity,
        remaining=row.remaining,
        price_token_id=row.price_token_id,
        unit_price=row.unit_price,
        status=DealStatus(row.status),
        escrow=escrow,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
    )


def _unreservable(deal: Deal, quantity: int) -> StoreError:
    if deal.status is not DealStatus.ACTIVE:
        return DealUnavailableError(f"deal {deal.id} is {deal.status}, not active")
    return InsufficientQuantityError(
        f"deal {deal.id} has {deal.remaining} left, {quantity} asked",
        requested=quantity,
        remaining=deal.remaining,
    )


def _require_index(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise StoreError(f"output index {value!r} is not a non-negative integer")
    return value
