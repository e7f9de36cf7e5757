"""What the repositories share: the dialect's INSERT, fresh reads, id and argument checks,
single-use claims, and asset columns. Private to the store.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain.errors import (
    DuplicateRecordError,
    ExpiredPendingError,
    StoreError,
    UnknownPendingError,
    UsedPendingError,
)
from ..domain.values import AssetId, Value
from .columns import check_aware

_S = TypeVar("_S", bound=Select[Any])
_TX_HASH = re.compile(r"[0-9a-f]{64}")


def dialect_insert(session: Session, model: type[Any]) -> Any:
    """The dialect's INSERT (it has ON CONFLICT DO NOTHING on both supported databases)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise StoreError(f"unsupported database dialect {dialect!r} (use SQLite or PostgreSQL)")


def fresh(stmt: _S) -> _S:
    """Reload rows even if the session holds them: updates here bypass the identity map."""
    return stmt.execution_options(populate_existing=True)


def add_row(session: Session, row: Any, conflict: str) -> None:
    """Insert `row` now, so ids and constraint failures surface here, not at commit (after a
    failure the unit of work must be rolled back, as `Database.session` does)."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateRecordError(conflict) from exc


def page(stmt: Any, offset: int, limit: int) -> Any:
    if offset < 0 or limit < 0:
        raise StoreError(f"offset ({offset}) and limit ({limit}) must not be negative")
    return stmt.offset(offset).limit(limit)


def ttl(seconds: int) -> timedelta:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise StoreError(f"TTL must be a non-negative number of seconds, got {seconds!r}")
    return timedelta(seconds=seconds)


def parse_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def require_uuid(field: str, value: str | uuid.UUID) -> uuid.UUID:
    key = parse_uuid(value)
    if key is None:
        raise StoreError(f"{field} {value!r} is not a UUID")
    return key


def optional_uuid(value: str | uuid.UUID | None, field: str = "sale id") -> uuid.UUID | None:
    return None if value is None else require_uuid(field, value)


def parse_tx_hash(value: object) -> str | None:
    """`value` as a lowercase 64-hex transaction id, or None when it is not one."""
    key = value.lower() if isinstance(value, str) else ""
    return key if _TX_HASH.fullmatch(key) else None


def require_tx_hash(value: str, label: str = "transaction hash") -> str:
    key = parse_tx_hash(value)
    if key is None:
        raise StoreError(f"{label} {value!r} is not 64 hex digits")
    return key


def asset_columns(asset: AssetId | None) -> tuple[str | None, str | None]:
    """(policy hex, name hex); (None, None) for USD; ("", "") for ADA."""
    if asset is None:
        return None, None
    return asset[0].hex(), asset[1].hex()


def asset(policy_hex: str, name_hex: str) -> AssetId:
    return bytes.fromhex(policy_hex), bytes.fromhex(name_hex)


def optional_asset(policy_hex: str | None, name_hex: str | None) -> AssetId | None:
    if policy_hex is None or name_hex is None:
        return None
    return asset(policy_hex, name_hex)


def optional_value(cbor_hex: str | None) -> Value | None:
    return None if cbor_hex is None else Value.from_cbor(bytes.fromhex(cbor_hex))


# -- single-use rows (pending orders and sales) -------------------------------------------------


def single_use_row(session: Session, model: type[Any], raw_id: str | uuid.UUID) -> Any:
    """The row `raw_id` of `model`, used or not, read afresh; None for no such id or not a UUID."""
    key = parse_uuid(raw_id)
    if key is None:
        return None
    return session.scalars(fresh(select(model).where(model.id == key))).first()


def update_returning(session: Session, model: type[Any], /, *conditions: Any, **values: Any) -> Any:
    """One conditional UPDATE of `model` setting `values` where all `conditions` hold, returning
    the updated row (the session's copy refreshed) or None when no row matched."""
    stmt = (
        update(model)
        .where(*conditions)
        .values(**values)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.scalars(stmt).first()


def claim_single_use(
    session: Session, model: type[Any], kind: str, raw_id: str | uuid.UUID, now: datetime
) -> Any:
    """Mark the row `raw_id` of `model` used at `now` and return it, in one conditional UPDATE;
    UnknownPendingError, UsedPendingError or ExpiredPendingError say why not."""
    now = check_aware("now", now)
    label = f"Pending {kind} {raw_id}"
    key = parse_uuid(raw_id)
    if key is None:
        raise UnknownPendingError(f"{label} not found", kind=kind, id=str(raw_id))
    row = update_returning(
        session,
        model,
        model.id == key,
        model.used_at.is_(None),
        model.expires_at > now,
        used_at=now,
    )
    if row is not None:
        return row
    # Lost: say why. The row cannot become claimable again, so this read cannot contradict it.
    state = session.execute(select(model.used_at, model.expires_at).where(model.id == key)).first()
    if state is None:
        raise UnknownPendingError(f"{label} not found", kind=kind, id=str(key))
    used_at, expires_at = state
    if used_at is not None:
        raise UsedPendingError(
            f"{label} was already used (at {used_at.isoformat()})", kind=kind, id=str(key)
        )
    raise ExpiredPendingError(
        f"{label} expired (at {expires_at.isoformat()})", kind=kind, id=str(key)
    )


def purge_expired(
    session: Session, model: type[Any], before: datetime, *, unused_only: bool = False
) -> int:
    """Delete rows of `model` that expired before `before` (only unused ones with
    `unused_only`); how many."""
    before = check_aware("expired_before", before)
    stmt = delete(model).where(model.expires_at < before)
    if unused_only:
        stmt = stmt.where(model.used_at.is_(None))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))
