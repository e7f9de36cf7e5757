"""v2 custodial API: users, tokens, custodial wallets, deals, v2 transactions, audit log,
idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cardano_market.store.columns import ExactInt, UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """A 24-hex id (users, tokens, transactions)."""
    return sa.Column(name, sa.String(24), nullable=nullable)


def _amount(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, ExactInt(), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=op.f(f"fk_{table}_{column}_{target.split('.')[0]}"),
        ondelete="RESTRICT",
    )


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _indexes(table: str, *column_lists: list[str]) -> None:
    for columns in column_lists:
        op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, columns)


def upgrade() -> None:
    op.create_table(
        "v2_users",
        _id("id"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kyc_verified", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _check("v2_users", "role", "role IN ('user', 'admin')"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_v2_users")),
    )

    op.create_table(
        "v2_tokens",
        _id("id"),
        sa.Column("policy_id", sa.String(56), nullable=False),
        sa.Column("asset_name", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        _amount("min_purchase_quantity"),
        _amount("max_purchase_quantity", nullable=True),
        sa.Column("kyc_required", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _check("v2_tokens", "kind", "kind IN ('primary_offering', 'currency', 'other')"),
        _check("v2_tokens", "decimals", "decimals >= 0 AND decimals <= 38"),
        _check("v2_tokens", "sale_kind", "sale_id IS NULL OR kind = 'primary_offering'"),
        _check(
            "v2_tokens",
            "purchase_limits",
            "max_purchase_quantity IS NULL OR max_purchase_quantity >= min_purchase_quantity",
        ),
        _fk("v2_tokens", "sale_id", "marketplace_sales.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_v2_tokens")),
        sa.UniqueConstraint(
            "policy_id", "asset_name", name=op.f("uq_v2_tokens_policy_id_asset_name")
        ),
    )
    _indexes("v2_tokens", ["sale_id"])

    op.create_table(
        "v2_custodial_wallets",
        _id("user_id"),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("encrypted_signing_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _fk("v2_custodial_wallets", "user_id", "v2_users.id"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_v2_custodial_wallets")),
        sa.UniqueConstraint("address", name=op.f("uq_v2_custodial_wallets_address")),
    )
    _indexes("v2_custodial_wallets", ["key_id"])

    op.create_table(
        "v2_deals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("seller_id"),
        _id("token_id"),
        _amount("quantity"),
        _amount("remaining"),
        _id("price_token_id"),
        _amount("unit_price"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escrow_tx_hash", sa.String(64), nullable=True),
        sa.Column("escrow_output_index", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("closed_at", nullable=True),
        _check("v2_deals", "status", "status IN ('pending', 'active', 'completed', 'cancelled')"),
        _check("v2_deals", "remaining", "remaining <= quantity"),
        _check(
            "v2_deals",
            "escrow",
            "(escrow_tx_hash IS NULL AND escrow_output_index IS NULL)"
            " OR (escrow_tx_hash IS NOT NULL AND escrow_output_index IS NOT NULL)",
        ),
        _fk("v2_deals", "seller_id", "v2_users.id"),
        _fk("v2_deals", "token_id", "v2_tokens.id"),
        _fk("v2_deals", "price_token_id", "v2_tokens.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_v2_deals")),
    )
    _indexes("v2_deals", ["seller_id"], ["token_id", "status"])

    op.create_table(
        "v2_transactions",
        _id("id"),
        _id("user_id"),
        _id("token_id"),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("tx_hash", sa.String(64), nullable=True),
        sa.Column("unsigned_cbor", sa.LargeBinary(), nullable=True),
        sa.Column("signed_cbor", sa.LargeBinary(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        _time("claimed_until", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("submitted_at", nullable=True),
        _time("finished_at", nullable=True),
        _check(
            "v2_transactions",
            "status",
            "status IN ('pending', 'submitted', 'confirmed', 'completed', 'failed')",
        ),
        _check(
            "v2_transactions",
            "type",
            "type IN ('primary_purchase', 'secondary_purchase', 'sell', 'delist')",
        ),
        _check(
            "v2_transactions",
            "signed_before_submit",
            "status NOT IN ('submitted', 'confirmed', 'completed') OR signed_cbor IS NOT NULL",
        ),
        _fk("v2_transactions", "user_id", "v2_users.id"),
        _fk("v2_transactions", "token_id", "v2_tokens.id"),
        _fk("v2_transactions", "deal_id", "v2_deals.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_v2_transactions")),
    )
    _indexes(
        "v2_transactions",
        ["deal_id"],
        ["status", "created_at"],
        ["token_id", "created_at"],
        ["tx_hash"],
        ["user_id", "created_at"],
    )

    op.create_table(
        "v2_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        _id("token_id", nullable=True),
        _amount("quantity", nullable=True),
        _id("price_token_id", nullable=True),
        _amount("amount", nullable=True),
        _id("transaction_id", nullable=True),
        sa.Column("tx_hash", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        _check(
            "v2_audit_log", "action", "action IN ('list', 'delist', 'trade', 'primary_purchase')"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_v2_audit_log")),
    )
    _indexes("v2_audit_log", ["actor", "at"], ["deal_id"])

    op.create_table(
        "v2_idempotency_keys",
        _id("user_id"),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        _id("transaction_id", nullable=True),
        _time("created_at"),
        _fk("v2_idempotency_keys", "user_id", "v2_users.id"),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_v2_idempotency_keys")),
    )
    _indexes("v2_idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in (
        "v2_idempotency_keys",
        "v2_audit_log",
        "v2_transactions",
        "v2_deals",
        "v2_custodial_wallets",
        "v2_tokens",
        "v2_users",
    ):
        op.drop_table(table)
