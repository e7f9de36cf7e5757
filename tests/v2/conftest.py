"""v2 fixtures: the whole service (v1 + v2) on a fresh demo devnet, on SQLite and PostgreSQL,
with Bearer tokens for the seed's users and a worker the test drives step by step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from custody_world import V2Service, v2_settings
from fastapi.testclient import TestClient

from cardano_market.runtime import create_service_app, open_service
from env_support import REQUIRE_INTEROP, clear_market_env
from pg_support import database_url_fixture

database_url = database_url_fixture("service.db")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_market_env(monkeypatch, keep=(REQUIRE_INTEROP,))


@pytest.fixture
def v2(database_url: str, tmp_path: Path, clean_env: None) -> Iterator[V2Service]:
    """The service on the demo devnet; no in-process worker (tests run `processor()`)."""
    parts = open_service(v2_settings(database_url, tmp_path))
    with TestClient(create_service_app(parts)) as client:
        yield V2Service(client, parts)


@pytest.fixture
def v2_sqlite(tmp_path: Path, clean_env: None) -> Iterator[V2Service]:
    """The same service on SQLite only (for tests whose subject is not the database)."""
    parts = open_service(v2_settings(f"sqlite:///{tmp_path / 'service.db'}", tmp_path))
    with TestClient(create_service_app(parts)) as client:
        yield V2Service(client, parts)
