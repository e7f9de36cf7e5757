"""Initial schema: sales, pending orders, pending sales, issued transactions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cardano_market.store.columns import ExactInt, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_COST_IS_ASSET_OR_USD = (
    "(cost_policy_id IS NULL AND cost_asset_name IS NULL)"
    " OR (cost_policy_id IS NOT NULL AND cost_asset_name IS NOT NULL)"
)


def _asset(prefix: str, *, nullable: bool = False) -> list[sa.Column[str]]:
    return [
        sa.Column(f"{prefix}_policy_id", sa.String(56), nullable=nullable),
        sa.Column(f"{prefix}_asset_name", sa.String(64), nullable=nullable),
    ]


def _amount(name: str) -> sa.Column[int]:
    return sa.Column(name, ExactInt(), nullable=False)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "marketplace_sales",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_asset("pointer"),
        sa.Column("owner_address", sa.String(256), nullable=False),
        *_asset("bundle"),
        _amount("bundle_amount"),
        *_asset("cost", nullable=True),
        _amount("cost_amount"),
        _amount("max_bundle_size"),
        _amount("total_bundle_quantity"),
        _amount("available_bundle_quantity"),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint(
            "status IN ('Started', 'SoldOut', 'Ended')", name=op.f("ck_marketplace_sales_status")
        ),
        sa.CheckConstraint(_COST_IS_ASSET_OR_USD, name=op.f("ck_marketplace_sales_cost_asset")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_sales")),
        sa.UniqueConstraint(
            "pointer_policy_id",
            "pointer_asset_name",
            name=op.f("uq_marketplace_sales_pointer_policy_id_pointer_asset_name"),
        ),
    )
    for columns in (["bundle_policy_id"], ["created_at", "id"], ["owner_address"], ["status"]):
        name = "ix_marketplace_sales_" + "_".join(columns)
        op.create_index(op.f(name), "marketplace_sales", columns)

    op.create_table(
        "marketplace_pending_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        _amount("bundle_quantity"),
        _amount("incentive_amount"),
        *_asset("currency"),
        *_asset("cost", nullable=True),
        _amount("currency_amount"),
        _amount("service_fee_amount"),
        *_asset("service_fee"),
        _amount("order_amount"),
        _amount("service_fee_total"),
        _amount("subtotal_usd"),
        _amount("price_adjustment_usd"),
        sa.Column("amount_cbor_hex", sa.Text(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("used_at", nullable=True),
        sa.CheckConstraint(
            _COST_IS_ASSET_OR_USD, name=op.f("ck_marketplace_pending_orders_cost_asset")
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["marketplace_sales.id"],
            name=op.f("fk_marketplace_pending_orders_sale_id_marketplace_sales"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_pending_orders")),
    )
    for column in ("expires_at", "sale_id"):
        name = f"ix_marketplace_pending_orders_{column}"
        op.create_index(op.f(name), "marketplace_pending_orders", [column])

    op.create_table(
        "marketplace_pending_sales",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_address", sa.String(256), nullable=False),
        *_asset("bundle"),
        _amount("bundle_amount"),
        *_asset("cost", nullable=True),
        _amount("cost_amount"),
        _amount("total_bundle_quantity"),
        sa.Column("amount_cbor_hex", sa.Text(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("used_at", nullable=True),
        sa.CheckConstraint(
            _COST_IS_ASSET_OR_USD, name=op.f("ck_marketplace_pending_sales_cost_asset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_pending_sales")),
    )
    op.create_index(
        op.f("ix_marketplace_pending_sales_expires_at"), "marketplace_pending_sales", ["expires_at"]
    )

    op.create_table(
        "issued_transactions",
        sa.Column("tx_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cbor", sa.LargeBinary(), nullable=False),
        sa.Column("signed_cbor", sa.LargeBinary(), nullable=True),
        sa.Column("reference_id", sa.Uuid(), nullable=True),
        _time("created_at"),
        _time("submitted_at", nullable=True),
        _time("updated_at"),
        sa.CheckConstraint(
            "status IN ('issued', 'submitted', 'confirmed', 'failed')",
            name=op.f("ck_issued_transactions_status"),
        ),
        sa.PrimaryKeyConstraint("tx_id", name=op.f("pk_issued_transactions")),
    )
    for column in ("reference_id", "status"):
        op.create_index(op.f(f"ix_issued_transactions_{column}"), "issued_transactions", [column])


def downgrade() -> None:
    op.drop_table("issued_transactions")
    op.drop_table("marketplace_pending_sales")
    op.drop_table("marketplace_pending_orders")
    op.drop_table("marketplace_sales")
