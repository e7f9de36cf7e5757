"""Queue orders as the chain monitor sees them, and their purchases: records and repository.

An order is a queue UTxO with a well-formed QueueDatum; it keeps its identity (the first UTxO,
`origin`) while a purchase moves it to the continuing queue output (`utxo`), and closes (`utxo`
NULL) when a refund or cancel spends it. A purchase is one fill of one order by one transaction.
Every write is idempotent: inserts ignore a row that is already there, state changes are
conditional on the UTxO the caller saw, so replaying a poll (a restart, a second monitor) changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ...domain.cip30 import OutRef
from ...domain.errors import StoreError
from ...domain.values import AssetId, Value
from .._sql import dialect_insert, fresh, optional_uuid, optional_value, parse_uuid, require_uuid
from ..columns import check_aware, check_exact_int
from .tables import CloseKind, OrderRow, OrderState, PurchaseRow

# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: str
    origin: OutRef
    utxo: OutRef | None
    """The order's open queue UTxO; None once refunded or cancelled."""
    sale_id: str | None
    pointer_name: bytes
    owner_address: bytes
    bundles_requested: int
    bundles_filled: int
    incentive: AssetId
    incentive_amount: int
    value: Value
    datum: bytes
    state: OrderState
    purchase_tx_id: str | None
    refund_tx_id: str | None
    cancel_tx_id: str | None
    block_height: int | None
    slot: int | None
    closed_block_height: int | None
    closed_slot: int | None
    created_at: datetime
    updated_at: datetime
    api_order_id: str | None = None
    """The v1 API's `orderId` when this service issued the order transaction."""
    locked_value: Value | None = None
    """What the order transaction locked at the queue (None: recorded before revision 0005)."""
    refunded_value: Value | None = None
    """What the refund or cancel gave back, bundle tokens left out (None while open)."""

    @property
    def is_open(self) -> bool:
        return self.utxo is not None

    @property
    def label(self) -> str:
        """How logs name the order: the API's order id when there is one."""
        return self.api_order_id or f"queue order {self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOrder:
    """A queue UTxO with a well-formed QueueDatum, as first seen."""

    origin: OutRef
    sale_id: str | None
    pointer_name: bytes
    owner_address: bytes
    bundles_requested: int
    incentive: AssetId
    incentive_amount: int
    value: Value
    datum: bytes
    block_height: int | None
    slot: int | None
    api_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Purchase:
    tx_id: str
    order_id: str
    sale_id: str | None
    pointer_name: bytes
    bundles: int
    next_utxo: OutRef | None
    block_height: int | None
    slot: int | None
    created_at: datetime
    paid: Value | None = None
    """What left the order (cost, profit, incentive, fee), bundle tokens left out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainPoint:
    """Where on chain a transaction sits (both None in a mempool)."""

    tx_id: bytes
    block_height: int | None
    slot: int | None


# -- repositories -------------------------------------------------------------------------------


class OrderRepo:
    """Orders (`marketplace_orders`) and their purchases (`marketplace_purchases`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, new: NewOrder, *, now: datetime) -> Order:
        """Record a queued order, or return the one already recorded for the same UTxO."""
        now = check_aware("now", now)
        if new.bundles_requested < 1:
            raise StoreError(f"order {_ref_text(new.origin)} requests {new.bundles_requested}")
        values = {
            "id": uuid.uuid4(),
            "origin_tx_hash": new.origin[0].hex(),
            "origin_output_index": new.origin[1],
            "utxo_tx_hash": new.origin[0].hex(),
            "utxo_output_index": new.origin[1],
            "sale_id": optional_uuid(new.sale_id),
            "pointer_asset_name": new.pointer_name.hex(),
            "owner_address": new.owner_address.hex(),
            "bundles_requested": check_exact_int("bundles requested", new.bundles_requested),
            "bundles_filled": 0,
            "incentive_policy_id": new.incentive[0].hex(),
            "incentive_asset_name": new.incentive[1].hex(),
            "incentive_amount": check_exact_int("incentive amount", new.incentive_amount),
            "value_cbor": new.value.to_cbor().hex(),
            "datum_cbor": new.datum.hex(),
            "state": OrderState.QUEUED.value,
            "block_height": new.block_height,
            "slot": new.slot,
            "created_at": now,
            "updated_at": now,
            "api_order_id": optional_uuid(new.api_order_id),
            "locked_value_cbor": new.value.to_cbor().hex(),
        }
        stmt = dialect_insert(self._session, OrderRow).values(**values).on_conflict_do_nothing()
        self._session.execute(stmt)
        stored = self.by_origin(new.origin)
        if stored is None:
            raise StoreError(f"order {_ref_text(new.origin)} vanished while being recorded")
        return stored

    def get(self, order_id: str | uuid.UUID) -> Order | None:
        key = parse_uuid(order_id)
        if key is None:
            return None
        return self._one(select(OrderRow).where(OrderRow.id == key))

    def by_api_order_id(self, order_id: str | uuid.UUID) -> Order | None:
        """The order the v1 API issued as `order_id` (None until the monitor saw it queued)."""
        key = parse_uuid(order_id)
        if key is None:
            return None
        return self._one(select(OrderRow).where(OrderRow.api_order_id == key))

    def by_origin(self, ref: OutRef) -> Order | None:
        return self._one(
            select(OrderRow).where(
                OrderRow.origin_tx_hash == ref[0].hex(), OrderRow.origin_output_index == ref[1]
            )
        )

    def by_utxo(self, ref: OutRef) -> Order | None:
        """The order that is, or once was, at queue UTxO `ref` (its origin or a purchase's
        continuing output)."""
        found = self.by_origin(ref)
        if found is not None:
            return found
        order_id = self._session.scalars(
            select(PurchaseRow.order_id).where(
                PurchaseRow.next_tx_hash == ref[0].hex(), PurchaseRow.next_output_index == ref[1]
            )
        ).first()
        return None if order_id is None else self.get(order_id)

    def open_orders(self) -> list[Order]:
        """Orders still sitting at the queue, oldest first."""
        stmt = select(OrderRow).where(OrderRow.utxo_tx_hash.is_not(None))
        return self._many(stmt)

    def find(
        self,
        *,
        sale_id: str | None = None,
        owner_address: bytes | None = None,
        states: Collection[OrderState] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Order]:
        """Orders of a sale, of an owner and/or in some states, oldest first."""
        if offset < 0 or limit < 0:
            raise StoreError(f"offset ({offset}) and limit ({limit}) must not be negative")
        stmt = select(OrderRow)
        if sale_id is not None:
            stmt = stmt.where(OrderRow.sale_id == optional_uuid(sale_id))
        if owner_address is not None:
            stmt = stmt.where(OrderRow.owner_address == owner_address.hex())
        if states is not None:
            stmt = stmt.where(OrderRow.state.in_([OrderState(s).value for s in states]))
        return self._many(stmt.offset(offset).limit(limit))

    def changed_since(self, block_height: int) -> list[Order]:
        """Orders with a purchase or a close at or above `block_height` (rollback re-checks)."""
        purchased = select(PurchaseRow.order_id).where(PurchaseRow.block_height >= block_height)
        stmt = select(OrderRow).where(
            or_(OrderRow.closed_block_height >= block_height, OrderRow.id.in_(purchased))
        )
        return self._many(stmt)

    def link_sale(self, pointer_name: bytes, sale_id: str) -> int:
        """Attach orders (and purchases) naming `pointer_name` to a sale recorded later."""
        key = optional_uuid(sale_id)
        name = pointer_name.hex()
        orders = self._session.execute(
            update(OrderRow)
            .where(OrderRow.pointer_asset_name == name, OrderRow.sale_id.is_(None))
            .values(sale_id=key)
            .execution_options(synchronize_session=False)
        )
        self._session.execute(
            update(PurchaseRow)
            .where(PurchaseRow.pointer_asset_name == name, PurchaseRow.sale_id.is_(None))
            .values(sale_id=key)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(orders, "rowcount", 0))

    def record_purchase(
        self,
        order: Order,
        *,
        at: ChainPoint,
        bundles: int,
        next_utxo: OutRef | None,
        next_value: Value | None,
        now: datetime,
        paid: Value | None = None,
    ) -> bool:
        """A purchase spent the order's UTxO `order.utxo`, filling `bundles`; the order moves to
        `next_utxo` (None: no continuing output, the order closes). False when already applied."""
        now = check_aware("now", now)
        if order.utxo is None:
            return False
        check_exact_int("bundles", bundles)
        filled = order.bundles_filled + bundles
        state = _fill_state(filled, order.bundles_requested)
        values: dict[str, Any] = {
            "bundles_filled": filled,
            "state": state.value,
            "purchase_tx_id": at.tx_id.hex(),
            "utxo_tx_hash": None if next_utxo is None else next_utxo[0].hex(),
            "utxo_output_index": None if next_utxo is None else next_utxo[1],
            "updated_at": now,
        }
        if next_value is not None:
            values["value_cbor"] = next_value.to_cbor().hex()
        if next_utxo is None:
            values.update(closed_block_height=at.block_height, closed_slot=at.slot)
        if not self._move(order, values):
            return False
        self._session.execute(
            dialect_insert(self._session, PurchaseRow)
            .values(
                tx_id=at.tx_id.hex(),
                order_id=require_uuid("order id", order.id),
                sale_id=optional_uuid(order.sale_id),
                pointer_asset_name=order.pointer_name.hex(),
                bundles=bundles,
                next_tx_hash=None if next_utxo is None else next_utxo[0].hex(),
                next_output_index=None if next_utxo is None else next_utxo[1],
                block_height=at.block_height,
                slot=at.slot,
                created_at=now,
                paid_value_cbor=None if paid is None else paid.to_cbor().hex(),
            )
            .on_conflict_do_nothing()
        )
        return True

    def close(
        self,
        order: Order,
        kind: CloseKind,
        *,
        at: ChainPoint,
        now: datetime,
        refunded: Value | None = None,
    ) -> bool:
        """A refund or cancel spent the order's UTxO; False when already applied.

        The state says what the order got: a fill state stays; without a fill, refunded or
        cancelled. `refunded`: what the owner got back (bundle tokens left out).
        """
        now = check_aware("now", now)
        kind = CloseKind(kind)
        if order.bundles_filled > 0:
            state = _fill_state(order.bundles_filled, order.bundles_requested)
        else:
            state = OrderState.REFUNDED if kind is CloseKind.REFUND else OrderState.CANCELLED
        column = "refund_tx_id" if kind is CloseKind.REFUND else "cancel_tx_id"
        return self._move(
            order,
            {
                "state": state.value,
                column: at.tx_id.hex(),
                "refunded_value_cbor": None if refunded is None else refunded.to_cbor().hex(),
                "utxo_tx_hash": None,
                "utxo_output_index": None,
                "closed_block_height": at.block_height,
                "closed_slot": at.slot,
                "updated_at": now,
            },
        )

    def purchases(self, order_id: str) -> list[Purchase]:
        stmt = (
            select(PurchaseRow)
            .where(PurchaseRow.order_id == require_uuid("order id", order_id))
            .order_by(PurchaseRow.block_height, PurchaseRow.created_at, PurchaseRow.tx_id)
        )
        return [_purchase(row) for row in self._session.scalars(fresh(stmt))]

    def purchases_of_sale(self, sale_id: str) -> list[Purchase]:
        stmt = (
            select(PurchaseRow)
            .where(PurchaseRow.sale_id == optional_uuid(sale_id))
            .order_by(PurchaseRow.block_height, PurchaseRow.created_at, PurchaseRow.tx_id)
        )
        return [_purchase(row) for row in self._session.scalars(fresh(stmt))]

    def rewind(
        self, order: Order, *, keep: Sequence[Purchase], utxo: OutRef, value: Value, now: datetime
    ) -> Order:
        """Undo what a rollback took back: only the purchases `keep` remain, the order is open
        again at `utxo` holding `value`, and its refund or cancel is forgotten."""
        now = check_aware("now", now)
        kept = {p.tx_id for p in keep}
        self._session.execute(
            delete(PurchaseRow)
            .where(
                PurchaseRow.order_id == require_uuid("order id", order.id),
                PurchaseRow.tx_id.not_in(kept) if kept else PurchaseRow.tx_id.is_not(None),
            )
            .execution_options(synchronize_session=False)
        )
        filled = sum(p.bundles for p in keep)
        self._session.execute(
            update(OrderRow)
            .where(OrderRow.id == require_uuid("order id", order.id))
            .values(
                bundles_filled=filled,
                state=_fill_state(filled, order.bundles_requested).value,
                purchase_tx_id=keep[-1].tx_id if keep else None,
                refund_tx_id=None,
                cancel_tx_id=None,
                refunded_value_cbor=None,
                closed_block_height=None,
                closed_slot=None,
                utxo_tx_hash=utxo[0].hex(),
                utxo_output_index=utxo[1],
                value_cbor=value.to_cbor().hex(),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rewound = self.get(order.id)
        assert rewound is not None  # updated just now, in this unit of work
        return rewound

    def remove(self, order: Order) -> None:
        """Forget an order whose own transaction a rollback took back."""
        key = require_uuid("order id", order.id)
        self._session.execute(delete(PurchaseRow).where(PurchaseRow.order_id == key))
        self._session.execute(delete(OrderRow).where(OrderRow.id == key))

    def _move(self, order: Order, values: dict[str, Any]) -> bool:
        assert order.utxo is not None
        stmt = (
            update(OrderRow)
            .where(
                OrderRow.id == require_uuid("order id", order.id),
                OrderRow.utxo_tx_hash == order.utxo[0].hex(),
                OrderRow.utxo_output_index == order.utxo[1],
            )
            .values(**values)
            .returning(OrderRow.id)
            .execution_options(synchronize_session=False)
        )
        return self._session.execute(stmt).first() is not None

    def _one(self, stmt: Any) -> Order | None:
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _order(row)

    def _many(self, stmt: Any) -> list[Order]:
        stmt = stmt.order_by(OrderRow.created_at, OrderRow.id)
        return [_order(row) for row in self._session.scalars(fresh(stmt))]


# -- row <-> record -----------------------------------------------------------------------------


def _fill_state(filled: int, requested: int) -> OrderState:
    if filled <= 0:
        return OrderState.QUEUED
    return OrderState.FILLED if filled >= requested else OrderState.PARTIALLY_FILLED


def _order(row: OrderRow) -> Order:
    utxo = (
        None
        if row.utxo_tx_hash is None or row.utxo_output_index is None
        else OutRef(bytes.fromhex(row.utxo_tx_hash), row.utxo_output_index)
    )
    return Order(
        id=str(row.id),
        origin=OutRef(bytes.fromhex(row.origin_tx_hash), row.origin_output_index),
        utxo=utxo,
        sale_id=None if row.sale_id is None else str(row.sale_id),
        pointer_name=bytes.fromhex(row.pointer_asset_name),
        owner_address=bytes.fromhex(row.owner_address),
        bundles_requested=row.bundles_requested,
        bundles_filled=row.bundles_filled,
        incentive=(bytes.fromhex(row.incentive_policy_id), bytes.fromhex(row.incentive_asset_name)),
        incentive_amount=row.incentive_amount,
        value=Value.from_cbor(bytes.fromhex(row.value_cbor)),
        datum=bytes.fromhex(row.datum_cbor),
        state=OrderState(row.state),
        purchase_tx_id=row.purchase_tx_id,
        refund_tx_id=row.refund_tx_id,
        cancel_tx_id=row.cancel_tx_id,
        block_height=row.block_height,
        slot=row.slot,
        closed_block_height=row.closed_block_height,
        closed_slot=row.closed_slot,
        created_at=row.created_at,
        updated_at=row.updated_at,
        api_order_id=None if row.api_order_id is None else str(row.api_order_id),
        locked_value=optional_value(row.locked_value_cbor),
        refunded_value=optional_value(row.refunded_value_cbor),
    )


def _purchase(row: PurchaseRow) -> Purchase:
    next_utxo = (
        None
        if row.next_tx_hash is None or row.next_output_index is None
        else OutRef(bytes.fromhex(row.next_tx_hash), row.next_output_index)
    )
    return Purchase(
        tx_id=row.tx_id,
        order_id=str(row.order_id),
        sale_id=None if row.sale_id is None else str(row.sale_id),
        pointer_name=bytes.fromhex(row.pointer_asset_name),
        bundles=row.bundles,
        next_utxo=next_utxo,
        block_height=row.block_height,
        slot=row.slot,
        created_at=row.created_at,
        paid=optional_value(row.paid_value_cbor),
    )


def _ref_text(ref: OutRef) -> str:
    return f"{ref[0].hex()}#{ref[1]}"
