"""The v2 world the v2 tests drive: the demo seed's users and offerings, the service client with
Bearer tokens, and the settings the service runs on. Fixtures live in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cardano_market.app.context import Context
from cardano_market.app.seeding import DEVNET_ADMIN_ID
from cardano_market.config import load_settings
from cardano_market.runtime import ServiceParts
from cardano_market.worker.processor import TransactionProcessor
from keys import JWT_SECRET, KEK_HEX

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
