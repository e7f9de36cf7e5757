"""The v2 error body `{"error", "details"}` and the handlers that give it to every /v2 path.

v1 paths keep the v1 body: the handlers installed here wrap the v1 ones and answer with the v2
body only when the path starts with /v2/. `V2Error(status, error, details)` is what routes
raise; `translate_errors` turns the use cases' errors (`app.errors`, domain and store errors)
into it with the titles a route's spec uses. Nothing a client sends can produce a 5xx: unknown
failures are 500 `{"error": "Internal server error"}` and logged, chain or database outages 503.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...app.errors import (
    BadRequestError,
    ChainUnavailableError,
    ConflictError,
    EmptyWalletError,
    NotFoundError,
    UnprocessableError,
)
from ...chain.base import ChainError, SubmitError
from ...domain.errors import (
    AddressError,
    CborError,
    InsufficientFundsError,
    InvalidValueError,
    MarketError,
    PendingUnavailableError,
    PricingError,
    StoreError,
    UnknownRecordError,
)
from ...security.jwt_auth import AccessDeniedError, AuthenticationError
from ...security.keystore import KeystoreError
from .exact_json import V2JSONResponse

log = logging.getLogger("cardano_market.v2")

V2_PREFIX = "/v2/"

TITLES: dict[int, str] = {
    400: "Invalid parameters",
    401: "Authentication required",
    403: "Access denied",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Request not possible",
    500: "Internal server error",
    503: "Service unavailable",
}
"""The `error` of each status unless a route's spec names another (`translate_errors`)."""

KEYSTORE_UNAVAILABLE = "the wallet's key cannot be opened right now; retry later"
"""A key store failure's `details`: retryable (503), never naming a key id."""
KEYSTORE_RETRY_AFTER_SECONDS = 30

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


class V2Error(Exception):
    """Answer with `status` and `{"error": error, "details": details}` (details left out when
    None). `headers` go on the response (e.g. WWW-Authenticate on a 401)."""

    def __init__(
        self,
        status: int,
        error: str,
        details: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {details}" if details else f"{status} {error}")
        self.status = int(status)
        self.error = error
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.details is not None:
            body["details"] = self.details
        return body

    def response(self) -> Response:
        return V2JSONResponse(self.body(), status_code=self.status, headers=self.headers or None)


def authentication_required() -> V2Error:
    """The one 401 answer: it never says which check failed."""
    return V2Error(401, TITLES[401], headers={"WWW-Authenticate": "Bearer"})


ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (AuthenticationError, 401),
    (AccessDeniedError, 403),
    (BadRequestError, 400),
    (CborError, 400),
    (InvalidValueError, 400),
    (AddressError, 400),
    (NotFoundError, 404),
    (PendingUnavailableError, 404),
    (UnknownRecordError, 404),
    (ConflictError, 409),
    (EmptyWalletError, 422),
    (PricingError, 422),
    (InsufficientFundsError, 422),
    (UnprocessableError, 422),
    (SubmitError, 422),
    (ChainUnavailableError, 503),
    (ChainError, 503),
    (KeystoreError, 503),
    (OperationalError, 503),
)
"""The use cases' errors and their v2 status (first match wins)."""


def v2_error_for(exc: Exception, titles: Mapping[int, str] | None = None) -> V2Error | None:
    """The V2Error answering `exc`, or None when it is not an error with a v2 status."""
    if isinstance(exc, V2Error):
        return exc
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            if status == 401:
                return authentication_required()
            title = (titles or {}).get(status, TITLES[status])
            if status == 503:
                log.warning("v2 unavailable: %s", exc)
                if isinstance(exc, OperationalError):
                    return V2Error(503, title, "database unavailable")
                if isinstance(exc, KeystoreError):  # never a key id or a user's id to the caller
                    return V2Error(
                        503,
                        title,
                        KEYSTORE_UNAVAILABLE,
                        headers={"Retry-After": str(KEYSTORE_RETRY_AFTER_SECONDS)},
                    )
                return V2Error(503, title, str(exc) or type(exc).__name__)
            return V2Error(status, title, str(exc))
    return None


@contextmanager
def translate_errors(titles: Mapping[int, str] | None = None) -> Iterator[None]:
    """Turn the use cases' errors raised inside the block into V2Errors titled per `titles`
    (status -> `error`), e.g. `{422: "Purchase not possible"}`."""
    try:
        yield
    except V2Error:
        raise
    except (MarketError, OperationalError) as exc:
        translated = v2_error_for(exc, titles)
        if translated is None:
            raise
        raise translated from exc


def is_v2(request: Request) -> bool:
    return request.url.path.startswith(V2_PREFIX)


def validation_details(exc: RequestValidationError) -> str:
    """`quantity: Field required; deal_id: ...` from FastAPI's validation errors."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "path", "query")]
        where = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "malformed request"


def install_v2_error_handlers(app: FastAPI, *, authenticate: Callable[[Request], object]) -> None:
    """Answer errors on /v2 paths with the v2 body; every other path keeps its handler.

    `authenticate` raises for a request without valid credentials: a malformed request is
    answered 401 rather than 400 when its credentials are bad too (authentication first).
    """
    v1_handlers: dict[Any, Handler] = dict(app.exception_handlers)

    async def fallback(request: Request, exc: Exception) -> Response:
        handler = _lookup(v1_handlers, type(exc))
        if handler is None:
            raise exc
        result = handler(request, exc)
        return await result if isinstance(result, Awaitable) else result

    async def on_v2_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, V2Error)
        return exc.response()

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_v2(request):
            return await fallback(request, exc)
        try:
            authenticate(request)
        except V2Error as denied:
            return denied.response()
        return V2Error(400, TITLES[400], validation_details(exc)).response()

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_v2(request):
            return await fallback(request, exc)
        status = exc.status_code
        title = TITLES.get(status) or _phrase(status)
        return V2Error(status, title, str(exc.detail), headers=exc.headers).response()

    async def on_mapped(request: Request, exc: Exception) -> Response:
        if not is_v2(request):
            return await fallback(request, exc)
        translated = v2_error_for(exc)
        if translated is None:
            return await on_unexpected(request, exc)
        return translated.response()

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        if is_v2(request):
            return V2Error(500, TITLES[500]).response()
        return PlainTextResponse("Internal Server Error", status_code=500)

    app.add_exception_handler(V2Error, on_v2_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for kind in {*(k for k, _ in ERROR_STATUS), *v1_handlers, MarketError, StoreError}:
        if kind not in (V2Error, RequestValidationError, StarletteHTTPException, Exception, 500):
            app.add_exception_handler(kind, on_mapped)
    app.add_exception_handler(Exception, on_unexpected)


def _lookup(handlers: Mapping[Any, Handler], kind: type[BaseException]) -> Handler | None:
    for cls in kind.__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
