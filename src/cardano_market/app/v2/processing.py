"""The worker's handler registry: how each type of custodial transaction is built and what its
confirmation (or failure) does to the database.

A handler builds the unsigned transaction and its signing mandate; the worker
(`worker.processor`) signs, stores the signed bytes, submits, watches for confirmation and then
calls `on_confirmed` or `on_failed` inside the same database transaction that records the final
state, so their effects happen exactly once. Handlers register under a `V2TxType` value:
`primary_purchase` (`app.v2.primary`), `sell` (`app.v2.deals`), `order_cancel`
(`app.v2.order_cancel`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ...domain.errors import MarketError
from ..signing import Mandate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...store.transactions import V2Transaction
    from .context import V2Context


@dataclass(frozen=True, slots=True)
class BuiltTx:
    """An unsigned transaction and its mandate: the keys that sign it and what the signing gate
    checks first (`app.signing`)."""

    cbor: bytes
    mandate: Mandate = field(repr=False)


class TxHandler(Protocol):
    def build(self, ctx: V2Context, tx: V2Transaction) -> BuiltTx:
        """The unsigned transaction for `tx`. A `MarketError` fails it for good (the reason
        is shown to the user); a `ChainError` is transient (the worker retries later)."""
        ...

    def on_confirmed(self, ctx: V2Context, session: Session, tx: V2Transaction) -> None:
        """Apply the database effects of `tx` being on chain."""
        ...

    def on_failed(self, ctx: V2Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Undo what the request reserved: `tx` will never be on chain."""
        ...


class RefusedError(MarketError):
    """A handler refuses to build: the request's terms no longer hold (the price moved beyond
    the quote, KYC revoked, the sale ended...). The transaction fails with this message as its
    `failure_reason`, word for word; nothing is signed."""


class UnknownTxTypeError(MarketError):
    """No handler is registered for a transaction's type."""


HANDLERS: dict[str, TxHandler] = {}


def register(type: str, handler: TxHandler) -> None:
    """Make `handler` build transactions of `type` (a `V2TxType` value); replaces any earlier."""
    HANDLERS[str(type)] = handler


def handler_for(type: str) -> TxHandler:
    """The registered handler, loading the modules that register them on first use."""
    load_handlers()
    try:
        return HANDLERS[str(type)]
    except KeyError:
        raise UnknownTxTypeError(
            f"no handler for {type!r} transactions (registered: {', '.join(sorted(HANDLERS))})"
        ) from None


def load_handlers() -> None:
    """Import the modules whose import registers handlers (the deals module when present)."""
    import importlib
    import importlib.util

    from . import order_cancel, primary  # noqa: F401  (register order_cancel, primary_purchase)

    if importlib.util.find_spec(f"{__package__}.deals") is not None:
        importlib.import_module(f"{__package__}.deals")
