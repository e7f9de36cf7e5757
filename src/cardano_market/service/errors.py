"""The v1 error body `{"code", "description", "cause"}` and the handlers that map errors to it.

Wire-compatible with the deployed server: `code` is the HTTP status, `description` its reason
phrase, `cause` says what was wrong (naming the field or the failed ledger rule). Bad input is
always a 4xx: malformed requests and CBOR are 400, unknown things 404, rejected values 422.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..app.errors import (
    BadRequestError,
    ChainUnavailableError,
    EmptyWalletError,
    NotFoundError,
    UnprocessableError,
)
from ..chain.base import ChainError, SubmitError
from ..domain.errors import (
    AddressError,
    CborError,
    DatumError,
    InsufficientFundsError,
    InvalidSaleError,
    InvalidValueError,
    PendingUnavailableError,
    PricingError,
    WitnessError,
)
from ..tx.balance import TransactionTooLargeError
from ..tx.script import CollateralError, ScriptTransactionError

log = logging.getLogger("cardano_market.errors")


class ApiError(Exception):
    """An error the edge answers with `status` and `cause` (raised by route handlers)."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.cause = cause


def bad_request(cause: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, cause)


def not_found(cause: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, cause)


def unprocessable(cause: str) -> ApiError:
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, cause)


def error_body(status: int, cause: str) -> dict[str, Any]:
    """`{"code": 404, "description": "Not Found", "cause": ...}`."""
    try:
        description = HTTPStatus(status).phrase
    except ValueError:
        description = "Error"
    return {"code": status, "description": description, "cause": cause}


def error_response(status: int, cause: str) -> JSONResponse:
    return JSONResponse(error_body(status, cause), status_code=status)


def submit_cause(exc: SubmitError) -> str:
    """The ledger's rejection, led by the rule name when the ledger gave one."""
    message = str(exc)
    if exc.rule and not message.startswith(exc.rule):
        message = f"{exc.rule}: {message}"
    if exc.trace:
        message += f" (trace: {'; '.join(exc.trace)})"
    return message


def validation_cause(exc: RequestValidationError) -> str:
    """`body.txCborHex: Field required; query.amount: ...` from FastAPI's validation errors."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "malformed request"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.cause)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        HTTPStatus.BAD_REQUEST, _content_type_cause(request, exc) or validation_cause(exc)
    )


def _content_type_cause(request: Request, exc: RequestValidationError) -> str | None:
    """A body that was not read as JSON because it was not sent as JSON: say so."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    if not any(tuple(error.get("loc", ())) == ("body",) for error in exc.errors()):
        return None
    got = f"Content-Type {media!r}" if media else "no Content-Type"
    return f"body: send the request body as JSON with Content-Type: application/json ({got})"


async def _submit_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SubmitError)
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, submit_cause(exc))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail))


ERROR_STATUS: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (BadRequestError, HTTPStatus.BAD_REQUEST),
    (CborError, HTTPStatus.BAD_REQUEST),
    (InvalidValueError, HTTPStatus.BAD_REQUEST),
    (AddressError, HTTPStatus.BAD_REQUEST),
    (WitnessError, HTTPStatus.BAD_REQUEST),
    (EmptyWalletError, HTTPStatus.PAYMENT_REQUIRED),
    (NotFoundError, HTTPStatus.NOT_FOUND),
    (PendingUnavailableError, HTTPStatus.NOT_FOUND),
    (PricingError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (InsufficientFundsError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (TransactionTooLargeError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (DatumError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (InvalidSaleError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (UnprocessableError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (ChainUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE),
    (CollateralError, HTTPStatus.SERVICE_UNAVAILABLE),
    (ScriptTransactionError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (ChainError, HTTPStatus.SERVICE_UNAVAILABLE),
    (OperationalError, HTTPStatus.SERVICE_UNAVAILABLE),
)
"""Errors the use cases raise on purpose, and the status each answers with (first match wins:
SubmitError, a ChainError, has its own handler)."""


async def _mapped(_request: Request, exc: Exception) -> JSONResponse:
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            if status is HTTPStatus.SERVICE_UNAVAILABLE:
                log.warning("unavailable: %s", exc)
                return error_response(status, _unavailable_cause(exc))
            return error_response(status, str(exc))
    raise exc  # pragma: no cover - only registered for the kinds above


def _unavailable_cause(exc: Exception) -> str:
    if isinstance(exc, OperationalError):
        return "database unavailable"  # the driver's text may name hosts and users
    if isinstance(exc, ChainError) and not isinstance(exc, ChainUnavailableError):
        return f"chain backend unavailable: {exc}"
    return str(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error below with the v1 body (and never a 500 for bad input)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SubmitError, _submit_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind, _status in ERROR_STATUS:
        app.add_exception_handler(kind, _mapped)
