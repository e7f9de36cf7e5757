"""`Idempotency-Key`s of the custodial API: take a key for a request, store the request's answer
under it, or free it again. The HTTP side (headers, fingerprinting the request, replaying the
stored answer) is the service's (`service.v2.idempotency`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..domain.errors import MarketError
from ..store.errors import IdempotencyInProgressError, IdempotencyKeyReusedError
from ..store.idempotency import IDEMPOTENCY_KEY_CHARS, IdempotencyRepo, StoredResponse
from ..store.users import UserRepo
from .context import Context
from .errors import NotFoundError

MAX_KEY_CHARS = IDEMPOTENCY_KEY_CHARS
"""The longest key stored."""


class UnknownKeyOwnerError(NotFoundError):
    """Keys belong to users: the caller has no user record (404)."""


class KeyReusedError(MarketError):
    """The key was already used for a different request (422)."""


class KeyInProgressError(MarketError):
    """The key's first request has not finished yet (409)."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What identifies a request under a key: its method, path and canonical body."""
    return IdempotencyRepo.fingerprint(method, path, body)


def take_key(
    ctx: Context, session: Session, user_id: str, key: str, *, request_hash: str
) -> StoredResponse | None:
    """Take `key` for the request `request_hash` (None: go on and do the work), or the answer
    stored under it. UnknownKeyOwnerError for a caller without a user record, administrators
    included (a token's claims never create a row); KeyReusedError, KeyInProgressError."""
    if UserRepo(session).get(user_id) is None:
        raise UnknownKeyOwnerError(f"User {user_id} not found")
    try:
        return IdempotencyRepo(session).begin(
            user_id, key, request_hash=request_hash, now=ctx.clock()
        )
    except IdempotencyKeyReusedError as exc:
        raise KeyReusedError(str(exc)) from None
    except IdempotencyInProgressError as exc:
        raise KeyInProgressError(str(exc)) from None


def store_answer(
    ctx: Context,
    session: Session,
    user_id: str,
    key: str,
    *,
    status_code: int,
    body: Any,
    transaction_id: str | None,
) -> None:
    """Record the answer of the request `take_key` let through, in `session`'s transaction."""
    IdempotencyRepo(session).store_response(
        user_id,
        key,
        status_code=status_code,
        body=body,
        now=ctx.clock(),
        transaction_id=transaction_id,
    )


def release_key(ctx: Context, user_id: str, key: str) -> None:
    """Free a key whose request was refused before it did anything (in its own transaction)."""
    with ctx.database.session() as session:
        IdempotencyRepo(session).release(user_id, key)
