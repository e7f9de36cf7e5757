"""The keys a service reads from its settings (`runtime.keys`): the custodial key store (the
configured key, or the devnet's generated one beside its SQLite file) and the JWT verifier."""

from __future__ import annotations

import base64
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardano_market.config import load_settings
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.keys import PaymentKey
from cardano_market.runtime.keys import jwt_verifier_from_settings, keystore_from_settings
from cardano_market.security.keystore import KeyStore, devnet_key_file
from env_support import clear_market_env

KEK = bytes.fromhex("8f" * 16 + "1e" * 16)
ALICE = "680c02896d91ca0145cfeb81"
SEED = PaymentKey.derive("custodial alice").seed
SECRET = b"0123456789abcdef" * 4


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CARDANO_MARKET_* setting from the machine leaks into `load_settings`."""
    clear_market_env(monkeypatch)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_configured_key_comes_from_settings() -> None:
    settings = load_settings(key_encryption_key=base64.b64encode(KEK).decode())
    assert keystore_from_settings(settings).current_key_id == KeyStore(KEK).current_key_id


def test_devnet_without_a_key_generates_one_beside_its_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'market.db'}"
    settings = load_settings(database_url=url)
    key_file = devnet_key_file(url)
    assert key_file == tmp_path / "market.db.kek"
    assert not key_file.exists()

    barrier = threading.Barrier(6)

    def racing(_: int) -> bytes:
        barrier.wait(10)
        return keystore_from_settings(settings).current_key_id

    with ThreadPoolExecutor(6) as pool:  # processes sharing the database agree on one key
        ids = set(pool.map(racing, range(6)))
    assert len(ids) == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    blob = keystore_from_settings(settings).encrypt_signing_key(ALICE, SEED)
    assert keystore_from_settings(settings).decrypt_signing_key(ALICE, blob) == SEED  # restart


def test_devnet_key_elsewhere() -> None:
    memory = load_settings(database_url="sqlite://")
    assert devnet_key_file("sqlite://") is None
    assert (
        keystore_from_settings(memory).current_key_id
        != keystore_from_settings(memory).current_key_id
    )  # the data dies with the process, so does its key
    with pytest.raises(ConfigError, match="set CARDANO_MARKET_KEY_ENCRYPTION_KEY"):
        keystore_from_settings(load_settings(database_url="postgresql+psycopg://u@h/db"))


def test_jwt_verifier_from_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, public_pem: bytes
) -> None:
    monkeypatch.chdir(tmp_path)
    hs = jwt_verifier_from_settings(load_settings(jwt_secret=SECRET.decode()))
    assert hs.algorithm == "HS256"
    assert hs.verify(f"Bearer {hs.issue_token(ALICE)}").user_id == ALICE
    with pytest.raises(ConfigError, match="CARDANO_MARKET_JWT_SECRET must be at least 32"):
        jwt_verifier_from_settings(load_settings(jwt_secret="jwt-sekrit"))
    with pytest.raises(ConfigError, match="needs CARDANO_MARKET_JWT_SECRET"):
        jwt_verifier_from_settings(load_settings())
    key_file = tmp_path / "issuer.pem"
    key_file.write_bytes(public_pem)
    rs = jwt_verifier_from_settings(
        load_settings(jwt_public_key_file=key_file, jwt_audience="market", jwt_issuer="newm")
    )
    assert (rs.algorithm, rs.audience, rs.issuer) == ("RS256", "market", "newm")
