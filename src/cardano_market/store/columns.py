"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL.

`ExactInt` holds any integer in 0..10^39-1 (over 2^128): NUMERIC(39, 0) on PostgreSQL, and on
SQLite, which has no integer wider than 64 bits (a NUMERIC column there silently turns big values
into floats), a 39-digit zero-padded string, so equality and ORDER BY still follow numeric order.
Amounts here exceed 2^63 for real: token quantities reach 2^64-1 and USD x 10^12 costs times
quantities go further, so BigInteger is not enough. `UtcDateTime` stores UTC and always returns
an aware UTC datetime (SQLite keeps no zone; PostgreSQL's timestamptz comes back in the session's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from ..domain.errors import StoreError

EXACT_INT_DIGITS = 39
MAX_EXACT_INT = 10**EXACT_INT_DIGITS - 1


def check_exact_int(field: str, value: object) -> int:
    """`value` if it is an int that an `ExactInt` column holds, else StoreError naming `field`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(f"{field} must be an integer, got {value!r}")
    if not 0 <= value <= MAX_EXACT_INT:
        raise StoreError(
            f"{field} ({value}) is outside the stored range 0..10^{EXACT_INT_DIGITS}-1"
        )
    return value


def check_aware(field: str, value: datetime) -> datetime:
    """`value` in UTC; StoreError for a naive datetime (whose zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{field} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


class ExactInt(TypeDecorator[int]):
    """A non-negative integer of up to 39 digits, exact on every supported database."""

    impl = Numeric(EXACT_INT_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(EXACT_INT_DIGITS))
        return dialect.type_descriptor(Numeric(EXACT_INT_DIGITS, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        check_exact_int("value", value)
        if dialect.name == "sqlite":
            return f"{value:0{EXACT_INT_DIGITS}d}"
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise StoreError(f"stored integer column holds a fraction: {value}")
            return int(value)
        return int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, written as UTC and read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = check_aware("datetime", value)
        # SQLite stores no zone: write naive UTC, in SQLAlchemy's fixed-width text format, so
        # comparisons in SQL (expires_at > now) are plain string comparisons that order correctly.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
