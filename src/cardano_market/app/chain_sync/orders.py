"""The chain monitor's queue: a new queue UTxO that is an order (read as the batcher reads it,
`domain.queue`) becomes a `queued` order; an open order whose UTxO is gone is matched with the
transaction that spent it (purchase, refund or cancel, by its queue redeemer or its shape); and
within the rollback window what the chain no longer has is undone."""

from __future__ import annotations

import logging

from ...chain.base import ChainTransaction, TxState
from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import QueueDatum, SaleDatum, address_from_wallet
from ...domain.errors import MarketError
from ...domain.queue import queue_datum_of, read_queued_order
from ...domain.redeemers import QueueRedeemer
from ...domain.values import AssetId, Value, sum_values
from ...store.monitor import MonitorStateRepo
from ...store.orders import ChainPoint, CloseKind, NewOrder, Order, OrderRepo
from ...store.sales import SaleRepo
from ...store.transactions import IssuedTransactionRepo, TxKind
from ...store.transactions import TxStatus as IssuedStatus
from .poll import Poll
from .sales import SaleSync

log = logging.getLogger("cardano_market.monitor")

_MAX_STEPS_PER_ORDER = 8
"""Spends followed for one order in one poll (purchase, then refund, ...)."""


class OrderSync(SaleSync):
    """Follows the queue (and re-checks recent changes) on top of the sales."""

    # -- the queue --------------------------------------------------------------------------------

    def _follow_queue(self, poll: Poll) -> None:
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
                    self._reevaluate(poll, orders, known, why=f"{ref} is back")
            memory.forget_skipped(ref for ref in skipped if ref not in utxos)

    def _new_order(
        self,
        poll: Poll,
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
            datum = read_queued_order(utxo, self.incentives).datum
            owner = address_from_wallet(datum.owner, self.backend.network_id)
        except MarketError as exc:
            if memory.skip(utxo.out_ref, str(exc), now=self.clock()):
                log.warning("queue UTxO %s skipped: %s", utxo.out_ref, exc)
                poll.event("order_skipped", str(utxo.out_ref), str(exc))
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
            f"{utxo.out_ref}: {datum.number_of_bundles} bundle(s) of pointer "
            f"{datum.pointer_name.hex()}",
        )

    def _follow_order(
        self,
        poll: Poll,
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

    def _apply_spend(self, poll: Poll, orders: OrderRepo, sales: SaleRepo, order: Order) -> bool:
        """Record what spent the order's UTxO; False when that cannot be said yet."""
        assert order.utxo is not None
        spender = self.backend.spending_transaction(order.utxo)
        if spender is None:
            if poll.status(order.utxo[0]).state is TxState.UNKNOWN:
                self._reevaluate(
                    poll, orders, order, why=f"{OutRef.of(order.utxo)} was rolled back"
                )
            else:
                poll.report.waiting += 1  # spent, but the spender is not visible yet
            return False
        if not self._deep(poll, spender):
            poll.report.waiting += 1
            return False
        at = ChainPoint(tx_id=spender.tx_id, block_height=spender.block_height, slot=spender.slot)
        kind = self._classify(order, spender)
        if kind is QueueRedeemer.PURCHASE:
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
        close = CloseKind.REFUND if kind is QueueRedeemer.REFUND else CloseKind.CANCEL
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

    def _classify(self, order: Order, tx: ChainTransaction) -> QueueRedeemer:
        assert order.utxo is not None
        redeemer = QueueRedeemer.of(tx.spend_redeemers.get(order.utxo))
        if redeemer is not None:
            return redeemer
        # No readable queue redeemer (e.g. the hot-key path): judge by the transaction's shape.
        if self._sale_outputs(order, tx) and self._continuing(order, tx) is not None:
            return QueueRedeemer.PURCHASE
        owner = QueueDatum.from_cbor(order.datum).owner.pkh
        return QueueRedeemer.CANCEL if owner in tx.required_signers else QueueRedeemer.REFUND

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
                if queue_datum_of(out) == datum:
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

    def _recheck_recent(self, poll: Poll) -> None:
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

    def _reevaluate(self, poll: Poll, orders: OrderRepo, order: Order, *, why: str) -> None:
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
        poll.event("rollback", order.label, f"order reopened at {OutRef.of(utxo)}: {why}")


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
