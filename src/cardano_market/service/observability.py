"""Metrics, request ids and structured logs for the service, cheap enough for every request.

`Metrics` owns a private Prometheus registry (several apps in one process never collide) with the
series the operators watch: HTTP latency by route template, transaction build time, chain backend
calls and retries, reCAPTCHA outcomes and error responses. `ObservabilityMiddleware` is a pure
ASGI middleware (Starlette's `BaseHTTPMiddleware` costs far more per request) that gives each
request an id, times it under its route template and writes one access-log line.
`configure_logging` turns every log record into a JSON line carrying the request id.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from json import JSONEncoder
from types import TracebackType
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "cardano_market_"

UNMATCHED_ROUTE = "<unmatched>"
"""The route label of a request no route matched (raw paths would make the label unbounded)."""

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUILD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CHAIN_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method is labelled `OTHER`: clients choose the method, so it must stay bounded."""

_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("cardano_market_request_id", default=None)

access_log = logging.getLogger("cardano_market.access")


def current_request_id() -> str | None:
    """The id of the request being served in this context (None outside a request)."""
    return _request_id.get()


# -- metrics --------------------------------------------------------------------------------------


class _BuildTimer:
    """Times one transaction build into `histogram` under (kind, ok|error)."""

    __slots__ = ("_histogram", "_kind", "_start")

    def __init__(self, histogram: Histogram, kind: str) -> None:
        self._histogram = histogram
        self._kind = kind
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = "ok" if exc_type is None else "error"
        self._histogram.labels(self._kind, outcome).observe(time.perf_counter() - self._start)


class Metrics:
    """The service's Prometheus metrics in their own registry.

    It is also the `ChainObserver` of `chain.instrumented.InstrumentedBackend` (`chain_call`), the
    `on_retry` hook of the Blockfrost backend (`chain_retry`) and the outcome callback of the
    reCAPTCHA verifier (`recaptcha_outcome`).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.http_request_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ("method", "route", "status"),
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.http_errors = Counter(
            PREFIX + "http_errors",
            "HTTP responses with a 4xx or 5xx status, by route template and status.",
            ("route", "status"),
            registry=self.registry,
        )
        self.tx_build_duration = Histogram(
            PREFIX + "tx_build_duration_seconds",
            "Transaction build time by kind (order, sale_start, ...) and outcome (ok, error).",
            ("kind", "outcome"),
            buckets=BUILD_BUCKETS,
            registry=self.registry,
        )
        self.chain_calls = Counter(
            PREFIX + "chain_calls",
            "Chain backend calls by method and outcome (ok, error).",
            ("method", "outcome"),
            registry=self.registry,
        )
        self.chain_call_duration = Histogram(
            PREFIX + "chain_call_duration_seconds",
            "Chain backend call latency by method and outcome (ok, error).",
            ("method", "outcome"),
            buckets=CHAIN_BUCKETS,
            registry=self.registry,
        )
        self.chain_retries = Counter(
            PREFIX + "chain_retries",
            "Chain backend request retries by reason (timeout, http_429, ...).",
            ("reason",),
            registry=self.registry,
        )
        self.recaptcha_outcomes = Counter(
            PREFIX + "recaptcha_outcomes",
            "reCAPTCHA verifications by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.monitor_events = Counter(
            PREFIX + "monitor_events",
            "Changes the chain monitor applied, by kind (order_queued, purchase, refund, "
            "cancel, sale_state, tx_confirmed, rollback, ...); each one's log line names the "
            "API's orderId.",
            ("kind",),
            registry=self.registry,
        )
        # Label lookups take a lock and build tuples; the request path reuses the children.
        self._request_children: dict[tuple[str, str, int], tuple[Histogram, Counter | None]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one HTTP request (and count it as an error when the status is 4xx or 5xx)."""
        if method not in _KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            duration = self.http_request_duration.labels(method, route, str(status))
            errors = self.http_errors.labels(route, str(status)) if status >= 400 else None
            children = self._request_children.setdefault(key, (duration, errors))
        duration, errors = children
        duration.observe(seconds)
        if errors is not None:
            errors.inc()

    def build_timer(self, kind: str) -> _BuildTimer:
        """`with metrics.build_timer("order"): ...` times a transaction build of that kind."""
        return _BuildTimer(self.tx_build_duration, kind)

    def chain_call(self, method: str, outcome: str, seconds: float) -> None:
        """One chain backend call (`ChainObserver`): `outcome` is `ok` or `error`."""
        self.chain_calls.labels(method, outcome).inc()
        self.chain_call_duration.labels(method, outcome).observe(seconds)

    def chain_retry(self, method: str, path: str, reason: str) -> None:
        """One retry of a chain request (the Blockfrost `on_retry` hook); counted by reason."""
        self.chain_retries.labels(reason).inc()

    def recaptcha_outcome(self, outcome: str) -> None:
        """One reCAPTCHA verification's outcome (the verifier's callback)."""
        self.recaptcha_outcomes.labels(outcome).inc()

    def monitor_event(self, event: Any) -> None:
        """One change the chain monitor applied (its `on_event` hook): counted by kind."""
        self.monitor_events.labels(str(event.kind)).inc()

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text exposition format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# -- middleware -----------------------------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """The template of the route that matched (`/v1/marketplace/sales/{saleId}`), else unmatched."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


