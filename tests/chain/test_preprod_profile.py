"""`--network preprod` with nothing but a Blockfrost project, the reCAPTCHA settings and a cash
register: the shipped profile (PROTOCOL section 10) supplies the deployment, checked at start
against a preprod-shaped world served by the local fake Blockfrost (a real HTTP server). Then the
amount, the order transaction, its submission and the order status; and `cardano-market check`,
which exits non-zero when the fake serves a wrong reference script or a stale oracle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_blockfrost import FakeBlockfrost
from fastapi.testclient import TestClient
from preprod_world import SALE_ID, PreprodWorld, build_world

from cardano_market.config import Settings, load_settings
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import sign_transaction
from cardano_market.runtime import create_service_app, open_service
from cardano_market.runtime.workers import settlement_loops
from cardano_market.store.sales import SaleRepo
from cardano_market.synthetic import wallet, wallet_utxos
from env_support import clear_market_env

CASH_REGISTER = wallet("preprod cash register").bech32
KEK = "3f9c2a71d85e0b46c17fa9e3528d0b6e94a1c7f35e28b0d69c4a1f7e3b5d8a02"  # random-looking


@pytest.fixture
def fake() -> Iterator[FakeBlockfrost]:
    with FakeBlockfrost() as server:
        yield server


@pytest.fixture
def world(fake: FakeBlockfrost) -> PreprodWorld:
    return build_world(fake)


def env_for(fake: FakeBlockfrost, tmp_path: Path) -> dict[str, str]:
    """Everything a user sets for preprod: Blockfrost, reCAPTCHA (off here), a cash register
    (and the v2 custodial API's secrets and token audience and issuer, and a /metrics token,
    which it needs on any public network)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env.update(
        CARDANO_MARKET_NETWORK="preprod",
        CARDANO_MARKET_BLOCKFROST_PROJECT_ID="preprodTest",
        CARDANO_MARKET_BLOCKFROST_URL=fake.url,
        CARDANO_MARKET_UNSAFE_ALLOW_NO_RECAPTCHA="true",
        CARDANO_MARKET_RECAPTCHA_ENABLED="false",
        CARDANO_MARKET_CASH_REGISTER_ADDRESS=CASH_REGISTER,
        CARDANO_MARKET_KEY_ENCRYPTION_KEY=KEK,  # the v2 custodial API's two secrets
        CARDANO_MARKET_JWT_SECRET="preprod-profile-test-jwt-secret-0123456789",
        CARDANO_MARKET_JWT_AUDIENCE="cardano-market",
        CARDANO_MARKET_JWT_ISSUER="https://auth.example",
        CARDANO_MARKET_METRICS_TOKEN="preprod-metrics-token",
        CARDANO_MARKET_DATABASE_URL=f"sqlite:///{tmp_path / 'preprod.db'}",
    )
    return env


