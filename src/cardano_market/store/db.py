"""Connecting to the database: engines tuned per dialect, sessions, and schema upgrades.

SQLite (the default, one machine) gets WAL journaling, enforced foreign keys and a busy timeout,
so concurrent writers queue instead of failing. Both keep a pool as large as the service's busy
threads, so that no request opens (and sets up) a connection under load; PostgreSQL recycles its
connections instead of pre-pinging each checkout (a round trip per request). `upgrade_database`
runs the Alembic revisions in `migrations/` at start-up, without an alembic.ini.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event, make_url, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.orm import Session, sessionmaker

from ..domain.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_DATABASE_URL = "sqlite:///cardano-market.db"
"""A SQLite file in the working directory."""

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
"""How long a SQLite writer waits for another's lock before failing (claims queue behind it)."""

POOL_SIZE = 16
"""Pooled connections kept open: the threads that run database work at once (the amount route's
limiter, other routes' threads) rarely exceed it."""

POOL_OVERFLOW = 24
"""Extra connections for bursts, closed when returned: with `POOL_SIZE`, anyio's default 40
worker threads never wait for a connection."""

POOL_RECYCLE_SECONDS = 600
"""PostgreSQL connections older than this are replaced at checkout, so idle ones dropped by a
firewall or a server restart do not linger. A connection found dead mid-request fails that
request and invalidates the whole pool (SQLAlchemy's disconnect handling): the price of not
pre-pinging, which costs a round trip on every checkout."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_ALEMBIC_LOCK = threading.Lock()
"""Alembic keeps its migration context in module globals: one migration per process at a time.
(Processes are serialised by the lock `migrations/env.py` takes in the database.)"""


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for a SQLite or PostgreSQL URL (`sqlite:///file.db`, `postgresql+psycopg://...`).

    `kwargs` go to SQLAlchemy's `create_engine`. StoreError for any other database.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
        file_backed = parsed.database not in (None, "", ":memory:") and "mode=memory" not in url
        if file_backed and "poolclass" not in kwargs:  # memory databases use a one-off pool
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", POOL_OVERFLOW)
        engine = sa_create_engine(parsed, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(file_backed))
        return engine
    if backend == "postgresql":
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", POOL_OVERFLOW)
            kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
        return sa_create_engine(parsed, **kwargs)
    raise StoreError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
        "use sqlite:///FILE or postgresql+psycopg://..."
    )


def _sqlite_pragmas(file_backed: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            if file_backed:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    return on_connect


class Database:
    """An engine plus a session factory: what the service and workers hold for their lifetime."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, upgrade: bool = True, **kwargs: Any) -> Database:
        """Open `url` and, unless told not to, bring its schema to the newest revision."""
        database = cls(create_engine(url, **kwargs))
        if upgrade:
            upgrade_database(database.engine)
        return database

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends normally, rolls back on an exception."""
        with self.sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Run a trivial query (the health check); raises the driver's error when unreachable."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine | None = None) -> Config:
    """The Alembic `Config` for this package's migrations, bound to `engine` when given.

    For a new revision: `alembic.command.revision(alembic_config(engine), message=...,
    autogenerate=True)` against a database at head.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade_database(target: str | Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` to a URL or an engine (idempotent at head)."""
    from alembic import command

    engine = create_engine(target) if isinstance(target, str) else target
    try:
        with _ALEMBIC_LOCK:
            command.upgrade(alembic_config(engine), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def downgrade_database(target: str | Engine, revision: str) -> None:
    """Undo migrations down to `revision` ("base": drop every table). For operators and tests."""
    from alembic import command

    engine = create_engine(target) if isinstance(target, str) else target
    try:
        with _ALEMBIC_LOCK:
            command.downgrade(alembic_config(engine), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
