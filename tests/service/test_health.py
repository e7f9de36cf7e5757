"""`GET /health` over real parts: a devnet and SQLite (and PostgreSQL) when all is well; a
PostgreSQL port nobody listens on, an unreachable Blockfrost and a Blockfrost that never answers
when it is not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cardano_market.chain.base import ChainBackend
from cardano_market.chain.blockfrost import BlockfrostBackend, RetryPolicy
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.service.health import describe_error, health_router
from cardano_market.store.db import Database

PROJECT_ID = "preprodHEALTHSECRETPROJECT"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[DevnetBackend]:
    chain = DevnetBackend.open(tmp_path / "devnet.db")
    yield chain
    chain.close()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'health.db'}")
    yield database
    database.dispose()


@pytest.fixture
def unreachable_postgres() -> Iterator[Database]:
    url = f"postgresql+psycopg://market:db-pass-sekrit@127.0.0.1:{closed_port()}/test"
    database = Database.connect(url, upgrade=False)
    yield database
    database.dispose()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: a hung backend."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()  # pending connections are reset: the hung request ends


def health(
    *, ping_database: Any, backend: ChainBackend, timeout: float = 2.0
) -> tuple[int, dict[str, Any]]:
    app = FastAPI()
    app.include_router(health_router(ping_database=ping_database, backend=backend, timeout=timeout))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


def blockfrost(url: str, *, timeout: float = 30.0) -> BlockfrostBackend:
    return BlockfrostBackend(
        PROJECT_ID, "preprod", url, timeout=timeout, retry=RetryPolicy(max_attempts=1)
    )


def test_ok_on_a_devnet_and_sqlite(devnet: DevnetBackend, sqlite: Database) -> None:
    status, body = health(ping_database=sqlite.ping, backend=devnet)
    assert status == 200
    assert body == {
        "status": "ok",
        "database": {"ok": True, "latencyMs": body["database"]["latencyMs"]},
        "chain": {
            "ok": True,
            "tipSlot": body["chain"]["tipSlot"],
            "latencyMs": body["chain"]["latencyMs"],
        },
    }
    assert isinstance(body["database"]["latencyMs"], int) and body["database"]["latencyMs"] >= 0
    assert isinstance(body["chain"]["latencyMs"], int) and body["chain"]["latencyMs"] >= 0
    tip_slot = body["chain"]["tipSlot"]
    assert isinstance(tip_slot, int) and 0 <= tip_slot <= devnet.tip().slot


def test_ok_on_postgresql(devnet: DevnetBackend, postgres_url: str) -> None:
    database = Database.connect(postgres_url, upgrade=False)
    try:
        status, body = health(ping_database=database.ping, backend=devnet)
    finally:
        database.dispose()
    assert status == 200 and body["status"] == "ok" and body["database"]["ok"] is True


def test_degraded_when_the_database_is_unreachable(
    devnet: DevnetBackend, unreachable_postgres: Database
) -> None:
    status, body = health(ping_database=unreachable_postgres.ping, backend=devnet)
    assert status == 503
    assert body["status"] == "degraded"
    database = body["database"]
    assert database["ok"] is False
    assert set(database) == {"ok", "latencyMs", "error"}
    assert database["error"].startswith("OperationalError: ")
    assert "db-pass-sekrit" not in database["error"]
    assert "Traceback" not in database["error"] and "\n" not in database["error"]
    assert body["chain"]["ok"] is True  # the other part is still reported


def test_degraded_when_the_chain_raises(sqlite: Database) -> None:
    with blockfrost(f"http://127.0.0.1:{closed_port()}") as backend:
        status, body = health(ping_database=sqlite.ping, backend=backend)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    chain = body["chain"]
    assert chain["ok"] is False and "tipSlot" not in chain
    assert chain["error"].startswith("RetriesExhaustedError: Blockfrost GET /blocks/latest")
    assert PROJECT_ID not in chain["error"]


def test_a_hung_chain_cannot_hang_health(sqlite: Database, silent_server: str) -> None:
    with blockfrost(silent_server) as backend:
        app = FastAPI()
        app.include_router(health_router(ping_database=sqlite.ping, backend=backend, timeout=0.3))
        with TestClient(app) as client:
            started = time.monotonic()
            first = client.get("/health")
            second = client.get("/health")
            elapsed = time.monotonic() - started
        assert elapsed < 3.0  # two checks of 0.3 s each, not the client's 30 s timeout
        for response in (first, second):
            assert response.status_code == 503
            body = response.json()
            assert body["chain"] == {
                "ok": False,
                "latencyMs": body["chain"]["latencyMs"],
                "error": "no answer within 0.3 s",
            }
            assert 250 <= body["chain"]["latencyMs"] < 2000
            assert body["database"]["ok"] is True
        # The second probe waited on the first, still hung, check instead of starting another.
        hung = [t for t in threading.enumerate() if t.name == "health-chain"]
        assert len(hung) == 1


def test_the_timeout_must_be_positive(devnet: DevnetBackend, sqlite: Database) -> None:
    with pytest.raises(ValueError, match="positive"):
        health_router(ping_database=sqlite.ping, backend=devnet, timeout=0)


def test_error_descriptions_are_one_line_without_credentials() -> None:
    error = RuntimeError(
        "could not connect to postgresql://market:hunter2@db:5432/x\nDETAIL: password=hunter2"
    )
    text = describe_error(error)
    assert text == "RuntimeError: could not connect to postgresql://market:***@db:5432/x"
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert "hunter2" not in describe_error(ValueError("password = hunter2 rejected"))
