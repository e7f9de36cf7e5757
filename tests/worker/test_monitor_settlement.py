"""The monitor follows orders through purchase, refund and cancel, and sales to SoldOut and Ended,
on a real devnet ledger (scripts run by uplc), on SQLite and PostgreSQL; restarts and repeated
polls change nothing; a rolled-back purchase is undone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from monitor_world import (
    BUNDLE,
    CURRENCY,
    INCENTIVE,
    POINTER_NAME,
    POINTER_POLICY,
    SALE_ID,
    SONG,
    Addresses,
    World,
)

from cardano_market.app.chain_sync.poll import MonitorEvent
from cardano_market.domain.queue import MalformedOrderError, read_queued_order
from cardano_market.domain.sale import SaleStatus
from cardano_market.domain.values import ADA, AssetId
from cardano_market.store.db import Database
from cardano_market.store.monitor import MonitorStateRepo
from cardano_market.store.orders import Order, OrderRepo, OrderState
from cardano_market.store.sales import SaleRepo
from cardano_market.worker.monitor import ChainMonitor

pytest.importorskip("uplc", reason="the devnet runs the scripts with uplc")


@pytest.fixture
def world(tmp_path: Path, database: Database) -> Iterator[World]:
    world = World(tmp_path / "devnet.sqlite")
    with database.session() as session:
        SaleRepo(session).add(world.sale_record(), pointer_policy=POINTER_POLICY, now=_now(world))
    try:
        yield world
    finally:
        world.ledger.close()


def _now(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock_s, UTC)


def monitor(
    world: World,
    database: Database,
    events: list[MonitorEvent] | None = None,
    incentives: list[AssetId] | None = None,
) -> ChainMonitor:
    return ChainMonitor(
        world.backend,
        database,
        Addresses(),
        POINTER_POLICY,
        clock=lambda: _now(world),
        on_event=None if events is None else events.append,
        incentives=incentives,
    )


def orders(database: Database) -> list[Order]:
    with database.session() as session:
        return OrderRepo(session).find()


def sale_state(database: Database) -> tuple[SaleStatus, int]:
    with database.session() as session:
        stored = SaleRepo(session).get(SALE_ID)
    assert stored is not None
    return stored.sale.status, stored.sale.available_bundle_quantity


def test_three_bundles_ordered_two_left(world: World, database: Database) -> None:
    """A buyer orders 3 bundles of a sale with 2 left: the batcher fills 2 and refunds the rest;
    the sale is SoldOut and the order partially filled."""
    events: list[MonitorEvent] = []
    first = monitor(world, database, events)
    placed = world.place_order(3, 3 * 10_000_000 + 5_000_000)

    report = first.poll_once()
    assert report.count("order_queued") == 1
    assert sale_state(database) == (SaleStatus.STARTED, 2)  # 5 in all, 2 at the sale address
    (order,) = orders(database)
    assert order.state is OrderState.QUEUED and order.utxo == placed.out_ref
    assert order.sale_id == SALE_ID and order.pointer_name == POINTER_NAME
    assert order.owner_address == world.buyer.address
    assert (order.bundles_requested, order.bundles_filled) == (3, 0)
    assert order.incentive_amount == INCENTIVE and order.value == placed.value

    continuing = world.purchase(placed, 2)
    assert first.poll_once().count("purchase") == 1
    (order,) = orders(database)
    assert order.state is OrderState.PARTIALLY_FILLED and order.bundles_filled == 2
    assert order.utxo == continuing.out_ref and order.value.quantity(SONG) == 2 * BUNDLE
    assert sale_state(database) == (SaleStatus.SOLD_OUT, 0)

    refund = world.refund(continuing)
    # A new monitor on the same database (a restart) picks up where the last one stopped.
    second = monitor(world, database, events)
    assert second.poll_once().count("refund") == 1
    (order,) = orders(database)
    assert order.state is OrderState.PARTIALLY_FILLED and not order.is_open
    assert order.refund_tx_id == refund.hex() and order.closed_block_height is not None
    with database.session() as session:
        repo = OrderRepo(session)
        (purchase,) = repo.purchases(order.id)
        assert repo.purchases_of_sale(SALE_ID) == [purchase]
        assert repo.find(states=[OrderState.PARTIALLY_FILLED]) == [order]
        assert repo.find(owner_address=world.buyer.address, sale_id=SALE_ID) == [order]
        assert repo.find(states=[OrderState.QUEUED]) == []
    assert purchase.bundles == 2 and purchase.next_utxo == continuing.out_ref

    # Polling again, by either instance, changes nothing.
    assert first.poll_once().events == [] and second.poll_once().events == []
    assert orders(database) == [order]
    kinds = [e.kind for e in events]
    # Sales are followed before the queue in each poll (the sale first records 2 left of 5).
    assert kinds == ["sale_state", "order_queued", "sale_state", "purchase", "refund"]


def test_refund_without_fill_and_cancel(world: World, database: Database) -> None:
    follower = monitor(world, database)
    kept = world.place_order(1, 15_000_000)
    taken_back = world.place_order(2, 25_000_000)
    follower.poll_once()
    assert {o.state for o in orders(database)} == {OrderState.QUEUED}

    refund = world.refund(kept)
    cancel = world.cancel(taken_back)
    report = follower.poll_once()
    assert (report.count("refund"), report.count("cancel")) == (1, 1)
    by_origin = {o.origin: o for o in orders(database)}
    refunded, cancelled = by_origin[kept.out_ref], by_origin[taken_back.out_ref]
    assert refunded.state is OrderState.REFUNDED and refunded.refund_tx_id == refund.hex()
    assert cancelled.state is OrderState.CANCELLED and cancelled.cancel_tx_id == cancel.hex()
    assert not refunded.is_open and not cancelled.is_open
    assert follower.poll_once().events == []


def test_full_fill_then_ended_sale(world: World, database: Database) -> None:
    follower = monitor(world, database)
    placed = world.place_order(2, 25_000_000)
    follower.poll_once()
    continuing = world.purchase(placed, 2)
    world.refund(continuing)  # delivers the bundles
    report = follower.poll_once()  # purchase and refund, followed in one poll
    (order,) = orders(database)
    assert (report.count("purchase"), report.count("refund")) == (1, 1)
    assert order.state is OrderState.FILLED and order.bundles_filled == 2
    assert not order.is_open
    assert sale_state(database) == (SaleStatus.SOLD_OUT, 0)

    world.end_sale()
    report = follower.poll_once()
    assert report.count("sale_ended") == 1
    assert "burned" in report.events[0].detail
    assert sale_state(database) == (SaleStatus.ENDED, 0)
    with database.session() as session:
        assert MonitorStateRepo(session).sale_utxo(POINTER_NAME) is None
    assert follower.poll_once().events == []


def test_malformed_queue_utxos_are_skipped_once(world: World, database: Database) -> None:
    events: list[MonitorEvent] = []
    follower = monitor(world, database, events)
    zero = world.place_order(0, 10_000_000)  # number_of_bundles 0: never fillable
    assert follower.poll_once().count("order_skipped") == 1
    assert orders(database) == []
    assert follower.poll_once().events == []
    with database.session() as session:
        skipped = MonitorStateRepo(session).skipped()
    assert "number_of_bundles is 0" in skipped[zero.out_ref]
    assert [e.kind for e in events if e.kind == "order_skipped"] == ["order_skipped"]


def test_an_order_whose_incentive_is_not_allow_listed_is_skipped_as_the_batcher_skips_it(
    world: World, database: Database
) -> None:
    """The monitor reads a queue UTxO as the batcher does (`domain.queue.read_queued_order`):
    an incentive token off the allow-list makes it no order, skipped with the batcher's reason."""
    events: list[MonitorEvent] = []
    follower = monitor(world, database, events, incentives=[CURRENCY])
    kept = world.place_order(1, 15_000_000)
    foreign = world.place_order(1, 15_000_000, incentive=ADA)
    batcher_reason = ""
    try:
        read_queued_order(foreign, [CURRENCY])
    except MalformedOrderError as exc:
        batcher_reason = str(exc)
    assert "not allow-listed" in batcher_reason
    read_queued_order(kept, [CURRENCY])  # the batcher serves this one

    report = follower.poll_once()
    assert (report.count("order_queued"), report.count("order_skipped")) == (1, 1)
    assert [o.origin for o in orders(database)] == [kept.out_ref]
    with database.session() as session:
        skipped = MonitorStateRepo(session).skipped()
    assert skipped == {foreign.out_ref: batcher_reason}
    assert follower.poll_once().events == []


