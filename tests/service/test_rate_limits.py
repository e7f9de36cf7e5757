"""Rate limits on `cardano-market serve` as real processes: one process (memory), and two
processes sharing Redis, where the limit holds across them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from serve_process import start_serve

REDIS_URL = os.environ.get("CARDANO_MARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json() == {
        "code": 429,
        "description": "Too Many Requests",
        "cause": "rate limit exceeded",
    }


def test_one_process_limits_reads_per_ip_with_retry_after(tmp_path: Path) -> None:
    served = start_serve(tmp_path, {"CARDANO_MARKET_RATE_LIMIT_READ": "5/minute"})
    try:
        with httpx.Client(base_url=served.url, timeout=10) as client:
            statuses = [client.get("/v1/marketplace/sales").status_code for _ in range(5)]
            assert statuses == [200] * 5
            _limited(client.get("/v1/marketplace/sales"))
            # another route class keeps its own budget; health is never limited
            assert client.post("/v1/marketplace/orders/amount", json={}).status_code == 400
            assert client.get("/health").status_code == 200
    finally:
        served.stop()


def test_two_processes_share_the_limit_through_redis(tmp_path: Path) -> None:
    if not _redis_up():
        if os.environ.get("CARDANO_MARKET_REQUIRE_INTEROP"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # db 7: this test's own
    env = {
        "CARDANO_MARKET_RATE_LIMIT_READ": "6/minute",
        "CARDANO_MARKET_RATE_LIMIT_STORAGE_URL": REDIS_URL,
        # both sit behind "a proxy" naming the same client: the key is the client, not the peer
        "CARDANO_MARKET_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
    }
    first = start_serve(tmp_path / "a", env)
    second = start_serve(tmp_path / "b", env)
    client_ip = {"x-forwarded-for": f"203.0.113.{uuid.uuid4().int % 200 + 1}"}
    try:
        with httpx.Client(timeout=10, headers=client_ip) as client:
            answers = [
                client.get(f"{server.url}/v1/marketplace/sales").status_code
                for server in (first, second, first, second, first, second)
            ]
            assert answers == [200] * 6
            _limited(client.get(f"{first.url}/v1/marketplace/sales"))
            _limited(client.get(f"{second.url}/v1/marketplace/sales"))
            other = {"x-forwarded-for": "198.51.100.7"}
            assert (
                client.get(f"{second.url}/v1/marketplace/sales", headers=other).status_code == 200
            )
    finally:
        first.stop()
        second.stop()
