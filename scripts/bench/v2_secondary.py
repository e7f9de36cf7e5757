"""Secondary-market purchase throughput and latency through HTTP, against the order-book GET as a
baseline measured in the same run.

    python scripts/bench/v2_secondary.py [--purchases 100] [--concurrency 8] [--database-url URL]

Not a test: it prints one line per figure. The whole service runs in-process (FastAPI app over
a fresh devnet, SQLite by default; `--database-url postgresql+psycopg://...` for PostgreSQL,
in a throw-away schema), driven by `--concurrency` client threads.

Figures:
- `orderbook_get`: `GET /v2/secondary-markets/tokens/{id}/deals?limit=10` (auth, one query,
  ten deals rendered): the baseline of what any v2 request costs here; measured before and
  after the purchases, the ratios use the mean.
- `buy_one_deal`: `--purchases` purchases of 1 token from ONE deal by concurrent buyers. Every
  purchase spends the deal's escrow output, so they are serialised on the deal's lock: this is
  the single-deal ceiling.
- `buy_100_deals`: the same number of purchases spread over 100 deals (one per deal), so
  settlements of different deals may overlap (on SQLite they still share the database lock).
- each line: purchases (or requests) per second, p50 and p99 latency; then the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # uplc's decoder (seeded scripts)

SONG_ID = "65f1a0c0e4b0a1b2c3d4e5f7"
NEWM_ID = "65f1a0c0e4b0a1b2c3d4e5f6"
SELLER_ID = "5e11e0000000000000000001"
KEK_HEX = "22" * 32
DEALS = 100


def buyer_id(n: int) -> str:
    return f"b0b0{n:020x}"


def write_seed(path: Path, buyers: int) -> Path:
    from cardano_market.chain.devnet.seed import DEFAULT_SEED

    seed = json.loads(DEFAULT_SEED.read_text(encoding="utf-8"), parse_float=str)
    seed["wallets"]["bench-seller"] = {
        "lovelace": 2_000_000_000,
        "utxos": 4,
        "assets": {"SONG": 1_000_000_000},
    }
    seed["users"].append({"id": SELLER_ID, "wallet": "bench-seller", "kyc": True})
    for n in range(buyers):
        name = f"bench-buyer-{n}"
        seed["wallets"][name] = {"lovelace": 2_000_000_000, "assets": {"NEWM": 10_000_000_000}}
        seed["users"].append({"id": buyer_id(n), "wallet": name, "kyc": True})
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


@contextmanager
def service(database_url: str | None, directory: Path, buyers: int) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cardano_market.config import load_settings
    from cardano_market.runtime import create_service_app, open_service

    for name in [n for n in os.environ if n.startswith("CARDANO_MARKET_")]:
        del os.environ[name]
    with _schema(database_url) as url:
        settings = load_settings(
            network="devnet",
            database_url=url or f"sqlite:///{directory / 'bench.db'}",
            devnet_path=directory / "devnet.db",
            seed=write_seed(directory / "seed.json", buyers),
            key_encryption_key=KEK_HEX,
        )
        parts = open_service(settings)
        with TestClient(create_service_app(parts, worker=False)) as client:
            yield client, parts


@contextmanager
def _schema(server_url: str | None) -> Iterator[str | None]:
    if server_url is None:
        yield None
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from pg_support import postgres_schema

    with postgres_schema(server_url) as url:
        yield url


def timed(
    calls: list[Callable[[int], int]], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """Run `calls` over `concurrency` threads, each call given its thread's number (the buyer
    it acts as): (wall seconds, latencies in ms, status counts)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(enumerate(calls))

    def worker(thread: int) -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, call = queue.pop(0)
            start = time.perf_counter()
            status = call(thread)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, wall: float, latencies: list[float], statuses: dict[int, int]) -> float:
    rate = len(latencies) / wall
    print(
        f"{name:16s} {rate:8.1f} /s   p50 {statistics.median(latencies):7.1f} ms   "
        f"p99 {p(latencies, 0.99):7.1f} ms   n={len(latencies)} statuses={statuses}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--purchases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server URL")
    args = parser.parse_args()
    purchases, concurrency = args.purchases, args.concurrency

    from cardano_market.worker.processor import TransactionProcessor

    with (
        tempfile.TemporaryDirectory() as tmp,
        service(args.database_url, Path(tmp), concurrency) as (client, parts),
    ):
        ctx = parts.v2
        auth = {
            user: {"Authorization": f"Bearer {ctx.verifier.issue_token(user)}"}
            for user in [SELLER_ID, *(buyer_id(n) for n in range(concurrency))]
        }
        sell = f"/v2/users/secondary-markets/users/{SELLER_ID}/tokens/{SONG_ID}/sell"

        def list_deal(quantity: int) -> None:
            body = {"quantity": quantity, "price_id": NEWM_ID, "price_amount": 1}
            answer = client.post(sell, json=body, headers=auth[SELLER_ID])
            assert answer.status_code == 200, answer.text

        started = time.perf_counter()
        list_deal(purchases)
        for _ in range(DEALS):
            list_deal(2)
        TransactionProcessor(ctx, "bench-worker").drain(limit=10_000)
        print(
            f"setup: {DEALS + 1} deals listed and locked in {time.perf_counter() - started:.1f} s"
        )
        book = client.get(
            f"/v2/secondary-markets/tokens/{SONG_ID}/deals",
            params={"limit": 500},
            headers=auth[SELLER_ID],
        ).json()["data"]["deals"]
        big = next(d["deal_id"] for d in book if d["quantity"] == purchases)
        small = [d["deal_id"] for d in book if d["quantity"] == 2][:DEALS]
        assert len(small) == DEALS, "not every deal was activated"

        def buy(deal_id: int) -> Callable[[int], int]:
            def call(thread: int) -> int:
                user = buyer_id(thread)
                path = f"/v2/users/purchases/users/{user}/tokens/{SONG_ID}/buy-on-secondary-market"
                body = {"quantity": 1, "deal_id": deal_id}
                return client.post(path, json=body, headers=auth[user]).status_code

            return call

        def get_book(thread: int) -> int:
            path = f"/v2/secondary-markets/tokens/{SONG_ID}/deals"
            params = {"limit": 10}
            return client.get(path, params=params, headers=auth[buyer_id(thread)]).status_code

        base = report("orderbook_get", *timed([get_book] * purchases, concurrency))
        one = report("buy_one_deal", *timed([buy(big)] * purchases, concurrency))
        spread = [buy(small[i % DEALS]) for i in range(purchases)]
        many = report("buy_100_deals", *timed(spread, concurrency))
        base2 = report("orderbook_get#2", *timed([get_book] * purchases, concurrency))
        baseline = (base + base2) / 2
        print(f"ratio buy_one_deal/orderbook_get     {one / baseline:.3f}")
        print(f"ratio buy_100_deals/orderbook_get    {many / baseline:.3f}")
        print(f"ratio buy_100_deals/buy_one_deal     {many / one:.3f}")
        parts.close()


if __name__ == "__main__":
    main()
