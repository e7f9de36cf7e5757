"""Chain history: the transactions behind the UTxO set, for the monitor that follows the contracts.

`ChainBackend` answers what is unspent now; a monitor also needs to know what spent an output it
saw before (a purchase, a refund, a cancel, a sale's end). `ChainHistory` is that extra face, and
`ChainTransaction` is one transaction cut into what a classifier reads: inputs, reference inputs,
outputs (exact bytes kept), mints, required signers and, per spent input, its redeemer's
constructor index. The devnet reads its own transaction table; Blockfrost `/txs/{hash}/cbor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import cbor2

from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import constr_of
from ..domain.errors import CborError, DatumError
from ..domain.values import AssetId

SPEND_TAG = 0


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
    from .devnet.parse import parse_transaction  # a pure reader; keeps the devnet lazy

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
        spend_redeemers=_spend_redeemers(parsed.redeemers_raw, parsed.inputs),
        is_valid=parsed.is_valid,
    )


def _spend_redeemers(raw: bytes | None, inputs: list[OutRef]) -> dict[OutRef, int | None]:
    """Spend redeemers by input: list form `[tag, index, data, units]` or map form
    `{[tag, index]: [data, units]}`; the index counts inputs in ledger order."""
    if raw is None:
        return {}
    try:
        decoded = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"the redeemers are not well-formed CBOR: {exc}") from exc
    if isinstance(decoded, cbor2.CBORTag):
        decoded = decoded.value
    entries: list[tuple[Any, Any, Any]] = []
    if isinstance(decoded, Mapping):
        entries = [(key[0], key[1], value[0]) for key, value in decoded.items()]
    elif isinstance(decoded, list):
        entries = [(item[0], item[1], item[2]) for item in decoded]
    found: dict[OutRef, int | None] = {}
    for tag, index, data in entries:
        if tag != SPEND_TAG or not isinstance(index, int) or not 0 <= index < len(inputs):
            continue
        found[inputs[index]] = _constructor(data)
    return found


def _constructor(data: Any) -> int | None:
    try:
        return constr_of(data, "redeemer")[0]
    except DatumError:
        return None