def settings_for(
    fake: FakeBlockfrost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> Settings:
    clear_market_env(monkeypatch)
    for name, value in env_for(fake, tmp_path).items():
        if name.startswith("CARDANO_MARKET_"):
            monkeypatch.setenv(name, value)
    return load_settings(**extra)


def check(fake: FakeBlockfrost, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "check", *args],
        cwd=tmp_path,
        env=env_for(fake, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_profile_fills_the_deployment_settings(
    fake: FakeBlockfrost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: PreprodWorld
) -> None:
    settings = settings_for(fake, tmp_path, monkeypatch)
    profile = world.profile
    assert settings.queue_address == profile.queue_address
    assert settings.reference_address == profile.reference_address
    assert settings.sale_script_ref == profile.script_refs["sale"]
    assert settings.monitor_from_block == 2718273
    assert settings.marketplace_config is not None
    assert settings.marketplace_config.currency == world.currency
    # any value can still be overridden by a setting
    other = wallet("another oracle").bech32
    assert settings_for(fake, tmp_path, monkeypatch, oracle_address=other).oracle_address == other
    # without the profile, the deployment settings are required again
    with pytest.raises(ConfigError, match="CARDANO_MARKET_QUEUE_ADDRESS"):
        settings_for(fake, tmp_path, monkeypatch, network_profile=False)


def test_amount_order_transaction_and_status_on_the_preprod_profile(
    fake: FakeBlockfrost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: PreprodWorld
) -> None:
    parts = open_service(settings_for(fake, tmp_path, monkeypatch))  # the deployment checks out
    with parts.database.session() as session:
        SaleRepo(session).add(
            world.sale(), pointer_policy=world.profile.pointer_policy, now=parts.market.clock()
        )
    buyer = wallet("preprod buyer")
    utxos = wallet_utxos(buyer, 6, tokens={world.currency: 10**11}, lovelace=20_000_000)
    with TestClient(create_service_app(parts)) as client:
        quote = client.post(
            "/v1/marketplace/orders/amount", json={"saleId": SALE_ID, "bundleQuantity": 2}
        )
        assert quote.status_code == 200, quote.text
        order_id = quote.json()["orderId"]
        amount = Value.from_cbor(quote.json()["amountCborHex"])
        assert amount.quantity(world.currency) > 0  # priced in tNEWM at the fake oracle's price
        built = client.post(
            "/v1/marketplace/orders/transaction",
            json={
                "orderId": order_id,
                "changeAddress": buyer.bech32,
                "utxoCborHexList": [u.to_cbor_hex() for u in utxos],
            },
        )
        assert built.status_code == 200, built.text
        tx = built.json()
        status = client.get(f"/v1/marketplace/orders/{order_id}").json()
        assert status["state"] == "Issued" and status["orderTxId"] == tx["txId"]
        witnesses = sign_transaction(tx["txCborHex"], [buyer.payment_key.seed]).hex()
        submitted = client.post(
            "/v1/cardano/submitTx", json={"txId": tx["txId"], "witnessSetCborHex": witnesses}
        )
        assert submitted.status_code == 200, submitted.text
        assert fake.state.submits[tx["txId"]] == 1
        assert client.get(f"/v1/marketplace/orders/{order_id}").json()["state"] == "Submitted"

        # The order reaches the preprod queue address; the monitor records it.
        issued = Utxo.from_cbor(_first_output(tx["txCborHex"], tx["txId"]))
        assert issued.address == world.queue_address_bytes
        world.add_queue_utxo(issued)
        [monitor] = settlement_loops(parts, batcher=False)
        monitor.once()
        status = client.get(f"/v1/marketplace/orders/{order_id}").json()
        assert status["state"] == "Queued", status
        assert status["bundlesRequested"] == 2 and status["ownerAddress"] == buyer.bech32
        assert status["amountLocked"]["lovelace"] == issued.value.coin


def test_serve_refuses_a_deployment_that_is_not_the_profiles(
    fake: FakeBlockfrost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: PreprodWorld
) -> None:
    world.serve_reference_scripts(wrong="queue")
    with pytest.raises(ConfigError, match="queue reference script") as refused:
        open_service(settings_for(fake, tmp_path, monkeypatch))
    assert "preprod profile" in str(refused.value)
    world.serve_reference_scripts()
    world.serve_reference(world.reference_datum(hot_key=bytes(28)))
    with pytest.raises(ConfigError, match="hot key: the datum says 0000"):
        open_service(settings_for(fake, tmp_path, monkeypatch))
    # the profile off: nothing to compare the hot key with
    parts = open_service(settings_for(fake, tmp_path, monkeypatch, network_profile=False, **{
        name: getattr(world.profile, name)
        for name in ("queue_address", "sale_address", "oracle_address", "oracle_feed_unit")
    }, marketplace={"currency": world.profile.currency}))  # fmt: skip
    parts.close()


def test_check_prints_one_line_per_check_and_fails_on_a_wrong_script_or_stale_oracle(
    fake: FakeBlockfrost, tmp_path: Path, world: PreprodWorld
) -> None:
    done = check(fake, tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0] == "network preprod (profile)"
    for name in (
        "chain backend",
        "oracle datum",
        "reference datum",
        "sale script hash",
        "queue script hash",
        "pointer policy",
        "hot key",
        "fee bounds",
        "queue address",
        "sale address",
        "oracle",
        "currency policy",
        "sale reference script",
        "queue reference script",
        "vault reference script",
    ):
        assert any(line.startswith(f"ok   {name}:") for line in lines), (name, lines)
    assert "fee bounds: 1,000,000, 1,000,000, 1,000,000" in done.stdout
    assert not (tmp_path / "preprod.db").exists()  # check stores nothing

    world.serve_reference_scripts(wrong="vault")
    wrong = check(fake, tmp_path)
    assert wrong.returncode == 1
    assert any(
        line.startswith("FAIL vault reference script:") for line in wrong.stdout.splitlines()
    )

    world.serve_reference_scripts()
    world.serve_oracle(stale=True)
    stale = check(fake, tmp_path)
    assert stale.returncode == 1
    [line] = [x for x in stale.stdout.splitlines() if "oracle datum" in x]
    assert line.startswith("FAIL oracle datum:") and "stale" in line


def _first_output(tx_hex: str, tx_id: str) -> bytes:
    import cbor2

    output = cbor2.loads(bytes.fromhex(tx_hex))[0][1][0]
    return bytes(cbor2.dumps([[bytes.fromhex(tx_id), 0], output]))


def test_check_works_on_the_devnet(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    done = subprocess.run(
        [sys.executable, "-m", "cardano_market.cli", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0] == "network devnet"
    assert all(line.startswith("ok   ") for line in lines[1:]), lines
    names = {line[5:].split(":")[0] for line in lines[1:]}
    assert {"reference datum", "queue address", "pointer reference script"} <= names
    assert not (tmp_path / "cardano-market.db").exists()  # the devnet, but no database file
