"""The chain monitor: follows the queue and sale addresses and keeps the database true.

Each `poll_once` reads the UTxOs at both addresses and compares them with what the database
holds (the open orders and the last sale UTxO per pointer are the checkpoint, so a restarted
monitor resumes where the last one stopped):

- a new queue UTxO with a well-formed QueueDatum becomes a `queued` order; a malformed one is
  logged once with the reason and remembered as skipped;
- an open order whose UTxO is gone is matched with the transaction that spent it, classified by
  its queue redeemer (QueuePurchase, QueueRefund, QueueCancel) or, without a readable redeemer,
  by its shape (a recreated sale UTxO holding the order's pointer plus a continuing queue output
  is a purchase; the owner among the required signers is a cancel; anything else a refund). A
  purchase fills `(bundle tokens gained by the queue output) // bundle amount` bundles and moves
  the order to the continuing output (filled or partially_filled); a refund or cancel closes it;
- a sale UTxO's bundle tokens give the sale's available bundles (Started, or SoldOut at 0); a
  sale whose pointer left the sale address is Ended once the spending transaction is deep
  enough; a pointer the database does not know, started by this service (its start transaction
  was issued here), is recorded as a sale;
- submitted issued transactions become confirmed at the configured depth, or failed once the tip
  has passed their TTL without them.

Depth and rollbacks: nothing is applied until the transaction behind it has `confirmations`
blocks (0: as soon as it is seen). Within `rollback_window` blocks the monitor re-checks what it
applied: a purchase, refund or cancel whose transaction the chain no longer has is undone (the
order reopens at the UTxO it then had; an order whose own transaction vanished is deleted); a
closed order's UTxO reappearing at the queue reopens it the same way; a confirmed issued
transaction that vanished goes back to submitted; sale availability and status are recomputed
from the UTxO set on every poll, so an Ended sale whose pointer reappears is Started again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import cbor2
from sqlalchemy.orm import Session

from ..app.runtime import utc_now
from ..chain.base import ChainBackend, ChainError, TxState, TxStatus
from ..chain.history import ChainHistory, ChainTransaction, chain_transaction
from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import QueueDatum, SaleDatum, address_from_wallet
from ..domain.errors import MarketError
from ..domain.pointer import pointer_asset_name
from ..domain.sale import Sale, SaleStatus
from ..domain.values import AssetId, Value, sum_values
from ..store.db import Database
from ..store.monitor import MonitorStateRepo
from ..store.orders import ChainPoint, CloseKind, NewOrder, Order, OrderRepo
from ..store.sales import Criteria, PendingSaleRepo, SaleFilter, SaleRepo, SaleTerms, StoredSale
from ..store.transactions import IssuedTransaction, IssuedTransactionRepo, TxKind
from ..store.transactions import TxStatus as IssuedStatus
from ..tx.body import transaction_inputs

log = logging.getLogger("cardano_market.monitor")

QUEUE_PURCHASE, QUEUE_REFUND, QUEUE_CANCEL = 0, 1, 2
"""The queue validator's redeemer constructors (PROTOCOL section 1)."""

TIP_HEIGHT, TIP_SLOT = "tip_height", "tip_slot"
"""`monitor_state` keys: the tip of the last completed poll."""

_MAX_STEPS_PER_ORDER = 8
"""Spends followed for one order in one poll (purchase, then refund, ...)."""
_SALE_PAGE = 500


class MonitoredAddresses(Protocol):
    """The two contract addresses the monitor follows (`app.runtime.ContractAddresses` fits)."""

    @property
    def queue(self) -> bytes: ...

    @property
    def sale(self) -> bytes: ...


class MonitoredChain(ChainBackend, ChainHistory, Protocol):
    """A backend that also tells what spent an output (the devnet, Blockfrost)."""


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """One change the monitor made: `kind` (e.g. "order_queued", "purchase", "sale_ended",
    "tx_confirmed", "rollback"), what it is about, and a human line."""

    kind: str
    subject: str
    detail: str = ""


@dataclass
class PollReport:
    tip_height: int
    tip_slot: int
    events: list[MonitorEvent] = field(default_factory=list)
    waiting: int = 0
    """Changes seen on chain but not deep enough yet (or whose spender is not visible yet)."""

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)

    def summary(self) -> str:
        """One line for a person (`settle --once`): the events by kind."""
        kinds = sorted({e.kind for e in self.events})
        seen = ", ".join(f"{self.count(k)} {k}" for k in kinds) or "no changes"
        return f"{seen}; {self.waiting} waiting for depth, at block {self.tip_height}"


