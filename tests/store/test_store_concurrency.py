"""Races on real databases: concurrent claims of one id, each in its own thread and session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy.orm import Session
from store_samples import POINTER_POLICY, T0, later, make_amount, make_sale, make_terms

from cardano_market.domain.errors import UsedPendingError
from cardano_market.store.db import Database
from cardano_market.store.quotes import PendingOrder, PendingOrderRepo
from cardano_market.store.sales import PendingSaleRepo, SaleRepo
from cardano_market.store.transactions import IssuedTransactionRepo, TxKind

R = TypeVar("R")
WAIT = 20.0  # generous: a failure shows as a timeout, never as a flaky pass


def _orders(db: Database, count: int) -> list[PendingOrder]:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        repo = PendingOrderRepo(session)
        return [
            repo.add(sale_id=sale.id, amount=make_amount(sale), now=T0, ttl_seconds=300)
            for _ in range(count)
        ]


def _race(db: Database, threads: int, work: Callable[[Session], R]) -> list[R | Exception]:
    """Run `work` in `threads` threads released together, each in its own committed session."""
    barrier = threading.Barrier(threads)

    def one(_: int) -> R | Exception:
        barrier.wait(WAIT)
        try:
            with db.session() as session:
                return work(session)
        except UsedPendingError as exc:
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


def test_two_sessions_claiming_the_same_order_exactly_one_wins(db: Database) -> None:
    orders = _orders(db, 15)
    for order in orders:

        def claim(session: Session, order_id: str = order.id) -> PendingOrder:
            return PendingOrderRepo(session).claim_order(order_id, later(1))

        outcomes = _race(db, 2, claim)
        winners = [o for o in outcomes if isinstance(o, PendingOrder)]
        losers = [o for o in outcomes if isinstance(o, UsedPendingError)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1, outcomes
        assert winners[0].id == order.id


def test_eight_sessions_claiming_one_order_exactly_one_wins(db: Database) -> None:
    (order,) = _orders(db, 1)
    outcomes = _race(db, 8, lambda s: PendingOrderRepo(s).claim_order(order.id, later(1)))
    assert sum(isinstance(o, PendingOrder) for o in outcomes) == 1
    assert sum(isinstance(o, UsedPendingError) for o in outcomes) == 7


def test_two_sessions_claiming_the_same_pending_sale_exactly_one_wins(db: Database) -> None:
    with db.session() as session:
        pending = PendingSaleRepo(session).add(
            make_terms(), amount_cbor_hex="00", now=T0, ttl_seconds=300
        )
    outcomes = _race(db, 2, lambda s: PendingSaleRepo(s).claim_sale(pending.id, later(1)))
    assert sorted(type(o).__name__ for o in outcomes) == ["PendingSale", "UsedPendingError"]


def _hold_claim(
    db: Database, order_id: str, *, commit: bool
) -> tuple[threading.Thread, Callable[[], None]]:
    """Claim in a thread and keep the transaction open until the returned release() is called."""
    claimed, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db.sessions() as session:
            PendingOrderRepo(session).claim_order(order_id, later(1))
            claimed.set()
            release.wait(WAIT)
            if commit:
                session.commit()
            else:
                session.rollback()

    thread = threading.Thread(target=holder)
    thread.start()
    assert claimed.wait(WAIT)
    return thread, release.set


@pytest.mark.parametrize("holder_commits", [True, False], ids=["commit", "rollback"])
def test_a_claim_waits_for_an_uncommitted_one_then_sees_its_outcome(
    db: Database, holder_commits: bool
) -> None:
    """The loser cannot decide while the winner's claim is uncommitted: it waits, then loses if
    the winner committed, or wins if the winner rolled back (the order was never used)."""
    (order,) = _orders(db, 1)
    holder, release = _hold_claim(db, order.id, commit=holder_commits)
    outcome: list[PendingOrder | Exception] = []

    def challenger() -> None:
        try:
            with db.session() as session:
                outcome.append(PendingOrderRepo(session).claim_order(order.id, later(2)))
        except UsedPendingError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=challenger)
    thread.start()
    thread.join(0.5)
    blocked = thread.is_alive()
    release()
    holder.join(WAIT)
    thread.join(WAIT)
    assert blocked, "the second claim decided while the first was still uncommitted"
    assert len(outcome) == 1
    if holder_commits:
        assert isinstance(outcome[0], UsedPendingError)
    else:
        assert isinstance(outcome[0], PendingOrder)
        assert outcome[0].used_at == later(2)


def test_concurrent_submits_of_one_transaction_mark_it_once(db: Database) -> None:
    tx_id = "ab" * 32
    with db.session() as session:
        IssuedTransactionRepo(session).record(
            tx_id=tx_id, cbor=b"\x84unsigned", kind=TxKind.ORDER, now=T0
        )
    outcomes = _race(
        db,
        4,
        lambda s: IssuedTransactionRepo(s).mark_submitted(
            tx_id, signed_cbor=b"\x84signed", now=later(1)
        ),
    )
    assert sorted(outcomes, key=str) == [False, False, False, True]
