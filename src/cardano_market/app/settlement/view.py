"""A settlement round's view of the chain: the certificate, vault, collateral, sales and queue as
they will be once this batcher's submitted transactions land, the oracle and the validity interval
it allows, followed through every transaction the round submits."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ...chain.base import ChainBackend, ChainError, Tip, TxState
from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import Wallet
from ...domain.params import ProtocolParameters
from ...domain.protocol import batcher_certificate
from ...domain.slots import SlotConfig
from ...domain.values import AssetId
from ...tx.settle.deployment import BatchDeployment
from ...tx.settle.result import BatchTransaction
from .deployment import BatcherKeys, live_deployment
from .report import BatchReport

log = logging.getLogger("cardano_market.batcher")

_REFRESH_SECONDS = 20.0
"""A round re-reads the tip (and the oracle) for the next order after this long."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """A transaction this batcher submitted that the chain may not show yet."""

    tx_id: bytes
    spent: frozenset[OutRef]
    outputs: tuple[Utxo, ...]
    ttl: int


@dataclass
class Round:
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


class QueueView:
    """The chain as a batcher sees it: what it reads, and its transactions not on chain yet."""

    backend: ChainBackend
    deployment: BatchDeployment
    keys: BatcherKeys
    validity_slots: int
    _submitted: dict[bytes, Submitted]

    def _live_deployment(self) -> BatchDeployment:
        """The deployment's UTxOs as they are now (`deployment.live_deployment`), kept."""
        self.deployment = live_deployment(self.backend, self.deployment)
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

    def _read_oracle(self, rnd: Round) -> None:
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

    def _refresh_validity(self, rnd: Round) -> None:
        """Move the validity interval on with the chain during a long round (a transaction
        must be valid from the current slot on)."""
        if time.monotonic() - rnd.read_at < _REFRESH_SECONDS:
            return
        rnd.tip, rnd.read_at = self.backend.tip(), time.monotonic()
        rnd.validity, rnd.validity_problem = None, ""
        self._read_oracle(rnd)

    def _read_state(self, rnd: Round) -> None:
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

    def _certificate_of(self, utxos: Sequence[Utxo], rnd: Round) -> Utxo:
        pid = rnd.deployment.reference_datum.batcher_data.batcher_pid
        return next(u for u in utxos if _certificate(u, pid) is not None)

    def _track(self, rnd: Round, built: BatchTransaction) -> None:
        """Remember what `built` spent and made, and move the round's view past it."""
        tx = built.transaction
        outputs = built.output_utxos()
        assert rnd.validity is not None
        self._submitted[built.tx_id] = Submitted(
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


def slot_config(backend: ChainBackend, slot: int) -> SlotConfig:
    """The backend's slot arithmetic around `slot` (linear within an era) as a SlotConfig."""
    zero = backend.slot_to_posix_ms(slot)
    return SlotConfig(zero, slot, backend.slot_to_posix_ms(slot + 1) - zero)


def _certificate(utxo: Utxo, batcher_pid: bytes) -> AssetId | None:
    return batcher_certificate(utxo.value, batcher_pid)
