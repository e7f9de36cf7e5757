"""The interfaces every layer above the chain talks to: `ChainBackend` and `ChainHistory`.

The devnet emulator (embedded default) and Blockfrost (preview, preprod, mainnet) implement them,
so the same builders, batcher and service run offline and on a real network. UTxOs come back as
the domain's `Utxo` (exact output bytes kept), parameters as `ProtocolParameters`.

`ChainBackend` answers what is unspent now; a monitor also needs to know what spent an output it
saw before (a purchase, a refund, a cancel, a sale's end). `ChainHistory` is that extra face, and
`ChainTransaction` is one transaction cut into what a classifier reads: inputs, reference inputs,
outputs (exact bytes kept), mints, required signers and, per spent input, its redeemer's
constructor index. The devnet reads its own transaction table; Blockfrost `/txs/{hash}/cbor`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..domain.cip30 import OutRef, Utxo
from ..domain.errors import DatumError, MarketError
from ..domain.params import ProtocolParameters
from ..domain.plutus_data import constr_of
from ..domain.values import AssetId
from ..ledger.exunits import ExUnits, RedeemerKey
from ..ledger.parse import parse_transaction
from ..ledger.redeemers import Redeemer


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


# -- history ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainTransaction:
    """One applied transaction; `block_height` is None while it waits in a mempool."""

    tx_id: bytes
    block_height: int | None
    slot: int | None
    inputs: list[OutRef]  # ledger order
    reference_inputs: list[OutRef]
    outputs: list[Utxo]
    mint: dict[AssetId, int] = field(default_factory=dict)  # negative: burned
    required_signers: list[bytes] = field(default_factory=list)
    spend_redeemers: dict[OutRef, int | None] = field(default_factory=dict)
    """Spent script input -> its redeemer's constructor index (None: not a constructor)."""
    is_valid: bool = True
    """False: a phase-2 failure, which spent only its collateral."""

    def spends(self, ref: OutRef) -> bool:
        return self.is_valid and ref in self.inputs

    def outputs_at(self, address: bytes) -> list[Utxo]:
        return [out for out in self.outputs if out.address == address]

    def depth(self, tip_height: int) -> int:
        """Confirmations at a tip of `tip_height` (0 in the mempool)."""
        return 0 if self.block_height is None else max(0, tip_height - self.block_height + 1)


@runtime_checkable
class ChainHistory(Protocol):
    """What a backend tells about transactions already applied."""

    def transaction(self, tx_id: bytes) -> ChainTransaction | None:
        """The transaction `tx_id` if the chain (or its mempool) has it."""
        ...

    def spending_transaction(self, ref: OutRef) -> ChainTransaction | None:
        """The transaction that spent `ref`; None while it is unspent or unknown."""
        ...


def chain_transaction(
    raw: bytes, *, block_height: int | None, slot: int | None
) -> ChainTransaction:
    """Read a Conway transaction's CBOR into a `ChainTransaction` (CborError when malformed)."""
    parsed = parse_transaction(raw)
    return ChainTransaction(
        tx_id=parsed.tx_id,
        block_height=block_height,
        slot=slot,
        inputs=list(parsed.inputs),
        reference_inputs=list(parsed.reference_inputs),
        outputs=list(parsed.outputs),
        mint=dict(parsed.mint),
        required_signers=list(parsed.required_signers),
        spend_redeemers=_spend_redeemers(parsed.redeemers, parsed.inputs),
        is_valid=parsed.is_valid,
    )


def _spend_redeemers(redeemers: list[Redeemer], inputs: list[OutRef]) -> dict[OutRef, int | None]:
    """Spent input -> its redeemer's constructor index; a spend index counts the inputs in
    ledger order."""
    found: dict[OutRef, int | None] = {}
    for redeemer in redeemers:
        if redeemer.tag != "spend" or not redeemer.index < len(inputs):
            continue
        found[inputs[redeemer.index]] = _constructor(redeemer.data)
    return found


def _constructor(data: object) -> int | None:
    try:
        return constr_of(data, "redeemer")[0]
    except DatumError:
        return None
