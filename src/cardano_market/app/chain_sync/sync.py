"""The chain monitor's poll: the rollback re-check, the sales, the queue, the sales again, and the
issued transactions (submitted ones become confirmed at the configured depth, or failed once the
tip has passed their TTL without them); the tip is then remembered."""

from __future__ import annotations

import cbor2
from sqlalchemy.orm import Session

from ...chain.base import TxState, chain_transaction
from ...domain.cip30 import OutRef
from ...domain.errors import MarketError
from ...store.monitor import MonitorStateRepo
from ...store.orders import OrderRepo
from ...store.sales import SaleRepo
from ...store.transactions import IssuedTransaction, IssuedTransactionRepo, TxKind
from ...store.transactions import TxStatus as IssuedStatus
from .orders import OrderSync
from .poll import Poll, PollReport

TIP_HEIGHT, TIP_SLOT = "tip_height", "tip_slot"
"""`monitor_state` keys: the tip of the last completed poll."""


class ChainSync(OrderSync):
    """Follows `addresses.queue` and `addresses.sale` on `backend`, writing to `database`
    (options as `SaleSync`'s); `sync_once` is one poll."""

    def sync_once(self) -> PollReport:
        """One pass over the chain; safe to repeat (a second pass with no news changes nothing)."""
        tip = self.backend.tip()
        poll = Poll(self.backend, tip.block_height, tip.slot)
        self._recheck_recent(poll)
        self._follow_sales(poll)  # first: orders placed now find the sales started now
        self._follow_queue(poll)
        # again: a purchase that landed during the queue pass shows in the sale too, so an order
        # recorded filled or refunded never sits beside a sale still showing what it bought
        self._follow_sales(poll)
        self._follow_issued(poll)
        with self.database.session() as session:
            state = MonitorStateRepo(session)
            state.set(TIP_HEIGHT, tip.block_height, now=self.clock())
            state.set(TIP_SLOT, tip.slot, now=self.clock())
        if self.on_event is not None:
            for event in poll.report.events:
                self.on_event(event)
        return poll.report

    # -- issued transactions ----------------------------------------------------------------------

    def _follow_issued(self, poll: Poll) -> None:
        with self.database.session() as session:
            issued = IssuedTransactionRepo(session)
            memory = MonitorStateRepo(session)
            for tx in issued.with_status(IssuedStatus.SUBMITTED, limit=self.issued_batch):
                tx_id = bytes.fromhex(tx.tx_id)
                status = poll.status(tx_id)
                if status.state is TxState.CONFIRMED:
                    if status.depth < max(self.confirmations, 1):
                        poll.report.waiting += 1
                        continue
                    issued.set_status(tx.tx_id, IssuedStatus.CONFIRMED, now=self.clock())
                    memory.add_confirmation(
                        tx.tx_id, status.block_height or poll.report.tip_height, now=self.clock()
                    )
                    poll.event("tx_confirmed", tx.tx_id, f"{tx.kind.value} at depth {status.depth}")
                    if tx.kind is TxKind.ORDER:
                        self._adopt_order(poll, session, tx)
                elif status.state is TxState.UNKNOWN:
                    ttl = _ttl(tx.signed_cbor or tx.cbor)
                    if ttl is not None and poll.report.tip_slot >= ttl:
                        issued.set_status(tx.tx_id, IssuedStatus.FAILED, now=self.clock())
                        poll.event("tx_failed", tx.tx_id, f"not on chain and past its TTL {ttl}")

    def _adopt_order(self, poll: Poll, session: Session, tx: IssuedTransaction) -> None:
        """An order transaction this service issued is on chain: its queue output (output 0) is
        an order even when a batcher filled and refunded it before any poll saw it at the queue;
        the next poll follows its spends."""
        orders = OrderRepo(session)
        ref = OutRef(bytes.fromhex(tx.tx_id), 0)
        if orders.by_utxo(ref) is not None:
            return
        try:
            outputs = chain_transaction(tx.signed_cbor or tx.cbor, block_height=None, slot=None)
        except MarketError:
            return
        if not outputs.outputs or outputs.outputs[0].address != self.queue_address:
            return
        self._new_order(
            poll,
            orders,
            MonitorStateRepo(session),
            SaleRepo(session),
            outputs.outputs[0],
            IssuedTransactionRepo(session),
        )


def _ttl(tx: bytes) -> int | None:
    """The transaction's TTL (body key 3: the first slot it is no longer valid in)."""
    try:
        ttl = cbor2.loads(tx)[0].get(3)
    except Exception:  # not a readable transaction: no TTL to judge by
        return None
    return ttl if isinstance(ttl, int) else None
