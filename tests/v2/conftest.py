"""v2 fixtures: the whole service (v1 + v2) on a fresh demo devnet, on SQLite and PostgreSQL,
with Bearer tokens for the seed's users and a worker the test drives step by step."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardano_market.app.context import Context
from cardano_market.app.seeding import DEVNET_ADMIN_ID
from cardano_market.config import load_settings
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from cardano_market.worker.processor import TransactionProcessor
from keys import JWT_SECRET, KEK_HEX
from pg_support import postgres_schema

ALICE = "65f1a0c0e4b0a1b2c3d4e501"
"""Seed user with KYC, wallet alice (100,000 NEWM, ADA)."""
BOB = "65f1a0c0e4b0a1b2c3d4e502"
"""Seed user without KYC, wallet bob."""
ADMIN = DEVNET_ADMIN_ID
NEWM = "65f1a0c0e4b0a1b2c3d4e5f6"
SONG = "65f1a0c0e4b0a1b2c3d4e5f7"
"""A primary offering: 1-token bundles (6 decimals) from the demo's first sale (USD-priced)."""


@dataclass
class V2Service:
    client: TestClient
    parts: ServiceParts

    @property
    def ctx(self) -> Context:
        assert self.parts.v2 is not None
        return self.parts.v2

    def token(self, user_id: str, *, admin: bool = False) -> str:
        verifier = self.ctx.verifier
        assert verifier is not None
        return verifier.issue_token(user_id, admin=admin)

    def auth(self, user_id: str, *, admin: bool = False, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, admin=admin)}", **extra}

    def post(self, path: str, user_id: str, body: Any, **headers: str) -> Any:
        return self.client.post(path, json=body, headers=self.auth(user_id, **headers))

    def get(self, path: str, user_id: str, *, admin: bool = False, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(user_id, admin=admin))

    def processor(self, worker_id: str = "test-worker", **options: Any) -> TransactionProcessor:
        return TransactionProcessor(self.ctx, worker_id, **options)

    def with_chain(self, backend: Any) -> Context:
        """The same context over another chain backend (a wrapper that fails on purpose)."""
        return replace(self.ctx, backend=backend)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CARDANO_MARKET_") and name != "CARDANO_MARKET_REQUIRE_INTEROP":
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


def v2_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Any:
    return load_settings(
        **{
            "network": "devnet",
            "database_url": database_url,
            "devnet_path": tmp_path / "devnet.db",
            "recaptcha_enabled": False,
            "jwt_secret": JWT_SECRET,
            "key_encryption_key": KEK_HEX,
            **overrides,
        }
    )


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
