"""50 buyers race for one deal of 100 tokens through HTTP against TWO real `cardano-market serve`
processes sharing one PostgreSQL schema and one devnet ledger file (the ledger's SQLite file is
written in IMMEDIATE transactions under WAL, so processes can share it).

Asserted on the ledger and the database, not on the answers alone: never more than 100 sold,
every 200 is a ledger transaction that delivered exactly the bought tokens to that buyer, every
loser got 409 or 422 and received nothing, and the seller, fee receivers and escrow balances add
up to the winners' purchases.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from secondary_fixtures import (
    NEWM_ID,
    SELLER_ID,
    SONG_ID,
    buyer_id,
    fee_addresses,
    newm_asset,
    settings_env,
    song_asset,
    write_seed,
)

from cardano_market.chain.devnet.ledger import Ledger
from cardano_market.store.audit import AuditAction, AuditLogRepo
from cardano_market.store.db import Database
from cardano_market.store.deals import DealRepo
from cardano_market.store.users import CustodialWalletRepo
from cardano_market.tx.deal import find_escrow
from pg_support import postgres_schema

BUYERS = 50
DEAL_TOKENS = 100
SONG = song_asset()
NEWM = newm_asset()
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    env: dict[str, str], directory: Path, name: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (directory / f"{name}.log").open("wb")
    executable = Path(sys.executable).with_name("cardano-market")
    command = [str(executable), "serve", "--port", str(port), "--worker", "--text-logs"]
    command += ["--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{base} exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(
        f"{base} did not become healthy: {log.read_text(errors='replace')[-3000:]}"
    )


@pytest.fixture
def two_services(postgres_url: str, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    seed = write_seed(tmp_path / "seed.json", BUYERS)
    with postgres_schema(postgres_url) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
        env.update(settings_env(url, tmp_path / "devnet.db", seed))
        env["CARDANO_MARKET_WORKER_POLL_MS"] = "100"
        servers = [start_server(env, tmp_path, name) for name in ("first", "second")]
        try:
            for (process, base), name in zip(servers, ("first", "second"), strict=True):
                wait_healthy(process, base, tmp_path / f"{name}.log")
            yield (
                [base for _, base in servers],
                {"database_url": url, "devnet": str(tmp_path / "devnet.db")},
            )
        finally:
            for process, _ in servers:
                process.terminate()
            for process, _ in servers:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def token_for(base: str, user_id: str) -> dict[str, str]:
    answer = httpx.post(f"{base}/devnet/token", json={"user_id": user_id}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_fifty_buyers_race_for_one_deal_on_two_processes(
    two_services: tuple[list[str], dict[str, str]],
) -> None:
    bases, where = two_services
    first = bases[0]
    seller_auth = token_for(first, SELLER_ID)
    sell = httpx.post(
        f"{first}/v2/users/secondary-markets/users/{SELLER_ID}/tokens/{SONG_ID}/sell",
        json={"quantity": DEAL_TOKENS, "price_id": NEWM_ID, "price_amount": 1},
        headers=seller_auth,
        timeout=30,
    )
    assert sell.status_code == 200, sell.text
    tx_id = sell.json()["transaction_id"]
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{first}/v2/admin/tokens/{SONG_ID}/transactions/{tx_id}",
            headers=seller_auth,
            timeout=10,
        ).json()
        if status.get("status") in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert status.get("status") == "completed", status

    database = Database.connect(where["database_url"], upgrade=False)
    ledger = Ledger(where["devnet"])
    try:
        with database.session() as session:
            deal = DealRepo(session).list_by_seller(SELLER_ID, limit=1)[0]
            wallets = CustodialWalletRepo(session)
            buyers = {buyer_id(n): bytes(wallets.get(buyer_id(n)).address) for n in range(BUYERS)}  # type: ignore[union-attr]
            seller = bytes(wallets.get(SELLER_ID).address)  # type: ignore[union-attr]
        platform, node = fee_addresses()
        watched = [seller, platform, node]
        newm_before = {a: holdings(ledger, a, NEWM) for a in watched}

        auths = [token_for(bases[n % 2], buyer_id(n)) for n in range(BUYERS)]
        wants = [1 + n % 5 for n in range(BUYERS)]  # 150 asked in all, 100 for sale
        answers: list[httpx.Response | None] = [None] * BUYERS
        barrier = threading.Barrier(BUYERS)

        def buy(n: int) -> None:
            path = (
                f"{bases[n % 2]}/v2/users/purchases/users/{buyer_id(n)}/tokens/{SONG_ID}"
                "/buy-on-secondary-market"
            )
            with httpx.Client(timeout=120) as client:
                barrier.wait()
                answers[n] = client.post(
                    path, json={"quantity": wants[n], "deal_id": deal.id}, headers=auths[n]
                )

        started = time.monotonic()
        threads = [threading.Thread(target=buy, args=(n,)) for n in range(BUYERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        elapsed = time.monotonic() - started

        sold = 0
        winners = 0
        totals = {"total": 0, "platform": 0, "node": 0}
        by_server = [0, 0]
        for n, answer in enumerate(answers):
            assert answer is not None, f"buyer {n} got no answer"
            got = holdings(ledger, buyers[buyer_id(n)], SONG)
            if answer.status_code == 200:
                data = answer.json()["data"]
                record = ledger.transaction(bytes.fromhex(data["transaction_hash"]))
                assert record is not None, f"buyer {n}: 200 without a ledger transaction"
                assert got == wants[n] * 1_000_000, f"buyer {n} received {got}"
                sold += wants[n]
                winners += 1
                by_server[n % 2] += 1
                totals["total"] += wants[n] * 1_000_000
                totals["platform"] += wants[n] * 30_000
                totals["node"] += wants[n] * 20_000
            else:
                assert answer.status_code in (409, 422), (n, answer.status_code, answer.text)
                expected = "Deal conflict" if answer.status_code == 409 else "Purchase not possible"
                assert answer.json()["error"] == expected, answer.text
                assert got == 0, f"losing buyer {n} received {got}"
        assert sold <= DEAL_TOKENS
        with database.session() as session:
            final = DealRepo(session).get(deal.id)
            trades = [
                e
                for e in AuditLogRepo(session).list(deal_id=deal.id, limit=1000)
                if e.action is AuditAction.TRADE
            ]
        assert final is not None
        assert final.remaining == (DEAL_TOKENS - sold) * 1_000_000
        assert len(trades) == winners
        escrow = find_escrow(ledger.utxos_at(_escrow_address()), deal.id)
        held = 0 if escrow is None else escrow.value.quantity(SONG)
        assert held == final.remaining, "the escrow holds exactly what is still for sale"
        assert holdings(ledger, seller, NEWM) - newm_before[seller] == totals["total"]
        assert holdings(ledger, platform, NEWM) - newm_before[platform] == totals["platform"]
        assert holdings(ledger, node, NEWM) - newm_before[node] == totals["node"]
        print(
            f"\n{winners} winners ({by_server[0]} via the first process, {by_server[1]} via the "
            f"second), {sold} of {DEAL_TOKENS} sold, {BUYERS - winners} refused, "
            f"{elapsed:.2f} s for {BUYERS} concurrent requests"
        )
    finally:
        ledger.close()
        database.dispose()


def holdings(ledger: Ledger, address: bytes, asset: Any) -> int:
    return sum(u.value.quantity(asset) for u in ledger.utxos_at(address))


def _escrow_address() -> bytes:
    """The devnet's escrow address: the derived escrow wallet's key, no stake part."""
    from cardano_market.domain.address import Credential, make_address
    from cardano_market.runtime.keys import DEVNET_ESCROW_WALLET
    from cardano_market.synthetic import wallet

    key = wallet(DEVNET_ESCROW_WALLET).payment_key
    return make_address(Credential.key(key.hash), None, 0)
