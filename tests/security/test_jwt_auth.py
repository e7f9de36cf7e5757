"""Bearer JWT verification: every 401 case (missing, malformed, expired, tampered, wrongly
signed, `alg: none`, HS/RS algorithm confusion, missing claims) and the happy paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cardano_market.domain.errors import ConfigError
from cardano_market.security.jwt_auth import (
    AUTHENTICATION_REQUIRED,
    AccessDeniedError,
    AuthenticationError,
    JwtVerifier,
    Principal,
    issue_token,
)
from env_support import clear_market_env

SECRET = b"0123456789abcdef" * 4  # 64 bytes: long enough for HS512 too (the confusion test)
ALICE = "680c02896d91ca0145cfeb81"
BOB = "680c02896d91ca0145cfeb82"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CARDANO_MARKET_* setting from the machine leaks into `load_settings`."""
    clear_market_env(monkeypatch)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_private: rsa.RSAPrivateKey) -> bytes:
    return rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def hs() -> JwtVerifier:
    return JwtVerifier(algorithm="HS256", key=SECRET)


@pytest.fixture
def rs(rsa_private: rsa.RSAPrivateKey) -> JwtVerifier:
    return JwtVerifier(algorithm="RS256", key=rsa_private.public_key())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand (PyJWT refuses to make the dangerous ones): HMAC-SHA256 over the
    signing input with `key`, or no signature at all."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": ALICE, "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(verifier: JwtVerifier, header: str | None, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        verifier.verify(header)


def test_a_valid_token_names_the_user(hs: JwtVerifier) -> None:
    principal = hs.verify(f"Bearer {hs.issue_token(ALICE)}")
    assert principal == Principal(user_id=ALICE, is_admin=False)
    admin = hs.verify(f"bearer   {hs.issue_token(BOB.upper(), admin=True)}")
    assert admin == Principal(user_id=BOB, is_admin=True)
    assert AUTHENTICATION_REQUIRED == {"error": "Authentication required"}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("   ", "no Authorization header"),
        ("Basic dXNlcjpwYXNz", "not 'Bearer <jwt>'"),
        ("Bearer", "not 'Bearer <jwt>'"),
        ("Bearer abc.def", "not 'Bearer <jwt>'"),
        ("Bearer a.b.c.d", "not 'Bearer <jwt>'"),
        ("Bearer a b.c.d", "not 'Bearer <jwt>'"),
        ("Bearer a.b.c", "malformed token header"),
        ("Bearer " + "a" * 9000 + ".b.c", "longer than"),
    ],
)
def test_missing_and_malformed_headers(hs: JwtVerifier, header: str | None, reason: str) -> None:
    _refused(hs, header, reason)


