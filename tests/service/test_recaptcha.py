"""reCAPTCHA verification against the real local assessment server, over HTTP.

Each token tells the server what to answer (see `devtools.recaptcha_server`), so the tests need no
shared state with it: the verifier's whole path (headers, site key, POST, parsing, deadline, fail
closed) and the guard's v1 bodies run for real.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from cardano_market.config import load_settings
from cardano_market.devtools.recaptcha_server import RecaptchaAssessmentServer
from cardano_market.domain.errors import ConfigError
from cardano_market.service.errors import ApiError, install_error_handlers
from cardano_market.service.recaptcha import (
    POOL_SIZE,
    Action,
    RecaptchaVerifier,
    recaptcha_guard,
)

API_KEY = "test-api-key-5ecret"
SITE_KEYS = {"web": "site-key-web", "android": "site-key-android", "ios": "site-key-ios"}
FORBIDDEN = {"code": 403, "description": "Forbidden", "cause": "Recaptcha failed"}


class Upstream:
    """A running assessment server and its assessment URL."""

    def __init__(self, server: RecaptchaAssessmentServer, base_url: str) -> None:
        self.server = server
        self.url = f"{base_url}/v1/projects/test/assessments"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = RecaptchaAssessmentServer(api_key=API_KEY)
    with server.running() as base_url:
        yield Upstream(server, base_url)


def make_verifier(url: str, outcomes: list[str] | None = None, **options: Any) -> RecaptchaVerifier:
    settings: dict[str, Any] = {
        "assessment_url": url,
        "api_key": API_KEY,
        "site_keys": SITE_KEYS,
        "min_score": 0.5,
        "timeout_seconds": 5.0,
        "on_outcome": outcomes.append if outcomes is not None else None,
    }
    return RecaptchaVerifier(**{**settings, **options})


def verify(
    url: str,
    platform: str | None,
    token: str | None,
    action: Action = Action.GET_SALES,
    outcomes: list[str] | None = None,
    **options: Any,
) -> ApiError | None:
    """Run one verification with a fresh verifier; the ApiError it raised, or None."""

    async def run() -> ApiError | None:
        async with make_verifier(url, outcomes, **options) as verifier:
            try:
                await verifier.verify(platform, token, action)
            except ApiError as exc:
                return exc
            return None

    return asyncio.run(run())


def assert_forbidden(error: ApiError | None) -> None:
    assert error is not None
    assert (error.status, error.cause) == (403, "Recaptcha failed")


# -- verdicts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["web", "Web", "android", "Android", "ios", "iOS", " IOS "])
def test_valid_token_passes_on_every_platform(upstream: Upstream, platform: str) -> None:
    outcomes: list[str] = []
    assert verify(upstream.url, platform, "valid:get_sales:0.9", outcomes=outcomes) is None
    assert outcomes == ["valid"]


def test_each_platform_sends_its_own_site_key(upstream: Upstream) -> None:
    for platform, site_key in SITE_KEYS.items():
        token = f"valid:generate_order_amount:0.9:{site_key}"
        assert verify(upstream.url, platform, token, Action.GENERATE_ORDER_AMOUNT) is None
        assert upstream.server.events[-1] == {
            "siteKey": site_key,
            "token": token,
            "expectedAction": "generate_order_amount",
        }


def test_token_minted_for_another_site_key_is_forbidden(upstream: Upstream) -> None:
    outcomes: list[str] = []
    token = f"valid:get_sales:0.9:{SITE_KEYS['android']}"
    assert_forbidden(verify(upstream.url, "web", token, outcomes=outcomes))
    assert outcomes == ["invalid_token"]


def test_invalid_token_is_forbidden_and_logged_without_token_or_key(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[str] = []
    with caplog.at_level(logging.DEBUG):
        assert_forbidden(verify(upstream.url, "web", "invalid:expired", outcomes=outcomes))
    assert outcomes == ["invalid_token"]
    ours = [r for r in caplog.records if r.name == "cardano_market.recaptcha"]
    assert [r.getMessage() for r in ours] == [
        "reCAPTCHA invalid_token for get_sales: invalid token (EXPIRED)"
    ]
    assert "invalid:expired" not in caplog.text


def test_httpx_request_log_does_not_carry_the_api_key(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert verify(upstream.url, "web", "valid:get_sales:0.9") is None
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests, "httpx logs each request at INFO; this test needs that record"
    assert "key=%2A%2A%2A" in requests[0]
    assert API_KEY not in caplog.text


def test_token_for_another_action_is_forbidden(upstream: Upstream) -> None:
    outcomes: list[str] = []
    error = verify(upstream.url, "web", "valid:get_sale:0.9", Action.GET_SALES, outcomes)
    assert_forbidden(error)
    assert outcomes == ["wrong_action"]


def test_score_below_minimum_is_forbidden_and_the_minimum_itself_passes(upstream: Upstream) -> None:
    outcomes: list[str] = []
    assert_forbidden(verify(upstream.url, "web", "valid:get_sales:0.3", outcomes=outcomes))
    token = "valid:get_sales:0.7"
    assert verify(upstream.url, "web", token, outcomes=outcomes, min_score=0.7) is None
    assert outcomes == ["low_score", "valid"]


@pytest.mark.parametrize("platform", ["windows", "web; ios", "webb"])
def test_unknown_platform_is_forbidden_without_asking_upstream(
    upstream: Upstream, platform: str
) -> None:
    outcomes: list[str] = []
    served = upstream.server.requests_served
    assert_forbidden(verify(upstream.url, platform, "valid:get_sales:0.9", outcomes=outcomes))
    assert outcomes == ["unsupported_platform"]
    assert upstream.server.requests_served == served


def test_platform_without_a_site_key_is_forbidden(upstream: Upstream) -> None:
    outcomes: list[str] = []
    only_web = {"web": SITE_KEYS["web"], "ios": ""}
    error = verify(
        upstream.url, "ios", "valid:get_sales:0.9", outcomes=outcomes, site_keys=only_web
    )
    assert_forbidden(error)
    assert outcomes == ["unsupported_platform"]


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_header_is_bad_request(upstream: Upstream, token: str | None) -> None:
    outcomes: list[str] = []
    served = upstream.server.requests_served
    error = verify(upstream.url, "web", token, outcomes=outcomes)
    assert error is not None
    assert (error.status, error.cause) == (400, "Missing header g-recaptcha-token")
    assert outcomes == ["missing_header"]
    assert upstream.server.requests_served == served


@pytest.mark.parametrize("platform", [None, ""])
def test_missing_platform_header_is_bad_request(upstream: Upstream, platform: str | None) -> None:
    outcomes: list[str] = []
    error = verify(upstream.url, platform, "valid:get_sales:0.9", outcomes=outcomes)
    assert error is not None
    assert (error.status, error.cause) == (400, "Missing header g-recaptcha-platform")
    assert outcomes == ["missing_header"]


# -- failing closed ---------------------------------------------------------------------------


def test_slow_upstream_times_out_with_503(upstream: Upstream) -> None:
    outcomes: list[str] = []
    started = time.perf_counter()
    error = verify(upstream.url, "web", "slow:3000", outcomes=outcomes, timeout_seconds=0.2)
    elapsed = time.perf_counter() - started
    assert error is not None
    assert (error.status, error.cause) == (
        503,
        "reCAPTCHA assessment unavailable: timed out after 0.2 s",
    )
    assert outcomes == ["timeout"]
    assert elapsed < 1.5


def test_slow_but_in_time_upstream_passes(upstream: Upstream) -> None:
    token = "slow:50:valid:get_sales:0.8"
    assert verify(upstream.url, "web", token, timeout_seconds=2.0) is None


@pytest.mark.parametrize(
    ("token", "cause"),
    [
        ("fail:500", "the assessment service answered HTTP 500"),
        ("fail:429", "the assessment service answered HTTP 429"),
        ("garbage:text", "unexpected answer (the body is not JSON)"),
        ("garbage:json", "unexpected answer (tokenProperties.valid is missing)"),
    ],
)
def test_failing_upstream_is_503(upstream: Upstream, token: str, cause: str) -> None:
    outcomes: list[str] = []
    error = verify(upstream.url, "web", token, outcomes=outcomes)
    assert error is not None
    assert error.status == 503
    assert error.cause == f"reCAPTCHA assessment unavailable: {cause}"
    assert outcomes == ["upstream_error"]


def test_wrong_api_key_is_503_saying_the_assessment_was_rejected(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[str] = []
    with caplog.at_level(logging.INFO, logger="cardano_market.recaptcha"):
        error = verify(
            upstream.url, "web", "valid:get_sales:0.9", outcomes=outcomes, api_key="wrong-key-42"
        )
    assert error is not None
    assert error.status == 503
    assert error.cause.startswith("reCAPTCHA assessment rejected: ")
    assert "HTTP 403" in error.cause
    assert outcomes == ["upstream_error"]
    assert "API key not valid" in caplog.text  # upstream's reason goes to the log only
    assert "wrong-key-42" not in caplog.text


def test_unreachable_upstream_is_503() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcomes: list[str] = []
    url = f"http://127.0.0.1:{port}/v1/projects/test/assessments"
    error = verify(url, "web", "valid:get_sales:0.9", outcomes=outcomes)
    assert error is not None
    assert error.status == 503
    assert error.cause == (
        "reCAPTCHA assessment unavailable: cannot reach the assessment service (ConnectError)"
    )
    assert outcomes == ["upstream_error"]


def test_server_runs_as_a_command() -> None:
    """`python -m cardano_market.devtools.recaptcha_server` serves until it is stopped."""
    command = [sys.executable, "-m", "cardano_market.devtools.recaptcha_server"]
    options = ["--port", "0", "--api-key", API_KEY, "--delay-ms", "1"]
    process = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/assessments"), banner
        assert verify(url, "android", "valid:submit_tx:1.0", Action.SUBMIT_TX) is None
        assert_forbidden(verify(url, "android", "valid:submit_tx:0.1", Action.SUBMIT_TX))
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_reply_the_client_has_read_is_already_counted() -> None:
    """Tests read `requests_served` right after a reply; the count must not trail the reply (it
    did when the server counted after its write, and a test then saw the previous one's count)."""
    server = RecaptchaAssessmentServer(api_key=API_KEY)
    body = b'{"event":{"token":"valid:get_sales:0.9","siteKey":"k","expectedAction":"get_sales"}}'
    request = (
        b"POST /v1/projects/p/assessments?key=%s HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (API_KEY.encode(), len(body), body)
    )
    with server.running() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for sent in range(1, 301):
                sock.sendall(request)
                answer = b""
                while not answer.endswith(b"}"):
                    answer += sock.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
                assert server.requests_served == sent, f"reply {sent} was read uncounted"


# -- configuration ----------------------------------------------------------------------------


def test_disabled_verifier_passes_everything_without_upstream() -> None:
    outcomes: list[str] = []
    error = verify("", None, None, outcomes=outcomes, enabled=False, api_key=None, site_keys={})
    assert error is None
    assert outcomes == ["disabled"]


def test_from_settings(upstream: Upstream) -> None:
    settings = load_settings(
        recaptcha_enabled=True,
        recaptcha_assessment_url=upstream.url,
        recaptcha_api_key=API_KEY,
        recaptcha_android_site_key=SITE_KEYS["android"],
        recaptcha_min_score=0.8,
        recaptcha_timeout_seconds=2.0,
    )
    verifier = RecaptchaVerifier.from_settings(settings)
    assert (verifier.enabled, verifier.min_score, verifier.timeout_seconds) == (True, 0.8, 2.0)
    assert verifier.site_keys == {"android": SITE_KEYS["android"]}
    asyncio.run(verifier.aclose())
    devnet = load_settings(network="devnet", recaptcha_enabled=None)
    assert not RecaptchaVerifier.from_settings(devnet).enabled  # the devnet's default: off


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": None}, "assessment URL or API key is not set"),
        ({"assessment_url": ""}, "assessment URL or API key is not set"),
        ({"site_keys": {"web": ""}}, "no site key is set"),
        ({"site_keys": {"windows": "k"}}, "unknown reCAPTCHA platform"),
        ({"min_score": 1.5}, "min score must be in [0, 1]"),
        ({"timeout_seconds": 0}, "timeout must be positive"),
    ],
)
def test_enabled_verifier_refuses_incomplete_configuration(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_verifier("http://127.0.0.1:9/assessments", **options)


# -- through FastAPI --------------------------------------------------------------------------


def guarded_app(verifier: RecaptchaVerifier, calls: list[str]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.recaptcha = verifier

    @app.get("/sales", dependencies=[Depends(recaptcha_guard(Action.GET_SALES))])
    async def get_sales() -> dict[str, str]:
        calls.append("get_sales")
        return {"ran": "yes"}

    return app


def call_guarded(url: str, headers: dict[str, str]) -> tuple[httpx.Response, list[str]]:
    """GET /sales on a guarded app with `headers`: the response and the route bodies that ran."""
    calls: list[str] = []

    async def run() -> httpx.Response:
        async with make_verifier(url) as verifier:
            transport = httpx.ASGITransport(app=guarded_app(verifier, calls))
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.get("/sales", headers=headers)

    return asyncio.run(run()), calls


def test_guard_lets_a_valid_request_through(upstream: Upstream) -> None:
    headers = {"g-recaptcha-platform": "Web", "g-recaptcha-token": "valid:get_sales:0.9"}
    response, calls = call_guarded(upstream.url, headers)
    assert (response.status_code, response.json()) == (200, {"ran": "yes"})
    assert calls == ["get_sales"]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        (
            {"g-recaptcha-platform": "Web", "g-recaptcha-token": "valid:get_sale:0.9"},
            403,
            FORBIDDEN,
        ),
        ({"g-recaptcha-platform": "Linux", "g-recaptcha-token": "valid:get_sales:0.9"}, 403, None),
        (
            {"g-recaptcha-platform": "Android"},
            400,
            {
                "code": 400,
                "description": "Bad Request",
                "cause": "Missing header g-recaptcha-token",
            },
        ),
        (
            {"g-recaptcha-token": "valid:get_sales:0.9"},
            400,
            {
                "code": 400,
                "description": "Bad Request",
                "cause": "Missing header g-recaptcha-platform",
            },
        ),
        (
            {"g-recaptcha-platform": "iOS", "g-recaptcha-token": "fail:502"},
            503,
            {
                "code": 503,
                "description": "Service Unavailable",
                "cause": "reCAPTCHA assessment unavailable: "
                "the assessment service answered HTTP 502",
            },
        ),
    ],
)
def test_guard_answers_the_v1_body_and_skips_the_route(
    upstream: Upstream, headers: dict[str, str], status: int, body: dict[str, Any] | None
) -> None:
    response, calls = call_guarded(upstream.url, headers)
    assert response.status_code == status
    assert response.json() == (body or FORBIDDEN)
    assert calls == []


