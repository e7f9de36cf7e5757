"""The chain monitor: orders, purchases, and the monitor's checkpoint and memory.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cardano_market.store.columns import ExactInt, UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_ORDER_STATES = "state IN ('queued', 'filled', 'partially_filled', 'refunded', 'cancelled')"


def _tx(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def _amount(name: str) -> sa.Column[int]:
    return sa.Column(name, ExactInt(), nullable=False)


def _big(name: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=op.f(f"fk_{table}_{column}_{target.split('.')[0]}"),
        ondelete="RESTRICT",
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "marketplace_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        _tx("origin_tx_hash"),
        sa.Column("origin_output_index", sa.Integer(), nullable=False),
        _tx("utxo_tx_hash", nullable=True),
        sa.Column("utxo_output_index", sa.Integer(), nullable=True),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("pointer_asset_name", sa.String(64), nullable=False),
        sa.Column("owner_address", sa.String(256), nullable=False),
        _amount("bundles_requested"),
        _amount("bundles_filled"),
        sa.Column("incentive_policy_id", sa.String(56), nullable=False),
        sa.Column("incentive_asset_name", sa.String(64), nullable=False),
        _amount("incentive_amount"),
        sa.Column("value_cbor", sa.Text(), nullable=False),
        sa.Column("datum_cbor", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _tx("purchase_tx_id", nullable=True),
        _tx("refund_tx_id", nullable=True),
        _tx("cancel_tx_id", nullable=True),
        _big("block_height"),
        _big("slot"),
        _big("closed_block_height"),
        _big("closed_slot"),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint(_ORDER_STATES, name=op.f("ck_marketplace_orders_state")),
        _fk("marketplace_orders", "sale_id", "marketplace_sales.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_orders")),
        sa.UniqueConstraint(
            "origin_tx_hash",
            "origin_output_index",
            name=op.f("uq_marketplace_orders_origin_tx_hash_origin_output_index"),
        ),
        sa.UniqueConstraint(
            "utxo_tx_hash",
            "utxo_output_index",
            name=op.f("uq_marketplace_orders_utxo_tx_hash_utxo_output_index"),
        ),
    )
    for column in ("sale_id", "pointer_asset_name", "owner_address", "state"):
        _index("marketplace_orders", column)

    op.create_table(
        "marketplace_purchases",
        _tx("tx_id"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("pointer_asset_name", sa.String(64), nullable=False),
        _amount("bundles"),
        _tx("next_tx_hash", nullable=True),
        sa.Column("next_output_index", sa.Integer(), nullable=True),
        _big("block_height"),
        _big("slot"),
        _time("created_at"),
        _fk("marketplace_purchases", "order_id", "marketplace_orders.id"),
        _fk("marketplace_purchases", "sale_id", "marketplace_sales.id"),
        sa.PrimaryKeyConstraint("tx_id", "order_id", name=op.f("pk_marketplace_purchases")),
    )
    _index("marketplace_purchases", "order_id")
    _index("marketplace_purchases", "sale_id")
    _index("marketplace_purchases", "next_tx_hash", "next_output_index")

    op.create_table(
        "monitor_utxos",
        _tx("tx_hash"),
        sa.Column("output_index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("pointer_asset_name", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _time("seen_at"),
        sa.CheckConstraint("role IN ('sale', 'skipped')", name=op.f("ck_monitor_utxos_role")),
        sa.PrimaryKeyConstraint("tx_hash", "output_index", name=op.f("pk_monitor_utxos")),
    )
    _index("monitor_utxos", "role", "pointer_asset_name")

    op.create_table(
        "monitor_confirmations",
        _tx("tx_id"),
        _big("block_height", nullable=False),
        _time("confirmed_at"),
        sa.PrimaryKeyConstraint("tx_id", name=op.f("pk_monitor_confirmations")),
    )
    _index("monitor_confirmations", "block_height")

    op.create_table(
        "monitor_state",
        sa.Column("key", sa.String(64), nullable=False),
        _big("value", nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitor_state")),
    )


def downgrade() -> None:
    for table in (
        "monitor_state",
        "monitor_confirmations",
        "monitor_utxos",
        "marketplace_purchases",
        "marketplace_orders",
    ):
        op.drop_table(table)
