"""What a custodial transaction's handler is: it builds the unsigned transaction and its signing
mandate, and applies what the transaction's confirmation (or failure) does to the database.

The worker's steps (`app.custodial_processing`, looped by `worker.processor`) sign, store the
signed bytes, submit, watch for confirmation and then call `on_confirmed` or `on_failed` inside
the same database transaction that records the final state, so their effects happen exactly once.
Which handler serves which transaction type is the table in `app.transactions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..domain.errors import MarketError
from .signing import Mandate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..store.transactions import V2Transaction
    from .context import Context


@dataclass(frozen=True, slots=True)
class BuiltTx:
    """An unsigned transaction and its mandate: the keys that sign it and what the signing gate
    checks first (`app.signing`)."""

    cbor: bytes
    mandate: Mandate = field(repr=False)


class TxHandler(Protocol):
    def build(self, ctx: Context, tx: V2Transaction) -> BuiltTx:
        """The unsigned transaction for `tx`. A `MarketError` fails it for good (the reason
        is shown to the user); a `ChainError` is transient (the worker retries later)."""
        ...

    def on_confirmed(self, ctx: Context, session: Session, tx: V2Transaction) -> None:
        """Apply the database effects of `tx` being on chain."""
        ...

    def on_failed(self, ctx: Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Undo what the request reserved: `tx` will never be on chain."""
        ...


class RefusedError(MarketError):
    """A handler refuses to build: the request's terms no longer hold (the price moved beyond
    the quote, KYC revoked, the sale ended...). The transaction fails with this message as its
    `failure_reason`, word for word; nothing is signed."""
