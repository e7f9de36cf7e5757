"""The service's edge: what every request passes before a route sees it (a pure ASGI middleware).

In order: the rate limit (per client IP, then per authenticated user, per route class: 429 with
`Retry-After`); on `/v2/` the Bearer token (401 before a byte of the body is read); the body
limit (413 on a `Content-Length` over it, or as soon as the bytes read pass it); a JSON body's
nesting depth (400 over `MAX_JSON_DEPTH`). Errors carry the API's own body: v1
`{"code", "description", "cause"}`, v2 `{"error", "details"}`. The body is then handed on to
the app as read, so FastAPI parses at most `max_body_bytes` of nesting-checked JSON.
"""

from __future__ import annotations

import array
import hmac
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .errors import error_body
from .ratelimit import RateLimiter, RouteClass, route_class

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 400
"""Nested arrays and objects a JSON body may hold; our largest request nests three deep."""

log = logging.getLogger("cardano_market.edge")

_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets of `raw` nest deeper than `limit` (C-speed scans, no parsing).

    Brackets inside strings are counted too; our APIs' strings (hex, bech32, ids) hold none,
    so this only errs towards refusing a body that nests brackets inside its strings."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    steps = array.array("b", raw.translate(_BRACKETS, _NOT_BRACKETS))
    return max(itertools.accumulate(steps), default=0) > limit


MAX_NUMBER_DIGITS = 40
"""Digits a JSON number may have (as `domain.amounts.MAX_INPUT_DIGITS`)."""
MAX_NUMBER_EXPONENT = 60
"""The largest exponent a JSON number may write (as `domain.amounts.MAX_EXPONENT`)."""

_SUSPECT_NUMBER = re.compile(
    rb"[:\[,]\s*-?(?:\d{41}|[\d.]*[eE][+-]?\d{2}|\d*\.\d{41}|NaN|Infinity)"
)
"""Where a number token may be too long, too finely or too largely scaled, or not finite (one
C-speed scan; strings that happen to look like this only cost the exact check below)."""


def json_number_problem(raw: bytes) -> str | None:
    """Why a number in the JSON `raw` is refused before any conversion, or None.

    A quick scan finds bodies that may hold one; those are read again with number hooks that
    look at each number's text (never converting it)."""
    if _SUSPECT_NUMBER.search(raw) is None:
        return None
    try:
        json.loads(raw, parse_int=_check_int, parse_float=_check_float, parse_constant=_no_nan)
    except _NumberRefused as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None  # not JSON: the route says so in its own words
    return None


class _NumberRefused(ValueError):
    pass


def _check_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _NumberRefused(f"body: a number has more than {MAX_NUMBER_DIGITS} digits")
    return 0


def _check_float(text: str) -> int:
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    if len((whole + fraction).lstrip("0")) > MAX_NUMBER_DIGITS:
        raise _NumberRefused(f"body: a number has more than {MAX_NUMBER_DIGITS} digits")
    written = exponent.lstrip("+-").lstrip("0")
    if len(written) > 2 or abs(int(exponent or "0")) > MAX_NUMBER_EXPONENT:
        raise _NumberRefused(f"body: a number's exponent is beyond +-{MAX_NUMBER_EXPONENT}")
    if len(fraction) > MAX_NUMBER_EXPONENT:
        raise _NumberRefused(f"body: a number has more than {MAX_NUMBER_EXPONENT} decimal places")
    return 0


def _no_nan(name: str) -> int:
    raise _NumberRefused(f"body: {name} is not a number")


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class EdgeOptions:
    """What `create_app` installs in front of the routes (see `install_edge`)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    limiter: RateLimiter | None = None
    trusted_proxy_header: str | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    metrics_token: str | None = None
    """`/metrics` on the API port needs `Authorization: Bearer <this>`."""
    metrics_elsewhere: bool = False
    """`/metrics` is served on its own port: the API port answers 404 for it."""


def install_edge(
    app: Any, options: EdgeOptions, authenticate: Callable[[str | None], str] | None
) -> None:
    """The edge middleware, then CORS outside it (a preflight never needs a token).

    POST routes guarded by reCAPTCHA get their check at the edge, before the body is read; the
    route's own guard then sees it done (`recaptcha.RECAPTCHA_CHECKED`)."""
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=options.max_body_bytes,
        limiter=options.limiter,
        authenticate=authenticate,
        trusted_proxy_header=options.trusted_proxy_header,
        metrics_token=options.metrics_token,
        metrics_elsewhere=options.metrics_elsewhere,
        recaptcha=getattr(app.state, "recaptcha", None),
        recaptcha_actions=_recaptcha_actions(app),
    )
    if options.cors_allowed_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_allowed_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "authorization",
                "content-type",
                "g-recaptcha-platform",
                "g-recaptcha-token",
                "idempotency-key",
                "x-request-id",
            ],
            expose_headers=["retry-after", "x-request-id", "idempotent-replayed"],
            max_age=600,
        )


