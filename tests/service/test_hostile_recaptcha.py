"""With reCAPTCHA on, a v1 POST is judged by its headers before its body is read: a 150 MB body
without (or with a failing) token is refused at once; a passing token is assessed once, by the
edge, and the route goes on."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_process import Served, start_serve

from cardano_market.devtools.recaptcha_server import RecaptchaAssessmentServer

API_KEY = "hostile-api-key"
BIG = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[RecaptchaAssessmentServer, str]]:
    server = RecaptchaAssessmentServer(api_key=API_KEY)
    with server.running() as base_url:
        yield server, f"{base_url}/v1/projects/test/assessments"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[RecaptchaAssessmentServer, str]
) -> Iterator[Served]:
    env = {
        "CARDANO_MARKET_RECAPTCHA_ENABLED": "true",
        "CARDANO_MARKET_RECAPTCHA_ASSESSMENT_URL": upstream[1],
        "CARDANO_MARKET_RECAPTCHA_API_KEY": API_KEY,
        "CARDANO_MARKET_RECAPTCHA_WEB_SITE_KEY": "site-key-web",
    }
    server = start_serve(Path(tmp_path_factory.mktemp("recaptcha")), env)
    try:
        yield server
    finally:
        server.stop()


def _big_post(served: Served, headers: bytes) -> tuple[bytes, float]:
    head = (
        b"POST /v1/marketplace/orders/amount HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n" % (headers, BIG)
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(head + b"[" * 65536)
        answer = sock.recv(65536)
        seconds = time.perf_counter() - start
        while b"\r\n\r\n" not in answer or not _complete(answer):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return answer, seconds


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def test_no_recaptcha_headers_is_400_before_the_body(served: Served) -> None:
    before = served.rss_bytes()
    answer, seconds = _big_post(served, b"")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"g-recaptcha" in answer
    assert seconds < 0.1 and served.rss_bytes() - before < 5 * 2**20


def test_a_failing_token_is_403_before_the_body(served: Served) -> None:
    answer, seconds = _big_post(
        served,
        b"g-recaptcha-platform: web\r\ng-recaptcha-token: valid:generate_order_amount:0.1\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"Recaptcha failed" in answer
    assert seconds < 0.1


def test_a_passing_token_is_assessed_once_and_the_route_runs(
    served: Served, upstream: tuple[RecaptchaAssessmentServer, str]
) -> None:
    server = upstream[0]
    before = server.requests_served
    answer = httpx.post(
        f"{served.url}/v1/marketplace/orders/amount",
        json={"saleId": str(uuid.uuid4()), "bundleQuantity": 1},
        headers={
            "g-recaptcha-platform": "web",
            "g-recaptcha-token": "valid:generate_order_amount:0.9",
        },
        timeout=10,
    )
    assert answer.status_code == 404, answer.text  # the route ran: an unknown sale
    assert server.requests_served - before == 1
