"""The v2 (custodial API) tables, on the same metadata as `models.py` (revision 0002 mirrors them).

Users, tokens, custodial wallets, deals, v2 transactions, the audit log and idempotency keys.
Conventions as in `models.py`: bytes as lowercase hex text, amounts and quantities as `ExactInt`,
times as `UtcDateTime`. Signing keys are stored only sealed (`security.keystore`).
`v2_repos.py` is the only code that reads or writes these classes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from .columns import ExactInt, UtcDateTime
from .models import ADDRESS_HEX, ENUM_TEXT, NAME_HEX, POLICY_HEX, TX_ID_HEX, Base
from .v2_records import AuditAction, DealStatus, TokenKind, UserRole, V2TxStatus, V2TxType

OBJECT_ID_HEX = 24
SYMBOL_CHARS = 32
MAX_DECIMALS = 38
IDEMPOTENCY_KEY_CHARS = 255
WORKER_ID_CHARS = 64
KEY_ID_HEX = 8


def _one_of(column: str, values: type[Any]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class V2UserRow(Base):
    __tablename__ = "v2_users"

    id: Mapped[str] = mapped_column(String(OBJECT_ID_HEX), primary_key=True)
    role: Mapped[str] = mapped_column(String(ENUM_TEXT))
    kyc_verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint(_one_of("role", UserRole), name="role"),)


class V2TokenRow(Base):
    __tablename__ = "v2_tokens"

    id: Mapped[str] = mapped_column(String(OBJECT_ID_HEX), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_CHARS))
    decimals: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(ENUM_TEXT))
    sale_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("marketplace_sales.id", ondelete="RESTRICT")
    )
    min_purchase_quantity: Mapped[int] = mapped_column(ExactInt)
    max_purchase_quantity: Mapped[int | None] = mapped_column(ExactInt)
    kyc_required: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("policy_id", "asset_name"),
        Index(None, "sale_id"),
        CheckConstraint(_one_of("kind", TokenKind), name="kind"),
        CheckConstraint(f"decimals >= 0 AND decimals <= {MAX_DECIMALS}", name="decimals"),
        CheckConstraint(
            f"sale_id IS NULL OR kind = '{TokenKind.PRIMARY_OFFERING.value}'", name="sale_kind"
        ),
        CheckConstraint(
            "max_purchase_quantity IS NULL OR max_purchase_quantity >= min_purchase_quantity",
            name="purchase_limits",
        ),
    )


class V2CustodialWalletRow(Base):
    __tablename__ = "v2_custodial_wallets"

    user_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_users.id", ondelete="RESTRICT"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(ADDRESS_HEX))
    encrypted_signing_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(KEY_ID_HEX))
    """Which key-encryption key sealed it, so a rotation can find the rows still to re-seal."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("address"), Index(None, "key_id"))


class V2DealRow(Base):
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
        CheckConstraint(_one_of("status", DealStatus), name="status"),
        CheckConstraint("remaining <= quantity", name="remaining"),
        CheckConstraint(
            "(escrow_tx_hash IS NULL AND escrow_output_index IS NULL)"
            " OR (escrow_tx_hash IS NOT NULL AND escrow_output_index IS NOT NULL)",
            name="escrow",
        ),
    )


class V2TransactionRow(Base):
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
        CheckConstraint(_one_of("status", V2TxStatus), name="status"),
        CheckConstraint(_one_of("type", V2TxType), name="type"),
        CheckConstraint(
            "status NOT IN ('submitted', 'confirmed', 'completed') OR signed_cbor IS NOT NULL",
            name="signed_before_submit",
        ),
    )


class V2AuditLogRow(Base):
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
        CheckConstraint(_one_of("action", AuditAction), name="action"),
    )


class V2IdempotencyKeyRow(Base):
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
