"""v2 settings: the start-up refusal off the devnet without a key-encryption key, key formats,
and the RS256 public key (inline or from a file), with no secret echoed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cardano_market.config import load_settings
from cardano_market.domain.address import encode_address, script_address
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.values import unit_of

KEK_B64 = base64.b64encode(hashlib.sha256(b"cardano-market test kek").digest()).decode()
PUBLIC_NETWORK: dict[str, Any] = {
    "recaptcha_enabled": False,
    "unsafe_allow_no_recaptcha": True,
    "blockfrost_project_id": "blockfrost-sekrit",
    "marketplace": json.dumps({"currency": unit_of((bytes(28), b"NEWM"))}),
    **{
        f"{name}_address": encode_address(script_address(bytes([n]) * 28, None, 1))
        for n, name in enumerate(("queue", "sale", "cash_register", "oracle"), start=1)
    },
    "oracle_feed_unit": unit_of((b"\x05" * 28, b"OracleFeed")),
    "metrics_token": "metrics-sekrit",
    "jwt_audience": "cardano-market",
    "jwt_issuer": "https://auth.example",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CARDANO_MARKET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.mark.parametrize("network", ["mainnet", "preprod", "preview"])
def test_public_networks_refuse_to_start_without_a_key_encryption_key(network: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(network=network, **PUBLIC_NETWORK)
    message = str(caught.value)
    assert f"refusing to start on {network} without CARDANO_MARKET_KEY_ENCRYPTION_KEY" in message
    settings = load_settings(network=network, key_encryption_key=KEK_B64, **PUBLIC_NETWORK)
    assert settings.key_encryption_key is not None


def test_the_devnet_starts_without_one() -> None:
    assert load_settings().key_encryption_key is None


def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDANO_MARKET_KEY_ENCRYPTION_KEY", base64.b64decode(KEK_B64).hex())
    settings = load_settings(network="mainnet", **PUBLIC_NETWORK)
    assert settings.key_encryption_key is not None


@pytest.mark.parametrize("network", ["devnet", "mainnet"])
def test_a_malformed_key_encryption_key_is_refused_without_echoing_it(network: str) -> None:
    secret = base64.b64encode(b"sixteen-byte-key").decode()
    with pytest.raises(ConfigError) as caught:
        load_settings(network=network, key_encryption_key=secret, **PUBLIC_NETWORK)
    message = str(caught.value)
    assert "CARDANO_MARKET_KEY_ENCRYPTION_KEY must be 32 bytes" in message
    assert "decodes to 16 bytes" in message
    assert secret not in message


def test_rs256_public_key_inline_or_from_a_file(rsa_pem: str, tmp_path: Path) -> None:
    inline = load_settings(jwt_public_key=rsa_pem, jwt_audience="market", jwt_issuer="newm")
    assert inline.jwt_public_key_pem() == rsa_pem
    assert (inline.jwt_audience, inline.jwt_issuer) == ("market", "newm")
    assert inline.describe()["v2Auth"] == "RS256"
    path = tmp_path / "issuer.pem"
    path.write_text(rsa_pem)
    assert load_settings(jwt_public_key_file=path).jwt_public_key_pem() == rsa_pem
    assert load_settings(jwt_secret="s" * 32).describe()["v2Auth"] == "HS256"
    assert load_settings().describe()["v2Auth"] is None
    assert load_settings().jwt_public_key_pem() is None


def test_one_token_algorithm_per_deployment(rsa_pem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both: one deployment accepts one token algorithm"):
        load_settings(jwt_public_key=rsa_pem, jwt_secret="s" * 32)
    path = tmp_path / "issuer.pem"
    path.write_text(rsa_pem)
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEY or CARDANO_MARKET_JWT_PUBLIC_KEY_FILE"):
        load_settings(jwt_public_key=rsa_pem, jwt_public_key_file=path)


def test_unusable_public_keys_are_refused_at_start_up(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jwt_public_key": "not a pem"}, "CARDANO_MARKET_JWT_PUBLIC_KEY: the JWT public key is"),
        (
            {"jwt_public_key": _pem(ec.generate_private_key(ec.SECP256R1()))},
            "RS256 needs an RSA public key",
        ),
        (
            {"jwt_public_key_file": tmp_path / "missing.pem"},
            "CARDANO_MARKET_JWT_PUBLIC_KEY_FILE: cannot read",
        ),
    ]
    for overrides, cause in cases:
        with pytest.raises(ConfigError, match=cause):
            load_settings(**overrides)