class _Poll:
    """One poll's tip, report and per-poll caches."""

    def __init__(self, backend: ChainBackend, tip_height: int, tip_slot: int) -> None:
        self.backend = backend
        self.report = PollReport(tip_height, tip_slot)
        self._statuses: dict[bytes, TxStatus] = {}

    def status(self, tx_id: bytes) -> TxStatus:
        if tx_id not in self._statuses:
            self._statuses[tx_id] = self.backend.tx_status(tx_id)
        return self._statuses[tx_id]

    def event(self, kind: str, subject: str, detail: str = "") -> None:
        self.report.events.append(MonitorEvent(kind, subject, detail))
        log.info("%s %s %s", kind, subject, detail)


class ChainMonitor:
    """Follows `addresses.queue` and `addresses.sale` on `backend`, writing to `database`.

    `pointer_policy` is the sale pointers' policy (None: sales are not followed, orders are not
    linked to sales). `on_event` hears every change after it is committed (metrics, logs).
    """

    def __init__(
        self,
        backend: MonitoredChain,
        database: Database,
        addresses: MonitoredAddresses,
        pointer_policy: bytes | None,
        *,
        confirmations: int = 0,
        rollback_window: int = 100,
        clock: Callable[[], datetime] = utc_now,
        on_event: Callable[[MonitorEvent], None] | None = None,
        issued_batch: int = 200,
        from_block: int | None = None,
    ) -> None:
        if not isinstance(backend, ChainHistory):
            raise TypeError(
                f"{type(backend).__name__} cannot tell what spent an output "
                "(no transaction/spending_transaction): the monitor needs a ChainHistory backend"
            )
        if confirmations < 0 or rollback_window < confirmations:
            raise ValueError(
                f"confirmations ({confirmations}) must be >= 0 and at most the rollback window "
                f"({rollback_window})"
            )
        self.backend = backend
        self.database = database
        self.queue_address = addresses.queue
        self.sale_address = addresses.sale
        self.pointer_policy = pointer_policy
        self.confirmations = confirmations
        self.rollback_window = rollback_window
        self.clock = clock
        self.on_event = on_event
        self.issued_batch = issued_batch
        self.from_block = from_block or 0
        """The deployment's first block: rollback re-checks never reach below it."""
        self._foreign_sale_utxos: set[OutRef] = set()
        """Sale UTxOs of pointers this service did not start (checked once per UTxO)."""

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Poll each `interval` seconds until `stop` is set; a failed poll is logged and retried."""
        while not stop.is_set():
            try:
                self.poll_once()
            except ChainError as exc:
                log.warning("monitor poll failed (chain): %s", exc)
            except Exception:  # keep following the chain; the next poll starts afresh
                log.exception("monitor poll failed")
            stop.wait(interval)

    def poll_once(self) -> PollReport:
        """One pass over the chain; safe to repeat (a second pass with no news changes nothing)."""
        tip = self.backend.tip()
        poll = _Poll(self.backend, tip.block_height, tip.slot)
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

    # -- depth ------------------------------------------------------------------------------------

    def _deep_tx(self, poll: _Poll, tx_id: bytes) -> ChainPoint | None:
        """Where `tx_id` sits, if it has the required confirmations; None otherwise."""
        status = poll.status(tx_id)
        if status.state is TxState.CONFIRMED and status.depth >= self.confirmations:
            return ChainPoint(tx_id=tx_id, block_height=status.block_height, slot=status.slot)
        if self.confirmations == 0 and status.state is TxState.IN_MEMPOOL:
            return ChainPoint(tx_id=tx_id, block_height=None, slot=None)
        return None

    def _deep(self, poll: _Poll, tx: ChainTransaction) -> bool:
        if self.confirmations == 0:
            return True
        return tx.depth(poll.report.tip_height) >= self.confirmations

    # -- sales ------------------------------------------------------------------------------------

    def _follow_sales(self, poll: _Poll) -> None:
        policy = self.pointer_policy
        if policy is None:
            return
        holders: dict[bytes, Utxo] = {}
        for utxo in self.backend.utxos_at(self.sale_address):
            for (asset_policy, name), quantity in utxo.value.assets.items():
                if asset_policy == policy and quantity > 0:
                    holders[name] = utxo
        with self.database.session() as session:
            sales, memory = SaleRepo(session), MonitorStateRepo(session)
            for name, utxo in holders.items():
                if self._deep_tx(poll, utxo.tx_hash) is None:
                    poll.report.waiting += 1
                    continue
                stored = sales.get_by_pointer((policy, name))
                if stored is None:
                    stored = self._discover_sale(session, poll, name, utxo)
                if stored is None:
                    continue
                memory.track_sale_utxo(name, utxo.out_ref, now=self.clock())
                self._sale_availability(sales, poll, stored, utxo)
            for stored in self._live_sales(sales):
                if stored.pointer_policy == policy and stored.sale.pointer_name not in holders:
                    self._sale_left(sales, memory, poll, stored)

    def _live_sales(self, sales: SaleRepo) -> list[StoredSale]:
        live = SaleFilter(statuses=Criteria(includes=[SaleStatus.STARTED, SaleStatus.SOLD_OUT]))
        found: list[StoredSale] = []
        while True:
            page = sales.find(live, offset=len(found), limit=_SALE_PAGE)
            found += page
            if len(page) < _SALE_PAGE:
                return found

    def _sale_availability(
        self, sales: SaleRepo, poll: _Poll, stored: StoredSale, utxo: Utxo
    ) -> None:
        sale = stored.sale
        held = utxo.value.quantity(sale.bundle)
        available = min(held // sale.bundle_amount, sale.total_bundle_quantity)
        status = SaleStatus.STARTED if available > 0 else SaleStatus.SOLD_OUT
        if (status, available) == (sale.status, sale.available_bundle_quantity):
            return
        sales.update_state(
            sale.id, status=status, available_bundle_quantity=available, now=self.clock()
        )
        poll.event(
            "sale_state",
            sale.id,
            f"{sale.status.value} -> {status.value}, {available} of "
            f"{sale.total_bundle_quantity} bundles left",
        )

    def _sale_left(
        self, sales: SaleRepo, memory: MonitorStateRepo, poll: _Poll, stored: StoredSale
    ) -> None:
        """The pointer is no longer at the sale address: Ended once its spender is deep."""
        sale = stored.sale
        ref = memory.sale_utxo(sale.pointer_name)
        how = "its UTxO was never seen by this monitor"
        if ref is not None:
            spender = self.backend.spending_transaction(ref)
            if spender is None or not self._deep(poll, spender):
                poll.report.waiting += 1
                return
            burned = spender.mint.get(stored.pointer, 0) < 0
            how = f"{'burned' if burned else 'moved off the sale address'} by {spender.tx_id.hex()}"
        sales.update_state(
            sale.id, status=SaleStatus.ENDED, available_bundle_quantity=0, now=self.clock()
        )
        memory.forget_sale_utxo(sale.pointer_name)
        poll.event("sale_ended", sale.id, f"pointer {sale.pointer_name.hex()} {how}")

    def _discover_sale(
        self, session: Session, poll: _Poll, name: bytes, utxo: Utxo
    ) -> StoredSale | None:
        """A sale this service started: the UTxO's transaction (or one it spent from) is an
        issued sale start whose first input names this pointer (as `app.sales` discovers)."""
        if utxo.out_ref in self._foreign_sale_utxos or self.pointer_policy is None:
            return None
        issued_repo, pending_repo = IssuedTransactionRepo(session), PendingSaleRepo(session)
        candidates = [utxo.tx_hash]
        created = self.backend.transaction(utxo.tx_hash)
        if created is not None:
            candidates += [tx_hash for tx_hash, _ in created.inputs]
        for tx_id in dict.fromkeys(candidates):
            issued = issued_repo.get(tx_id.hex())
            if issued is None or issued.kind is not TxKind.SALE_START or not issued.reference_id:
                continue
            if pointer_asset_name(transaction_inputs(issued.cbor)) != name:
                continue
            pending = pending_repo.get(issued.reference_id)
            if pending is None:
                continue
            sale = _sale_from_start(pending.id, pending.terms, name, utxo)
            if sale is None:
                continue
            stored = SaleRepo(session).add(
                sale, pointer_policy=self.pointer_policy, now=self.clock()
            )
            OrderRepo(session).link_sale(name, sale.id)
            poll.event("sale_discovered", sale.id, f"pointer {name.hex()} started by {tx_id.hex()}")
            return stored
        self._foreign_sale_utxos.add(utxo.out_ref)
        return None

    # -- the queue --------------------------------------------------------------------------------

    def _follow_queue(self, poll: _Poll) -> None:
        utxos = {u.out_ref: u for u in self.backend.utxos_at(self.queue_address)}
        with self.database.session() as session:
            orders, memory = OrderRepo(session), MonitorStateRepo(session)
            sales, issued = SaleRepo(session), IssuedTransactionRepo(session)
            for order in orders.open_orders():
                self._follow_order(poll, orders, sales, order, utxos)
            skipped = memory.skipped()
            for ref, utxo in utxos.items():
                if ref in skipped:
                    continue
                known = orders.by_utxo(ref)
                if known is None:
                    self._new_order(poll, orders, memory, sales, utxo, issued)
                elif known.utxo != ref:  # a UTxO the order had left is back: a rollback
                    self._reevaluate(poll, orders, known, why=f"{_text(ref)} is back")
            memory.forget_skipped(ref for ref in skipped if ref not in utxos)

    def _new_order(
        self,
        poll: _Poll,
        orders: OrderRepo,
        memory: MonitorStateRepo,
        sales: SaleRepo,
        utxo: Utxo,
        issued: IssuedTransactionRepo,
    ) -> None:
        point = self._deep_tx(poll, utxo.tx_hash)
        if point is None:
            poll.report.waiting += 1
            return
        try:
            datum = _queue_datum(utxo)
            owner = address_from_wallet(datum.owner, self.backend.network_id)
        except MarketError as exc:
            if memory.skip(utxo.out_ref, str(exc), now=self.clock()):
                log.warning("queue UTxO %s skipped: %s", _text(utxo.out_ref), exc)
                poll.event("order_skipped", _text(utxo.out_ref), str(exc))
            return
        sale = None
        if self.pointer_policy is not None:
            sale = sales.get_by_pointer((self.pointer_policy, datum.pointer_name))
        order = orders.add(
            NewOrder(
                origin=utxo.out_ref,
                sale_id=None if sale is None else sale.sale.id,
                pointer_name=datum.pointer_name,
                owner_address=owner,
                bundles_requested=datum.number_of_bundles,
                incentive=datum.incentive.asset,
                incentive_amount=datum.incentive.amount,
                value=utxo.value,
                datum=utxo.inline_datum or b"",
                block_height=point.block_height,
                slot=point.slot,
                api_order_id=_api_order_id(issued, utxo.out_ref),
            ),
            now=self.clock(),
        )
        poll.event(
            "order_queued",
            order.label,
            f"{_text(utxo.out_ref)}: {datum.number_of_bundles} bundle(s) of pointer "
            f"{datum.pointer_name.hex()}",
        )

    def _follow_order(
        self,
        poll: _Poll,
        orders: OrderRepo,
        sales: SaleRepo,
        order: Order,
        utxos: dict[OutRef, Utxo],
    ) -> None:
        """Follow the order's spends (purchase, then refund ...) while its UTxO is gone."""
        current: Order | None = order
        for _ in range(_MAX_STEPS_PER_ORDER):
            if current is None or current.utxo is None or current.utxo in utxos:
                return
            if not self._apply_spend(poll, orders, sales, current):
                return
            current = orders.get(current.id)

    def _apply_spend(self, poll: _Poll, orders: OrderRepo, sales: SaleRepo, order: Order) -> bool:
        """Record what spent the order's UTxO; False when that cannot be said yet."""
        assert order.utxo is not None
        spender = self.backend.spending_transaction(order.utxo)
        if spender is None:
            if poll.status(order.utxo[0]).state is TxState.UNKNOWN:
                self._reevaluate(poll, orders, order, why=f"{_text(order.utxo)} was rolled back")
            else:
                poll.report.waiting += 1  # spent, but the spender is not visible yet
            return False
        if not self._deep(poll, spender):
            poll.report.waiting += 1
            return False
        at = ChainPoint(tx_id=spender.tx_id, block_height=spender.block_height, slot=spender.slot)
        kind = self._classify(order, spender)
        if kind == QUEUE_PURCHASE:
            bundles, continuing = self._filled(order, spender, sales)
            paid = _outflow(order.value, Value() if continuing is None else continuing.value)
            changed = orders.record_purchase(
                order,
                at=at,
                bundles=bundles,
                next_utxo=None if continuing is None else continuing.out_ref,
                next_value=None if continuing is None else continuing.value,
                now=self.clock(),
                paid=paid,
            )
            if changed:
                poll.event("purchase", order.label, f"{bundles} bundle(s) by {at.tx_id.hex()}")
            return changed
        close = CloseKind.REFUND if kind == QUEUE_REFUND else CloseKind.CANCEL
        # what the owner got back, bundle tokens left out: a refund's output to the owner, a
        # cancel's whole order (the owner's own change rides in the same transaction)
        back = (
            sum_values(out.value for out in spender.outputs_at(order.owner_address))
            if close is CloseKind.REFUND
            else order.value
        )
        refunded = _restricted(back, order)
        changed = orders.close(order, close, at=at, now=self.clock(), refunded=refunded)
        if changed:
            poll.event(close.value, order.label, f"by {at.tx_id.hex()}")
        return changed

    def _classify(self, order: Order, tx: ChainTransaction) -> int:
        assert order.utxo is not None
        redeemer = tx.spend_redeemers.get(order.utxo)
        if redeemer in (QUEUE_PURCHASE, QUEUE_REFUND, QUEUE_CANCEL):
            assert redeemer is not None
            return redeemer
        # No readable queue redeemer (e.g. the hot-key path): judge by the transaction's shape.
        if self._sale_outputs(order, tx) and self._continuing(order, tx) is not None:
            return QUEUE_PURCHASE
        owner = QueueDatum.from_cbor(order.datum).owner.pkh
        return QUEUE_CANCEL if owner in tx.required_signers else QUEUE_REFUND

    def _sale_outputs(self, order: Order, tx: ChainTransaction) -> list[Utxo]:
        if self.pointer_policy is None:
            return []
        pointer = (self.pointer_policy, order.pointer_name)
        return [o for o in tx.outputs_at(self.sale_address) if o.value.quantity(pointer) > 0]

    def _continuing(self, order: Order, tx: ChainTransaction) -> Utxo | None:
        """The queue output carrying the same order (an equal QueueDatum)."""
        datum = QueueDatum.from_cbor(order.datum)
        for out in tx.outputs_at(self.queue_address):
            try:
                if _queue_datum(out) == datum:
                    return out
            except MarketError:
                continue
        return None

    def _filled(
        self, order: Order, tx: ChainTransaction, sales: SaleRepo
    ) -> tuple[int, Utxo | None]:
        """Bundles the purchase delivered into the continuing queue output, and that output."""
        continuing = self._continuing(order, tx)
        bundle = self._bundle_of(order, tx, sales)
        if continuing is None or bundle is None:
            log.warning("purchase %s of order %s: cannot count bundles", tx.tx_id.hex(), order.id)
            return 0, continuing
        asset, per_bundle = bundle
        gained = continuing.value.quantity(asset) - order.value.quantity(asset)
        return max(gained, 0) // per_bundle, continuing

    def _bundle_of(
        self, order: Order, tx: ChainTransaction, sales: SaleRepo
    ) -> tuple[AssetId, int] | None:
        """(bundle token, tokens per bundle): from the recreated sale UTxO's datum, else the
        recorded sale."""
        for out in self._sale_outputs(order, tx):
            if out.inline_datum is None:
                continue
            try:
                token = SaleDatum.from_cbor(out.inline_datum).bundle
            except MarketError:
                continue
            if token.amount > 0:
                return token.asset, token.amount
        stored = None if order.sale_id is None else sales.get(order.sale_id)
        return None if stored is None else (stored.sale.bundle, stored.sale.bundle_amount)

    # -- rollbacks --------------------------------------------------------------------------------

    def _recheck_recent(self, poll: _Poll) -> None:
        since = max(poll.report.tip_height - self.rollback_window, self.from_block)
        with self.database.session() as session:
            orders = OrderRepo(session)
            for order in orders.changed_since(since):
                txs = [p.tx_id for p in orders.purchases(order.id)]
                txs += [t for t in (order.refund_tx_id, order.cancel_tx_id) if t is not None]
                gone = [t for t in txs if poll.status(bytes.fromhex(t)).state is TxState.UNKNOWN]
                if gone:
                    self._reevaluate(poll, orders, order, why=f"{', '.join(gone)} left the chain")
            memory, issued = MonitorStateRepo(session), IssuedTransactionRepo(session)
            memory.prune_confirmations(since)
            for tx_id, _height in memory.confirmations():
                if poll.status(bytes.fromhex(tx_id)).state is not TxState.CONFIRMED:
                    issued.set_status(tx_id, IssuedStatus.SUBMITTED, now=self.clock())
                    memory.drop_confirmation(tx_id)
                    poll.event("rollback", tx_id, "confirmed transaction left the chain")

    def _reevaluate(self, poll: _Poll, orders: OrderRepo, order: Order, *, why: str) -> None:
        """Undo what the chain no longer has: drop vanished purchases, reopen the order at the
        UTxO it then had; delete the order when its own transaction vanished."""
        if poll.status(order.origin[0]).state is TxState.UNKNOWN:
            orders.remove(order)
            poll.event("rollback", order.label, f"order removed: {why}")
            return
        keep = [
            p
            for p in orders.purchases(order.id)
            if poll.status(bytes.fromhex(p.tx_id)).state is not TxState.UNKNOWN
        ]
        utxo = next((p.next_utxo for p in reversed(keep) if p.next_utxo), order.origin)
        found = self.backend.utxos_by_ref([utxo])
        value = found[0].value if found else order.value
        orders.rewind(order, keep=keep, utxo=utxo, value=value, now=self.clock())
        poll.event("rollback", order.label, f"order reopened at {_text(utxo)}: {why}")

    # -- issued transactions ----------------------------------------------------------------------

    def _follow_issued(self, poll: _Poll) -> None:
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

    def _adopt_order(self, poll: _Poll, session: Session, tx: IssuedTransaction) -> None:
        """An order transaction this service issued is on chain: its queue output (output 0) is
        an order even when a batcher filled and refunded it before any poll saw it at the queue;
        the next poll follows its spends."""
        orders = OrderRepo(session)
        ref = (bytes.fromhex(tx.tx_id), 0)
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


