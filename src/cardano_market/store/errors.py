"""Errors the repositories raise beyond `domain.errors` (deals, leases, state machines,
idempotency keys): each is a `StoreError` a route or the worker maps to an answer."""

from __future__ import annotations

from ..domain.errors import StoreError


class IllegalTransitionError(StoreError):
    """A state change the state machine forbids (or the row moved on since it was read)."""


class LeaseLostError(StoreError):
    """A worker acted on a transaction another worker has claimed since: it must stop."""


class DealUnavailableError(StoreError):
    """The deal is not active (pending, completed or cancelled): nothing can be bought or
    delisted from it."""


class InsufficientQuantityError(StoreError):
    """A reservation asked for more than the deal has left (the spec's 409/422)."""

    def __init__(self, message: str, *, requested: int, remaining: int) -> None:
        super().__init__(message)
        self.requested = requested
        self.remaining = remaining


class IdempotencyKeyReusedError(StoreError):
    """An `Idempotency-Key` sent again with a different request (method, path or body)."""


class IdempotencyInProgressError(StoreError):
    """An `Idempotency-Key` whose first request has not finished yet."""
