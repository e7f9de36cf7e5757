"""Store fixtures: every repository test runs on a SQLite file and on the real PostgreSQL.

PostgreSQL is the machine's server at 127.0.0.1:5432 (database `test`, trust auth), or
CARDANO_MARKET_TEST_POSTGRES_URL. Each test run works in its own schema (dropped at the end), so
parallel or crashed runs never see each other's rows. Unreachable, the PostgreSQL half skips with
the reason, unless CARDANO_MARKET_REQUIRE_INTEROP=1 (CI), where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cardano_market.store.db import Database
from cardano_market.store.schema import Base
from pg_support import postgres_schema

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables, no revision) on `backend`."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def _postgres_database(postgres_url: str) -> Iterator[Database]:
    """One migrated schema for the whole run; `db` empties its tables before each test."""
    with postgres_schema(postgres_url) as url:
        database = Database.connect(url)
        try:
            yield database
        finally:
            database.dispose()


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on `backend`."""
    if backend == "sqlite":
        database = Database.connect(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            yield database
        finally:
            database.dispose()
        return
    database = request.getfixturevalue("_postgres_database")
    _empty(database.engine)
    yield database


def _empty(engine: Engine) -> None:
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
