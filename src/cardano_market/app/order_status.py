"""What became of a v1 order (`GET /v1/marketplace/orders/{orderId}`, `?ownerAddress=`).

An order id lives through three records: the pending order (priced, single-use), the order
transaction issued for it (`issued_transactions`, referencing the id), and the queue order the
chain monitor follows (`marketplace_orders`, carrying the id once it saw the order queued). The
state is the furthest one known:

- Pending: priced, no transaction yet; Expired once its TTL passed unused;
- Issued: the unsigned transaction was handed out; Expired when its validity passed unsubmitted
  or it never reached the chain (the monitor marked it failed);
- Submitted: accepted by submitTx, not yet seen at the queue;
- Queued, Filled, PartiallyFilled, Refunded, Cancelled: the monitor's reading of the chain (a
  fill state stays after the refund that delivers the bundles; `settled` says the order is
  closed).

Amounts are values (lovelace and tokens, bundle tokens left out): locked by the order
transaction at the queue, paid out of it by purchases (cost, profit, the batcher's incentive and
fee), and given back to the owner by the refund or cancel.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cbor2
from sqlalchemy.orm import Session

from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import QueueDatum, address_from_wallet
from ..domain.errors import MarketError
from ..domain.values import Value, sum_values
from ..store.orders import Order, OrderRepo, OrderState, orders_of_owner
from ..store.quotes import PendingOrder, PendingOrderRepo
from ..store.sales import SaleRepo
from ..store.transactions import IssuedTransaction, IssuedTransactionRepo, TxKind, TxStatus
from .context import Context
from .errors import NotFoundError


class OrderStatusState(enum.StrEnum):
    PENDING = "Pending"
    ISSUED = "Issued"
    SUBMITTED = "Submitted"
    QUEUED = "Queued"
    FILLED = "Filled"
    PARTIALLY_FILLED = "PartiallyFilled"
    REFUNDED = "Refunded"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"


_FROM_QUEUE = {
    OrderState.QUEUED: OrderStatusState.QUEUED,
    OrderState.FILLED: OrderStatusState.FILLED,
    OrderState.PARTIALLY_FILLED: OrderStatusState.PARTIALLY_FILLED,
    OrderState.REFUNDED: OrderStatusState.REFUNDED,
    OrderState.CANCELLED: OrderStatusState.CANCELLED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatus:
    order_id: str | None
    """The API's order id (None for a queue order placed elsewhere, listed by owner)."""
    state: OrderStatusState
    settled: bool
    """True once nothing more happens to the order (refunded, cancelled, expired)."""
    sale_id: str | None
    owner_address: bytes | None
    bundles_requested: int | None
    bundles_filled: int
    amount_locked: Value | None
    amount_paid: Value | None
    amount_refunded: Value | None
    order_tx_id: str | None
    purchase_tx_ids: list[str] = field(default_factory=list)
    refund_tx_id: str | None = None
    cancel_tx_id: str | None = None
    created_at: datetime
    updated_at: datetime


def order_not_found(order_id: object) -> NotFoundError:
    return NotFoundError(f"Order {order_id} not found")