class EdgeMiddleware:
    """See the module docstring. `authenticate` checks a `/v2/` request's Authorization header
    and returns the user id, or raises (any exception: 401)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        limiter: RateLimiter | None = None,
        authenticate: Callable[[str | None], str] | None = None,
        trusted_proxy_header: str | None = None,
        metrics_token: str | None = None,
        metrics_elsewhere: bool = False,
        recaptcha: Any = None,
        recaptcha_actions: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.recaptcha = recaptcha
        self.recaptcha_actions = recaptcha_actions or {}
        self.metrics_token = metrics_token
        self.metrics_elsewhere = metrics_elsewhere
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.authenticate = authenticate
        self.proxy_header = trusted_proxy_header.lower().encode() if trusted_proxy_header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        v2 = path.startswith("/v2/")
        kind = route_class(method, path)
        headers = _headers(scope)
        if path == "/metrics" and (self.metrics_elsewhere or self.metrics_token is not None):
            if self.metrics_elsewhere:
                await _reject(send, False, 404, "Not Found", "/metrics is on its own port", None)
                return
            given = _header(headers, b"authorization") or ""
            expected = f"Bearer {self.metrics_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                await _reject(send, False, 401, "Unauthorized", "a metrics token is required", None)
                return
        if self.limiter is not None and kind is not None:
            retry = self.limiter.hit_ip(kind, self.client_ip(scope, headers))
            if retry is not None:
                await _reject(send, v2, 429, "Too many requests", "rate limit exceeded", retry)
                return
        if v2 and self.authenticate is not None and method != "OPTIONS":
            try:
                user = self.authenticate(_header(headers, b"authorization"))
            except Exception:
                await _reject(send, v2, 401, "Authentication required", None, None)
                return
            if self.limiter is not None and kind is not None:
                retry = self.limiter.hit_user(kind, user)
                if retry is not None:
                    await _reject(send, v2, 429, "Too many requests", "rate limit exceeded", retry)
                    return
        action = self.recaptcha_actions.get(path) if method == "POST" else None
        if action is not None and self.recaptcha is not None:
            from .errors import ApiError
            from .recaptcha import PLATFORM_HEADER, RECAPTCHA_CHECKED, TOKEN_HEADER

            try:
                await self.recaptcha.verify(
                    _header(headers, PLATFORM_HEADER.lower().encode()),
                    _header(headers, TOKEN_HEADER.lower().encode()),
                    action,
                )
            except ApiError as exc:
                await _reject(send, False, exc.status, "", exc.cause, None)
                return
            scope.setdefault("state", {})[RECAPTCHA_CHECKED] = action
        if method in ("GET", "HEAD", "OPTIONS", "DELETE") and not _has_body(headers):
            await self.app(scope, receive, send)
            return
        length = _header(headers, b"content-length")
        if length is not None and (
            not length.isdigit() or len(length) > 15 or int(length) > self.max_body_bytes
        ):
            if length.isdigit():
                cause = f"the body ({length} bytes) exceeds {self.max_body_bytes} bytes"
                await _reject(send, v2, 413, "Payload too large", cause, None)
            else:
                await _reject(send, v2, 400, "Invalid parameters", "bad Content-Length", None)
            return
        try:
            body, more = await self._read(receive)
        except BodyTooLarge:
            cause = f"the body exceeds {self.max_body_bytes} bytes"
            await _reject(send, v2, 413, "Payload too large", cause, None)
            return
        if json_depth_exceeds(body):
            cause = f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"
            await _reject(send, v2, 400, "Invalid parameters", cause, None)
            return
        problem = json_number_problem(body)
        if problem is not None:
            await _reject(send, v2, 400, "Invalid parameters", problem, None)
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body (at most `max_body_bytes`), and whether the client went away."""
        parts: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(parts), False
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts), True

    def client_ip(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> str:
        """The peer's address; behind a proxy, the first address of the configured header
        (never a header nobody configured: any client could write it)."""
        if self.proxy_header is not None:
            value = _header(headers, self.proxy_header)
            if value:
                return value.split(",")[0].strip()[:64]
        client = scope.get("client")
        return str(client[0]) if client else "unknown"


def _recaptcha_actions(app: Any) -> dict[str, Any]:
    """Path -> reCAPTCHA action of every POST route (without path parameters) whose
    dependencies include `recaptcha_guard(action)`. Routers included in the app are walked
    (newer FastAPI keeps them as included-router entries; our routers carry their prefix)."""
    from fastapi.routing import APIRoute

    actions: dict[str, Any] = {}
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        if not isinstance(route, APIRoute) or "{" in route.path:
            continue
        if "POST" not in (route.methods or ()):
            continue
        for dependency in route.dependencies:
            action = getattr(dependency.dependency, "recaptcha_action", None)
            if action is not None:
                actions[route.path] = action
    return actions


def _headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    return headers


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    length = _header(headers, b"content-length")
    return (length is not None and length != "0") or _header(
        headers, b"transfer-encoding"
    ) is not None


def _replay(body: bytes, connected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if not connected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay


async def _reject(
    send: Send, v2: bool, status: int, title: str, cause: str | None, retry_after: int | None
) -> None:
    """The API's error answer (v1 or v2 body) for a request refused at the edge."""
    if v2:
        payload: dict[str, Any] = {"error": title}
        if cause is not None:
            payload["details"] = cause
    else:
        payload = error_body(status, cause or HTTPStatus(status).phrase)
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is never read
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["EdgeMiddleware", "EdgeOptions", "RouteClass", "install_edge", "json_depth_exceeds"]
