"""The batcher: fills queued orders from their sales and refunds what is left (PROTOCOL section 6).

Each `poll_once` works from chain state, never from the database:

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
  reference datum's bounds (the builders in `tx.batch` refuse otherwise).

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
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..app.signing import (
    Mandate,
    ServiceKeys,
    SigningGate,
    SigningKind,
    SigningRefusedError,
    batch_mandate,
)
from ..chain.base import ChainBackend, ChainError, Tip, TxState
from ..domain.address import Credential, encode_address, make_address
from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import Contracts, QueueDatum, SaleDatum, Wallet
from ..domain.errors import MarketError
from ..domain.keys import PaymentKey
from ..domain.params import ProtocolParameters
from ..domain.slots import SlotConfig
from ..domain.values import AssetId, unit_of
from ..ledger.references import reference_script_hash
from ..tx.batch import (
    BATCHER_PREFIX,
    BatchDeployment,
    BatchError,
    BatchTransaction,
    ExUnitsMemo,
    NotFillableError,
    OracleWindowError,
    StillFillableError,
    build_purchase_transaction,
    build_refund_transaction,
)

if TYPE_CHECKING:
    from ..chain.devnet.seed import SeedResult

log = logging.getLogger("cardano_market.batcher")

DEFAULT_VALIDITY_SLOTS = 300
"""How long a batcher transaction stays valid (slots), capped by the oracle window."""
DEFAULT_MAX_ORDERS_PER_ROUND = 100
"""Orders served in one round; the rest wait for the next (keeps a round's validity honest)."""
_REFRESH_SECONDS = 20.0
"""A round re-reads the tip (and the oracle) for the next order after this long."""
_UNSEEN_SLOT = 2**63
"""The sort position of an order whose transaction's slot the backend cannot tell (last)."""


class MalformedOrderError(MarketError):
    """A queue UTxO that is not an order a batcher may serve (the reason says why)."""


@dataclass(frozen=True, slots=True)
class BatcherKeys:
    """The batcher's keys: `batcher` holds the certificate (and owns the vault), `collateral`
    backs every script transaction with its ADA-only UTxOs."""

    batcher: PaymentKey
    collateral: PaymentKey
    batcher_address: bytes
    collateral_address: bytes

    @classmethod
    def enterprise(
        cls, batcher: PaymentKey, collateral: PaymentKey, network_id: int
    ) -> BatcherKeys:
        """Keys whose UTxOs sit at their enterprise addresses."""
        return cls(
            batcher,
            collateral,
            make_address(Credential.key(batcher.hash), None, network_id),
            make_address(Credential.key(collateral.hash), None, network_id),
        )

    def mandate(self, kind: SigningKind, scripts: Contracts) -> Mandate:
        """What the batcher's and collateral keys may sign: its purchase or refund."""
        return batch_mandate(
            kind,
            batcher=self.batcher,
            collateral=self.collateral,
            scripts=[scripts.sale, scripts.queue, scripts.vault],
        )


# -- orders and their order -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """A well-formed order at the queue, with what the serving order needs."""

    utxo: Utxo
    datum: QueueDatum
    priority: int  # the incentive's position in the allow-list (0 first)
    slot: int  # of the transaction that created it (`_UNSEEN_SLOT` when unknown)

    @property
    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """(incentive priority, -incentive amount, block time, output index, tx id)."""
        return (
            self.priority,
            -self.datum.incentive.amount,
            self.slot,
            self.utxo.index,
            self.utxo.tx_hash,
        )


def read_order(utxo: Utxo, incentives: Sequence[AssetId]) -> QueueDatum:
    """The UTxO's QueueDatum, checked as batchers check it; MalformedOrderError says what is
    wrong (PROTOCOL section 6)."""
    if utxo.inline_datum is None:
        raise MalformedOrderError("no inline datum: an order carries its QueueDatum inline")
    try:
        datum = QueueDatum.from_cbor(utxo.inline_datum)
    except MarketError as exc:
        raise MalformedOrderError(f"the QueueDatum does not decode: {exc}") from None
    if datum.number_of_bundles <= 0:
        raise MalformedOrderError(
            f"number_of_bundles is {datum.number_of_bundles}, must be at least 1"
        )
    if datum.incentive.asset not in incentives:
        allowed = ", ".join(unit_of(a) or "lovelace" for a in incentives)
        raise MalformedOrderError(
            f"incentive {unit_of(datum.incentive.asset) or 'lovelace'} is not allow-listed "
            f"({allowed})"
        )
    if datum.incentive.amount < 0:
        raise MalformedOrderError(f"incentive amount {datum.incentive.amount} is negative")
    return datum


# -- what a round did -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    out_ref: OutRef
    reason: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the batcher submitted for one order this round (purchase and/or refund)."""

    order: OutRef  # the queue UTxO served
    pointer_name: bytes
    transactions: tuple[BatchTransaction, ...]

    @property
    def purchase(self) -> BatchTransaction | None:
        return next((t for t in self.transactions if t.kind == "purchase"), None)

    @property
    def refund(self) -> BatchTransaction | None:
        return next((t for t in self.transactions if t.kind == "refund"), None)

    @property
    def bundles(self) -> int:
        return sum(t.bundles for t in self.transactions)

    @property
    def fees(self) -> int:
        return sum(t.fee for t in self.transactions)

    def summaries(self, params: ProtocolParameters) -> list[dict[str, Any]]:
        return [t.summary(params) for t in self.transactions]


@dataclass
class BatchReport:
    """One round: what was settled, skipped (malformed or not servable now) and released (two
    failed submissions); `in_flight` counts submitted transactions not yet seen on chain."""

    tip_slot: int
    settled: list[Settlement] = field(default_factory=list)
    skipped: list[SkippedOrder] = field(default_factory=list)
    released: list[SkippedOrder] = field(default_factory=list)
    in_flight: int = 0

    @property
    def transactions(self) -> list[BatchTransaction]:
        return [t for s in self.settled for t in s.transactions]

    def count(self, kind: str) -> int:
        return sum(1 for t in self.transactions if t.kind == kind)

    def summary(self) -> str:
        """One line for a person (`settle --once`)."""
        fees = sum(t.fee for t in self.transactions)
        return (
            f"{len(self.settled)} order(s) settled ({self.count('purchase')} purchase(s), "
            f"{self.count('refund')} refund(s), {fees} lovelace in fees), "
            f"{len(self.skipped)} skipped, {len(self.released)} released, "
            f"{self.in_flight} transaction(s) in flight at slot {self.tip_slot}"
        )


# -- the batcher ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Submitted:
    """A transaction this batcher submitted that the chain may not show yet."""

    tx_id: bytes
    spent: frozenset[OutRef]
    outputs: tuple[Utxo, ...]
    ttl: int


@dataclass
class _Round:
    """One round's view of the chain, advanced by every transaction the round submits."""

    tip: Tip
    params: ProtocolParameters
    deployment: BatchDeployment
    report: BatchReport
    oracle: Utxo | None = None
    validity: tuple[int, int] | None = None  # (validity start, ttl) slots
    validity_problem: str = ""
    certificate: Utxo | None = None
    vault: Utxo | None = None
    collateral: list[Utxo] = field(default_factory=list)
    sales: dict[bytes, Utxo] = field(default_factory=dict)  # pointer name -> sale UTxO
    queue: dict[OutRef, Utxo] = field(default_factory=dict)
    read_at: float = field(default_factory=time.monotonic)  # when `tip` was read


class _SubmitFailed(Exception):
    """A submission failed; `landed` are this order's transactions that did reach the chain."""

    def __init__(self, error: Exception, landed: list[BatchTransaction]) -> None:
        super().__init__(str(error))
        self.error = error
        self.landed = landed


class _Unservable(Exception):
    """The order cannot be served now (the message says why)."""


class Batcher:
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
        self._submitted: dict[bytes, _Submitted] = {}
        self._slots: dict[bytes, int] = {}  # order tx id -> slot (block time)
        self._logged: dict[OutRef, str] = {}  # reasons already logged, per queue UTxO
        self._unservable: dict[tuple[OutRef, OutRef], str] = {}  # (order, sale) -> reason
        self._units = ExUnitsMemo()  # the last purchase's and refund's units: the next's guess

    @classmethod
    def for_devnet(cls, seeded: SeedResult, backend: ChainBackend, **options: Any) -> Batcher:
        """The batcher of a seeded devnet: its contracts, batcher and collateral wallets."""
        contracts = seeded.contracts
        if contracts is None or seeded.batcher is None or seeded.collateral is None:
            raise ValueError(
                "the seed deploys no marketplace, batcher or collateral wallet: nothing to batch"
            )
        deployment = BatchDeployment(
            contracts.reference_utxo,
            contracts.sale_script_utxo,
            contracts.queue_script_utxo,
            contracts.vault_script_utxo,
        )
        keys = BatcherKeys(
            seeded.batcher.payment_key,
            seeded.collateral.payment_key,
            seeded.batcher.address,
            seeded.collateral.address,
        )
        return cls(backend, deployment, keys, **options)

    @classmethod
    def from_chain(
        cls,
        backend: ChainBackend,
        *,
        reference_address: bytes,
        starter_nft: AssetId,
        script_refs: tuple[OutRef, OutRef, OutRef],
        keys: BatcherKeys,
        **options: Any,
    ) -> Batcher:
        """The batcher of a deployment read from the chain (any network): the reference-data
        UTxO holding `starter_nft` at `reference_address` and the sale, queue and vault
        reference-script UTxOs at `script_refs`, each checked against the ReferenceDatum.

        ChainError when a UTxO is missing; ValueError when a script is not the one the
        ReferenceDatum names (a misconfigured out-ref would build transactions nobody accepts).
        """
        holders = [
            u for u in backend.utxos_at(reference_address) if u.value.quantity(starter_nft) == 1
        ]
        if not holders:
            raise ChainError(
                f"no UTxO at {encode_address(reference_address)} holds the starter NFT "
                f"{unit_of(starter_nft)}"
            )
        found = {u.out_ref: u for u in backend.utxos_by_ref(list(script_refs))}
        scripts: list[Utxo] = []
        for name, ref in zip(("sale", "queue", "vault"), script_refs, strict=True):
            utxo = found.get(ref)
            if utxo is None:
                raise ChainError(f"the {name} reference-script UTxO {_text(ref)} is not on chain")
            scripts.append(utxo)
        deployment = BatchDeployment(holders[0], *scripts)
        named = deployment.reference_datum.contracts
        for name, utxo, expected in zip(
            ("sale", "queue", "vault"), scripts, (named.sale, named.queue, named.vault), strict=True
        ):
            held = reference_script_hash(utxo)
            if held != expected:
                raise ValueError(
                    f"the {name} reference-script UTxO {_text(utxo.out_ref)} holds "
                    f"{held.hex() if held else 'no script'}, but the ReferenceDatum names the "
                    f"{name} validator {expected.hex()}"
                )
        return cls(backend, deployment, keys, **options)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Serve each `interval` seconds until `stop` is set; a failed round is logged."""
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except ChainError as exc:
                log.warning("batcher round failed (chain): %s", exc)
            except Exception:  # keep serving; the next round reads the chain afresh
                log.exception("batcher round failed")
            stop.wait(interval)

    def poll_once(self, stop: threading.Event | None = None) -> BatchReport:
        """One round over the queue; safe to repeat (nothing is served twice). A set `stop`
        ends the round after the order being served."""
        tip = self.backend.tip()
        self._forget_settled(tip)
        rnd = _Round(
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

    # -- reading the chain ------------------------------------------------------------------------

    def _live_deployment(self) -> BatchDeployment:
        """The deployment's UTxOs as they are now; a moved reference UTxO is found again by the
        starter NFT it holds (the contracts always read the live one)."""
        d = self.deployment
        refs = [
            d.reference_utxo.out_ref,
            d.sale_script_utxo.out_ref,
            d.queue_script_utxo.out_ref,
            d.vault_script_utxo.out_ref,
        ]
        live = {u.out_ref: u for u in self.backend.utxos_by_ref(refs)}
        reference = live.get(refs[0])
        if reference is None:
            nft = [a for a, q in d.reference_utxo.value.assets.items() if q == 1]
            holders = [
                u
                for u in self.backend.utxos_at(d.reference_utxo.address)
                if nft and all(u.value.quantity(a) == 1 for a in nft)
            ]
            if not holders:
                raise ChainError("the reference-data UTxO (starter NFT) is no longer on chain")
            reference = holders[0]
        for name, ref in zip(("sale", "queue", "vault"), refs[1:], strict=True):
            if ref not in live:
                raise ChainError(
                    f"the {name} reference-script UTxO {_text(ref)} is no longer on chain: "
                    "configure the new one"
                )
        self.deployment = BatchDeployment(reference, live[refs[1]], live[refs[2]], live[refs[3]])
        return self.deployment

    def _forget_settled(self, tip: Tip) -> None:
        """Drop submitted transactions the chain now has, and those past their TTL without it
        (what they spent is visible again and served anew)."""
        for tx_id, sent in list(self._submitted.items()):
            state = self.backend.tx_status(tx_id).state
            if state is TxState.CONFIRMED:
                del self._submitted[tx_id]
            elif state is TxState.UNKNOWN and tip.slot >= sent.ttl:
                del self._submitted[tx_id]
                log.warning(
                    "batcher transaction %s expired without reaching the chain", tx_id.hex()
                )

    def _visible(self, utxos: Iterable[Utxo], address: bytes) -> list[Utxo]:
        """The chain's UTxOs at `address` as they will be once our submitted transactions land."""
        found = {u.out_ref: u for u in utxos}
        for sent in self._submitted.values():
            for out in sent.outputs:
                if out.address == address:
                    found.setdefault(out.out_ref, out)
        spent = {ref for sent in self._submitted.values() for ref in sent.spent}
        return [u for ref, u in found.items() if ref not in spent]

    def _read_oracle(self, rnd: _Round) -> None:
        """The oracle UTxO and the validity interval it allows now (None: outside its window)."""
        reference = rnd.deployment.reference_datum
        start, ttl = rnd.tip.slot, rnd.tip.slot + self.validity_slots
        profit = reference.profit_data
        try:
            price = self.backend.oracle_price(
                rnd.deployment.oracle_address, (profit.feed_pid, profit.feed_tkn)
            )
        except ChainError as exc:  # only sales that need the price are held back
            rnd.validity_problem = f"no oracle price: {exc}"
            rnd.validity = (start, ttl)
            return
        rnd.oracle = price.utxo
        first = self.backend.posix_ms_to_slot(price.valid_from_ms)
        if self.backend.slot_to_posix_ms(first) < price.valid_from_ms:
            first += 1
        last = self.backend.posix_ms_to_slot(price.valid_to_ms)
        if first > start or last <= start:
            rnd.validity_problem = (
                f"the oracle window [{price.valid_from_ms}, {price.valid_to_ms}] ms does not "
                f"contain the current slot {start}"
            )
            return
        rnd.validity = (start, min(ttl, last))

    def _refresh_validity(self, rnd: _Round) -> None:
        """Move the validity interval on with the chain during a long round (a transaction
        must be valid from the current slot on)."""
        if time.monotonic() - rnd.read_at < _REFRESH_SECONDS:
            return
        rnd.tip, rnd.read_at = self.backend.tip(), time.monotonic()
        rnd.validity, rnd.validity_problem = None, ""
        self._read_oracle(rnd)

    def _read_state(self, rnd: _Round) -> None:
        """The certificate, vault, collateral, sales and queue as they stand (chain + ours)."""
        d = rnd.deployment
        reference = d.reference_datum
        batcher_pid = reference.batcher_data.batcher_pid
        held = self._visible(
            self.backend.utxos_at(self.keys.batcher_address), self.keys.batcher_address
        )
        certificates = [u for u in held if _certificate(u, batcher_pid) is not None]
        rnd.certificate = certificates[0] if certificates else None
        owner = Wallet(self.keys.batcher.hash).to_cbor()
        vault_address = d.vault_address
        vaults = [
            u
            for u in self._visible(self.backend.utxos_at(vault_address), vault_address)
            if u.inline_datum == owner
        ]
        rnd.vault = max(vaults, key=lambda u: u.value.coin) if vaults else None
        collateral = self._visible(
            self.backend.utxos_at(self.keys.collateral_address), self.keys.collateral_address
        )
        rnd.collateral = [u for u in collateral if u.value.is_ada_only]
        pointer = reference.pointer
        rnd.sales = {}
        for utxo in self._visible(self.backend.utxos_at(d.sale_address), d.sale_address):
            for (policy, name), quantity in utxo.value.assets.items():
                if policy == pointer and quantity == 1:
                    rnd.sales[name] = utxo
        queue = self._visible(self.backend.utxos_at(d.queue_address), d.queue_address)
        rnd.queue = {u.out_ref: u for u in queue}

    def _orders_by_sale(self, rnd: _Round) -> list[list[QueuedOrder]]:
        """Well-formed orders grouped by pointer name, each group in serving order."""
        groups: dict[bytes, list[QueuedOrder]] = {}
        for utxo in rnd.queue.values():
            try:
                datum = read_order(utxo, self.incentives)
            except MalformedOrderError as exc:
                self._skip(rnd, utxo.out_ref, f"malformed order: {exc}")
                continue
            order = QueuedOrder(
                utxo, datum, self.incentives.index(datum.incentive.asset), self._slot_of(utxo)
            )
            groups.setdefault(datum.pointer_name, []).append(order)
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
                return _UNSEEN_SLOT
            self._slots[utxo.tx_hash] = status.slot
        return self._slots[utxo.tx_hash]

    def _skip(self, rnd: _Round, ref: OutRef, reason: str) -> None:
        rnd.report.skipped.append(SkippedOrder(ref, reason))
        if self._logged.get(ref) != reason:
            self._logged[ref] = reason
            log.warning("queue UTxO %s skipped: %s", _text(ref), reason)

    # -- serving one order ------------------------------------------------------------------------

    def _serve(self, rnd: _Round, order: QueuedOrder) -> None:
        """Purchase then refund; after a failed submission re-read the chain and try once more
        from where the order now stands, else release it to the next round."""
        ref = order.utxo.out_ref
        try:
            landed = self._settle(rnd, order.utxo, order.datum)
        except _Unservable as exc:
            self._skip(rnd, ref, str(exc))
            return
        except _SubmitFailed as first:
            log.warning("order %s: submission failed (%s); re-reading the chain", _text(ref), first)
            landed = self._retry(rnd, order, first)
        if landed:
            rnd.report.settled.append(Settlement(ref, order.datum.pointer_name, tuple(landed)))

    def _retry(
        self, rnd: _Round, order: QueuedOrder, first: _SubmitFailed
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

    def _release(self, rnd: _Round, ref: OutRef, reason: str) -> None:
        rnd.report.released.append(SkippedOrder(ref, reason))
        log.warning("order %s released to the next round: %s", _text(ref), reason)

    def _settle(self, rnd: _Round, queue_utxo: Utxo, datum: QueueDatum) -> list[BatchTransaction]:
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
            reason = f"cannot be served from sale {_text(sale_utxo.out_ref)}: {exc}"
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
        self, rnd: _Round, queue_utxo: Utxo, sale_utxo: Utxo, sale: SaleDatum
    ) -> tuple[BatchTransaction | None, BatchTransaction | None]:
        """The purchase (None when the order can no longer be filled) and the refund chained on
        it (None when the refund must wait: built again next round from the purchase's output)."""
        assert rnd.certificate is not None and rnd.validity is not None
        start, ttl = rnd.validity
        common: dict[str, Any] = {
            "deployment": rnd.deployment,
            "oracle_utxo": rnd.oracle,
            "collateral_utxos": rnd.collateral,
            "params": rnd.params,
            "evaluate": self.backend.evaluate,
            "slot_config": _slot_config(self.backend, rnd.tip.slot),
            "validity_start": start,
            "ttl": ttl,
            "units_memo": self._units,
        }
        filled_already = queue_utxo.value.quantity(sale.bundle.asset) > 0
        purchase: BatchTransaction | None = None
        if not filled_already:
            try:
                purchase = build_purchase_transaction(
                    sale_utxo=sale_utxo,
                    queue_utxo=queue_utxo,
                    certificate_utxo=rnd.certificate,
                    vault_utxo=rnd.vault,
                    **common,
                )
            except NotFillableError:
                purchase = None  # sold out or short-paid: refund only
        order, sale_now, certificate, pending = queue_utxo, sale_utxo, rnd.certificate, []
        if purchase is not None:
            pending = purchase.output_utxos()
            order = purchase.queue_utxo
            sale_now = next(u for u in pending if u.address == sale_utxo.address)
            certificate = self._certificate_of(pending, rnd)
        try:
            refund = build_refund_transaction(
                queue_utxo=order,
                sale_utxo=sale_now,
                certificate_utxo=certificate,
                pending_utxos=pending,
                **common,
            )
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

    def _certificate_of(self, utxos: Sequence[Utxo], rnd: _Round) -> Utxo:
        pid = rnd.deployment.reference_datum.batcher_data.batcher_pid
        return next(u for u in utxos if _certificate(u, pid) is not None)

    # -- submitting -------------------------------------------------------------------------------

    def _submit(self, rnd: _Round, built: BatchTransaction) -> None:
        contracts = rnd.deployment.reference_datum.contracts
        mandate = self.keys.mandate(SigningKind(built.kind), contracts)
        pending = {u.out_ref: u for sent in self._submitted.values() for u in sent.outputs}
        self.backend.submit(self.gate.sign(built.cbor, mandate, pending=pending))
        self._track(rnd, built)

    def _track(self, rnd: _Round, built: BatchTransaction) -> None:
        """Remember what `built` spent and made, and move the round's view past it."""
        tx = built.transaction
        outputs = built.output_utxos()
        assert rnd.validity is not None
        self._submitted[built.tx_id] = _Submitted(
            built.tx_id,
            frozenset(u.out_ref for u in tx.inputs),
            tuple(outputs),
            rnd.validity[1],
        )
        spent = {u.out_ref for u in tx.inputs}
        d = rnd.deployment
        pid = d.reference_datum.batcher_data.batcher_pid
        for out in outputs:
            if out.address == self.keys.batcher_address and _certificate(out, pid) is not None:
                rnd.certificate = out
            elif out.address == d.vault_address and rnd.vault is not None:
                rnd.vault = out
            elif out.address == d.sale_address:
                for (policy, name), quantity in out.value.assets.items():
                    if policy == d.reference_datum.pointer and quantity == 1:
                        rnd.sales[name] = out
            elif out.address == d.queue_address:
                rnd.queue[out.out_ref] = out
        for ref in spent:
            rnd.queue.pop(ref, None)
        log.info(
            "%s %s: fee %d, %d bundle(s)", built.kind, built.tx_id.hex(), built.fee, built.bundles
        )


def _slot_config(backend: ChainBackend, slot: int) -> SlotConfig:
    """The backend's slot arithmetic around `slot` (linear within an era) as a SlotConfig."""
    zero = backend.slot_to_posix_ms(slot)
    return SlotConfig(zero, slot, backend.slot_to_posix_ms(slot + 1) - zero)


def _certificate(utxo: Utxo, batcher_pid: bytes) -> AssetId | None:
    """The batcher-certificate token `utxo` holds (policy `batcher_pid`, the name prefix)."""
    for policy, name in utxo.value.assets:
        if policy == batcher_pid and name.startswith(BATCHER_PREFIX):
            return policy, name
    return None


def _text(ref: OutRef) -> str:
    return f"{ref[0].hex()}#{ref[1]}"


__all__ = [
    "BatchReport",
    "Batcher",
    "BatcherKeys",
    "MalformedOrderError",
    "QueuedOrder",
    "Settlement",
    "SkippedOrder",
    "read_order",
]