def test_a_rolled_back_purchase_is_undone(world: World, database: Database) -> None:
    follower = monitor(world, database)
    placed = world.place_order(3, 35_000_000)
    follower.poll_once()
    before = world.snapshot("before-purchase")
    world.purchase(placed, 2)
    follower.poll_once()
    assert orders(database)[0].state is OrderState.PARTIALLY_FILLED

    world.restore(before)  # the chain forgets the purchase: the order UTxO is back
    report = follower.poll_once()
    assert report.count("rollback") == 1
    (order,) = orders(database)
    assert order.state is OrderState.QUEUED and order.bundles_filled == 0
    assert order.utxo == placed.out_ref and order.purchase_tx_id is None
    with database.session() as session:
        assert OrderRepo(session).purchases(order.id) == []
    assert sale_state(database) == (SaleStatus.STARTED, 2)
    assert follower.poll_once().events == []


def test_an_order_whose_own_transaction_vanished_is_removed(
    world: World, database: Database
) -> None:
    follower = monitor(world, database)
    before = world.snapshot("before-order")
    world.place_order(1, 15_000_000)
    follower.poll_once()
    assert len(orders(database)) == 1
    world.restore(before)
    report = follower.poll_once()
    assert report.count("rollback") == 1 and orders(database) == []


def test_depth_holds_changes_back(world: World, database: Database) -> None:
    deep = ChainMonitor(
        world.backend,
        database,
        Addresses(),
        POINTER_POLICY,
        confirmations=3,
        clock=lambda: _now(world),
    )
    world.place_order(1, 15_000_000)
    report = deep.poll_once()
    assert orders(database) == [] and report.waiting >= 1
    for _ in range(3):  # the devnet cuts a block each time its clock moves
        world.tick()
        world.ledger.tip()
    assert deep.poll_once().count("order_queued") == 1
