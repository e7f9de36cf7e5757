"""The CLI side of v2: `cardano-market worker` as a real process finishes what the service
queued, and `cardano-market devnet token` mints tokens the service accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from custody_world import ALICE, SONG, V2Service
from fastapi.testclient import TestClient

from cardano_market.config import load_settings
from cardano_market.runtime import create_service_app, open_service
from cardano_market.store.transactions import V2TransactionRepo, V2TxStatus
from keys import KEK_HEX


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_worker_process_and_devnet_token(tmp_path: Path, clean_env: None) -> None:
    database_url = f"sqlite:///{tmp_path / 'service.db'}"
    devnet = tmp_path / "devnet.db"
    env = {
        **os.environ,
        "CARDANO_MARKET_DATABASE_URL": database_url,
        "CARDANO_MARKET_KEY_ENCRYPTION_KEY": KEK_HEX,
    }
    # No JWT setting: the devnet keeps a generated secret beside its file, shared by all.
    settings = load_settings(
        network="devnet",
        database_url=database_url,
        devnet_path=devnet,
        recaptcha_enabled=False,
        key_encryption_key=KEK_HEX,
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts)) as client:
        minted = _cli("devnet", "token", ALICE, "--path", str(devnet), env=env)
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        response = client.post(
            f"/v2/users/purchases/users/{ALICE}/tokens/{SONG}/buy-on-primary-market",
            json={"quantity": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        tx_id = response.json()["transaction_id"]

        worker = _cli("worker", "--once", "--devnet-path", str(devnet), "--text-logs", env=env)
        assert worker.returncode == 0, worker.stderr
        assert "1 step(s)" in worker.stderr

        v2 = V2Service(client, parts)
        with v2.ctx.database.session() as session:
            tx = V2TransactionRepo(session).get(tx_id)
        assert tx is not None and tx.status is V2TxStatus.COMPLETED
        assert tx.tx_hash is not None
        assert v2.ctx.backend.tx_status(bytes.fromhex(tx.tx_hash)).state.value == "confirmed"
        admin = _cli("devnet", "token", "--path", str(devnet), env=env).stdout.strip()
        users = client.get(f"/v2/admin/users/{ALICE}", headers={"Authorization": f"Bearer {admin}"})
        assert users.status_code == 200
