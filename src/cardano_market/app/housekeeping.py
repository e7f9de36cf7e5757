"""Housekeeping: delete what no request can use any more, so anonymous requests do not leave
rows forever.

- pending orders and sales never claimed, expired more than `grace` ago (a late claim still
  hears "expired" within the grace, "unknown" after);
- transactions we issued that were never submitted through us, `validity + grace` after they
  were issued (their validity interval has closed: the chain can no longer take them). Sale
  starts are kept: a seller's wallet may have submitted one itself, and the chain monitor
  discovers the sale from it;
- v2 idempotency records older than their retention.

Each purge is one `DELETE ... WHERE` by age: idempotent, so any number of replicas may run it at
once (a row deleted by one is simply not there for the others).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..store.db import Database
from ..store.quotes import PendingOrderRepo
from ..store.sales import PendingSaleRepo
from ..store.transactions import IssuedTransactionRepo, TxKind

log = logging.getLogger("cardano_market.housekeeping")

DEFAULT_GRACE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class PurgeReport:
    pending_orders: int
    pending_sales: int
    issued_transactions: int
    idempotency_records: int

    def summary(self) -> str:
        return (
            f"purged {self.pending_orders} pending orders, {self.pending_sales} pending sales,"
            f" {self.issued_transactions} never-submitted transactions,"
            f" {self.idempotency_records} idempotency records"
        )


class Housekeeper:
    def __init__(
        self,
        database: Database,
        clock: Callable[[], datetime],
        *,
        validity_seconds: int,
        idempotency_retention_seconds: int,
        grace_seconds: int = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self._database = database
        self._clock = clock
        self._validity = timedelta(seconds=validity_seconds)
        self._retention = timedelta(seconds=idempotency_retention_seconds)
        self._grace = timedelta(seconds=grace_seconds)

    def purge_once(self) -> PurgeReport:
        now = self._clock()
        with self._database.session() as session:
            orders = PendingOrderRepo(session).purge(now - self._grace, unused_only=True)
            sales = PendingSaleRepo(session).purge(now - self._grace, unused_only=True)
            issued = IssuedTransactionRepo(session).purge_unsubmitted(
                now - self._validity - self._grace, keep=(TxKind.SALE_START,)
            )
            idempotency = _purge_idempotency(session, now - self._retention)
        report = PurgeReport(orders, sales, issued, idempotency)
        if orders or sales or issued or idempotency:
            log.info("%s", report.summary())
        return report

    def run(self, stop: threading.Event, interval_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.purge_once()
            except Exception:  # the database may be away for a while: try again next time
                log.exception("housekeeping failed")
            stop.wait(interval_seconds)


def _purge_idempotency(session: object, before: datetime) -> int:
    from ..store.idempotency import IdempotencyRepo

    return IdempotencyRepo(session).purge(before)  # type: ignore[arg-type]
