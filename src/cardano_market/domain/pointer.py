"""A sale's pointer-token asset name (PROTOCOL section 5), derived from the start transaction.

The name is unique because it commits to an input that the start transaction consumes:
`(prefix || byte(ix) || sha3_256(txid))[0:32]` with `(txid, ix)` the first input in ledger order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .datums import POINTER_NAME_SIZE
from .errors import PointerError

POINTER_PREFIX = bytes.fromhex("ca11ab1e")
TX_ID_SIZE = 32


def pointer_asset_name(
    inputs: Iterable[tuple[bytes, int]], prefix: bytes = POINTER_PREFIX
) -> bytes:
    """The 32-byte pointer name for a transaction spending `inputs` (any order)."""
    refs = list(inputs)
    if not refs:
        raise PointerError("a pointer name needs at least one transaction input")
    for tx_id, index in refs:
        if not isinstance(tx_id, bytes) or len(tx_id) != TX_ID_SIZE:
            raise PointerError(f"input transaction id must be {TX_ID_SIZE} bytes, got {tx_id!r}")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise PointerError(f"input index must be a non-negative int, got {index!r}")
    if len(prefix) >= POINTER_NAME_SIZE:
        raise PointerError(f"pointer prefix must be shorter than {POINTER_NAME_SIZE} bytes")
    tx_id, index = min(refs)  # ledger order: transaction id bytes, then output index
    if index > 255:
        raise PointerError(
            f"the first input in ledger order ({tx_id.hex()}#{index}) has an output index above "
            "255, which the one-byte pointer name cannot hold; start the sale from another input"
        )
    name = prefix + bytes([index]) + hashlib.sha3_256(tx_id).digest()
    return name[:POINTER_NAME_SIZE]
