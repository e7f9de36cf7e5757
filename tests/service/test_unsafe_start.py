"""The service refuses to start with settings a hostile network would exploit (issue 12): unsafe
public-network settings, and a devnet on a non-loopback address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serve_process import free_port, start_serve


def test_unsafe_public_settings_refuse_to_start(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env.update(
        {
            "CARDANO_MARKET_RECAPTCHA_ASSESSMENT_URL": "http://recaptcha.example/assess",
            "CARDANO_MARKET_RECAPTCHA_API_KEY": "k",
            "CARDANO_MARKET_RECAPTCHA_WEB_SITE_KEY": "w",
            "CARDANO_MARKET_RECAPTCHA_MIN_SCORE": "0",
            "CARDANO_MARKET_KEY_ENCRYPTION_KEY": "00" * 32,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "serve", "--network", "mainnet"],
        cwd=tmp_path_factory.mktemp("unsafe"), env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    for expected in ("must be https", "at least 0.1", "trivially weak", "/metrics must not be"):
        assert expected in done.stderr


def test_a_devnet_on_a_public_address_refuses_to_start(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    done = subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path_factory.mktemp("remote"), env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "refusing to serve the devnet on 0.0.0.0" in done.stderr
    assert "--allow-remote-devnet" in done.stderr


def test_metrics_on_their_own_port_are_not_on_the_api_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    served = start_serve(tmp_path, {"CARDANO_MARKET_METRICS_PORT": str(metrics_port)})
    try:
        on_api = httpx.get(f"{served.url}/metrics", timeout=5)
        assert on_api.status_code == 404
        assert on_api.json()["cause"] == "/metrics is on its own port"
        httpx.get(f"{served.url}/v1/marketplace/sales", timeout=10)
        shown = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert shown.status_code == 200
        assert "cardano_market_http_request_duration_seconds" in shown.text
    finally:
        served.stop()