def incoming_request_id(scope: Scope) -> str | None:
    """The client's `X-Request-ID` when it is a sane token (<= 128 of `[A-Za-z0-9._-]`)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


class ObservabilityMiddleware:
    """Request id, latency under the route template, and one access-log line per HTTP request.

    Installed with `app.add_middleware`, it sits inside Starlette's error middleware: a request
    whose handler raises is recorded as a 500, but that 500 body goes out without the header.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500  # unless the app starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != header[0]]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        token = _request_id.set(request_id)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._record(scope, status, time.perf_counter() - start, request_id)
            finally:
                _request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = route_template(scope)  # known only now: routing filled in scope["route"]
        method = scope["method"]
        self.metrics.observe_request(method, route, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            path = scope["path"]
            fields = {
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": request_id,
            }
            # Built by hand: `info()` would walk the stack for the caller (a third of the cost),
            # which for an access line is always this method.
            record = access_log.makeRecord(
                access_log.name,
                logging.INFO,
                __file__,
                0,
                "%s %s %d",
                (method, path, status),
                None,
                "access",
                fields,
            )
            access_log.handle(record)


def install_observability(app: FastAPI, metrics: Metrics) -> None:
    """Add the middleware and `GET /metrics` to `app`; `app.state.metrics` holds `metrics`."""
    app.state.metrics = metrics
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)

    async def prometheus_metrics(_request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)


# -- logging --------------------------------------------------------------------------------------

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
"""Attributes every LogRecord has; anything else on a record came from `extra=`."""


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_FIELDS and key != "request_id"
    }


_last_second: tuple[int, str] = (-1, "")


def _timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 UTC with milliseconds: `2025-01-31T12:00:00.123Z`."""
    global _last_second
    second = int(record.created)
    cached, text = _last_second
    if cached != second:  # formatted once per second, not once per line
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return f"{text}.{int(record.msecs):03d}Z"


_json = JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        line.update(_extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _json.encode(line)


class TextFormatter(logging.Formatter):
    """A readable line for development: time, level, logger, [request id], message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or "-"
        parts = [
            _timestamp(record),
            record.levelname,
            record.name,
            f"[{request_id}]",
            record.getMessage(),
        ]
        parts.extend(f"{key}={value}" for key, value in _extras(record).items())
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (unless the caller passed one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


class StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at emit time (test capture and reloaders swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(level: str = "INFO", *, json: bool = True) -> logging.Handler:
    """Log every record to stderr, as JSON lines (or readable text), with the request id.

    Idempotent: the root logger keeps one such handler, reconfigured on each call; handlers
    installed by others are left alone. Returns the handler.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root.setLevel(level.upper())
    return handler


__all__ = [
    "UNMATCHED_ROUTE",
    "JsonFormatter",
    "Metrics",
    "ObservabilityMiddleware",
    "RequestIdFilter",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
    "install_observability",
    "route_template",
]
