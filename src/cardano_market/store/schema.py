"""The declarative base every table joins, its constraint naming, and the column widths.

Table and column names follow the deployed server's (`marketplace_sales`, `bundle_policy_id`, ...)
so an operator who knows one schema can read the other. Bytes (policy ids, asset names, addresses)
are stored as lowercase hex text; amounts and quantities as `ExactInt`; times as `UtcDateTime`.
Each concept module (sales, quotes, orders, transactions, users, tokens, deals, audit,
idempotency, monitor) declares its tables on `Base`; the package imports them all, so
`Base.metadata` is the whole schema (the Alembic revisions mirror it).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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
OBJECT_ID_HEX = 24
"""The v2 API's 24-hex ids (users, tokens, custodial transactions)."""
WORKER_ID_CHARS = 64
"""A worker's name (leases) or an audit actor."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK condition: `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


COST_IS_ASSET_OR_USD = (
    "(cost_policy_id IS NULL AND cost_asset_name IS NULL)"
    " OR (cost_policy_id IS NOT NULL AND cost_asset_name IS NOT NULL)"
)
"""A cost is an asset (policy and name) or USD (both NULL); ADA is the empty policy and name."""
