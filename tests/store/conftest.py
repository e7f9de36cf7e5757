"""Store fixtures: every repository test runs on a SQLite file and on the real PostgreSQL.

PostgreSQL is the machine's server at 127.0.0.1:5432 (database `test`, trust auth), or
CARDANO_MARKET_TEST_POSTGRES_URL. Each test run works in its own schema (dropped at the end), so
parallel or crashed runs never see each other's rows. Unreachable, the PostgreSQL half skips with
the reason, unless CARDANO_MARKET_REQUIRE_INTEROP=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from cardano_market.store.db import Database, create_engine
from cardano_market.store.models import Base

POSTGRES_URL_ENV = "CARDANO_MARKET_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The server URL (no schema); skips, or fails under CI, when PostgreSQL is unreachable."""
    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means: no usable server
        reason = f"PostgreSQL at {make_url(url).render_as_string()} is unreachable: {exc}"
        if os.environ.get("CARDANO_MARKET_REQUIRE_INTEROP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@contextmanager
def postgres_schema(server_url: str) -> Iterator[str]:
    """A fresh, empty schema; yields a URL whose connections use it; drops it afterwards."""
    name = f"cm_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


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
