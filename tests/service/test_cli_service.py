"""`cardano-market serve` as a real process, and `cardano-market demo`'s walk over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cardano_market.demo import run_demo


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_starts_on_the_embedded_default(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cardano_market.cli", "serve", "--port", str(port), "--text-logs"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, process.stdout.read() if process.stdout else ""
        assert health.status_code == 200 and health.json()["status"] == "ok"
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert "/v1/marketplace/orders/amount" in docs["paths"]
        sales = httpx.get(f"http://127.0.0.1:{port}/v1/marketplace/sales", timeout=5)
        assert sales.status_code == 200 and len(sales.json()) == 2  # the demo seed's
        assert (tmp_path / "devnet.db").exists() and (tmp_path / "cardano-market.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_refuses_a_public_network_without_its_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    done = subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "serve", "--network", "mainnet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "CARDANO_MARKET_RECAPTCHA_API_KEY" in done.stderr
    assert "CARDANO_MARKET_BLOCKFROST_PROJECT_ID" in done.stderr


@pytest.mark.usefixtures("clean_env")
def test_demo_walks_the_order_path(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(tmp_path, say=lines.append)
    assert result["queued"] and result["status"] == "confirmed"
    assert [line.split()[0] for line in lines if line[:1].isdigit()] == [
        "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ]  # fmt: skip
    order = result["order"]
    assert order["orderId"] == result["orderId"] and order["orderTxId"] == result["txId"]
    assert order["state"] == "Filled" and order["bundlesFilled"] == 3 and order["settled"]
    assert any(line.startswith("9 filled      3 of 3 bundles") for line in lines), lines
