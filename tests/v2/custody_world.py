"""The v2 world the v2 tests drive: the demo seed's users and offerings, the service client with
Bearer tokens, and the settings the service runs on. Fixtures live in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cardano_market.app.context import Context
from cardano_market.app.custody import wallet_of
from cardano_market.app.seeding import DEVNET_ADMIN_ID
from cardano_market.config import load_settings
from cardano_market.domain.datums import QueueDatum, wallet_from_address
from cardano_market.runtime import ServiceParts
from cardano_market.store.transactions import V2Transaction, V2TransactionRepo
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


def buy_on_primary(v2: V2Service, user: str = ALICE, quantity: int = 2) -> str:
    """`user` buys `quantity` SONG on the primary market; the id of the transaction the worker
    will process."""
    response = v2.post(
        f"/v2/users/purchases/users/{user}/tokens/{SONG}/buy-on-primary-market",
        user,
        {"quantity": quantity},
    )
    assert response.status_code == 200, response.text
    tx_id: str = response.json()["transaction_id"]
    return tx_id


def transaction_row(v2: V2Service, tx_id: str) -> V2Transaction:
    """The stored custodial transaction `tx_id` (it must exist)."""
    with v2.ctx.database.session() as session:
        tx = V2TransactionRepo(session).get(tx_id)
    assert tx is not None
    return tx


def orders_of(v2: V2Service, user: str) -> list[QueueDatum]:
    """The datums of `user`'s custodial wallet's orders waiting in the queue."""
    with v2.ctx.database.session() as session:
        owner = wallet_from_address(wallet_of(v2.ctx, session, user).address)
    return [
        datum
        for u in v2.ctx.backend.utxos_at(v2.ctx.addresses.queue)
        if u.inline_datum is not None
        and (datum := QueueDatum.from_cbor(u.inline_datum)).owner == owner
    ]
