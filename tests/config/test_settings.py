"""Settings: environment parsing, start-up refusals with clear causes, secrets kept out of logs;
the v2 settings: the refusal off the devnet without a key-encryption key, key formats, and the RS256
public key (inline or from a file), with no secret echoed."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cardano_market.config import Network, Settings, load_settings, redact_url
from cardano_market.domain.address import Credential, encode_address, make_address, script_address
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.values import AssetId, unit_of
from env_support import REQUIRE_INTEROP, clear_market_env

CURRENCY: AssetId = (bytes.fromhex("682fe60c" + "11" * 24), b"NEWM")  # as tests/store's samples
UNIT = unit_of(CURRENCY)
RECAPTCHA_ENV = {
    "CARDANO_MARKET_RECAPTCHA_ASSESSMENT_URL": "https://recaptcha.example/v1/projects/p/assessments",
    "CARDANO_MARKET_RECAPTCHA_API_KEY": "api-key-sekrit",
    "CARDANO_MARKET_RECAPTCHA_WEB_SITE_KEY": "web-site-key",
    "CARDANO_MARKET_RECAPTCHA_IOS_SITE_KEY": "ios-site-key",
}
PUBLIC_NETWORK_ENV = {
    **RECAPTCHA_ENV,
    "CARDANO_MARKET_BLOCKFROST_PROJECT_ID": "mainnetBlockfrostSekrit",
    "CARDANO_MARKET_MARKETPLACE": json.dumps({"currency": UNIT}),
    "CARDANO_MARKET_QUEUE_ADDRESS": encode_address(script_address(b"\x01" * 28, b"\x02" * 28, 1)),
    "CARDANO_MARKET_SALE_ADDRESS": encode_address(script_address(b"\x03" * 28, b"\x02" * 28, 1)),
    "CARDANO_MARKET_CASH_REGISTER_ADDRESS": encode_address(
        make_address(Credential("key", b"\x04" * 28), None, 1)
    ),
    "CARDANO_MARKET_ORACLE_ADDRESS": "addr1wy32q7067yt9c2em8kx5us4vhxzv4xve24u6j8ptlc5mzqcahrwzt",
    "CARDANO_MARKET_ORACLE_FEED_UNIT": "f155a26044efe91b3c44f87a7536d2d631c847717930ff547ae9d05c"
    "4f7261636c6546656564",
    "CARDANO_MARKET_KEY_ENCRYPTION_KEY": "fdQnSVpnv4cLaT4cAJxCVyuzOnbTorW9P20m1hw4LYc=",
    "CARDANO_MARKET_METRICS_TOKEN": "metrics-sekrit",
    "CARDANO_MARKET_JWT_AUDIENCE": "cardano-market",
    "CARDANO_MARKET_JWT_ISSUER": "https://auth.example",
}
KEK_SECRET = "Bdehnn2gb9XhjKUqUpobRtQpUz7O8jTWIrXs/VV+KMI="  # sha256(b"cardano-market test kek 2")
KEK_B64 = base64.b64encode(hashlib.sha256(b"cardano-market test kek").digest()).decode()
PUBLIC_NETWORK_OVERRIDES: dict[str, Any] = {
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
    """No CARDANO_MARKET_* setting from the machine leaks in; CI's REQUIRE_INTEROP stays, and
    is ignored because it is not a setting."""
    clear_market_env(monkeypatch, keep=(REQUIRE_INTEROP,))
    monkeypatch.setenv(REQUIRE_INTEROP, "1")
    monkeypatch.chdir(tmp_path)  # a stray .env in the working directory must not be read


def _set(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_defaults_are_the_embedded_devnet() -> None:
    settings = load_settings()
    assert settings.network is Network.DEVNET
    assert settings.database_url == "sqlite:///cardano-market.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.seed is None
    assert settings.recaptcha_enabled is False
    assert settings.marketplace_config is None


def test_environment_variables_are_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    _set(
        monkeypatch,
        {
            "CARDANO_MARKET_NETWORK": "devnet",
            "CARDANO_MARKET_DATABASE_URL": "postgresql+psycopg://market:pw@db.internal/market",
            "CARDANO_MARKET_SEED": str(seed),
            "CARDANO_MARKET_HOST": "0.0.0.0",
            "cardano_market_port": "9100",
            "CARDANO_MARKET_RECAPTCHA_ENABLED": "true",
            "CARDANO_MARKET_RECAPTCHA_MIN_SCORE": "0.7",
            "CARDANO_MARKET_RECAPTCHA_TIMEOUT_SECONDS": "2.5",
            **RECAPTCHA_ENV,
            "CARDANO_MARKET_MARKETPLACE": json.dumps(
                {
                    "currency": UNIT,
                    "pendingOrderTtl": 120,
                    "serviceFeePercentage": 7.5,
                    "usdPriceAdjustmentPercentage": "0.125",
                    "profitAmountUsd": "250000000000",
                }
            ),
            "CARDANO_MARKET_JWT_SECRET": "jwt-sekrit",
        },
    )
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://market:pw@db.internal/market"
    assert settings.seed == seed
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)
    assert settings.recaptcha_enabled is True
    assert settings.recaptcha_min_score == 0.7
    assert settings.recaptcha_timeout_seconds == 2.5
    assert settings.recaptcha_site_keys == {"web": "web-site-key", "ios": "ios-site-key"}
    assert settings.recaptcha_api_key is not None
    assert settings.recaptcha_api_key.get_secret_value() == "api-key-sekrit"
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "jwt-sekrit"
    market = settings.marketplace_config
    assert market is not None
    assert market.currency == CURRENCY
    assert market.order_ttl_seconds == 120
    assert market.sale_ttl_seconds == 300  # default
    assert market.service_fee_percentage == Fraction(15, 2)  # exact: JSON 7.5 is not a float here
    assert market.usd_price_adjustment_percentage == Fraction(1, 8)
    assert market.profit_amount_usd == 250_000_000_000


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDANO_MARKET_PORT", "9100")
    assert load_settings(port=9200).port == 9200


def test_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "market.env"
    env_file.write_text(
        "CARDANO_MARKET_PORT=9300\n"
        f"CARDANO_MARKET_DATABASE_URL=sqlite:///{tmp_path}/x.db\n"
        "CARDANO_MARKET_BLOCKFROST_PROJECT_ID=fromfile\n"
    )
    settings = load_settings(env_file)
    assert settings.port == 9300
    assert settings.database_url.endswith("/x.db")
    assert settings.blockfrost_project_id is not None
    assert settings.blockfrost_project_id.get_secret_value() == "fromfile"


def test_env_file_with_a_misspelt_setting_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / "market.env"
    env_file.write_text("CARDANO_MARKET_PROT=9300\n")
    with pytest.raises(ConfigError, match="CARDANO_MARKET_PROT"):
        load_settings(env_file)


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.env")


def test_marketplace_file(tmp_path: Path) -> None:
    path = tmp_path / "marketplace.json"
    path.write_text(json.dumps({"currency": UNIT, "orderLovelace": 5000000}))
    settings = load_settings(marketplace_file=path)
    assert settings.marketplace_config is not None
    assert settings.marketplace_config.order_lovelace == 5_000_000


@pytest.mark.parametrize(
    ("overrides", "cause"),
    [
        ({"marketplace": "{not json"}, "CARDANO_MARKET_MARKETPLACE is not valid JSON"),
        ({"marketplace": "[1, 2]"}, "must be a JSON object"),
        (
            {"marketplace": json.dumps({"currency": UNIT, "serviceFee": 5})},
            "unknown marketplace setting(s): serviceFee",
        ),
        ({"marketplace": json.dumps({"orderLovelace": 1})}, "currency is required"),
        (
            {"marketplace": json.dumps({"currency": UNIT}), "marketplace_file": "m.json"},
            "not both",
        ),
        ({"marketplace_file": "missing.json"}, "cannot read"),
        ({"port": 70000}, "CARDANO_MARKET_PORT"),
        ({"network": "testnet"}, "CARDANO_MARKET_NETWORK"),
        ({"recaptcha_min_score": 1.5}, "CARDANO_MARKET_RECAPTCHA_MIN_SCORE"),
        ({"blockfrost_url": "ftp://x"}, "http(s) URL"),
    ],
)
def test_bad_settings_name_the_variable(overrides: dict[str, Any], cause: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert cause in str(caught.value)


@pytest.mark.parametrize("network", ["mainnet", "preprod", "preview"])
def test_public_network_without_recaptcha_is_refused(
    monkeypatch: pytest.MonkeyPatch, network: str
) -> None:
    _set(monkeypatch, PUBLIC_NETWORK_ENV)
    monkeypatch.setenv("CARDANO_MARKET_RECAPTCHA_ENABLED", "false")
    with pytest.raises(ConfigError) as caught:
        load_settings(network=network)
    message = str(caught.value)
    assert f"refusing to start on {network} with reCAPTCHA disabled" in message
    assert "CARDANO_MARKET_RECAPTCHA_ENABLED=true" in message
    assert "CARDANO_MARKET_UNSAFE_ALLOW_NO_RECAPTCHA=true" in message


def test_public_network_without_recaptcha_starts_with_the_unsafe_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set(monkeypatch, PUBLIC_NETWORK_ENV)
    monkeypatch.setenv("CARDANO_MARKET_RECAPTCHA_ENABLED", "false")
    monkeypatch.setenv("CARDANO_MARKET_UNSAFE_ALLOW_NO_RECAPTCHA", "true")
    settings = load_settings(network="mainnet")
    assert settings.recaptcha_enabled is False


def test_recaptcha_is_on_by_default_on_public_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, PUBLIC_NETWORK_ENV)
    settings = load_settings(network="Preprod")
    assert settings.network is Network.PREPROD
    assert settings.recaptcha_enabled is True
    # ... so without its keys a public network does not start:
    monkeypatch.delenv("CARDANO_MARKET_RECAPTCHA_API_KEY")
    with pytest.raises(ConfigError, match="CARDANO_MARKET_RECAPTCHA_API_KEY is not set"):
        load_settings(network="preprod")


def test_recaptcha_enabled_needs_a_site_key() -> None:
    with pytest.raises(ConfigError, match="no site key is set"):
        load_settings(
            recaptcha_enabled=True,
            recaptcha_assessment_url="https://r.example/a",
            recaptcha_api_key="k",
        )


def test_public_network_needs_blockfrost_and_the_marketplace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set(monkeypatch, RECAPTCHA_ENV)
    with pytest.raises(ConfigError) as caught:
        load_settings(network="mainnet")
    message = str(caught.value)
    assert "CARDANO_MARKET_BLOCKFROST_PROJECT_ID" in message
    assert "CARDANO_MARKET_MARKETPLACE" in message


def test_secrets_are_not_in_repr_str_or_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, PUBLIC_NETWORK_ENV)
    settings = load_settings(
        network="mainnet",
        database_url="postgresql+psycopg://market:db-pass-sekrit@db:5432/market",
        jwt_secret="jwt-sekrit",
        key_encryption_key=KEK_SECRET,
    )
    shown = " ".join(
        [repr(settings), str(settings), json.dumps(settings.describe()), settings.model_dump_json()]
    )
    for secret in (
        "api-key-sekrit",
        "mainnetBlockfrostSekrit",
        "db-pass-sekrit",
        "jwt-sekrit",
        KEK_SECRET,
    ):
        assert secret not in shown
    summary = settings.describe()
    assert summary["database"] == "postgresql+psycopg://market:***@db:5432/market"
    assert summary["network"] == "mainnet"
    assert summary["marketplaceCurrency"] == UNIT
    assert summary["recaptchaPlatforms"] == ["ios", "web"]


def test_secrets_are_not_echoed_in_validation_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(port="sekrit-port")
    assert "sekrit" not in str(caught.value)


def test_settings_are_immutable() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1


def test_redact_url() -> None:
    assert redact_url("sqlite:///cardano-market.db") == "sqlite:///cardano-market.db"
    assert redact_url("postgresql+psycopg://u:p@h/db?x=1") == "postgresql+psycopg://u:***@h/db?x=1"
    assert redact_url("postgresql://u:p@[::1]:5433/db") == "postgresql://u:***@[::1]:5433/db"


def test_settings_class_is_the_one_load_settings_builds() -> None:
    assert type(load_settings()) is Settings


def test_importing_the_cli_does_not_import_pydantic_or_sqlalchemy() -> None:
    """The CLI must start fast: settings and the store are imported by the commands that use
    them, never at its top level."""
    code = (
        "import sys, cardano_market.cli; "
        "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'sqlalchemy', 'alembic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# v2 settings: key-encryption key and token verification keys.


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
        load_settings(network=network, **PUBLIC_NETWORK_OVERRIDES)
    message = str(caught.value)
    assert f"refusing to start on {network} without CARDANO_MARKET_KEY_ENCRYPTION_KEY" in message
    settings = load_settings(
        network=network, key_encryption_key=KEK_B64, **PUBLIC_NETWORK_OVERRIDES
    )
    assert settings.key_encryption_key is not None


def test_the_devnet_starts_without_one() -> None:
    assert load_settings().key_encryption_key is None


def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDANO_MARKET_KEY_ENCRYPTION_KEY", base64.b64decode(KEK_B64).hex())
    settings = load_settings(network="mainnet", **PUBLIC_NETWORK_OVERRIDES)
    assert settings.key_encryption_key is not None


@pytest.mark.parametrize("network", ["devnet", "mainnet"])
def test_a_malformed_key_encryption_key_is_refused_without_echoing_it(network: str) -> None:
    secret = base64.b64encode(b"sixteen-byte-key").decode()
    with pytest.raises(ConfigError) as caught:
        load_settings(network=network, key_encryption_key=secret, **PUBLIC_NETWORK_OVERRIDES)
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
