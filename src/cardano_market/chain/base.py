"""The `ChainBackend` interface every layer above the chain talks to.

The devnet emulator (embedded default) and Blockfrost (preview, preprod, mainnet) implement it, so
the same builders, batcher and service run offline and on a real network. UTxOs come back as the
domain's `Utxo` (exact output bytes kept), parameters as `ProtocolParameters`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..domain.cip30 import OutRef, Utxo
from ..domain.errors import MarketError
from ..domain.params import ProtocolParameters
from ..domain.values import AssetId
from ..ledger.exunits import ExUnits, RedeemerKey


class ChainError(MarketError):
    """The chain backend could not answer (network, rate limit, malformed response)."""


class SubmitError(ChainError):
    """The ledger (or node) rejected a transaction; `rule` names the failed ledger rule.

    `trace` holds the script's trace messages when the rule is `ScriptFailure`.
    """

    def __init__(self, message: str, rule: str | None = None, trace: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.rule = rule
        self.trace = list(trace)


class EvaluationError(ChainError):
    """A script failed during evaluation; `trace` holds its trace messages."""

    def __init__(self, message: str, trace: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.trace = list(trace)


@dataclass(frozen=True, slots=True)
class Tip:
    slot: int
    time_ms: int  # POSIX milliseconds of the slot's start
    epoch: int
    block_height: int = 0


class TxState(enum.StrEnum):
    UNKNOWN = "unknown"
    IN_MEMPOOL = "in_mempool"
    CONFIRMED = "confirmed"


@dataclass(frozen=True, slots=True)
class TxStatus:
    state: TxState
    depth: int = 0  # confirmations, when confirmed
    slot: int | None = None
    block_height: int | None = None


@dataclass(frozen=True, slots=True)
class OraclePrice:
    """A Charli3-shaped price feed reading (PROTOCOL section 1)."""

    price: int  # USD x 10^6 per whole currency token
    valid_from_ms: int
    valid_to_ms: int
    utxo: Utxo


@runtime_checkable
class ChainBackend(Protocol):
    """What the application needs from a chain. All amounts are integers in base units."""

    network_id: int  # 1 mainnet, 0 testnets and the devnet

    def protocol_parameters(self) -> ProtocolParameters: ...

    def tip(self) -> Tip: ...

    def slot_to_posix_ms(self, slot: int) -> int: ...

    def posix_ms_to_slot(self, time_ms: int) -> int: ...

    def utxos_at(self, address: bytes) -> list[Utxo]: ...

    def utxos_by_ref(self, refs: Iterable[OutRef]) -> list[Utxo]:
        """The unspent ones among `refs` (spent or unknown refs are simply absent)."""
        ...

    def utxos_with_asset(self, address: bytes, asset: AssetId) -> list[Utxo]: ...

    def submit(self, tx: bytes) -> bytes:
        """Submit a signed transaction; returns its id. Idempotent for the same bytes."""
        ...

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        """Ex-units per redeemer; `additional_utxos` resolve inputs not yet on chain (chaining)."""
        ...

    def tx_status(self, tx_id: bytes) -> TxStatus: ...

    def oracle_price(self, oracle_address: bytes, feed_asset: AssetId) -> OraclePrice:
        """The price datum of the UTxO at `oracle_address` holding the feed NFT `feed_asset`."""
        ...
