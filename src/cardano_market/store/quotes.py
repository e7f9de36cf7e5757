"""Quotes: the order amounts the service priced for a buyer (`marketplace_pending_orders`).

A quote ("pending order" in the v1 API) holds everything the order transaction needs, priced
once, and is single-use: it is claimed with one conditional UPDATE ... RETURNING, so two requests
racing for it cannot both win, on PostgreSQL (the row lock makes the loser re-check the
condition) or SQLite (writes are serialised). Commit promptly after a claim: until then the row
stays locked (PostgreSQL) or the database write-locked (SQLite).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    Uuid,
    insert,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError
from ..domain.pricing import OrderAmount
from ..domain.values import Value
from ._sql import (
    asset,
    asset_columns,
    claim_single_use,
    optional_asset,
    purge_expired,
    require_uuid,
    single_use_row,
    ttl,
)
from .columns import ExactInt, UtcDateTime, check_aware, check_exact_int
from .schema import ADDRESS_HEX, COST_IS_ASSET_OR_USD, NAME_HEX, POLICY_HEX, Base


class PendingOrderRow(Base):
    """An order amount handed to a buyer: everything the order transaction needs, single-use."""

    __tablename__ = "marketplace_pending_orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("marketplace_sales.id", ondelete="RESTRICT")
    )
    bundle_quantity: Mapped[int] = mapped_column(ExactInt)
    incentive_amount: Mapped[int] = mapped_column(ExactInt)
    currency_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    currency_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    cost_policy_id: Mapped[str | None] = mapped_column(String(POLICY_HEX))
    cost_asset_name: Mapped[str | None] = mapped_column(String(NAME_HEX))
    currency_amount: Mapped[int] = mapped_column(ExactInt)
    service_fee_amount: Mapped[int] = mapped_column(ExactInt)
    service_fee_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    service_fee_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    order_amount: Mapped[int] = mapped_column(ExactInt)
    """`costAmount * bundleQuantity` (PROTOCOL 3, step 3), in the cost's units."""
    service_fee_total: Mapped[int] = mapped_column(ExactInt)
    """`svc` before conversion to the currency (step 3)."""
    subtotal_usd: Mapped[int] = mapped_column(ExactInt)
    """`sub` (step 4), USD x 10^12."""
    price_adjustment_usd: Mapped[int] = mapped_column(ExactInt)
    """`extra` (step 5), USD x 10^12."""
    amount_cbor_hex: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner_address: Mapped[str | None] = mapped_column(String(ADDRESS_HEX))
    """The wallet the order transaction was built for (its change address, hex), once used."""

    __table_args__ = (
        Index(None, "sale_id"),
        Index(None, "expires_at"),
        Index(None, "owner_address"),
        CheckConstraint(COST_IS_ASSET_OR_USD, name="cost_asset"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOrder:
    """An order amount issued to a buyer, priced once: the transaction uses exactly these terms."""

    id: str
    sale_id: str
    amount: OrderAmount
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


_PENDING_ORDER_INSERT = insert(cast(Table, PendingOrderRow.__table__))


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
        key = uuid.uuid4() if order_id is None else require_uuid("order id", order_id)
        sale_key = require_uuid("sale id", sale_id)
        expires_at = now + ttl(ttl_seconds)
        cost_policy, cost_name = asset_columns(amount.cost)
        values: dict[str, Any] = {
            "id": key,
            "sale_id": sale_key,
            "bundle_quantity": check_exact_int("bundle quantity", amount.bundle_quantity),
            "incentive_amount": check_exact_int("incentive amount", amount.incentive_amount),
            "currency_policy_id": amount.currency[0].hex(),
            "currency_asset_name": amount.currency[1].hex(),
            "cost_policy_id": cost_policy,
            "cost_asset_name": cost_name,
            "currency_amount": check_exact_int("currency amount", amount.currency_amount),
            "service_fee_amount": check_exact_int("service fee", amount.service_fee),
            "service_fee_policy_id": amount.service_fee_asset[0].hex(),
            "service_fee_asset_name": amount.service_fee_asset[1].hex(),
            "order_amount": check_exact_int("order amount", amount.order),
            "service_fee_total": check_exact_int("service fee total", amount.svc),
            "subtotal_usd": check_exact_int("subtotal", amount.sub),
            "price_adjustment_usd": check_exact_int("price adjustment", amount.extra),
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
        row = single_use_row(self._session, PendingOrderRow, order_id)
        return None if row is None else _pending_order(row)

    def claim_order(self, order_id: str | uuid.UUID, now: datetime) -> PendingOrder:
        """Mark the order used at `now` and return it, atomically: of any number of concurrent
        claims exactly one succeeds (once committed).

        Raises UnknownPendingError (no such id, or not a UUID), UsedPendingError (claimed before)
        or ExpiredPendingError (`now` is at or past its expiry).
        """
        row = claim_single_use(self._session, PendingOrderRow, "order", order_id, now)
        return _pending_order(row)

    def set_owner(self, order_id: str | uuid.UUID, owner_address: bytes) -> None:
        """Record the wallet a used order's transaction was built for (its change address)."""
        key = require_uuid("order id", order_id)
        self._session.execute(
            update(PendingOrderRow)
            .where(PendingOrderRow.id == key)
            .values(owner_address=owner_address.hex())
            .execution_options(synchronize_session=False)
        )

    def purge(self, expired_before: datetime, *, unused_only: bool = False) -> int:
        """Delete orders that expired before `expired_before` (used or not, or with
        `unused_only` those never claimed); returns how many."""
        return purge_expired(
            self._session, PendingOrderRow, expired_before, unused_only=unused_only
        )


def _pending_order(row: PendingOrderRow) -> PendingOrder:
    amount = OrderAmount(
        bundle_quantity=row.bundle_quantity,
        incentive_amount=row.incentive_amount,
        currency=asset(row.currency_policy_id, row.currency_asset_name),
        cost=optional_asset(row.cost_policy_id, row.cost_asset_name),
        currency_amount=row.currency_amount,
        service_fee=row.service_fee_amount,
        service_fee_asset=asset(row.service_fee_policy_id, row.service_fee_asset_name),
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
