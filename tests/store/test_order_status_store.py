"""A wallet's orders for the v1 order status, on SQLite and PostgreSQL: the pending orders built
for the wallet together with queue orders the monitor recorded for it that are not among them,
paged oldest (or newest) first, each listed once."""

from __future__ import annotations

import uuid

from store_samples import OWNER, POINTER_POLICY, T0, later, make_amount, make_sale

from cardano_market.domain.values import Value
from cardano_market.store.db import Database
from cardano_market.store.orders import NewOrder, OrderRepo, OwnerOrderRef, orders_of_owner
from cardano_market.store.quotes import PendingOrderRepo
from cardano_market.store.sales import SaleRepo

BUYER = bytes.fromhex("00" + "44" * 28 + "55" * 28)
OTHER = bytes.fromhex("00" + "66" * 28 + "77" * 28)


def _queue_order(orders: OrderRepo, n: int, owner: bytes, api_order_id: str | None) -> str:
    order = orders.add(
        NewOrder(
            origin=(bytes([n]) * 32, 0),
            sale_id=None,
            pointer_name=bytes(32),
            owner_address=owner,
            bundles_requested=1,
            incentive=(bytes(28), b"NEWM"),
            incentive_amount=5_000_000,
            value=Value(4_000_000),
            datum=b"\xd8\x79\x80",
            block_height=n,
            slot=n,
            api_order_id=api_order_id,
        ),
        now=later(n),
    )
    return order.id


def test_a_wallets_orders_from_both_sources_once_each(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        pending = PendingOrderRepo(session)
        built = [
            pending.add(sale_id=sale.id, amount=make_amount(sale), now=later(i), ttl_seconds=600)
            for i in range(3)
        ]
        pending.add(sale_id=sale.id, amount=make_amount(sale), now=later(9), ttl_seconds=600)
        for order in built[:2]:
            pending.set_owner(order.id, BUYER)
        pending.set_owner(built[2].id, OTHER)
        orders = OrderRepo(session)
        # queued from the buyer's first API order: listed once, under its API id
        _queue_order(orders, 10, BUYER, built[0].id)
        # placed elsewhere (no API id), and an API order whose pending order was purged
        elsewhere = _queue_order(orders, 11, BUYER, None)
        purged = str(uuid.uuid4())
        purged_queue = _queue_order(orders, 12, BUYER, purged)
        _queue_order(orders, 13, OWNER, None)  # another wallet's

    with db.session() as session:
        page = orders_of_owner(session, BUYER, offset=0, limit=25, descending=False)
        newest = orders_of_owner(session, BUYER, offset=0, limit=2, descending=True)
        second_page = orders_of_owner(session, BUYER, offset=2, limit=25, descending=False)
    assert page == [
        OwnerOrderRef(built[0].id, None),
        OwnerOrderRef(built[1].id, None),
        OwnerOrderRef(None, elsewhere),
        OwnerOrderRef(purged, purged_queue),
    ]
    assert newest == page[::-1][:2]
    assert second_page == page[2:]
