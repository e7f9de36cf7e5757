"""v2 transactions of type `order_cancel` (an owner cancelling a queued order).

The type column is checked against the known types, so the check is replaced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TYPES = ("primary_purchase", "secondary_purchase", "sell", "delist")


def _replace_type_check(types: tuple[str, ...]) -> None:
    # batch: SQLite cannot alter a constraint in place, so the table is copied (its other
    # checks, keys and indexes with it).
    with op.batch_alter_table("v2_transactions") as batch:
        batch.drop_constraint(op.f("ck_v2_transactions_type"), type_="check")
        batch.create_check_constraint(
            op.f("ck_v2_transactions_type"), f"type IN ({', '.join(repr(t) for t in types)})"
        )


def upgrade() -> None:
    _replace_type_check((*_TYPES, "order_cancel"))


def downgrade() -> None:
    # The old check refuses them: cancels recorded since the upgrade go with it.
    op.execute("DELETE FROM v2_transactions WHERE type = 'order_cancel'")
    _replace_type_check(_TYPES)
