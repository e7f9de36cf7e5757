"""A wallet's orders for the v1 order status: the orders this service built a transaction for
(used quotes, by the wallet they were built for) together with the queue orders the monitor
recorded for that owner that are not among them (placed elsewhere, or whose quote was purged),
in one page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Uuid, exists, literal, or_, select, union_all
from sqlalchemy.orm import Session

from ..quotes import PendingOrderRow
from .tables import OrderRow


@dataclass(frozen=True, slots=True)
class OwnerOrderRef:
    """One entry of a wallet's order list: the API order id and/or the monitor's order id."""

    api_order_id: str | None
    queue_order_id: str | None


def orders_of_owner(
    session: Session, owner_address: bytes, *, offset: int, limit: int, descending: bool
) -> list[OwnerOrderRef]:
    """A page of `owner_address`'s orders, oldest first unless `descending`."""
    owner = owner_address.hex()
    issued = select(
        PendingOrderRow.id.label("api"),
        literal(None, Uuid).label("queue"),
        PendingOrderRow.created_at.label("at"),
    ).where(PendingOrderRow.owner_address == owner)
    listed = exists().where(
        PendingOrderRow.id == OrderRow.api_order_id, PendingOrderRow.owner_address == owner
    )
    queued = select(
        OrderRow.api_order_id.label("api"),
        OrderRow.id.label("queue"),
        OrderRow.created_at.label("at"),
    ).where(OrderRow.owner_address == owner, or_(OrderRow.api_order_id.is_(None), ~listed))
    both = union_all(issued, queued).subquery()
    order = (both.c.at.desc(), both.c.api.desc()) if descending else (both.c.at, both.c.api)
    rows = session.execute(
        select(both.c.api, both.c.queue).order_by(*order).offset(offset).limit(limit)
    )
    return [OwnerOrderRef(_text(api), _text(queue)) for api, queue in rows]


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
