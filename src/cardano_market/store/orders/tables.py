"""The order tables (`marketplace_orders`, `marketplace_purchases`) and the states an order
goes through; `queue.py` is the only code that writes them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..columns import ExactInt, UtcDateTime
from ..schema import ADDRESS_HEX, ENUM_TEXT, NAME_HEX, POLICY_HEX, TX_ID_HEX, Base, one_of


class OrderState(enum.StrEnum):
    """Where an order stands. A fill state stays after the refund that delivers the bundles."""

    QUEUED = "queued"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    REFUNDED = "refunded"
    """Closed by a refund without any fill."""
    CANCELLED = "cancelled"
    """Closed by its owner without any fill."""


class CloseKind(enum.StrEnum):
    REFUND = "refund"
    CANCEL = "cancel"


class OrderRow(Base):
    __tablename__ = "marketplace_orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    origin_tx_hash: Mapped[str] = mapped_column(String(TX_ID_HEX))
    origin_output_index: Mapped[int] = mapped_column(Integer)
    utxo_tx_hash: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    utxo_output_index: Mapped[int | None] = mapped_column(Integer)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("marketplace_sales.id", ondelete="RESTRICT")
    )
    pointer_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    owner_address: Mapped[str] = mapped_column(String(ADDRESS_HEX))
    bundles_requested: Mapped[int] = mapped_column(ExactInt)
    bundles_filled: Mapped[int] = mapped_column(ExactInt)
    incentive_policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    incentive_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    incentive_amount: Mapped[int] = mapped_column(ExactInt)
    value_cbor: Mapped[str] = mapped_column(Text)
    """The value locked at the open UTxO (at the last one, once closed), CBOR hex."""
    datum_cbor: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(ENUM_TEXT))
    purchase_tx_id: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    refund_tx_id: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    cancel_tx_id: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    block_height: Mapped[int | None] = mapped_column(BigInteger)
    slot: Mapped[int | None] = mapped_column(BigInteger)
    closed_block_height: Mapped[int | None] = mapped_column(BigInteger)
    closed_slot: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    api_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The v1 API's `orderId` when this service issued the order transaction (revision 0005)."""
    locked_value_cbor: Mapped[str | None] = mapped_column(Text)
    """The value the order transaction locked at the queue (the origin UTxO's), CBOR hex."""
    refunded_value_cbor: Mapped[str | None] = mapped_column(Text)
    """What the refund or cancel gave the owner back, bundle tokens left out, CBOR hex."""

    __table_args__ = (
        UniqueConstraint("origin_tx_hash", "origin_output_index"),
        UniqueConstraint("utxo_tx_hash", "utxo_output_index"),
        Index(None, "sale_id"),
        Index(None, "pointer_asset_name"),
        Index(None, "owner_address"),
        Index(None, "state"),
        Index(None, "api_order_id"),
        CheckConstraint(one_of("state", (s.value for s in OrderState)), name="state"),
    )


class PurchaseRow(Base):
    __tablename__ = "marketplace_purchases"

    tx_id: Mapped[str] = mapped_column(String(TX_ID_HEX), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("marketplace_orders.id", ondelete="RESTRICT"), primary_key=True
    )
    sale_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("marketplace_sales.id", ondelete="RESTRICT")
    )
    pointer_asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    bundles: Mapped[int] = mapped_column(ExactInt)
    next_tx_hash: Mapped[str | None] = mapped_column(String(TX_ID_HEX))
    next_output_index: Mapped[int | None] = mapped_column(Integer)
    """The continuing queue UTxO the purchase left (the order's next UTxO)."""
    block_height: Mapped[int | None] = mapped_column(BigInteger)
    slot: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_value_cbor: Mapped[str | None] = mapped_column(Text)
    """What left the order in this purchase (cost, profit, incentive, fee), bundle tokens left
    out, CBOR hex (revision 0005)."""

    __table_args__ = (
        Index(None, "order_id"),
        Index(None, "sale_id"),
        Index(None, "next_tx_hash", "next_output_index"),
    )
