"""Custody races on real databases, each contender in its own thread and session: deal reservations
never oversell, workers never share a transaction, an Idempotency-Key starts one transaction."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from custody_samples import active_deal, user
from store_samples import later

from cardano_market.store.db import Database
from cardano_market.store.deals import DealRepo
from cardano_market.store.errors import InsufficientQuantityError
from cardano_market.store.idempotency import IdempotencyRepo
from cardano_market.store.transactions import V2TransactionRepo, V2TxType

WAIT = 30.0
THREADS = 8


def test_many_threads_reserving_from_one_deal_never_oversell(db: Database) -> None:
    quantity = 60
    with db.session() as session:
        deal = active_deal(session, quantity=quantity)
    barrier = threading.Barrier(THREADS)

    def buyer(seed: int) -> int:
        """Reserve random amounts until the deal says no; returns how much this buyer got."""
        rng = random.Random(seed)
        got = 0
        barrier.wait(WAIT)
        for _ in range(10 * quantity):
            want = rng.randint(1, 7)
            try:
                with db.session() as session:
                    DealRepo(session).reserve(deal.id, want, now=later(1))
                got += want
            except InsufficientQuantityError as exc:
                if exc.remaining <= 0:
                    return got
                # less than `want` left: keep trying smaller amounts until it is gone
        raise AssertionError("the deal never ran out")

    with ThreadPoolExecutor(THREADS) as pool:
        bought = list(pool.map(buyer, range(THREADS)))
    with db.session() as session:
        final = DealRepo(session).get(deal.id)
    assert final is not None
    assert sum(bought) == quantity  # nothing oversold, nothing lost
    assert final.remaining == 0
    assert final.version > 2  # every reservation was a separate, versioned write


def test_exact_contention_for_the_last_units(db: Database) -> None:
    """Eight buyers each want 3 of 10: exactly three win, and 1 remains."""
    with db.session() as session:
        deal = active_deal(session, quantity=10)
    barrier = threading.Barrier(THREADS)

    def buyer(_: int) -> bool:
        barrier.wait(WAIT)
        try:
            with db.session() as session:
                DealRepo(session).reserve(deal.id, 3, now=later(1))
            return True
        except InsufficientQuantityError:
            return False

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(buyer, range(THREADS)))
    assert outcomes.count(True) == 3
    with db.session() as session:
        final = DealRepo(session).get(deal.id)
    assert final is not None and final.remaining == 1


def test_workers_never_claim_the_same_transaction(db: Database) -> None:
    count = 40
    with db.session() as session:
        buyer = user(session)
        deal = active_deal(session)
        repo = V2TransactionRepo(session)
        ids = [
            repo.create(
                user_id=buyer.id,
                token_id=deal.token_id,
                type=V2TxType.SECONDARY_PURCHASE,
                payload={"n": n},
                deal_id=deal.id,
                now=later(n),
            ).id
            for n in range(count)
        ]
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> list[str]:
        claimed = []
        barrier.wait(WAIT)
        while True:
            with db.session() as session:
                tx = V2TransactionRepo(session).claim_next(
                    f"worker-{n}", lease_seconds=600, now=later(100)
                )
            if tx is None:
                return claimed
            claimed.append(tx.id)

    with ThreadPoolExecutor(THREADS) as pool:
        per_worker = list(pool.map(worker, range(THREADS)))
    everything = [tx_id for claimed in per_worker for tx_id in claimed]
    assert Counter(everything) == Counter(ids)  # each exactly once
    with db.session() as session:
        repo = V2TransactionRepo(session)
        for n, claimed in enumerate(per_worker):
            for tx_id in claimed:
                tx = repo.get(tx_id)
                assert tx is not None and (tx.claimed_by, tx.attempts) == (f"worker-{n}", 1)


def test_one_idempotency_key_starts_one_transaction(db: Database) -> None:
    with db.session() as session:
        buyer = user(session)
        deal = active_deal(session)
    fingerprint = IdempotencyRepo.fingerprint("POST", "/v2/buy", b'{"quantity": 1}')
    barrier = threading.Barrier(THREADS)

    def request(_: int) -> str:
        """What a route does: begin, and on a first request create the transaction and store
        the answer in the same unit of work."""
        barrier.wait(WAIT)
        with db.session() as session:
            keys = IdempotencyRepo(session)
            replay = keys.begin(buyer.id, "same-key", request_hash=fingerprint, now=later(1))
            if replay is not None:
                return str(replay.body["transaction_id"])
            tx = V2TransactionRepo(session).create(
                user_id=buyer.id,
                token_id=deal.token_id,
                type=V2TxType.SECONDARY_PURCHASE,
                payload={"quantity": 1},
                deal_id=deal.id,
                now=later(1),
            )
            keys.store_response(
                buyer.id,
                "same-key",
                status_code=200,
                body={"transaction_id": tx.id},
                now=later(1),
                transaction_id=tx.id,
            )
            return tx.id

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(request, range(THREADS)))
    assert len(set(answers)) == 1
    with db.session() as session:
        assert [t.id for t in V2TransactionRepo(session).list_by_user(buyer.id)] == answers[:1]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_held_claim_does_not_block_other_workers_on_postgresql(db: Database) -> None:
    """SKIP LOCKED: while one worker's claim is uncommitted, another claims the next row at
    once instead of waiting for it."""
    with db.session() as session:
        buyer = user(session)
        deal = active_deal(session)
        repo = V2TransactionRepo(session)
        first, second = (
            repo.create(
                user_id=buyer.id,
                token_id=deal.token_id,
                type=V2TxType.SELL,
                payload={},
                now=later(n),
            ).id
            for n in range(2)
        )
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db.sessions() as session:
            tx = V2TransactionRepo(session).claim_next("slow", lease_seconds=60, now=later(5))
            assert tx is not None and tx.id == first
            holding.set()
            release.wait(WAIT)
            session.commit()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(WAIT)
        result: list[str | None] = []

        def challenger() -> None:
            with db.session() as session:
                tx = V2TransactionRepo(session).claim_next("fast", lease_seconds=60, now=later(5))
                result.append(None if tx is None else tx.id)

        fast = threading.Thread(target=challenger)
        fast.start()
        fast.join(5.0)
        assert not fast.is_alive(), "the second worker waited for the first one's row lock"
        assert result == [second]
    finally:
        release.set()
        thread.join(WAIT)
    with db.session() as session:
        repo = V2TransactionRepo(session)
        holders = [tx.claimed_by for tx in (repo.get(first), repo.get(second)) if tx]
    assert holders == ["slow", "fast"]
