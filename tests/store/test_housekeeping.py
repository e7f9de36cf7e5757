"""The periodic purge (`app.housekeeping`): expired unclaimed pending rows, never-submitted
issued transactions past validity, old idempotency records; twice in a row (as two replicas
would) is harmless."""

from __future__ import annotations

from store_samples import COSTS, POINTER_POLICY, T0, later, make_amount, make_sale, make_terms

from cardano_market.app.housekeeping import Housekeeper
from cardano_market.store.db import Database
from cardano_market.store.quotes import PendingOrderRepo
from cardano_market.store.sales import PendingSaleRepo, SaleRepo
from cardano_market.store.transactions import IssuedTransactionRepo, TxKind, TxStatus

HOUR = 3600


def test_the_purge_deletes_what_nothing_can_use_and_keeps_the_rest(db: Database) -> None:
    sale = make_sale(cost=COSTS["usd"])
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        orders = PendingOrderRepo(session)
        unused = orders.add(sale_id=sale.id, amount=make_amount(sale, 1), now=T0, ttl_seconds=60)
        used = orders.add(sale_id=sale.id, amount=make_amount(sale, 1), now=T0, ttl_seconds=60)
        fresh = orders.add(
            sale_id=sale.id, amount=make_amount(sale, 1), now=T0, ttl_seconds=2 * HOUR
        )
        pending_sale = PendingSaleRepo(session).add(
            make_terms(), amount_cbor_hex="00", now=T0, ttl_seconds=60
        )
        issued = IssuedTransactionRepo(session)
        issued.record(tx_id="11" * 32, cbor=b"\x80", kind=TxKind.ORDER, now=T0)
        issued.record(tx_id="22" * 32, cbor=b"\x80", kind=TxKind.SALE_START, now=T0)
        issued.record(tx_id="33" * 32, cbor=b"\x81", kind=TxKind.ORDER, now=T0)
    with db.session() as session:
        PendingOrderRepo(session).claim_order(used.id, later(1))
        IssuedTransactionRepo(session).set_status("33" * 32, TxStatus.SUBMITTED, now=later(2))

    keeper = Housekeeper(
        db, lambda: later(900 + HOUR + 1), validity_seconds=900, idempotency_retention_seconds=HOUR
    )
    report = keeper.purge_once()
    assert (report.pending_orders, report.pending_sales, report.issued_transactions) == (1, 1, 1)
    assert keeper.purge_once().summary().startswith("purged 0 pending orders, 0 pending sales, 0")
    with db.session() as session:
        orders = PendingOrderRepo(session)
        assert orders.get(unused.id) is None
        assert orders.get(used.id) is not None  # claimed: its transaction refers to it
        assert orders.get(fresh.id) is not None  # expired less than the grace ago
        assert PendingSaleRepo(session).get(pending_sale.id) is None
        issued = IssuedTransactionRepo(session)
        assert issued.get("11" * 32) is None  # never submitted, validity long closed
        assert issued.get("22" * 32) is not None  # a sale start: the monitor may discover it
        assert issued.get("33" * 32) is not None  # submitted
