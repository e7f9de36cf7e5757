"""Revision 0005 (order status) on SQLite and PostgreSQL: a 0004 database with orders upgrades
keeping every row and filling in what its rows can tell (the API order id of an order this
service issued, the locked value of an order never purchased from, a cancel's refund), then
downgrades to 0004 and upgrades again."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from store_samples import POINTER_POLICY, T0, make_sale

from cardano_market.domain.values import Value
from cardano_market.store.db import (
    Database,
    create_engine,
    current_revision,
    downgrade_database,
    upgrade_database,
)
from cardano_market.store.orders import OrderRepo, OrderRow, PurchaseRow
from cardano_market.store.sales import SaleRepo
from cardano_market.store.transactions import IssuedTransactionRow

ISSUED_TX = "ab" * 32
API_ORDER = uuid.UUID("662f5460-86f8-21d8-3dd9-c043a7a3845e")
LOCKED = Value(5_000_000, {(bytes(28), b"NEWM"): 1_000})


def _order(n: int, origin: str, state: str, filled: int = 0) -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=100 + n),
        "origin_tx_hash": origin,
        "origin_output_index": 0,
        "utxo_tx_hash": origin if state == "queued" else None,
        "utxo_output_index": 0 if state == "queued" else None,
        "sale_id": None,
        "pointer_asset_name": "ca11ab1e" + "00" * 28,
        "owner_address": "01" + "22" * 56,
        "bundles_requested": 2,
        "bundles_filled": filled,
        "incentive_policy_id": "00" * 28,
        "incentive_asset_name": b"NEWM".hex(),
        "incentive_amount": 5_000_000,
        "value_cbor": LOCKED.to_cbor().hex(),
        "datum_cbor": "d8799fff",
        "state": state,
        "created_at": T0,
        "updated_at": T0,
    }


def test_0005_keeps_every_row_and_fills_in_what_it_can(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        upgrade_database(engine, "0004")
        database = Database(engine)
        with database.session() as session:
            SaleRepo(session).add(make_sale(), pointer_policy=POINTER_POLICY, now=T0)
            session.execute(
                insert(cast(Table, IssuedTransactionRow.__table__)).values(
                    tx_id=ISSUED_TX,
                    kind="order",
                    status="submitted",
                    cbor=b"\x80",
                    reference_id=API_ORDER,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            orders = cast(Table, OrderRow.__table__)
            session.execute(insert(orders).values(**_order(1, ISSUED_TX, "queued")))
            session.execute(insert(orders).values(**_order(2, "cd" * 32, "cancelled")))
            session.execute(insert(orders).values(**_order(3, "ef" * 32, "filled", filled=2)))
            session.execute(
                insert(cast(Table, PurchaseRow.__table__)).values(
                    tx_id="12" * 32,
                    order_id=uuid.UUID(int=103),
                    pointer_asset_name="ca11ab1e" + "00" * 28,
                    bundles=2,
                    created_at=T0,
                )
            )
        upgrade_database(engine)
        assert current_revision(engine) == "0005"
        with database.session() as session:
            repo = OrderRepo(session)
            issued, cancelled, filled = (repo.get(uuid.UUID(int=100 + n)) for n in (1, 2, 3))
            assert session.scalar(select(func.count()).select_from(OrderRow)) == 3
            assert repo.by_api_order_id(API_ORDER) == issued
            assert issued is not None and issued.api_order_id == str(API_ORDER)
            assert issued.locked_value == LOCKED and issued.refunded_value is None
            assert cancelled is not None and cancelled.api_order_id is None
            assert cancelled.locked_value == LOCKED and cancelled.refunded_value == LOCKED
            # purchased from: its recorded value is no longer the locked one, so none is given
            assert filled is not None and filled.locked_value is None
            assert [p.paid for p in repo.purchases(filled.id)] == [None]
        downgrade_database(engine, "0004")
        with database.session() as session:
            assert session.execute(select(func.count()).select_from(OrderRow)).scalar() == 3
        upgrade_database(engine)
        with database.session() as session:
            again = OrderRepo(session).by_api_order_id(API_ORDER)
            assert again is not None and again.id == str(uuid.UUID(int=101))
    finally:
        engine.dispose()
