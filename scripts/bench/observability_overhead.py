"""Per-request cost of the observability middleware, against the same app without it, in one run.

    python scripts/bench/observability_overhead.py [--count 2000] [--rounds 5]

Not a test: it prints one line per figure and the difference against the baseline measured in
the same process (these machines are noisy). Requests go straight into the ASGI app (no client,
no socket), so the figures are the app's own cost per request:
- `bare`: a trivial `GET /items/{itemId}` route in a FastAPI app (baseline).
- `observed_quiet`: the same app with `install_observability` (request id, latency histogram
  under the route template, error counter), the access log below its level.
- `observed_logged`: the same, with the JSON access line written (to a null stream).
Each figure is the best of `--rounds` rounds of `--count` sequential requests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI

from cardano_market.service.observability import (
    JsonFormatter,
    Metrics,
    RequestIdFilter,
    access_log,
    install_observability,
)


def make_app(observed: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{itemId}")
    async def item(itemId: str) -> dict[str, str]:
        return {"id": itemId}

    if observed:
        install_observability(app, Metrics())
    return app


async def serve(app: FastAPI, count: int) -> float:
    """CPU seconds per request over `count` requests straight into the ASGI app (CPU time, not
    wall time: other processes on a shared machine then skew it far less)."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    start = time.process_time()
    for i in range(count):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/items/{i}",
            "raw_path": f"/items/{i}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench"), (b"x-request-id", b"bench-request")],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
        }
        await app(scope, receive, send)
    elapsed = time.process_time() - start
    assert sent[0]["status"] == 200
    return elapsed / count


def measure(count: int, rounds: int) -> dict[str, float]:
    """Best seconds per request of each variant; rounds interleave the variants, so a busy
    moment on the machine hits them all alike."""
    null = open(os.devnull, "w")  # noqa: SIM115 - kept open for the rest of the run
    handler = logging.StreamHandler(null)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    access_log.addHandler(handler)
    access_log.propagate = False
    variants = {
        "bare": (make_app(False), logging.WARNING),
        "observed_quiet": (make_app(True), logging.WARNING),
        "observed_logged": (make_app(True), logging.INFO),
    }
    best = dict.fromkeys(variants, float("inf"))
    for app, level in variants.values():  # warm-up: imports, route compilation
        access_log.setLevel(level)
        asyncio.run(serve(app, min(count, 200)))
    for _ in range(rounds):
        for name, (app, level) in variants.items():
            access_log.setLevel(level)
            best[name] = min(best[name], asyncio.run(serve(app, count)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    best = measure(args.count, args.rounds)
    bare = best["bare"]
    print(f"bare             {bare * 1e6:8.1f} us/request")
    for name in ("observed_quiet", "observed_logged"):
        extra = best[name] - bare
        print(f"{name:<16} {best[name] * 1e6:8.1f} us/request  (+{extra * 1e6:.1f} us)")
    budget = 1 / 800 * 2  # 800 req/s on 2 cores: 2.5 ms of CPU per request
    share = (best["observed_logged"] - bare) / budget
    print(f"overhead_share   {share:8.1%} of the 2.5 ms per-request budget at 800 req/s")


if __name__ == "__main__":
    main()
