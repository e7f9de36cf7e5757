"""Monitor fixtures: a migrated database on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cardano_market.store.db import Database
from pg_support import database_url_fixture

database_url = database_url_fixture("monitor.db")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database.connect(database_url)
    try:
        yield database
    finally:
        database.dispose()
