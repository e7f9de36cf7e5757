"""The custodial transactions' handler table: which handler builds each transaction type, and
reading a stored transaction's payload as its typed value.

One literal table, imports in one direction (the handlers never import it): `primary_purchase`
(`app.primary`), `sell` (`app.deals.listing`), `order_cancel` (`app.custodial_cancel`).
"""

from __future__ import annotations

from ..domain.errors import MarketError
from ..store.transactions import V2Transaction, V2TxType
from .custodial_cancel import OrderCancelHandler
from .custodial_tx import TxHandler
from .deals.listing import SellHandler
from .payloads import PAYLOAD_TYPES, Payload
from .primary import PrimaryPurchaseHandler


class UnknownTxTypeError(MarketError):
    """No handler serves a transaction's type."""


HANDLERS: dict[V2TxType, TxHandler] = {
    V2TxType.PRIMARY_PURCHASE: PrimaryPurchaseHandler(),
    V2TxType.SELL: SellHandler(),
    V2TxType.ORDER_CANCEL: OrderCancelHandler(),
}


def handler_for(type: str) -> TxHandler:
    """The handler of transactions of `type` (a `V2TxType` value); UnknownTxTypeError if none."""
    try:
        return HANDLERS[V2TxType(type)]
    except (KeyError, ValueError):
        served = ", ".join(sorted(str(t) for t in HANDLERS))
        raise UnknownTxTypeError(
            f"no handler for {type!r} transactions (registered: {served})"
        ) from None


def payload_of(tx: V2Transaction) -> Payload:
    """`tx`'s stored payload as the typed value of its type."""
    return PAYLOAD_TYPES[tx.type].from_json(tx.payload)


def quantity_moved(tx: V2Transaction) -> int | None:
    """The base units `tx` moves, for its views; None when its payload names none."""
    quantity = tx.payload.get("quantity")
    return quantity if isinstance(quantity, int) else None
