"""The test PostgreSQL server: its URL (skipping, or failing under CI, when it is unreachable)
and throw-away schemas, shared by every suite that runs on both databases.

PostgreSQL is the machine's server at 127.0.0.1:5432 (database `test`, trust auth), or
CARDANO_MARKET_TEST_POSTGRES_URL. Each test works in its own schema (dropped at the end), so
parallel or crashed runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from cardano_market.store.db import create_engine

POSTGRES_URL_ENV = "CARDANO_MARKET_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def require_postgres_url() -> str:
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


def database_url_fixture(sqlite_file: str) -> Any:
    """A `database_url` fixture run once on SQLite (a file `sqlite_file` in the test's tmp_path)
    and once on a fresh PostgreSQL schema; a suite's conftest assigns it to `database_url`."""

    @pytest.fixture(params=["sqlite", "postgresql"])
    def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / sqlite_file}"
            return
        with postgres_schema(request.getfixturevalue("postgres_url")) as url:
            yield url

    return database_url
