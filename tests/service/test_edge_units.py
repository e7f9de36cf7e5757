"""The edge's parts one by one: CBOR depth, JSON depth, exact money, JWT lifetime and leeway,
public-network settings, idempotency fingerprints, and the recursion limit left alone."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from typing import Any

import jwt
import pytest

from cardano_market.config import load_settings
from cardano_market.domain.amounts import AmountError, parse_amount
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


def _call_edge(headers: list[tuple[bytes, bytes]], body: bytes = b"{}") -> tuple[int, bytes]:
    """One POST through `EdgeMiddleware` in front of an app that answers 200."""
    import asyncio

    from cardano_market.service.edge import EdgeMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": headers}
    asyncio.run(EdgeMiddleware(app, max_body_bytes=1024)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_content_length_of_thousands_of_digits_is_413_not_500() -> None:
    status, body = _call_edge([(b"content-length", b"9" * 5000)])
    assert status == 413 and b'"code": 413' in body
    assert _call_edge([(b"content-length", b"12x")])[0] == 400
    assert _call_edge([(b"content-length", b"2")])[0] == 200


def test_a_long_utxo_list_is_refused_before_its_items() -> None:
    from pydantic import ValidationError

    from cardano_market.service.v1.models import MAX_UTXOS, OrderTransactionRequest

    items = ["zz"] * 700_000
    start = time.perf_counter()
    try:
        OrderTransactionRequest.model_validate(
            {"orderId": "x", "changeAddress": "y", "utxoCborHexList": items}
        )
    except ValidationError as exc:
        elapsed = time.perf_counter() - start
        error = exc.errors()[0]
    else:
        raise AssertionError("700,000 UTxOs were accepted")
    assert f"at most {MAX_UTXOS} items" in error["msg"]
    assert elapsed < 0.01, f"{elapsed * 1000:.1f} ms: the items were validated first"


def test_numbers_are_judged_by_their_text_before_any_conversion() -> None:
    from cardano_market.service.edge import json_number_problem
    from cardano_market.service.v2.secondary import BuyBody

    assert json_number_problem(b'{"deal_id": 1e600000}') == (
        "body: a number's exponent is beyond +-60"
    )
    assert json_number_problem(b'{"q": 41' + b"1" * 40 + b"}") is not None
    assert json_number_problem(b'{"q": NaN}') == "body: NaN is not a number"
    assert json_number_problem(b'{"hex": "a,1e999", "q": 1.5}') is None  # inside a string
    start = time.perf_counter()  # the route's own check, for an app without the edge
    with pytest.raises(ValueError, match="exponent"):
        BuyBody.model_validate({"quantity": 1, "deal_id": Decimal("1e600000")})
    assert time.perf_counter() - start < 0.01