def test_guard_headers_are_in_the_openapi_schema() -> None:
    app = guarded_app(make_verifier("http://127.0.0.1:9/assessments"), [])
    parameters = app.openapi()["paths"]["/sales"]["get"]["parameters"]
    assert {(p["name"], p["in"], p["required"]) for p in parameters} == {
        ("g-recaptcha-platform", "header", False),
        ("g-recaptcha-token", "header", False),
    }


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_verifications_share_a_keep_alive_pool() -> None:
    """200 verifications against 20 ms of upstream latency take 4 s one at a time. Together they
    take far less: the cold burst (which also opens the connections) less than that, a warm one
    less than half (the better of two, as this machine is shared), with many in flight at once,
    never more connections than the pool allows, and the warm bursts served over the
    connections the cold one opened."""
    delay_ms, count = 20, 200
    server = RecaptchaAssessmentServer(api_key=API_KEY, delay_ms=delay_ms)

    async def burst(verifier: RecaptchaVerifier) -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(verifier.verify("web", "valid:get_sales:0.9", Action.GET_SALES) for _ in range(count))
        )
        return time.perf_counter() - started

    async def run(url: str) -> tuple[float, int, float, int]:
        async with make_verifier(url, timeout_seconds=30.0) as verifier:
            cold = await burst(verifier)
            connections = server.connections_accepted
            warm = min([await burst(verifier), await burst(verifier)])
            return cold, connections, warm, server.connections_accepted

    with server.running() as base_url:
        cold, connections, warm, connections_after = asyncio.run(
            run(f"{base_url}/v1/projects/test/assessments")
        )
    serial = count * delay_ms / 1000
    assert cold < serial, f"the cold burst took {cold:.2f} s"
    assert warm < serial / 2, f"the warm burst took {warm:.2f} s"
    assert server.requests_served == 3 * count
    assert server.max_in_flight >= 32
    assert connections <= POOL_SIZE
    assert connections_after == connections, "the warm bursts opened new connections"
