"""Order status for v1 integrators: the API's order id and the amounts each order locked, paid
and got back; the owner of a used pending order.

New columns only (nullable), so every row stays; what earlier rows can tell is filled in:
the API order id of an order whose transaction this service issued, the locked value of an
order that was never purchased from (its recorded value is still the origin's), and what a
cancel without a fill gave back (the whole order).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("marketplace_orders", sa.Column("api_order_id", sa.Uuid(), nullable=True))
    op.add_column("marketplace_orders", sa.Column("locked_value_cbor", sa.Text(), nullable=True))
    op.add_column("marketplace_orders", sa.Column("refunded_value_cbor", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_marketplace_orders_api_order_id"), "marketplace_orders", ["api_order_id"]
    )
    op.add_column("marketplace_purchases", sa.Column("paid_value_cbor", sa.Text(), nullable=True))
    op.add_column(
        "marketplace_pending_orders", sa.Column("owner_address", sa.String(256), nullable=True)
    )
    op.create_index(
        op.f("ix_marketplace_pending_orders_owner_address"),
        "marketplace_pending_orders",
        ["owner_address"],
    )
    op.execute(
        "UPDATE marketplace_orders SET api_order_id = ("
        " SELECT issued_transactions.reference_id FROM issued_transactions"
        " WHERE issued_transactions.tx_id = marketplace_orders.origin_tx_hash"
        " AND issued_transactions.kind = 'order')"
        " WHERE origin_output_index = 0"
    )
    op.execute(
        "UPDATE marketplace_orders SET locked_value_cbor = value_cbor"
        " WHERE state IN ('queued', 'refunded', 'cancelled') AND NOT EXISTS ("
        " SELECT 1 FROM marketplace_purchases"
        " WHERE marketplace_purchases.order_id = marketplace_orders.id)"
    )
    op.execute(
        "UPDATE marketplace_orders SET refunded_value_cbor = value_cbor WHERE state = 'cancelled'"
    )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): a batch copy of marketplace_orders would trip the
    # purchases' foreign key
    op.drop_index(op.f("ix_marketplace_pending_orders_owner_address"), "marketplace_pending_orders")
    op.drop_column("marketplace_pending_orders", "owner_address")
    op.drop_column("marketplace_purchases", "paid_value_cbor")
    op.drop_index(op.f("ix_marketplace_orders_api_order_id"), "marketplace_orders")
    for column in ("refunded_value_cbor", "locked_value_cbor", "api_order_id"):
        op.drop_column("marketplace_orders", column)
