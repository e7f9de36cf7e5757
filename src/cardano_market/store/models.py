"""The database tables, as SQLAlchemy 2 typed ORM classes (the Alembic revisions mirror them).

Table and column names follow the deployed server's (`marketplace_sales`, `bundle_policy_id`, ...)
so an operator who knows one schema can read the other. Bytes (policy ids, asset names, addresses)
are stored as lowercase hex text; amounts and quantities as `ExactInt`; times as `UtcDateTime`.
A cost policy of NULL (with a NULL asset name) means USD; ADA is the empty policy and name.
Repositories (`repos.py`) are the only code that reads or writes these classes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..domain.sale import SaleStatus
from .columns import ExactInt, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can name what they alter on both databases."""

POLICY_HEX = 56
NAME_HEX = 64
ADDRESS_HEX = 256
TX_ID_HEX = 64
ENUM_TEXT = 16

TX_STATUSES = ("issued", "submitted", "confirmed", "failed")
"""`records.TxStatus` values, repeated here so the CHECK constraint does not import records."""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_COST_IS_ASSET_OR_USD = (
    "(cost_policy_id IS NULL AND cost_asset_name IS NULL)"
    " OR (cost_policy_id IS NOT NULL AND cost_asset_name IS NOT NULL)"
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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
        CheckConstraint(_one_of("status", tuple(s.value for s in SaleStatus)), name="status"),
        CheckConstraint(_COST_IS_ASSET_OR_USD, name="cost_asset"),
    )


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
        CheckConstraint(_COST_IS_ASSET_OR_USD, name="cost_asset"),
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
        CheckConstraint(_COST_IS_ASSET_OR_USD, name="cost_asset"),
    )


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
        CheckConstraint(_one_of("status", TX_STATUSES), name="status"),
    )


from . import order_models as _order_models  # noqa: E402, F401  (the monitor tables join it)
from . import v2_models as _v2_models  # noqa: E402, F401  (the v2 tables join this metadata)
