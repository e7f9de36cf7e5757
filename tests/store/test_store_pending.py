"""Pending orders and pending sales: exact round trips, TTL, single use, and why a claim fails."""

from __future__ import annotations

import uuid

import pytest
from store_samples import (
    CONFIG,
    COSTS,
    POINTER_POLICY,
    T0,
    TOKEN_COST,
    later,
    make_amount,
    make_sale,
    make_terms,
)

from cardano_market.domain.errors import (
    ExpiredPendingError,
    PendingUnavailableError,
    StoreError,
    UnknownPendingError,
    UsedPendingError,
)
from cardano_market.domain.values import Value
from cardano_market.store.db import Database
from cardano_market.store.quotes import PendingOrder, PendingOrderRepo
from cardano_market.store.sales import PendingSaleRepo, SaleRepo

TTL = CONFIG.order_ttl_seconds


def _order(
    db: Database, *, sale_cost: str = "usd", ttl: int = TTL, quantity: int = 3
) -> PendingOrder:
    sale = make_sale(cost=COSTS[sale_cost])
    with db.session() as session:
        if SaleRepo(session).get(sale.id) is None:
            SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        return PendingOrderRepo(session).add(
            sale_id=sale.id, amount=make_amount(sale, quantity), now=T0, ttl_seconds=ttl
        )


# -- pending orders ------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", sorted(COSTS))
def test_order_round_trip_keeps_the_priced_amount(db: Database, cost: str) -> None:
    added = _order(db, sale_cost=cost)
    with db.session() as session:
        stored = PendingOrderRepo(session).get(added.id)
    assert stored == added
    assert stored is not None
    assert stored.expires_at == later(TTL)
    assert stored.used_at is None
    amount = stored.amount
    assert amount == make_amount(make_sale(cost=COSTS[cost]), 3)
    assert amount.value == Value.from_cbor(amount.amount_cbor_hex)
    assert amount.cost == COSTS[cost]
    expected_fee_asset = CONFIG.currency if COSTS[cost] is None else COSTS[cost]
    assert amount.service_fee_asset == expected_fee_asset


def test_order_with_amounts_beyond_int64(db: Database) -> None:
    """A USD sale at $20M a bundle: `order` and `sub` pass 2^63 (USD x 10^12) and come back."""
    sale = make_sale(cost_amount=20_000_000 * 10**12, available_bundle_quantity=50)
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        amount = make_amount(sale, 40)
        added = PendingOrderRepo(session).add(
            sale_id=sale.id, amount=amount, now=T0, ttl_seconds=TTL
        )
    assert amount.order > 2**63 and amount.sub > 2**63
    with db.session() as session:
        stored = PendingOrderRepo(session).get(added.id)
    assert stored is not None
    assert stored.amount == amount


def test_order_ids_are_fresh_uuid4s_unless_given(db: Database) -> None:
    a, b = _order(db), _order(db)
    assert a.id != b.id
    assert uuid.UUID(a.id).version == 4
    chosen = str(uuid.uuid4())
    sale = make_sale()
    with db.session() as session:
        order = PendingOrderRepo(session).add(
            sale_id=sale.id, amount=make_amount(sale), now=T0, ttl_seconds=TTL, order_id=chosen
        )
    assert order.id == chosen


def test_order_for_unknown_sale_is_refused(db: Database) -> None:
    sale = make_sale(42)
    with pytest.raises(StoreError, match=sale.id), db.session() as session:
        PendingOrderRepo(session).add(
            sale_id=sale.id, amount=make_amount(sale), now=T0, ttl_seconds=TTL
        )


def test_claim_marks_used_and_returns_the_order(db: Database) -> None:
    order = _order(db)
    with db.session() as session:
        claimed = PendingOrderRepo(session).claim_order(order.id, later(10))
    assert claimed.id == order.id
    assert claimed.amount == order.amount
    assert claimed.used_at == later(10)
    with db.session() as session:
        stored = PendingOrderRepo(session).get(order.id)
    assert stored is not None
    assert stored.used_at == later(10)


def test_second_claim_says_already_used(db: Database) -> None:
    order = _order(db)
    with db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(1))
    with pytest.raises(UsedPendingError, match="already used") as caught, db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(2))
    assert (caught.value.kind, caught.value.id) == ("order", order.id)


@pytest.mark.parametrize("order_id", [str(uuid.uuid4()), "not-a-uuid", ""])
def test_claim_of_unknown_id_says_not_found(db: Database, order_id: str) -> None:
    _order(db)
    with pytest.raises(UnknownPendingError, match="not found") as caught, db.session() as s:
        PendingOrderRepo(s).claim_order(order_id, later(1))
    assert isinstance(caught.value, PendingUnavailableError)
    assert isinstance(caught.value, LookupError)


