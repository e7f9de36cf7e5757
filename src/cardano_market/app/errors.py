"""Use-case errors that are not already domain errors, each with the HTTP status it maps to."""

from __future__ import annotations

from ..domain.errors import MarketError


class NotFoundError(MarketError, LookupError):
    """An unknown sale, order or transaction (404)."""


class BadRequestError(MarketError, ValueError):
    """A malformed request value; the message names the field (400)."""


class EmptyWalletError(MarketError):
    """The wallet sent no UTxOs at all (402, as the deployed server answers)."""


class UnprocessableError(MarketError):
    """A well-formed request the marketplace cannot act on; the message says why (422)."""


class ChainUnavailableError(MarketError):
    """The chain backend could not answer (503); nothing was created."""


class ConflictError(MarketError):
    """What the request would create exists already (409)."""
