"""DealRepo: integer ids, versions, the deal state machine, reservations and releases."""

from __future__ import annotations

import pytest
from custody_samples import ESCROW, HUGE, active_deal, tokens, user
from store_samples import T0, later

from cardano_market.domain.errors import StoreError, UnknownRecordError
from cardano_market.store.db import Database
from cardano_market.store.deals import DealRepo, DealStatus, EscrowRef
from cardano_market.store.errors import (
    DealUnavailableError,
    IllegalTransitionError,
    InsufficientQuantityError,
)


def test_deal_lifecycle_with_integer_ids_and_versions(db: Database) -> None:
    with db.session() as session:
        seller = user(session)
        song, usdt = tokens(session)
        repo = DealRepo(session)
        first = repo.create(
            seller_id=seller.id,
            token_id=song.id,
            quantity=HUGE,
            price_token_id=usdt.id,
            unit_price=12_500_000,
            now=T0,
        )
        second = repo.create(
            seller_id=seller.id,
            token_id=song.id,
            quantity=5,
            price_token_id=usdt.id,
            unit_price=1,
            now=T0,
        )
    assert isinstance(first.id, int) and second.id > first.id
    assert (first.status, first.remaining, first.version, first.escrow) == (
        DealStatus.PENDING,
        HUGE,
        1,
        None,
    )
    with db.session() as session:
        repo = DealRepo(session)
        with pytest.raises(DealUnavailableError):
            repo.reserve(first.id, 1, now=later(1))  # pending: not for sale yet
        active = repo.activate(first.id, escrow=ESCROW, now=later(1))
        assert (active.status, active.escrow, active.version) == (DealStatus.ACTIVE, ESCROW, 2)
        reserved = repo.reserve(first.id, HUGE - 1, now=later(2))
        assert reserved.remaining == 1
        with pytest.raises(InsufficientQuantityError) as caught:
            repo.reserve(first.id, 2, now=later(3))
        assert (caught.value.requested, caught.value.remaining) == (2, 1)
        assert repo.release(first.id, 10, now=later(4)).remaining == 11
        with pytest.raises(StoreError, match="exceed"):
            repo.release(first.id, HUGE, now=later(4))
        moved = repo.move_escrow(first.id, escrow=EscrowRef(tx_hash="01" * 32, index=3), now=T0)
        assert moved.escrow == EscrowRef(tx_hash="01" * 32, index=3)
        with pytest.raises(IllegalTransitionError, match="still has 11"):
            repo.complete(first.id, now=later(5))
        with pytest.raises(IllegalTransitionError, match="changed since"):
            repo.cancel(first.id, now=later(5), expected_version=moved.version - 1)
        cancelled = repo.cancel(first.id, now=later(6), expected_version=moved.version)
        assert (cancelled.status, cancelled.remaining, cancelled.closed_at) == (
            DealStatus.CANCELLED,
            11,
            later(6),
        )
        with pytest.raises(IllegalTransitionError, match="is cancelled"):
            repo.cancel(first.id, now=later(7))
        with pytest.raises(DealUnavailableError):
            repo.reserve(first.id, 1, now=later(7))
        assert [d.id for d in repo.list_by_seller(seller.id)] == [second.id, first.id]
        assert repo.list_by_token(song.id) == []  # neither is active
        assert [d.id for d in repo.list_by_token(song.id, statuses=None)] == [second.id, first.id]
        assert repo.get(999_999) is None
        with pytest.raises(UnknownRecordError):
            repo.reserve(999_999, 1, now=T0)


def test_a_sold_out_deal_completes(db: Database) -> None:
    with db.session() as session:
        deal = active_deal(session, quantity=3)
        repo = DealRepo(session)
        repo.reserve(deal.id, 3, now=later(1))
        done = repo.complete(deal.id, now=later(2))
    assert (done.status, done.remaining, done.closed_at) == (DealStatus.COMPLETED, 0, later(2))