def test_claim_at_or_after_expiry_says_expired(db: Database) -> None:
    just_in_time, on_time, late = _order(db), _order(db), _order(db)
    with db.session() as session:
        repo = PendingOrderRepo(session)
        repo.claim_order(just_in_time.id, later(TTL - 0.000001))
    for order, when in ((on_time, later(TTL)), (late, later(TTL + 3600))):
        with pytest.raises(ExpiredPendingError, match="expired"), db.session() as session:
            PendingOrderRepo(session).claim_order(order.id, when)
    with db.session() as session:
        stored = PendingOrderRepo(session).get(late.id)
    assert stored is not None
    assert stored.used_at is None


def test_used_wins_over_expired_in_the_error(db: Database) -> None:
    order = _order(db)
    with db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(1))
    with pytest.raises(UsedPendingError), db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(TTL * 10))


def test_ttl_comes_from_the_caller(db: Database) -> None:
    order = _order(db, ttl=5)
    assert order.expires_at == later(5)
    with pytest.raises(ExpiredPendingError), db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(5))


def test_negative_ttl_is_refused(db: Database) -> None:
    with pytest.raises(StoreError, match="TTL"):
        _order(db, ttl=-1)


def test_a_rolled_back_claim_leaves_the_order_usable(db: Database) -> None:
    order = _order(db)
    with db.sessions() as session:
        PendingOrderRepo(session).claim_order(order.id, later(1))
        session.rollback()
    with db.session() as session:
        claimed = PendingOrderRepo(session).claim_order(order.id, later(2))
    assert claimed.used_at == later(2)


def test_a_claim_that_failed_with_the_request_is_undone(db: Database) -> None:
    """The unit of work: an error after the claim (e.g. building the transaction) undoes it."""
    order = _order(db)
    with pytest.raises(RuntimeError), db.session() as session:
        PendingOrderRepo(session).claim_order(order.id, later(1))
        raise RuntimeError("transaction build failed")
    with db.session() as session:
        assert PendingOrderRepo(session).claim_order(order.id, later(2)).id == order.id


def test_purge_deletes_only_orders_expired_before_the_cutoff(db: Database) -> None:
    short, long = _order(db, ttl=10), _order(db, ttl=1000)
    with db.session() as session:
        assert PendingOrderRepo(session).purge(later(10)) == 0  # expires_at == cutoff: kept
        assert PendingOrderRepo(session).purge(later(11)) == 1
    with db.session() as session:
        repo = PendingOrderRepo(session)
        assert repo.get(short.id) is None
        assert repo.get(long.id) is not None
    with pytest.raises(UnknownPendingError), db.session() as session:
        PendingOrderRepo(session).claim_order(short.id, later(12))


# -- pending sales -------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", sorted(COSTS))
def test_pending_sale_round_trip(db: Database, cost: str) -> None:
    terms = make_terms(cost=COSTS[cost], total_bundle_quantity=2**64 - 1, cost_amount=10**30)
    with db.session() as session:
        added = PendingSaleRepo(session).add(
            terms, amount_cbor_hex="1a0068e778", now=T0, ttl_seconds=CONFIG.sale_ttl_seconds
        )
    with db.session() as session:
        stored = PendingSaleRepo(session).get(added.id)
    assert stored == added
    assert stored is not None
    assert stored.terms == terms
    assert stored.expires_at == later(CONFIG.sale_ttl_seconds)


def test_pending_sale_claim_is_single_use_and_expires(db: Database) -> None:
    with db.session() as session:
        repo = PendingSaleRepo(session)
        first = repo.add(make_terms(), amount_cbor_hex="00", now=T0, ttl_seconds=60)
        second = repo.add(make_terms(cost=TOKEN_COST), amount_cbor_hex="00", now=T0, ttl_seconds=60)
    with db.session() as session:
        claimed = PendingSaleRepo(session).claim_sale(first.id, later(59))
    assert claimed.used_at == later(59)
    assert claimed.terms == first.terms
    with pytest.raises(UsedPendingError) as used, db.session() as session:
        PendingSaleRepo(session).claim_sale(first.id, later(59.5))
    assert used.value.kind == "sale"
    with pytest.raises(ExpiredPendingError, match="Pending sale"), db.session() as session:
        PendingSaleRepo(session).claim_sale(second.id, later(60))
    with pytest.raises(UnknownPendingError), db.session() as session:
        PendingSaleRepo(session).claim_sale(str(uuid.uuid4()), later(1))


def test_pending_sale_chosen_id_and_purge(db: Database) -> None:
    chosen = str(uuid.uuid4())
    with db.session() as session:
        repo = PendingSaleRepo(session)
        repo.add(make_terms(), amount_cbor_hex="00", now=T0, ttl_seconds=1, sale_id=chosen)
        repo.add(make_terms(), amount_cbor_hex="00", now=T0, ttl_seconds=100)
    with db.session() as session:
        assert PendingSaleRepo(session).purge(later(2)) == 1
    with db.session() as session:
        assert PendingSaleRepo(session).get(chosen) is None
