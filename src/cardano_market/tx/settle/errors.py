"""Why a settlement transaction (purchase, refund, cancel) cannot be built as asked."""

from __future__ import annotations

from ...domain.errors import MarketError


class BatchError(MarketError):
    """A batcher transaction cannot be built as asked."""


class NotFillableError(BatchError):
    """The order cannot be filled (sale sold out or order short-paid): refund it instead."""


class StillFillableError(BatchError):
    """The order can still be filled, so the queue refuses a refund: purchase it instead."""


class FeeBoundError(BatchError):
    """The fee the transaction needs exceeds the ReferenceDatum's bound for it."""

    def __init__(self, message: str, fee: int, bound: int) -> None:
        super().__init__(message)
        self.fee = fee
        self.bound = bound


class OracleWindowError(BatchError):
    """The validity interval is not inside the oracle datum's window (or is not finite)."""
