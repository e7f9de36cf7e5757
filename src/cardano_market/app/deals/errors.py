"""The secondary market's refusals, each with the HTTP status it maps to."""

from __future__ import annotations

from ...chain.base import ChainError
from ...domain.errors import MarketError
from ..errors import NotFoundError, UnprocessableError

MAX_DEAL_ID = 2**31 - 1
"""Deal ids are 32-bit integers: anything larger names no deal (and must not reach SQL)."""


class DealNotFoundError(NotFoundError):
    """No such deal for this token, or it is no longer for sale (404)."""


class DealConflictError(MarketError):
    """A concurrent purchase (or delisting) got there first (409)."""


class SubmissionOutcomeUnknownError(ChainError):
    """The ledger refused a copy of a settlement that may have landed all the same (503; the
    request's Idempotency-Key stays taken, so a retry never pays twice)."""


class DealClosedError(MarketError):
    """Delisting a deal that is completed, cancelled, or not yet active (409)."""


class InsufficientBalanceError(UnprocessableError):
    """The seller's wallet holds fewer tokens than the sell order, after pending listings (422)."""


class InsufficientDealQuantityError(UnprocessableError):
    """More asked than the deal has left (422)."""


class SellingUnavailableError(MarketError):
    """No escrow key is configured: nothing can be listed or settled (503)."""