class OrderStatusDesk:
    """The v1 order status: one order by its id, or a page of a wallet's orders."""

    def __init__(self, market: Context) -> None:
        self._market = market

    def get(self, order_id: uuid.UUID) -> OrderStatus:
        """NotFoundError (404) for an id this service never handed out (or long purged)."""
        with self._market.database.session() as session:
            status = self._by_api_id(session, str(order_id))
        if status is None:
            raise order_not_found(order_id)
        return status

    def of_owner(
        self, owner_address: bytes, *, offset: int, limit: int, descending: bool
    ) -> list[OrderStatus]:
        with self._market.database.session() as session:
            refs = orders_of_owner(
                session, owner_address, offset=offset, limit=limit, descending=descending
            )
            found: list[OrderStatus] = []
            for ref in refs:
                status: OrderStatus | None = None
                if ref.queue_order_id is not None:
                    order = OrderRepo(session).get(ref.queue_order_id)
                    if order is not None:
                        status = self._queued(session, order, ref.api_order_id, None)
                elif ref.api_order_id is not None:
                    status = self._by_api_id(session, ref.api_order_id)
                if status is not None:
                    found.append(status)
        return found

    # -- one order --------------------------------------------------------------------------------

    def _by_api_id(self, session: Session, order_id: str) -> OrderStatus | None:
        orders = OrderRepo(session)
        pending = PendingOrderRepo(session).get(order_id)
        issued = IssuedTransactionRepo(session).by_reference(order_id, TxKind.ORDER)
        queued = orders.by_api_order_id(order_id)
        if queued is None and issued is not None:
            queued = orders.by_origin(OutRef(bytes.fromhex(issued.tx_id), 0))
        if queued is not None:
            return self._queued(session, queued, order_id, pending)
        if issued is not None:
            return self._issued(session, order_id, issued, pending)
        if pending is not None:
            return self._pending(order_id, pending)
        return None

    def _pending(self, order_id: str, pending: PendingOrder) -> OrderStatus:
        expired = pending.used_at is None and pending.expires_at <= self._market.clock()
        return OrderStatus(
            order_id=order_id,
            state=OrderStatusState.EXPIRED if expired else OrderStatusState.PENDING,
            settled=expired,
            sale_id=pending.sale_id,
            owner_address=None,
            bundles_requested=pending.amount.bundle_quantity,
            bundles_filled=0,
            amount_locked=None,
            amount_paid=None,
            amount_refunded=None,
            order_tx_id=None,
            created_at=pending.created_at,
            updated_at=pending.used_at or pending.created_at,
        )

    def _issued(
        self,
        session: Session,
        order_id: str,
        issued: IssuedTransaction,
        pending: PendingOrder | None,
    ) -> OrderStatus:
        market = self._market
        valid_until = issued.created_at + timedelta(seconds=market.order_validity_seconds)
        if issued.status is TxStatus.FAILED or (
            issued.status is TxStatus.ISSUED and valid_until <= market.clock()
        ):
            state = OrderStatusState.EXPIRED
        elif issued.status is TxStatus.ISSUED:
            state = OrderStatusState.ISSUED
        else:
            state = OrderStatusState.SUBMITTED
        output = _queue_output(issued)
        datum = _datum(output)
        sale_id = pending.sale_id if pending is not None else None
        if sale_id is None and datum is not None and market.addresses.pointer_policy is not None:
            stored = SaleRepo(session).get_by_pointer(
                (market.addresses.pointer_policy, datum.pointer_name)
            )
            sale_id = None if stored is None else stored.sale.id
        owner = None
        if datum is not None:
            try:
                owner = address_from_wallet(datum.owner, market.network_id)
            except MarketError:
                owner = None
        return OrderStatus(
            order_id=order_id,
            state=state,
            settled=state is OrderStatusState.EXPIRED,
            sale_id=sale_id,
            owner_address=owner,
            bundles_requested=(
                datum.number_of_bundles
                if datum is not None
                else (pending.amount.bundle_quantity if pending is not None else None)
            ),
            bundles_filled=0,
            amount_locked=None if output is None else output.value,
            amount_paid=None,
            amount_refunded=None,
            order_tx_id=issued.tx_id,
            created_at=pending.created_at if pending is not None else issued.created_at,
            updated_at=issued.updated_at,
        )

    def _queued(
        self, session: Session, order: Order, order_id: str | None, pending: PendingOrder | None
    ) -> OrderStatus:
        purchases = OrderRepo(session).purchases(order.id)
        paid: Value | None = None
        if all(p.paid is not None for p in purchases):
            paid = sum_values(p.paid for p in purchases if p.paid is not None)
        return OrderStatus(
            order_id=order_id,
            state=_FROM_QUEUE[order.state],
            settled=not order.is_open,
            sale_id=order.sale_id,
            owner_address=order.owner_address,
            bundles_requested=order.bundles_requested,
            bundles_filled=order.bundles_filled,
            amount_locked=order.locked_value,
            amount_paid=paid,
            amount_refunded=order.refunded_value,
            order_tx_id=order.origin[0].hex(),
            purchase_tx_ids=[p.tx_id for p in purchases],
            refund_tx_id=order.refund_tx_id,
            cancel_tx_id=order.cancel_tx_id,
            created_at=pending.created_at if pending is not None else order.created_at,
            updated_at=order.updated_at,
        )


def _queue_output(issued: IssuedTransaction) -> Utxo | None:
    """Output 0 of an issued order transaction (the queue output), as a UTxO."""
    try:
        body = cbor2.loads(issued.cbor)[0]
        output = body[1][0]
        return Utxo.from_cbor(cbor2.dumps([[bytes.fromhex(issued.tx_id), 0], output]))
    except (MarketError, LookupError, TypeError, ValueError, cbor2.CBORDecodeError):
        return None


def _datum(output: Utxo | None) -> QueueDatum | None:
    if output is None or output.inline_datum is None:
        return None
    try:
        return QueueDatum.from_cbor(output.inline_datum)
    except MarketError:
        return None
