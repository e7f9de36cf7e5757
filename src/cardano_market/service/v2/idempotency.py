"""`Idempotency-Key` on v2 POSTs: the same key and request get the first answer again, and the
work behind it (a transaction row, a user) happens once.

`run_idempotent` takes the key, does the route's work and stores its answer in one database
transaction, so the key and what it created commit together or not at all: a request that
fails (4xx) leaves the key free for a corrected retry. The same key with a different request
(method, path or body) is 422; while the first request is still running, 409.

Work that submits to the chain before its database transaction commits (a synchronous
secondary purchase or delist) runs with `submits_on_chain`: the key is taken and committed
first, so a retry arriving meanwhile is 409 instead of a second transaction. A refusal (4xx)
releases the key; a request that fails otherwise (the chain may have seen its transaction)
keeps it taken: retries with that key answer 409, never a second payment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ...app.context import Context
from ...app.idempotency import (
    MAX_KEY_CHARS,
    KeyInProgressError,
    KeyReusedError,
    UnknownKeyOwnerError,
    fingerprint,
    release_key,
    store_answer,
    take_key,
)
from ...security.jwt_auth import Principal
from .errors import V2Error, translate_errors
from .exact_json import dumps_exact

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A route's answer: status, JSON body (Decimals allowed) and the transaction it started."""

    body: Any
    status_code: int = 200
    transaction_id: str | None = None


def run_idempotent(
    request: Request,
    ctx: Context,
    principal: Principal,
    body: BaseModel | None,
    work: Callable[[Session], Outcome],
    *,
    titles: Mapping[int, str] | None = None,
    submits_on_chain: bool = False,
) -> Response:
    """Run `work` in one unit of work under the request's Idempotency-Key (if any) and answer
    with its outcome; a repeated key answers the stored outcome with `Idempotent-Replayed`.

    Use-case errors raised by `work` become V2Errors titled per `titles` (`translate_errors`).
    `submits_on_chain`: the key is committed before `work` runs (see the module's docstring).
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not _valid_key(key):
        raise V2Error(
            400,
            "Invalid parameters",
            f"{IDEMPOTENCY_HEADER}: 1..{MAX_KEY_CHARS} visible ASCII characters",
        )
    if key is not None and submits_on_chain:
        with translate_errors(titles), ctx.database.session() as session:
            stored = _take_key(request, ctx, session, principal, body, key)
        if stored is not None:
            return stored
        try:
            with translate_errors(titles), ctx.database.session() as session:
                return _answer(ctx, session, principal, key, work(session))
        except V2Error as exc:
            if exc.status < 500:  # refused before anything was submitted: free the key
                release_key(ctx, principal.user_id, key)
            raise
    with translate_errors(titles), ctx.database.session() as session:
        if key is not None:
            stored = _take_key(request, ctx, session, principal, body, key)
            if stored is not None:
                return stored
        return _answer(ctx, session, principal, key, work(session))


def _take_key(
    request: Request,
    ctx: Context,
    session: Session,
    principal: Principal,
    body: BaseModel | None,
    key: str,
) -> Response | None:
    """Take `key` for this request (None: go on and do the work), or the stored answer."""
    request_hash = fingerprint(request.method, request.url.path, _canonical(body))
    try:
        stored = take_key(ctx, session, principal.user_id, key, request_hash=request_hash)
    except UnknownKeyOwnerError as exc:
        # Keys belong to users: a caller without a user record is 404, administrators included.
        raise V2Error(404, "Resource not found", str(exc)) from None
    except KeyReusedError:
        raise V2Error(
            422,
            "Idempotency key reused",
            f"{IDEMPOTENCY_HEADER} {key!r} was already used for a different request",
        ) from None
    except KeyInProgressError:
        raise V2Error(
            409,
            "Request in progress",
            f"the request with {IDEMPOTENCY_HEADER} {key!r} has not finished yet",
        ) from None
    if stored is None:
        return None
    return Response(
        str(stored.body),
        status_code=stored.status_code,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def _answer(
    ctx: Context, session: Session, principal: Principal, key: str | None, outcome: Outcome
) -> Response:
    """The outcome as the response, stored under `key` in `session`'s transaction."""
    text = dumps_exact(outcome.body)
    if key is not None:
        store_answer(
            ctx,
            session,
            principal.user_id,
            key,
            status_code=outcome.status_code,
            body=text,
            transaction_id=outcome.transaction_id,
        )
    return Response(text, status_code=outcome.status_code, media_type="application/json")


def _canonical(body: BaseModel | None) -> bytes:
    if body is None:
        return b""
    data = _same_numbers(body.model_dump())
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def _same_numbers(value: Any) -> Any:
    """Numbers by value, not spelling: `60`, `60.0` and `6e1` fingerprint alike."""
    if isinstance(value, dict):
        return {key: _same_numbers(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_same_numbers(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
        return format(number.normalize(), "f") if number.is_finite() else str(number)
    return value


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_CHARS and all(0x21 <= ord(c) <= 0x7E for c in key)