# -- helpers --------------------------------------------------------------------------------------


def _queue_datum(utxo: Utxo) -> QueueDatum:
    """The UTxO's QueueDatum, checked as batchers check it (PROTOCOL section 6)."""
    if utxo.inline_datum is None:
        raise _Malformed("no inline datum")
    datum = QueueDatum.from_cbor(utxo.inline_datum)
    if datum.number_of_bundles < 1:
        raise _Malformed(f"number_of_bundles is {datum.number_of_bundles}, must be at least 1")
    if datum.incentive.amount < 0:
        raise _Malformed(f"incentive amount is {datum.incentive.amount}, must not be negative")
    return datum


class _Malformed(MarketError):
    """A queue UTxO that is not a well-formed order."""


def _sale_from_start(sale_id: str, terms: SaleTerms, name: bytes, utxo: Utxo) -> Sale | None:
    try:
        datum = SaleDatum.from_cbor(utxo.inline_datum or b"")
    except MarketError:
        return None
    held = utxo.value.quantity(terms.bundle)
    available = min(held // terms.bundle_amount, terms.total_bundle_quantity)
    return Sale(
        id=sale_id,
        status=SaleStatus.STARTED if available else SaleStatus.SOLD_OUT,
        pointer_name=name,
        owner_address=terms.owner_address,
        bundle=terms.bundle,
        bundle_amount=terms.bundle_amount,
        cost=terms.cost,
        cost_amount=terms.cost_amount,
        total_bundle_quantity=terms.total_bundle_quantity,
        available_bundle_quantity=available,
        max_bundle_size=datum.max_bundle_size,
    )


def _ttl(tx: bytes) -> int | None:
    """The transaction's TTL (body key 3: the first slot it is no longer valid in)."""
    try:
        ttl = cbor2.loads(tx)[0].get(3)
    except Exception:  # not a readable transaction: no TTL to judge by
        return None
    return ttl if isinstance(ttl, int) else None


def _api_order_id(issued: IssuedTransactionRepo, ref: OutRef) -> str | None:
    """The v1 API's order id when this service issued the transaction that queued `ref` (an
    order transaction's queue output is its first)."""
    if ref[1] != 0:
        return None
    tx = issued.get(ref[0].hex())
    if tx is None or tx.kind is not TxKind.ORDER:
        return None
    return tx.reference_id


def _outflow(before: Value, after: Value) -> Value:
    """What left a UTxO's value: every lovelace and token that decreased (what came in, the
    bundle tokens a purchase delivers, is left out)."""
    assets = {
        asset: qty - after.quantity(asset)
        for asset, qty in before.assets.items()
        if qty > after.quantity(asset)
    }
    return Value(max(before.coin - after.coin, 0), assets)


def _restricted(value: Value, order: Order) -> Value:
    """`value` with only the lovelace and the tokens the order locked (its bundle tokens out)."""
    locked = order.locked_value
    kept = set(locked.assets) if locked is not None else {order.incentive}
    return Value(value.coin, {a: q for a, q in value.assets.items() if a in kept})


def _text(ref: OutRef) -> str:
    return f"{ref[0].hex()}#{ref[1]}"
