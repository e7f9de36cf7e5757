"""What a newcomer met on the way in, each fixed: a request body sent without a JSON content type
says so; a malformed witness set names `witnessSetCborHex`; a devnet seed without a batcher
serves without settlement (with a warning that says why) instead of dying; a bad seed creates no
database; `cardano-market order` finds its default scenario from any directory; the devnet's
generated JWT secret is git-ignored; `scripts/run.sh` installs only when pyproject.toml
changed."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_world import Service

from cardano_market.config import load_settings
from cardano_market.domain.errors import ConfigError, MarketError
from cardano_market.domain.values import Value
from cardano_market.runtime import create_service_app, open_service
from cardano_market.runtime.workers import settlement_loops

ROOT = Path(__file__).resolve().parents[2]
USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"
AMOUNT = "/v1/marketplace/orders/amount"

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_body_not_sent_as_json_says_so(service: Service) -> None:
    body = json.dumps({"saleId": USD_SALE, "bundleQuantity": 1})
    for headers in ({}, {"content-type": "text/plain"}):
        response = service.client.post(
            AMOUNT, content=body, headers={**service.headers("generate_order_amount"), **headers}
        )
        assert response.status_code == 400
        assert "Content-Type: application/json" in response.json()["cause"], response.text
    # the same body as JSON is fine, and a JSON body with a bad field still names the field
    ok = service.post(AMOUNT, "generate_order_amount", {"saleId": USD_SALE, "bundleQuantity": 1})
    assert ok.status_code == 200
    bad = service.post(AMOUNT, "generate_order_amount", {"saleId": USD_SALE})
    assert bad.status_code == 400 and "bundleQuantity" in bad.json()["cause"]
    assert "Content-Type" not in bad.json()["cause"]


@sqlite_only
def test_a_malformed_witness_set_names_the_field(service: Service) -> None:
    quote = service.post(
        AMOUNT, "generate_order_amount", {"saleId": USD_SALE, "bundleQuantity": 1}
    ).json()
    alice = service.parts.wallets["alice"]
    built = service.post(
        "/v1/marketplace/orders/transaction",
        "generate_order_transaction",
        {
            "orderId": quote["orderId"],
            "changeAddress": alice.bech32,
            "utxoCborHexList": alice.get_utxos(Value.from_cbor(quote["amountCborHex"])),
        },
    ).json()
    good = alice.sign_tx(built["txCborHex"])
    forged = good[:-8] + ("00000000" if good[-8:] != "00000000" else "11111111")
    for witnesses in ("a1", "ff", "82a0a0", forged):
        response = service.post(
            "/v1/cardano/submitTx",
            "submit_tx",
            {"txId": built["txId"], "witnessSetCborHex": witnesses},
        )
        assert response.status_code == 400, (witnesses, response.text)
        assert response.json()["cause"].startswith("witnessSetCborHex"), response.text
    whole = service.post("/v1/cardano/submitTx", "submit_tx", {"cborHex": "84a0"})
    assert whole.status_code == 400 and whole.json()["cause"].startswith("cborHex")


def _seed_without_batcher(tmp_path: Path) -> Path:
    seed: dict[str, Any] = json.loads((ROOT / "fixtures/devnet/demo-seed.json").read_text())
    seed["marketplace"].pop("batcher", None)
    seed["marketplace"].pop("collateral", None)
    path = tmp_path / "no-batcher.json"
    path.write_text(json.dumps(seed))
    return path


@pytest.mark.usefixtures("clean_env")
def test_a_seed_without_a_batcher_serves_without_settlement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        devnet_path=tmp_path / "devnet.db",
        seed=_seed_without_batcher(tmp_path),
    )
    parts = open_service(settings)
    caplog.set_level(logging.WARNING, logger="cardano_market.service")
    with TestClient(create_service_app(parts, settle=True)) as client:
        assert client.get("/health").status_code == 200
        fees = client.get("/v1/marketplace/orders/fees")
        assert fees.status_code == 200
    warned = [r.getMessage() for r in caplog.records if "without the batcher" in r.getMessage()]
    assert warned and "batcher" in warned[0] and "collateral" in warned[0]
    # asked for explicitly (`cardano-market settle`), it is a clear configuration error
    parts = open_service(settings)
    try:
        with pytest.raises(ConfigError, match="nothing to batch"):
            settlement_loops(parts)
        assert [loop.name for loop in settlement_loops(parts, batcher=False)] == ["monitor"]
    finally:
        parts.close()


@pytest.mark.usefixtures("clean_env")
def test_a_bad_seed_creates_no_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad-seed.json"
    bad.write_text('{"wallets": {"alice": {"lovelace": -1}}}')
    database = tmp_path / "service.db"
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{database}",
        devnet_path=tmp_path / "devnet.db",
        seed=bad,
    )
    with pytest.raises(MarketError, match=r"\$\.wallets\.alice"):
        open_service(settings)
    assert not database.exists()
    assert not (tmp_path / "devnet.db").exists()


def test_the_order_command_finds_its_default_scenario_anywhere(tmp_path: Path) -> None:
    packaged = ROOT / "src/cardano_market/scenarios/usd-sale.json"
    assert packaged.read_bytes() == (ROOT / "fixtures/orders/usd-sale.json").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "order", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["saleId"] == "842f5460-76f8-41d8-add9-d043a7a381de"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_devnet_jwt_secret_is_git_ignored() -> None:
    for generated in ("devnet.db.jwt-secret", "cardano-market.db", "devnet.db"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", generated], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, f"{generated} is not git-ignored"


def test_run_sh_installs_only_when_pyproject_changed(tmp_path: Path) -> None:
    if not (ROOT / ".venv/bin/python").exists():
        pytest.skip("scripts/run.sh needs the project's .venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    pip_log = tmp_path / "pip.log"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "scripts/run.sh"), "--help"],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            check=False,
        )

    first = run()  # installs when the stamp is missing or stale, else not
    assert first.returncode == 0, first.stderr
    stamp = ROOT / ".venv/.cardano-market-installed"
    assert stamp.exists()
    env["PIP_LOG"] = str(pip_log)  # pip writes it whenever it runs
    second = run()
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr
    assert not pip_log.exists(), "run.sh ran pip although pyproject.toml did not change"
    assert "serve" in second.stdout
