"""reCAPTCHA Enterprise verification for the v1 routes (PROTOCOL section 7).

Each protected route names its `Action`; `recaptcha_guard(action)` reads the two headers and asks
the `RecaptchaVerifier` on `app.state.recaptcha`, which POSTs an assessment and raises `ApiError`:
400 for a missing header, 403 (always the deployed server's exact body) for a token that fails,
and 503 when the assessment cannot be had. It fails closed: no answer never means "allowed".
The precise reason goes to the log (`cardano_market.recaptcha`) and to `on_outcome` (metrics),
never to the client. The verifier sits on the hot path, so it keeps pooled keep-alive connections
in a lean HTTP/1.1 client (`http11`); an httpx client passed in is used instead (tests, proxies).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Self

import httpx
from fastapi import Header, Request

from ..domain.errors import ConfigError
from .errors import ApiError
from .http11 import Http11Client, HttpError, HttpResponse

if TYPE_CHECKING:
    from types import TracebackType

    from ..config import Settings

log = logging.getLogger("cardano_market.recaptcha")

PLATFORM_HEADER = "g-recaptcha-platform"
TOKEN_HEADER = "g-recaptcha-token"
PLATFORMS = ("web", "android", "ios")
"""Platform header values, lowercase (the spec writes Web|Android|iOS)."""

FAILED_CAUSE = "Recaptcha failed"
"""The cause of every 403, wire-compatible with the deployed server."""

POOL_SIZE = 128
"""Connections to the assessment service: enough for ~128 verifications in flight (800 req/s at
~150 ms each) without queueing for a connection."""

KEEPALIVE_SECONDS = 30.0

_DECODE_ERRORS = (json.JSONDecodeError, UnicodeDecodeError)

request_log = logging.getLogger("httpx")
"""Each assessment request is logged at INFO as httpx logged it, key redacted, so log settings
made for the httpx client keep working."""


class Action(enum.StrEnum):
    """The action each v1 endpoint expects its token to carry."""

    GET_SALES = "get_sales"
    GET_SALE_COUNT = "get_sale_count"
    GET_SALE = "get_sale"
    GENERATE_SALE_START_AMOUNT = "generate_sale_start_amount"
    GENERATE_SALE_START_TRANSACTION = "generate_sale_start_transaction"
    GENERATE_SALE_END_AMOUNT = "generate_sale_end_amount"
    GENERATE_SALE_END_TRANSACTION = "generate_sale_end_transaction"
    GET_ARTISTS = "get_artists"
    GET_ARTIST_COUNT = "get_artist_count"
    GET_ARTIST = "get_artist"
    GET_ORDER_FEES = "get_order_fees"
    GENERATE_ORDER_AMOUNT = "generate_order_amount"
    GENERATE_ORDER_TRANSACTION = "generate_order_transaction"
    GENERATE_ORDER_CANCEL_TRANSACTION = "generate_order_cancel_transaction"
    GET_ORDER = "get_order"
    GET_ORDERS = "get_orders"
    SUBMIT_TX = "submit_tx"


class Outcome(enum.StrEnum):
    """What one verification came to: the label passed to `on_outcome` (e.g. a metric label)."""

    VALID = "valid"
    DISABLED = "disabled"
    MISSING_HEADER = "missing_header"
    UNSUPPORTED_PLATFORM = "unsupported_platform"
    INVALID_TOKEN = "invalid_token"
    WRONG_ACTION = "wrong_action"
    LOW_SCORE = "low_score"
    TIMEOUT = "timeout"
    UPSTREAM_ERROR = "upstream_error"


class _Failure(Exception):
    """A verification that did not pass: the client's status and cause, and the reason we log."""

    def __init__(self, outcome: Outcome, status: int, cause: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.status = status
        self.cause = cause
        self.reason = reason


def _forbidden(outcome: Outcome, reason: str) -> _Failure:
    return _Failure(outcome, HTTPStatus.FORBIDDEN, FAILED_CAUSE, reason)


def _unavailable(outcome: Outcome, cause: str, reason: str | None = None) -> _Failure:
    return _Failure(outcome, HTTPStatus.SERVICE_UNAVAILABLE, cause, reason or cause)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The fields of an assessment answer that decide a verification."""

    valid: bool
    invalid_reason: str
    action: str
    score: float | None
    """A risk score in [0, 1] (not an amount); None on an invalid token, which has none."""

    @classmethod
    def from_json(cls, body: Any) -> Assessment:
        """Read `tokenProperties` and `riskAnalysis`; ValueError names what is missing."""
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        properties = body.get("tokenProperties")
        if not isinstance(properties, dict) or not isinstance(properties.get("valid"), bool):
            raise ValueError("tokenProperties.valid is missing")
        valid: bool = properties["valid"]
        action = properties.get("action", "")
        reason = properties.get("invalidReason", "")
        if not isinstance(action, str) or not isinstance(reason, str):
            raise ValueError("tokenProperties.action or invalidReason is not a string")
        risk = body.get("riskAnalysis")
        score = risk.get("score") if isinstance(risk, dict) else None
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise ValueError("riskAnalysis.score is not a number")
        if valid and score is None:
            raise ValueError("riskAnalysis.score is missing")
        return cls(valid, reason, action, None if score is None else float(score))


class RecaptchaVerifier:
    """Verifies `g-recaptcha-*` headers against reCAPTCHA Enterprise's assessment API.

    One instance per service: it owns up to `POOL_SIZE` keep-alive connections (an `Http11Client`,
    opened on first use), or uses the httpx `client` given, which stays the caller's to close.
    Close it with `aclose()` or `async with`; use it from one event loop.
    """

    def __init__(
        self,
        *,
        assessment_url: str | None,
        api_key: str | None,
        site_keys: Mapping[str, str],
        min_score: float = 0.5,
        timeout_seconds: float = 5.0,
        enabled: bool = True,
        client: httpx.AsyncClient | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.min_score = min_score
        self.timeout_seconds = float(timeout_seconds)
        self.site_keys = {platform.lower(): key for platform, key in site_keys.items() if key}
        self._on_outcome = on_outcome
        self._httpx_client = client
        self._lean_client: Http11Client | None = None
        if not enabled:
            log.info("reCAPTCHA verification is disabled: every request passes unchecked")
            return
        if not assessment_url or not api_key:
            raise ConfigError("reCAPTCHA is enabled but its assessment URL or API key is not set")
        if not self.site_keys:
            raise ConfigError("reCAPTCHA is enabled but no site key is set")
        if unknown := sorted(set(self.site_keys) - set(PLATFORMS)):
            raise ConfigError(f"unknown reCAPTCHA platform(s) {unknown}; expected {PLATFORMS}")
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"reCAPTCHA min score must be in [0, 1], got {min_score}")
        if not timeout_seconds > 0:
            raise ConfigError(f"reCAPTCHA timeout must be positive, got {timeout_seconds}")
        self._api_key = api_key
        self._url = httpx.URL(assessment_url).copy_merge_params({"key": api_key})
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ConfigError(f"reCAPTCHA assessment URL must be http(s)://host/...: {self._url}")
        self._logged_url = str(self._url.copy_set_param("key", "***"))
        self._timeout = httpx.Timeout(timeout_seconds)
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        _redact_api_key_in_httpx_log()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> RecaptchaVerifier:
        """The verifier `settings` describe (disabled when `recaptcha_enabled` is false)."""
        api_key = settings.recaptcha_api_key
        return cls(
            assessment_url=settings.recaptcha_assessment_url,
            api_key=api_key.get_secret_value() if api_key is not None else None,
            site_keys=settings.recaptcha_site_keys,
            min_score=settings.recaptcha_min_score,
            timeout_seconds=settings.recaptcha_timeout_seconds,
            enabled=bool(settings.recaptcha_enabled),
            client=client,
            on_outcome=on_outcome,
        )

    async def verify(self, platform: str | None, token: str | None, action: Action) -> None:
        """Pass, or raise `ApiError` (400 missing header, 403 failed, 503 unavailable)."""
        if not self.enabled:
            self._report(Outcome.DISABLED)
            return
        try:
            await self._verify(platform, token, action)
        except _Failure as failure:
            self._report(failure.outcome)
            level = logging.WARNING if failure.status >= 500 else logging.INFO
            log.log(level, "reCAPTCHA %s for %s: %s", failure.outcome, action, failure.reason)
            raise ApiError(failure.status, failure.cause) from None
        self._report(Outcome.VALID)

    async def _verify(self, platform: str | None, token: str | None, action: Action) -> None:
        if not platform or not platform.strip():
            raise _Failure(
                Outcome.MISSING_HEADER,
                HTTPStatus.BAD_REQUEST,
                f"Missing header {PLATFORM_HEADER}",
                f"no {PLATFORM_HEADER} header",
            )
        if not token or not token.strip():
            raise _Failure(
                Outcome.MISSING_HEADER,
                HTTPStatus.BAD_REQUEST,
                f"Missing header {TOKEN_HEADER}",
                f"no {TOKEN_HEADER} header",
            )
        site_key = self.site_keys.get(platform.strip().lower())
        if site_key is None:
            raise _forbidden(
                Outcome.UNSUPPORTED_PLATFORM,
                f"platform {platform[:40]!r} is not one of {sorted(self.site_keys)}",
            )
        assessment = await self._assess(site_key, token.strip(), action)
        if not assessment.valid:
            raise _forbidden(
                Outcome.INVALID_TOKEN,
                f"invalid token ({assessment.invalid_reason or 'no reason given'})",
            )
        if assessment.action != action:
            raise _forbidden(
                Outcome.WRONG_ACTION, f"token is for action {assessment.action[:60]!r}"
            )
        if assessment.score is None or assessment.score < self.min_score:
            raise _forbidden(
                Outcome.LOW_SCORE, f"score {assessment.score} is below {self.min_score}"
            )

    async def _assess(self, site_key: str, token: str, action: Action) -> Assessment:
        """POST the assessment; any way it cannot be read is a 503, never a pass or a 500."""
        event = {"event": {"siteKey": site_key, "token": token, "expectedAction": str(action)}}
        body = json.dumps(event, separators=(",", ":")).encode()
        try:
            # httpx's timeout is per phase; the deadline bounds the whole exchange, pool wait
            # included. asyncio's own timeout: anyio's cancel scope costs several times more.
            async with asyncio.timeout(self.timeout_seconds):
                response = await self._post(body)
        except (TimeoutError, httpx.TimeoutException):
            raise _unavailable(
                Outcome.TIMEOUT,
                f"reCAPTCHA assessment unavailable: timed out after {self.timeout_seconds} s",
            ) from None
        except (HttpError, httpx.HTTPError) as exc:
            raise _unavailable(
                Outcome.UPSTREAM_ERROR,
                "reCAPTCHA assessment unavailable: cannot reach the assessment service "
                f"({type(exc).__name__})",
                self._redact(f"{type(exc).__name__}: {exc}"),
            ) from None
        if response.status_code in (400, 401, 403, 404):
            raise _unavailable(
                Outcome.UPSTREAM_ERROR,
                f"reCAPTCHA assessment rejected: the assessment service answered HTTP "
                f"{response.status_code} (check the API key and assessment URL)",
                self._redact(
                    f"assessment rejected: HTTP {response.status_code}: "
                    f"{_upstream_message(response)}"
                ),
            )
        if not response.is_success:
            raise _unavailable(
                Outcome.UPSTREAM_ERROR,
                f"reCAPTCHA assessment unavailable: the assessment service answered HTTP "
                f"{response.status_code}",
                self._redact(f"HTTP {response.status_code}: {_upstream_message(response)}"),
            )
        try:
            return Assessment.from_json(json.loads(response.content))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _unavailable(
                Outcome.UPSTREAM_ERROR,
                "reCAPTCHA assessment unavailable: unexpected answer ("
                + ("the body is not JSON" if isinstance(exc, _DECODE_ERRORS) else str(exc))
                + ")",
            ) from None

    async def _post(self, body: bytes) -> HttpResponse:
        """POST on the lean keep-alive client (opened on first use), or the httpx client given."""
        if self._httpx_client is not None:
            answer = await self._httpx_client.post(
                self._url, content=body, headers=self._headers, timeout=self._timeout
            )
            return HttpResponse(answer.status_code, answer.content)
        client = self._lean_client
        if client is None:
            client = self._lean_client = Http11Client(
                str(self._url),
                max_connections=POOL_SIZE,
                keepalive_seconds=KEEPALIVE_SECONDS,
                headers=self._headers,
                tls=_tls_context() if self._url.scheme == "https" else None,
            )
        response = await client.post(body)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                'HTTP Request: POST %s "HTTP/1.1 %d"', self._logged_url, response.status_code
            )
        return response

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***")

    def _report(self, outcome: Outcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome.value)

    async def aclose(self) -> None:
        """Close the connection pool (not a client that was passed in: that is the caller's)."""
        if self._lean_client is not None:
            await self._lean_client.aclose()
            self._lean_client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


# Module-level so FastAPI can resolve them: annotations are strings here (`from __future__`).
PlatformHeader = Annotated[
    str | None, Header(alias=PLATFORM_HEADER, description="Web, Android or iOS")
]
TokenHeader = Annotated[
    str | None,
    Header(alias=TOKEN_HEADER, description="reCAPTCHA Enterprise token for this endpoint's action"),
]


def recaptcha_guard(action: Action) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that verifies the request's reCAPTCHA headers for `action`.

    Use as `dependencies=[Depends(recaptcha_guard(Action.GET_SALES))]`. Both headers are optional
    to FastAPI so that a missing one gets our 400 cause rather than a validation error.
    """

    async def verify_recaptcha(
        request: Request, platform: PlatformHeader = None, token: TokenHeader = None
    ) -> None:
        if request.scope.get("state", {}).get(RECAPTCHA_CHECKED) == action:
            return  # the edge verified it before reading the body (`service.edge`)
        verifier = getattr(request.app.state, "recaptcha", None)
        if not isinstance(verifier, RecaptchaVerifier):
            raise RuntimeError("app.state.recaptcha is not a RecaptchaVerifier: set it at start-up")
        await verifier.verify(platform, token, action)

    setattr(verify_recaptcha, "recaptcha_action", action)  # noqa: B010  (read by the edge)
    return verify_recaptcha


RECAPTCHA_CHECKED = "recaptcha_checked"
"""The request-state key where the edge notes the action it verified before the body."""


def _tls_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CA bundle), so the upstream is trusted as before."""
    return httpx.create_ssl_context()


def _upstream_message(response: HttpResponse) -> str:
    """Google's `error.message` (or the start of the body), for the log."""
    try:
        error = json.loads(response.content).get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        message = None
    text = message if isinstance(message, str) else response.text
    return text[:200] or "(empty body)"


class _RedactApiKeyFilter(logging.Filter):
    """httpx logs each request's full URL at INFO, and the assessment URL carries `key=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                arg.copy_set_param("key", "***")
                if isinstance(arg, httpx.URL) and "key" in arg.params
                else arg
                for arg in record.args
            )
        return True


_REDACT_FILTER = _RedactApiKeyFilter()


def _redact_api_key_in_httpx_log() -> None:
    httpx_log = logging.getLogger("httpx")
    if _REDACT_FILTER not in httpx_log.filters:
        httpx_log.addFilter(_REDACT_FILTER)
