"""A `ChainBackend` wrapper that reports every call's method, outcome and duration to an observer.

The chain layer knows nothing of the service: the observer is any object with a `chain_call`
method (`service.observability.Metrics` is one). Retries inside a backend are reported by the
backend itself (Blockfrost's `on_retry` hook), since only it sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, Protocol, TypeVar

from ..domain.cip30 import OutRef, Utxo
from ..domain.params import ProtocolParameters
from ..domain.values import AssetId
from ..ledger.exunits import ExUnits, RedeemerKey
from .base import (
    ChainBackend,
    ChainError,
    ChainHistory,
    ChainTransaction,
    OraclePrice,
    Tip,
    TxStatus,
)

P = ParamSpec("P")
T = TypeVar("T")

OK = "ok"
ERROR = "error"


class ChainObserver(Protocol):
    """Hears about each chain backend call once it has returned or raised."""

    def chain_call(self, method: str, outcome: str, seconds: float) -> None:
        """`method` is the `ChainBackend` method name, `outcome` is `ok` or `error`."""
        ...


class InstrumentedBackend:
    """`ChainBackend` delegating to `inner`, timing and counting each call through `observer`.

    Errors propagate unchanged (after being counted). The slot/time conversions are pure
    arithmetic on the backend's slot configuration, not chain calls: they delegate unobserved.
    """

    def __init__(self, inner: ChainBackend, observer: ChainObserver) -> None:
        self.inner = inner
        self.observer = observer
        self.network_id = inner.network_id

    def _observe(self, method: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        start = time.perf_counter()
        try:
            result = call(*args, **kwargs)
        except Exception:
            self.observer.chain_call(method, ERROR, time.perf_counter() - start)
            raise
        self.observer.chain_call(method, OK, time.perf_counter() - start)
        return result

    def protocol_parameters(self) -> ProtocolParameters:
        return self._observe("protocol_parameters", self.inner.protocol_parameters)

    def tip(self) -> Tip:
        return self._observe("tip", self.inner.tip)

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.inner.slot_to_posix_ms(slot)

    def posix_ms_to_slot(self, time_ms: int) -> int:
        return self.inner.posix_ms_to_slot(time_ms)

    def utxos_at(self, address: bytes) -> list[Utxo]:
        return self._observe("utxos_at", self.inner.utxos_at, address)

    def utxos_by_ref(self, refs: Iterable[OutRef]) -> list[Utxo]:
        return self._observe("utxos_by_ref", self.inner.utxos_by_ref, refs)

    def utxos_with_asset(self, address: bytes, asset: AssetId) -> list[Utxo]:
        return self._observe("utxos_with_asset", self.inner.utxos_with_asset, address, asset)

    def submit(self, tx: bytes) -> bytes:
        return self._observe("submit", self.inner.submit, tx)

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        return self._observe("evaluate", self.inner.evaluate, tx, additional_utxos)

    def tx_status(self, tx_id: bytes) -> TxStatus:
        return self._observe("tx_status", self.inner.tx_status, tx_id)

    def oracle_price(self, oracle_address: bytes, feed_asset: AssetId) -> OraclePrice:
        return self._observe("oracle_price", self.inner.oracle_price, oracle_address, feed_asset)

    # `ChainHistory`, when the wrapped backend tells it (the devnet and Blockfrost do)

    def transaction(self, tx_id: bytes) -> ChainTransaction | None:
        return self._observe("transaction", self._history().transaction, tx_id)

    def spending_transaction(self, ref: OutRef) -> ChainTransaction | None:
        return self._observe("spending_transaction", self._history().spending_transaction, ref)

    def _history(self) -> ChainHistory:
        if not isinstance(self.inner, ChainHistory):
            raise ChainError(f"{type(self.inner).__name__} cannot tell transaction history")
        return self.inner


__all__ = ["ChainObserver", "InstrumentedBackend"]