def test_expired_and_not_yet_valid_tokens(hs: JwtVerifier) -> None:
    expired = hs.issue_token(ALICE, ttl_seconds=60, now=int(time.time()) - 3600)
    _refused(hs, f"Bearer {expired}", "expired")
    early = jwt.encode(_claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256")
    _refused(hs, f"Bearer {early}", "rejected")
    lenient = JwtVerifier(algorithm="HS256", key=SECRET, leeway_seconds=120)
    just_expired = hs.issue_token(ALICE, ttl_seconds=60, now=int(time.time()) - 90)
    assert lenient.verify(f"Bearer {just_expired}").user_id == ALICE
    _refused(hs, f"Bearer {just_expired}", "expired")


def test_tampered_and_wrongly_signed_tokens(hs: JwtVerifier) -> None:
    token = hs.issue_token(ALICE)
    header, payload, signature = token.split(".")
    bob_payload = hs.issue_token(BOB).split(".")[1]
    _refused(hs, f"Bearer {header}.{bob_payload}.{signature}", "Signature verification failed")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _refused(hs, f"Bearer {header}.{payload}.{flipped}", "rejected")
    _refused(hs, f"Bearer {header}.{payload}.", "rejected")
    other = jwt.encode(_claims(), b"another-secret-of-at-least-32-bytes!!", algorithm="HS256")
    _refused(hs, f"Bearer {other}", "Signature verification failed")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(hs: JwtVerifier, rs: JwtVerifier, alg: str) -> None:
    unsigned = _forge({"alg": alg, "typ": "JWT"}, _claims(role="admin"), None)
    for verifier in (hs, rs):
        _refused(verifier, f"Bearer {unsigned}", "is not the configured")
    # ... and a missing alg too
    _refused(hs, f"Bearer {_forge({'typ': 'JWT'}, _claims(), SECRET)}", "is not the configured")


def test_rs256_verifier_refuses_hs256_signed_with_its_public_key(
    rs: JwtVerifier, public_pem: bytes
) -> None:
    """The classic confusion attack: the attacker knows the public key and uses it as an HMAC
    secret. The header's alg must be the configured one, so this never reaches HMAC."""
    forged = _forge({"alg": "HS256", "typ": "JWT"}, _claims(role="admin"), public_pem)
    _refused(rs, f"Bearer {forged}", "'HS256' is not the configured RS256")
    # PyJWT itself would refuse the PEM as an HMAC key; the check above comes first anyway.
    lying = _forge({"alg": "RS256", "typ": "JWT"}, _claims(role="admin"), public_pem)
    _refused(rs, f"Bearer {lying}", "rejected")


def test_hs256_verifier_refuses_other_algorithms(
    hs: JwtVerifier, rsa_private: rsa.RSAPrivateKey
) -> None:
    rs_token = jwt.encode(_claims(), rsa_private, algorithm="RS256")
    _refused(hs, f"Bearer {rs_token}", "'RS256' is not the configured HS256")
    hs512 = jwt.encode(_claims(), SECRET, algorithm="HS512")
    _refused(hs, f"Bearer {hs512}", "'HS512' is not the configured HS256")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
        ({"sub": "680c02896d91ca0145cfeb8"}, "24-hex-digit"),
        ({"sub": "680c02896d91ca0145cfeb8z"}, "24-hex-digit"),
        ({"sub": 12345}, "rejected"),
        ({"exp": "tomorrow"}, "rejected"),
        ({"role": ["admin"]}, "role is not a string"),
    ],
)
def test_missing_or_malformed_claims(
    hs: JwtVerifier, overrides: dict[str, Any], reason: str
) -> None:
    # claims are dated when the test runs, not when the module is collected: a long suite would
    # otherwise reach them after their 10-minute expiry
    token = _forge({"alg": "HS256", "typ": "JWT"}, _claims(**overrides), SECRET)
    _refused(hs, f"Bearer {token}", reason)


def test_roles_other_than_admin_are_plain_users(hs: JwtVerifier) -> None:
    for role in ("user", "Admin", "administrator"):
        token = jwt.encode(_claims(role=role), SECRET, algorithm="HS256")
        assert hs.verify(f"Bearer {token}").is_admin is False


def test_audience_and_issuer_when_configured() -> None:
    verifier = JwtVerifier(algorithm="HS256", key=SECRET, audience="market", issuer="newm")
    assert verifier.verify(f"Bearer {verifier.issue_token(ALICE)}").user_id == ALICE
    for claims in (_claims(), _claims(aud="other", iss="newm"), _claims(aud="market", iss="x")):
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        _refused(verifier, f"Bearer {token}", "rejected")


def test_rs256_round_trip(rs: JwtVerifier, rsa_private: rsa.RSAPrivateKey) -> None:
    pem = rsa_private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = issue_token(ALICE, key=pem, algorithm="RS256", admin=True)
    assert rs.verify(f"Bearer {token}") == Principal(user_id=ALICE, is_admin=True)
    with pytest.raises(ConfigError, match="no private key"):
        rs.issue_token(ALICE)


def test_keys_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        JwtVerifier(algorithm="HS256", key=b"short")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="1024 bits"):
        JwtVerifier(algorithm="RS256", key=small.public_key())
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(ConfigError, match="RSA public key"):
        JwtVerifier(algorithm="RS256", key=ec_key)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unsupported"):
        JwtVerifier(algorithm="ES256", key=SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="24 hex"):
        issue_token("alice", key=SECRET)


def test_principal_may_act_only_for_itself() -> None:
    alice = Principal(user_id=ALICE, is_admin=False)
    alice.require_user(ALICE)
    alice.require_user(ALICE.upper())
    with pytest.raises(AccessDeniedError):
        alice.require_user(BOB)
    with pytest.raises(AccessDeniedError):
        alice.require_admin()
    admin = Principal(user_id=BOB, is_admin=True)
    admin.require_admin()
    with pytest.raises(AccessDeniedError):  # admins use the admin routes for other users
        admin.require_user(ALICE)
