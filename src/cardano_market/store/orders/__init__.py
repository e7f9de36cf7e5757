"""Orders: queue orders as the chain monitor sees them (`queue.py`), their purchases, and a
wallet's order list for the v1 order status (`owner.py`). The priced amounts handed to buyers
before an order exists are quotes (`store.quotes`)."""

from .owner import OwnerOrderRef, orders_of_owner
from .queue import ChainPoint, NewOrder, Order, OrderRepo, Purchase
from .tables import CloseKind, OrderRow, OrderState, PurchaseRow

__all__ = [
    "ChainPoint",
    "CloseKind",
    "NewOrder",
    "Order",
    "OrderRepo",
    "OrderRow",
    "OrderState",
    "OwnerOrderRef",
    "Purchase",
    "PurchaseRow",
    "orders_of_owner",
]
