"""The edge's parts one by one: CBOR depth, JSON depth, exact money, JWT lifetime and leeway,
public-network settings, idempotency fingerprints, and the recursion limit left alone."""

from __future__ import annotations

import sys
import time
from decimal import Decimal

import jwt
import pytest

from cardano_market.app.v2.money import AmountError, parse_amount
from cardano_market.config import load_settings
from cardano_market.domain.cbor import MAX_DEPTH, item_end
from cardano_market.domain.errors import CborError
from cardano_market.security.jwt_auth import AuthenticationError, JwtVerifier
from cardano_market.service.edge import json_depth_exceeds

SECRET = b"s" * 32


def test_the_cbor_scanner_refuses_depth_over_400_without_recursing() -> None:
    assert item_end(b"\x81" * MAX_DEPTH + b"\x00") == MAX_DEPTH + 1
    with pytest.raises(CborError, match="nested deeper than 400"):
        item_end(b"\x81" * 1_000_000 + b"\x00")
    with pytest.raises(CborError, match="nested deeper than 400"):
        item_end(b"\x9f" * 500)  # indefinite arrays count too


def test_json_depth_is_counted_without_parsing() -> None:
    assert not json_depth_exceeds(b"[" * 400 + b"]" * 400)
    assert json_depth_exceeds(b"[" * 401 + b"]" * 401)
    assert not json_depth_exceeds(b"[" + b"[]," * 5000 + b"[]]")  # wide, not deep


@pytest.mark.parametrize(
    ("value", "decimals", "error"),
    [
        (Decimal("1e-999999999"), 6, "exponent"),
        (Decimal("1234567890123456789012345678901"), 0, "too large"),
        (Decimal("1e39"), 6, "too large"),
        (Decimal("0.0000001"), 6, "more than 6 decimal places"),
        (Decimal("-1"), 0, "negative"),
    ],
)
def test_money_is_exact_or_refused(value: Decimal, decimals: int, error: str) -> None:
    with pytest.raises(AmountError, match=error):
        parse_amount(value, decimals)


def test_money_never_rounds() -> None:
    assert parse_amount(Decimal("18446744.073709551615"), 12) == 2**64 - 1
    with pytest.raises(AmountError, match="too large"):
        parse_amount(Decimal("18446744.073709551616"), 12)
    assert parse_amount(Decimal("60"), 0) == parse_amount(Decimal("60.0"), 0) == 60


def _token(**claims: object) -> str:
    return "Bearer " + jwt.encode({"sub": "ab" * 12, **claims}, SECRET, algorithm="HS256")


def test_jwt_leeway_and_maximum_lifetime() -> None:
    verifier = JwtVerifier(algorithm="HS256", key=SECRET)
    now = int(time.time())
    assert verifier.verify(_token(iat=now + 5, exp=now + 600)).user_id == "ab" * 12
    with pytest.raises(AuthenticationError, match="lifetime"):
        verifier.verify(_token(iat=now, exp=now + 2 * 86_400))
    with pytest.raises(AuthenticationError):
        verifier.verify(_token(iat=now, exp=1e308))


_PUBLIC = {
    "network": "mainnet",
    "recaptcha_assessment_url": "http://recaptcha.example/assess",
    "recaptcha_api_key": "k",
    "recaptcha_web_site_key": "w",
    "recaptcha_min_score": 0.0,
    "key_encryption_key": "00" * 32,
}


def test_a_public_network_refuses_unsafe_settings() -> None:
    with pytest.raises(Exception) as caught:
        load_settings(None, **_PUBLIC)
    message = str(caught.value)
    for expected in (
        "RECAPTCHA_ASSESSMENT_URL must be https",
        "RECAPTCHA_MIN_SCORE must be at least 0.1",
        "KEY_ENCRYPTION_KEY is trivially weak",
        "/metrics must not be public",
        "JWT_AUDIENCE and CARDANO_MARKET_JWT_ISSUER",
    ):
        assert expected in message


def test_the_service_never_raises_the_recursion_limit() -> None:
    from cardano_market.contracts import load_applied

    before = sys.getrecursionlimit()
    load_applied.cache_clear()
    assert load_applied("sale", b"\x40", b"\x40", b"\x40")  # ran in the deep-stack child
    assert sys.getrecursionlimit() == before
