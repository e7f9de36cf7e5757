"""Serving the queue, one round at a time: choose the orders (grouped by sale, in serving order,
sales served round-robin), build each order's purchase and the refund chained on it, have the
signing gate sign them and submit them; a failed submission is retried once after re-reading the
chain, then released to the next round.

Each round (`settle_round`) works from chain state, never from the database:

- reads the queue UTxOs, parses each QueueDatum and skips malformed ones with a logged reason
  (no inline datum, wrong field count or sizes, bundles <= 0, an incentive that is not
  allow-listed, a pointer that is not 32 bytes);
- groups the orders by pointer name, orders each group by (incentive priority, larger incentive
  first, block time, output index) and serves the sales round-robin, one order of each in turn;
- for each order builds the purchase (when the sale still has a whole bundle and the order pays
  for it) and then the refund of what is left, the refund spending the purchase's outputs before
  they are on chain (evaluation resolves them as additional UTxOs), signs both with the batcher
  and collateral keys and submits them one after the other. Sold-out sales and short-paid orders
  get the refund only. Ex-units come from the backend's evaluation; the fees stay within the
  reference datum's bounds (the builders in `tx.settle` refuse otherwise).

Why sequential: every purchase and refund spends the batcher-certificate UTxO and every purchase
spends the vault, so all of a batcher's transactions form one chain of UTxOs; a thread per sale
would only wait on that chain (and script evaluation is CPU-bound Python under the GIL). Sales are
served in parallel in the sense that matters to buyers: interleaved within a round, each sale's
orders chained one after another without waiting for a block.

No order is filled twice: the outputs a submitted transaction spends are hidden from later rounds
until the transaction is on chain (or has expired), a queue UTxO already holding its sale's bundle
tokens (a purchase's continuing output) is only ever refunded, and a failed submission is retried
only after re-reading the chain (a transaction that landed although the submit call failed is
recognised by its id). A second failure releases the order to the next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace

from ...chain.base import ChainBackend, ChainError, TxState
from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import QueueDatum, SaleDatum
from ...domain.errors import MarketError
from ...domain.queue import UNSEEN_SLOT, MalformedOrderError, QueuedOrder, read_queued_order
from ...domain.values import AssetId
from ...tx.settle.deployment import BatchDeployment
from ...tx.settle.errors import BatchError, NotFillableError, OracleWindowError, StillFillableError
from ...tx.settle.fee import ExUnitsMemo
from ...tx.settle.inputs import SettlementInputs
from ...tx.settle.purchase import build_purchase_transaction
from ...tx.settle.refund import build_refund_transaction
from ...tx.settle.result import BatchTransaction
from ..signing import ServiceKeys, SigningGate, SigningKind, SigningRefusedError
from .deployment import BatcherKeys
from .report import BatchReport, Settlement, SkippedOrder
from .view import QueueView, Round, Submitted, slot_config

log = logging.getLogger("cardano_market.batcher")

DEFAULT_VALIDITY_SLOTS = 300
"""How long a batcher transaction stays valid (slots), capped by the oracle window."""
DEFAULT_MAX_ORDERS_PER_ROUND = 100
"""Orders served in one round; the rest wait for the next (keeps a round's validity honest)."""


class _SubmitFailed(Exception):
    """A submission failed; `landed` are this order's transactions that did reach the chain."""

    def __init__(self, error: Exception, landed: list[BatchTransaction]) -> None:
        super().__init__(str(error))
        self.error = error
        self.landed = landed


class _Unservable(Exception):
    """The order cannot be served now (the message says why)."""


class QueueSettler(QueueView):
    """Serves the queue of `deployment` on `backend`, signing with `keys`.

    `incentives` is the incentive allow-list in priority order (default: the reference datum's
    profit token, the marketplace currency). `validity_slots` bounds each transaction's validity
    interval (also kept inside the oracle datum's window).
    """

    def __init__(
        self,
        backend: ChainBackend,
        deployment: BatchDeployment,
        keys: BatcherKeys,
        *,
        incentives: Sequence[AssetId] | None = None,
        validity_slots: int = DEFAULT_VALIDITY_SLOTS,
        max_orders_per_round: int = DEFAULT_MAX_ORDERS_PER_ROUND,
        service_keys: ServiceKeys | None = None,
    ) -> None:
        if validity_slots < 1 or max_orders_per_round < 1:
            raise ValueError("validity_slots and max_orders_per_round must be at least 1")
        self.backend = backend
        self.deployment = deployment
        self.keys = keys
        if service_keys is None:
            service_keys = ServiceKeys()
            service_keys.register(keys.batcher.hash, "the batcher")
            service_keys.register(keys.collateral.hash, "the operator's collateral wallet")
        self.gate = SigningGate(backend, service_keys)
        profit = deployment.reference_datum.profit_data
        self.incentives = (
            list(incentives) if incentives is not None else [(profit.profit_pid, profit.profit_tkn)]
        )
        self.validity_slots = validity_slots
        self.max_orders_per_round = max_orders_per_round
        self._submitted: dict[bytes, Submitted] = {}
        self._slots: dict[bytes, int] = {}  # order tx id -> slot (block time)
        self._logged: dict[OutRef, str] = {}  # reasons already logged, per queue UTxO
        self._unservable: dict[tuple[OutRef, OutRef], str] = {}  # (order, sale) -> reason
        self._units = ExUnitsMemo()  # the last purchase's and refund's units: the next's guess

    def settle_round(self, stop: threading.Event | None = None) -> BatchReport:
        """One round over the queue; safe to repeat (nothing is served twice). A set `stop`
        ends the round after the order being served."""
        tip = self.backend.tip()
        self._forget_settled(tip)
        rnd = Round(
            tip=tip,
            params=self.backend.protocol_parameters(),
            deployment=self._live_deployment(),
            report=BatchReport(tip.slot),
        )
        self._read_oracle(rnd)
        self._read_state(rnd)
        groups = self._orders_by_sale(rnd)
        served = 0
        while any(groups) and served < self.max_orders_per_round:
            for group in groups:
                if stop is not None and stop.is_set():
                    groups = []
                    break
                if group and served < self.max_orders_per_round:
                    self._refresh_validity(rnd)
                    self._serve(rnd, group.pop(0))
                    served += 1
        rnd.report.in_flight = len(self._submitted)
        return rnd.report

    # -- choosing the orders ---------------------------------------------------------------------

    def _orders_by_sale(self, rnd: Round) -> list[list[QueuedOrder]]:
        """Well-formed orders grouped by pointer name, each group in serving order."""
        groups: dict[bytes, list[QueuedOrder]] = {}
        for utxo in rnd.queue.values():
            try:
                order = read_queued_order(utxo, self.incentives, slot=self._slot_of(utxo))
            except MalformedOrderError as exc:
                self._skip(rnd, utxo.out_ref, f"malformed order: {exc}")
                continue
            groups.setdefault(order.datum.pointer_name, []).append(order)
        alive, alive_txs = set(rnd.queue), {ref[0] for ref in rnd.queue}
        self._logged = {r: why for r, why in self._logged.items() if r in alive}
        self._unservable = {k: why for k, why in self._unservable.items() if k[0] in alive}
        self._slots = {t: s for t, s in self._slots.items() if t in alive_txs}
        ordered = [sorted(g, key=lambda o: o.sort_key) for g in groups.values()]
        return sorted(ordered, key=lambda g: g[0].sort_key)  # the sale of the best order first

    def _slot_of(self, utxo: Utxo) -> int:
        """The slot of the order's transaction (its block time), asked once per transaction."""
        if utxo.tx_hash not in self._slots:
            status = self.backend.tx_status(utxo.tx_hash)
            if status.slot is None:
                return UNSEEN_SLOT
            self._slots[utxo.tx_hash] = status.slot
        return self._slots[utxo.tx_hash]

    def _skip(self, rnd: Round, ref: OutRef, reason: str) -> None:
        rnd.report.skipped.append(SkippedOrder(ref, reason))
        if self._logged.get(ref) != reason:
            self._logged[ref] = reason
            log.warning("queue UTxO %s skipped: %s", ref, reason)

    # -- serving one order ------------------------------------------------------------------------

    def _serve(self, rnd: Round, order: QueuedOrder) -> None:
        """Purchase then refund; after a failed submission re-read the chain and try once more
        from where the order now stands, else release it to the next round."""
        ref = order.utxo.out_ref
        try:
            landed = self._settle(rnd, order.utxo, order.datum)
        except _Unservable as exc:
            self._skip(rnd, ref, str(exc))
            return
        except _SubmitFailed as first:
            log.warning("order %s: submission failed (%s); re-reading the chain", ref, first)
            landed = self._retry(rnd, order, first)
        if landed:
            rnd.report.settled.append(Settlement(ref, order.datum.pointer_name, tuple(landed)))

    def _retry(
        self, rnd: Round, order: QueuedOrder, first: _SubmitFailed
    ) -> list[BatchTransaction]:
        ref = order.utxo.out_ref
        self._read_state(rnd)
        purchase = next((t for t in first.landed if t.kind == "purchase"), None)
        current = rnd.queue.get(purchase.queue_utxo.out_ref if purchase else ref)
        if current is None:
            self._release(rnd, ref, f"its UTxO is gone after a failed submission ({first})")
            return first.landed
        try:
            return first.landed + self._settle(rnd, current, order.datum)
        except _Unservable as exc:
            self._skip(rnd, ref, str(exc))
        except _SubmitFailed as second:
            self._read_state(rnd)  # what is known to have landed stays; the rest is released
            self._release(rnd, ref, f"submitted twice, failed twice: {second}")
            return first.landed + second.landed
        return first.landed

    def _release(self, rnd: Round, ref: OutRef, reason: str) -> None:
        rnd.report.released.append(SkippedOrder(ref, reason))
        log.warning("order %s released to the next round: %s", ref, reason)

    def _settle(self, rnd: Round, queue_utxo: Utxo, datum: QueueDatum) -> list[BatchTransaction]:
        """Build the purchase (when the order can be filled) and the refund chained on it,
        then submit them in that order; the round's view follows each submission."""
        sale_utxo = rnd.sales.get(datum.pointer_name)
        if sale_utxo is None:
            raise _Unservable(
                f"no sale holds pointer {datum.pointer_name.hex()} (ended or never started): "
                "only its owner can take the order back (cancel)"
            )
        known = self._unservable.get((queue_utxo.out_ref, sale_utxo.out_ref))
        if known is not None:
            raise _Unservable(known)
        if rnd.validity is None:
            raise _Unservable(rnd.validity_problem)
        if rnd.certificate is None:
            raise _Unservable("the batcher holds no batcher-certificate UTxO")
        try:
            sale = SaleDatum.from_cbor(sale_utxo.inline_datum or b"")
            purchase, refund = self._build(rnd, queue_utxo, sale_utxo, sale)
        except (BatchError, MarketError) as exc:
            remember = isinstance(exc, BatchError) and not isinstance(exc, OracleWindowError)
            reason = f"cannot be served from sale {sale_utxo.out_ref}: {exc}"
            if remember:
                self._unservable[(queue_utxo.out_ref, sale_utxo.out_ref)] = reason
            raise _Unservable(reason) from None
        landed: list[BatchTransaction] = []
        for built in (purchase, refund):
            if built is None:
                continue
            try:
                self._submit(rnd, built)
            except SigningRefusedError as exc:  # a builder bug: never sign, never retry blindly
                log.error("the signing gate refused the batcher's %s: %s", built.kind, exc)
                if landed:
                    return landed
                raise _Unservable(f"the signing gate refused its {built.kind}: {exc}") from None
            except ChainError as exc:
                if self.backend.tx_status(built.tx_id).state is TxState.UNKNOWN:
                    raise _SubmitFailed(exc, landed) from None
                self._track(rnd, built)  # it landed although the call failed
            landed.append(built)
        return landed

    def _build(
        self, rnd: Round, queue_utxo: Utxo, sale_utxo: Utxo, sale: SaleDatum
    ) -> tuple[BatchTransaction | None, BatchTransaction | None]:
        """The purchase (None when the order can no longer be filled) and the refund chained on
        it (None when the refund must wait: built again next round from the purchase's output)."""
        assert rnd.certificate is not None and rnd.validity is not None
        start, ttl = rnd.validity
        inputs = SettlementInputs(
            deployment=rnd.deployment,
            sale_utxo=sale_utxo,
            queue_utxo=queue_utxo,
            certificate_utxo=rnd.certificate,
            oracle_utxo=rnd.oracle,
            collateral_utxos=rnd.collateral,
            params=rnd.params,
            evaluate=self.backend.evaluate,
            slot_config=slot_config(self.backend, rnd.tip.slot),
            validity_start=start,
            ttl=ttl,
            units_memo=self._units,
        )
        filled_already = queue_utxo.value.quantity(sale.bundle.asset) > 0
        purchase: BatchTransaction | None = None
        if not filled_already:
            try:
                purchase = build_purchase_transaction(inputs, vault_utxo=rnd.vault)
            except NotFillableError:
                purchase = None  # sold out or short-paid: refund only
        if purchase is not None:
            pending = purchase.output_utxos()
            inputs = replace(
                inputs,
                queue_utxo=purchase.queue_utxo,
                sale_utxo=next(u for u in pending if u.address == sale_utxo.address),
                certificate_utxo=self._certificate_of(pending, rnd),
                pending_utxos=pending,
            )
        try:
            refund = build_refund_transaction(inputs)
        except StillFillableError as exc:
            if purchase is None:
                raise BatchError(
                    f"{exc}; it holds its sale's bundle tokens already (a filled order), and "
                    "the batcher never fills an order twice: its owner can cancel it"
                ) from None
            log.warning("refund after purchase %s deferred: %s", purchase.tx_id.hex(), exc)
            refund = None
        except BatchError as exc:
            if purchase is None:
                raise
            log.warning("refund after purchase %s deferred: %s", purchase.tx_id.hex(), exc)
            refund = None
        return purchase, refund

    # -- submitting -------------------------------------------------------------------------------

    def _submit(self, rnd: Round, built: BatchTransaction) -> None:
        contracts = rnd.deployment.reference_datum.contracts
        mandate = self.keys.mandate(SigningKind(built.kind), contracts)
        pending = {u.out_ref: u for sent in self._submitted.values() for u in sent.outputs}
        self.backend.submit(self.gate.sign(built.cbor, mandate, pending=pending))
        self._track(rnd, built)
