"""The chain monitor's base and its sales: each sale UTxO's bundle tokens give the sale's
available bundles (Started, or SoldOut at 0); a sale whose pointer left the sale address is Ended
once the spending transaction is deep enough; a pointer this service started but the database
does not know yet is recorded as a sale."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ...chain.base import ChainHistory, ChainTransaction, TxState
from ...domain.cip30 import OutRef, Utxo
from ...domain.pointer import pointer_asset_name
from ...domain.sale import SaleStatus, sale_from_utxo
from ...domain.values import AssetId
from ...store.db import Database
from ...store.monitor import MonitorStateRepo
from ...store.orders import ChainPoint, OrderRepo
from ...store.sales import Criteria, PendingSaleRepo, SaleFilter, SaleRepo, StoredSale
from ...store.transactions import IssuedTransactionRepo, TxKind
from ...tx.body import transaction_inputs
from ..context import utc_now
from .poll import MonitoredAddresses, MonitoredChain, MonitorEvent, Poll

_SALE_PAGE = 500


class SaleSync:
    """The monitor's options, which every part shares, its depth rules and its sales (the
    queue and the poll build on it: `orders.OrderSync`, `sync.ChainSync`).

    `pointer_policy` is the sale pointers' policy (None: sales are not followed, orders are not
    linked to sales). `on_event` hears every change after it is committed (metrics, logs).
    `incentives` is the batchers' incentive allow-list: a queue UTxO paying its incentive in
    another token is skipped, as the batcher skips it (None: any incentive token).
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
        incentives: Sequence[AssetId] | None = None,
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
        self.incentives = None if incentives is None else list(incentives)
        self._foreign_sale_utxos: set[OutRef] = set()
        """Sale UTxOs of pointers this service did not start (checked once per UTxO)."""

    # -- depth ------------------------------------------------------------------------------------

    def _deep_tx(self, poll: Poll, tx_id: bytes) -> ChainPoint | None:
        """Where `tx_id` sits, if it has the required confirmations; None otherwise."""
        status = poll.status(tx_id)
        if status.state is TxState.CONFIRMED and status.depth >= self.confirmations:
            return ChainPoint(tx_id=tx_id, block_height=status.block_height, slot=status.slot)
        if self.confirmations == 0 and status.state is TxState.IN_MEMPOOL:
            return ChainPoint(tx_id=tx_id, block_height=None, slot=None)
        return None

    def _deep(self, poll: Poll, tx: ChainTransaction) -> bool:
        if self.confirmations == 0:
            return True
        return tx.depth(poll.report.tip_height) >= self.confirmations

    # -- sales ------------------------------------------------------------------------------------

    def _follow_sales(self, poll: Poll) -> None:
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
        self, sales: SaleRepo, poll: Poll, stored: StoredSale, utxo: Utxo
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
        self, sales: SaleRepo, memory: MonitorStateRepo, poll: Poll, stored: StoredSale
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
        self, session: Session, poll: Poll, name: bytes, utxo: Utxo
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
            sale = sale_from_utxo(pending.id, pending.terms, name, utxo)
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
