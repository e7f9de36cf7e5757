"""SaleRepo on SQLite and PostgreSQL: exact round trips, idempotent add, state updates, listing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_samples import BUNDLE, COSTS, POINTER_POLICY, T0, TOKEN_COST, later, make_sale

from cardano_market.domain.datums import DEFAULT_MAX_BUNDLE_SIZE
from cardano_market.domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from cardano_market.domain.sale import SaleStatus
from cardano_market.store.columns import MAX_EXACT_INT
from cardano_market.store.db import Database
from cardano_market.store.sales import Criteria, SaleFilter, SaleRepo, SaleRow


@pytest.mark.parametrize("cost", sorted(COSTS))
def test_add_and_get_round_trip(db: Database, cost: str) -> None:
    sale = make_sale(cost=COSTS[cost])
    with db.session() as session:
        added = SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        stored = SaleRepo(session).get(sale.id)
    assert stored == added
    assert stored is not None
    assert stored.sale == sale
    assert stored.sale.cost == COSTS[cost]
    assert stored.pointer == (POINTER_POLICY, sale.pointer_name)
    assert stored.created_at == stored.updated_at == T0


def test_huge_integers_round_trip(db: Database) -> None:
    """Quantities up to 2^64-1, USD costs beyond 2^63, up to the 39-digit limit, come back exact."""
    sale = make_sale(
        bundle_amount=2**64 - 1,
        cost_amount=MAX_EXACT_INT,
        total_bundle_quantity=2**64 - 1,
        available_bundle_quantity=2**63 + 7,
        max_bundle_size=DEFAULT_MAX_BUNDLE_SIZE,
    )
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        stored = SaleRepo(session).get(sale.id)
    assert stored is not None
    assert stored.sale == sale
    assert stored.sale.cost_amount == 10**39 - 1


@pytest.mark.parametrize("field", ["cost_amount", "bundle_amount", "max_bundle_size"])
def test_integer_beyond_39_digits_is_refused_and_nothing_is_written(
    db: Database, field: str
) -> None:
    sale = make_sale(**{field: 10**39})
    with pytest.raises(StoreError, match=field.replace("_", " ")), db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        assert SaleRepo(session).get(sale.id) is None


_ints = st.integers(min_value=1, max_value=MAX_EXACT_INT)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bundle_amount=_ints, cost_amount=_ints, total=_ints, data=st.data())
def test_any_39_digit_integers_round_trip(
    db: Database, bundle_amount: int, cost_amount: int, total: int, data: st.DataObject
) -> None:
    available = data.draw(st.integers(min_value=0, max_value=total))
    n = data.draw(st.integers(min_value=0, max_value=2**32))
    sale = make_sale(
        n,
        bundle_amount=bundle_amount,
        cost_amount=cost_amount,
        total_bundle_quantity=total,
        available_bundle_quantity=available,
        cost=TOKEN_COST,
    )
    with db.sessions() as session:  # rolled back at the end: examples do not accumulate
        repo = SaleRepo(session)
        repo.add(sale, pointer_policy=POINTER_POLICY, now=T0)
        stored = repo.get(sale.id)
        session.rollback()
    assert stored is not None
    assert stored.sale == sale


def test_amount_columns_order_numerically_in_sql(db: Database) -> None:
    """ORDER BY on an amount column follows numeric order on both databases (SQLite stores
    zero-padded text, which would sort 10 before 9 without the padding)."""
    amounts = [10**38, 9, 2**64, 10, 2**63 - 1, 0, 123456789012345678901]
    with db.session() as session:
        repo = SaleRepo(session)
        for n, amount in enumerate(amounts):
            repo.add(make_sale(n, cost_amount=amount), pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        ordered = session.scalars(select(SaleRow.cost_amount).order_by(SaleRow.cost_amount)).all()
        above = session.scalars(
            select(SaleRow.cost_amount).where(SaleRow.cost_amount > 2**63 - 1)
        ).all()
    assert list(ordered) == sorted(amounts)
    assert sorted(above) == [2**64, 123456789012345678901, 10**38]


def test_adding_the_same_sale_again_returns_the_stored_one(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        SaleRepo(session).update_state(
            sale.id, status=SaleStatus.SOLD_OUT, available_bundle_quantity=0, now=later(5)
        )
    with db.session() as session:
        again = SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=later(10))
    assert again.sale.status is SaleStatus.SOLD_OUT
    assert again.sale.available_bundle_quantity == 0
    assert again.created_at == T0
    assert again.updated_at == later(5)


def test_same_id_with_different_terms_is_a_duplicate(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    other_terms = make_sale(cost_amount=sale.cost_amount + 1)
    with pytest.raises(DuplicateRecordError, match="different terms"), db.session() as session:
        SaleRepo(session).add(other_terms, pointer_policy=POINTER_POLICY, now=T0)


def test_pointer_taken_by_another_sale_is_a_duplicate(db: Database) -> None:
    first = make_sale(0)
    with db.session() as session:
        SaleRepo(session).add(first, pointer_policy=POINTER_POLICY, now=T0)
    thief = make_sale(1, pointer_name=first.pointer_name)
    with pytest.raises(DuplicateRecordError, match=first.id), db.session() as session:
        SaleRepo(session).add(thief, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        assert SaleRepo(session).get(thief.id) is None


def test_get_unknown_or_malformed_id_is_none(db: Database) -> None:
    with db.session() as session:
        repo = SaleRepo(session)
        assert repo.get(make_sale(7).id) is None
        assert repo.get("not-a-uuid") is None


def test_get_by_pointer(db: Database) -> None:
    sales = [make_sale(n) for n in range(3)]
    with db.session() as session:
        repo = SaleRepo(session)
        for sale in sales:
            repo.add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        repo = SaleRepo(session)
        found = repo.get_by_pointer((POINTER_POLICY, sales[1].pointer_name))
        assert found is not None
        assert found.sale.id == sales[1].id
        assert repo.get_by_pointer((bytes(28), sales[1].pointer_name)) is None


def test_update_state_changes_status_and_availability_only(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        updated = SaleRepo(session).update_state(
            sale.id, status=SaleStatus.STARTED, available_bundle_quantity=17, now=later(60)
        )
    assert updated.sale.available_bundle_quantity == 17
    assert updated.updated_at == later(60)
    with db.session() as session:
        stored = SaleRepo(session).get(sale.id)
    assert stored == updated
    assert stored.created_at == T0
    assert stored.sale.cost_amount == sale.cost_amount


def test_update_state_refuses_more_than_the_total(db: Database) -> None:
    sale = make_sale(total_bundle_quantity=100)
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with pytest.raises(StoreError, match=r"\(101\) exceeds its total \(100\)"), db.session() as s:
        SaleRepo(s).update_state(
            sale.id, status=SaleStatus.STARTED, available_bundle_quantity=101, now=later(1)
        )
    with db.session() as session:
        stored = SaleRepo(session).get(sale.id)
    assert stored is not None
    assert stored.sale.available_bundle_quantity == 50


def test_update_state_of_unknown_sale(db: Database) -> None:
    with pytest.raises(UnknownRecordError), db.session() as session:
        SaleRepo(session).update_state(
            make_sale(3).id, status=SaleStatus.ENDED, available_bundle_quantity=0, now=T0
        )


def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(StoreError, match="timezone-aware"), db.session() as session:
        SaleRepo(session).add(
            make_sale(), pointer_policy=POINTER_POLICY, now=T0.replace(tzinfo=None)
        )


def _populate(db: Database) -> list[str]:
    """Six sales created a minute apart; statuses, owners and bundles vary."""
    other_owner = bytes.fromhex("61" + "44" * 28)
    other_bundle = (bytes.fromhex("cc" * 28), b"x")
    specs: list[dict[str, Any]] = [
        {},
        {"status": SaleStatus.SOLD_OUT, "available_bundle_quantity": 0},
        {"owner_address": other_owner},
        {"bundle": other_bundle},
        {"status": SaleStatus.ENDED, "available_bundle_quantity": 0, "owner_address": other_owner},
        {},
    ]
    ids = []
    with db.session() as session:
        repo = SaleRepo(session)
        for n, spec in enumerate(specs):
            sale = make_sale(n, **spec)
            repo.add(sale, pointer_policy=POINTER_POLICY, now=T0 + timedelta(minutes=n))
            ids.append(sale.id)
    return ids


def test_find_pages_in_creation_order(db: Database) -> None:
    ids = _populate(db)
    with db.session() as session:
        repo = SaleRepo(session)
        assert [s.sale.id for s in repo.find()] == ids
        assert [s.sale.id for s in repo.find(descending=True)] == ids[::-1]
        assert [s.sale.id for s in repo.find(offset=2, limit=3)] == ids[2:5]
        assert [s.sale.id for s in repo.find(offset=4, limit=3, descending=True)] == ids[1::-1]
        assert repo.count() == 6


def test_find_ties_are_broken_by_id(db: Database) -> None:
    sales = [make_sale(n) for n in (5, 2, 9)]
    with db.session() as session:
        repo = SaleRepo(session)
        for sale in sales:
            repo.add(sale, pointer_policy=POINTER_POLICY, now=T0)
    with db.session() as session:
        found = [s.sale.id for s in SaleRepo(session).find(limit=10)]
    assert found == sorted(s.id for s in sales)


def test_find_and_count_filters(db: Database) -> None:
    ids = _populate(db)
    other_owner = bytes.fromhex("61" + "44" * 28)

    def check(sale_filter: SaleFilter, expected: list[str]) -> None:
        with db.session() as session:
            repo = SaleRepo(session)
            assert [s.sale.id for s in repo.find(sale_filter)] == expected
            assert repo.count(sale_filter) == len(expected)

    check(SaleFilter(ids=Criteria(includes=[ids[3], ids[1], "junk"])), [ids[1], ids[3]])
    check(SaleFilter(ids=Criteria(excludes=[ids[0], ids[5]])), ids[1:5])
    check(SaleFilter(ids=Criteria(includes=[])), [])
    check(SaleFilter(owner_addresses=Criteria(includes=[other_owner])), [ids[2], ids[4]])
    check(
        SaleFilter(statuses=Criteria(includes=[SaleStatus.STARTED])),
        [ids[0], ids[2], ids[3], ids[5]],
    )
    check(SaleFilter(statuses=Criteria(excludes=[SaleStatus.STARTED])), [ids[1], ids[4]])
    check(SaleFilter(bundle_policies=Criteria(includes=[BUNDLE[0]])), ids[:3] + ids[4:])
    check(SaleFilter(older_than=T0 + timedelta(minutes=2)), ids[:2])
    check(SaleFilter(newer_than=T0 + timedelta(minutes=3)), ids[4:])
    check(
        SaleFilter(
            owner_addresses=Criteria(includes=[other_owner]),
            statuses=Criteria(includes=[SaleStatus.STARTED]),
        ),
        [ids[2]],
    )


def test_find_rejects_negative_paging(db: Database) -> None:
    with db.session() as session, pytest.raises(StoreError):
        SaleRepo(session).find(offset=-1)
