"""Fixtures of the secondary-market tests: a devnet seed with a seller and many buyers, the whole
service over it (v1 + v2, in-process or as `cardano-market serve` processes), and helpers that
read the ledger directly (so assertions never trust the service's own view)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from cardano_market.app.seeding import derived_id
from cardano_market.chain.devnet.seed import DEFAULT_SEED
from cardano_market.config import load_settings
from cardano_market.domain.values import ADA, AssetId
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from cardano_market.synthetic import wallet
from cardano_market.worker.processor import TransactionProcessor
from keys import KEK_HEX

SONG_ID = "65f1a0c0e4b0a1b2c3d4e5f7"
NEWM_ID = "65f1a0c0e4b0a1b2c3d4e5f6"
ADA_ID = derived_id("token/ADA")
SELLER_ID = "5e11e0000000000000000001"
SELLER_WALLET = "secondary-seller"
POOR_ID = "5e11e0000000000000000002"
POOR_WALLET = "secondary-poor"
"""A fixed key-encryption key: processes sharing a PostgreSQL schema must agree on it."""


def buyer_id(n: int) -> str:
    return f"b0b0{n:020x}"


def buyer_wallet(n: int) -> str:
    return f"secondary-buyer-{n}"


def write_seed(path: Path, buyers: int) -> Path:
    """The demo seed plus a SONG seller (1,000 SONG), `buyers` buyers (1,000 NEWM and 100 ADA
    each) and a user with only a little ADA; all of them v2 users."""
    seed = json.loads(DEFAULT_SEED.read_text(encoding="utf-8"), parse_float=str)
    seed["wallets"][SELLER_WALLET] = {
        "lovelace": 200_000_000,
        "utxos": 2,
        "assets": {"SONG": 1_000_000_000},
    }
    seed["wallets"][POOR_WALLET] = {"lovelace": 3_000_000}
    seed["users"].append({"id": SELLER_ID, "wallet": SELLER_WALLET, "kyc": True})
    seed["users"].append({"id": POOR_ID, "wallet": POOR_WALLET, "kyc": True})
    for n in range(buyers):
        seed["wallets"][buyer_wallet(n)] = {
            "lovelace": 100_000_000,
            "utxos": 2,
            "assets": {"NEWM": 1_000_000_000},
        }
        seed["users"].append({"id": buyer_id(n), "wallet": buyer_wallet(n), "kyc": True})
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def settings_env(database_url: str, devnet_path: Path, seed_path: Path) -> dict[str, str]:
    return {
        "CARDANO_MARKET_NETWORK": "devnet",
        "CARDANO_MARKET_DATABASE_URL": database_url,
        "CARDANO_MARKET_DEVNET_PATH": str(devnet_path),
        "CARDANO_MARKET_SEED": str(seed_path),
        "CARDANO_MARKET_KEY_ENCRYPTION_KEY": KEK_HEX,
    }


@dataclass
class SecondaryService:
    """The service in-process (a TestClient) with the worker run on demand (`drain`)."""

    client: TestClient
    parts: ServiceParts

    @property
    def ctx(self) -> Any:
        return self.parts.v2

    @property
    def ledger(self) -> Any:
        return self.parts.chain.ledger  # type: ignore[attr-defined]

    def auth(self, user_id: str, *, admin: bool = False) -> dict[str, str]:
        token = self.ctx.verifier.issue_token(user_id, admin=admin)
        return {"Authorization": f"Bearer {token}"}

    def post(self, path: str, user_id: str, body: Any, **headers: str) -> httpx.Response:
        return self.client.post(path, json=body, headers={**self.auth(user_id), **headers})

    def drain(self) -> int:
        """Run the v2 worker until nothing is left to do (builds, submits, confirms)."""
        return TransactionProcessor(self.ctx, "secondary-test-worker").drain()

    def address(self, user_id: str) -> bytes:
        from cardano_market.store.users import CustodialWalletRepo

        with self.ctx.database.session() as session:
            found = CustodialWalletRepo(session).get(user_id)
        assert found is not None
        return bytes(found.address)

    def holds(self, address: bytes, asset: AssetId) -> int:
        """What the ledger says `address` holds of `asset` (lovelace for ADA)."""
        utxos = self.ledger.utxos_at(address)
        if asset == ADA:
            return sum(u.value.coin for u in utxos)
        return sum(u.value.quantity(asset) for u in utxos)


@contextmanager
def secondary_service(
    database_url: str, directory: Path, buyers: int = 4
) -> Iterator[SecondaryService]:
    """The service on a fresh devnet seeded by `write_seed`, the worker not running."""
    seed_path = write_seed(directory / "seed.json", buyers)
    saved = {k: v for k, v in os.environ.items() if k.startswith("CARDANO_MARKET_")}
    for name in saved:
        if name != "CARDANO_MARKET_REQUIRE_INTEROP":
            del os.environ[name]
    try:
        settings = load_settings(
            network="devnet",
            database_url=database_url,
            devnet_path=directory / "devnet.db",
            seed=seed_path,
            key_encryption_key=KEK_HEX,
        )
        parts = open_service(settings)
        with TestClient(create_service_app(parts, worker=False)) as client:
            yield SecondaryService(client, parts)
    finally:
        os.environ.update(saved)


def song_asset() -> AssetId:
    from cardano_market.chain.devnet.seed import load_seed

    return load_seed(DEFAULT_SEED).asset("SONG")


def newm_asset() -> AssetId:
    from cardano_market.chain.devnet.seed import load_seed

    return load_seed(DEFAULT_SEED).asset("NEWM")


def fee_addresses(network_id: int = 0) -> tuple[bytes, bytes]:
    from cardano_market.runtime.marketplace import (
        DEVNET_NODE_FEE_WALLET,
        DEVNET_PLATFORM_FEE_WALLET,
    )

    return (
        wallet(DEVNET_PLATFORM_FEE_WALLET, network_id).address,
        wallet(DEVNET_NODE_FEE_WALLET, network_id).address,
    )
