"""`serve --workers N` as real processes: N HTTP workers share one port while the background
loops (v2 worker, monitor, batcher) run once, in the parent; an order placed over HTTP is still
filled. A busy port is refused before anything starts, saying what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env["CARDANO_MARKET_SETTLE_INTERVAL_SECONDS"] = "0.5"
    return env


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if "(cm-deep-stack)" in stat:  # the parent's uplc process (`_deep_stack`), no worker
            continue
        if ppid == pid and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cardano_market.cli", "serve", "--port", str(port),
             "--workers", "2", "--text-logs"],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while len(_children(process.pid)) < 2 or not _healthy(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve --workers 2 did not come up:\n{log.read_text()}")
            time.sleep(0.3)
        yield base, process, log
    finally:
        process.terminate()
        process.wait(timeout=60)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_worker_processes_share_the_port_and_the_loops_run_once(
    two_workers: tuple[str, subprocess.Popen[str], Path],
) -> None:
    base, process, log = two_workers
    assert len(_children(process.pid)) == 2
    # both processes answer: a request lands on either, each keeps its own metrics
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(40):
            quote = http.post(
                "/v1/marketplace/orders/amount", json={"saleId": USD_SALE, "bundleQuantity": 1}
            )
            assert quote.status_code == 200, quote.text
        wallet = next(w for w in http.get("/devnet/wallets").json() if w["name"] == "bob")
        utxos = http.get(
            "/devnet/wallets/bob/utxos", params={"amount": quote.json()["amountCborHex"]}
        ).json()
        built = http.post(
            "/v1/marketplace/orders/transaction",
            json={
                "orderId": quote.json()["orderId"],
                "changeAddress": wallet["address"],
                "utxoCborHexList": utxos,
            },
        ).json()
        signed = http.post(
            "/devnet/wallets/bob/sign-tx", json={"txCborHex": built["txCborHex"]}
        ).json()
        submitted = http.post(
            "/v1/cardano/submitTx",
            json={"txId": built["txId"], "witnessSetCborHex": signed["witnessSetCborHex"]},
        )
        assert submitted.status_code == 200, submitted.text
        order_id = quote.json()["orderId"]
        deadline = time.monotonic() + 180
        status = http.get(f"/v1/marketplace/orders/{order_id}").json()
        while not status["settled"] and time.monotonic() < deadline:
            time.sleep(0.5)
            status = http.get(f"/v1/marketplace/orders/{order_id}").json()
    assert status["state"] == "Filled", status  # the parent's batcher and monitor did it
    text = log.read_text()
    assert text.count("background loops running once, in the parent") == 1
    served_by = [line for line in text.splitlines() if "Started server process" in line]
    assert len(served_by) == 2
    starts = [line for line in text.splitlines() if " worker " in line and "started" in line]
    assert len(starts) == 1, starts  # one v2 transaction worker, not one per process


def test_a_busy_port_says_what_to_do_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cardano_market.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no devnet file
