"""Transaction body and transaction envelope encoding.

We write the body ourselves (a handful of cbor2 calls and byte joins) so that building is fast and
the bytes we hand out are exactly the bytes we hashed. Body keys are emitted in ascending order;
inputs in ledger order (tx id bytes, then index), which is also the order redeemers index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cbor2

from ..domain.cbor import encode_head
from ..domain.cip30 import OutRef
from ..domain.errors import CborError
from ..domain.hashes import blake2b_256

EMPTY_WITNESS_SET = b"\xa0"
SET_TAG = b"\xd9\x01\x02"  # #6.258


def sort_inputs(inputs: Iterable[OutRef]) -> list[OutRef]:
    return sorted(inputs)


def encode_inputs(inputs: Sequence[OutRef]) -> bytes:
    """A tag-258 set (Conway form): CSL, and so most wallets, write and price inputs this way."""
    return (
        SET_TAG
        + encode_head(4, len(inputs))
        + b"".join(b"\x82\x58\x20" + tx_hash + cbor2.dumps(index) for tx_hash, index in inputs)
    )


def encode_body(
    inputs: Sequence[OutRef],
    outputs: Sequence[bytes],
    fee: int,
    ttl: int | None = None,
    extra: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """Body map {0: inputs, 1: outputs, 2: fee, 3: ttl, ...extra}; `extra` values are CBOR bytes."""
    fields: list[tuple[int, bytes]] = [
        (0, encode_inputs(inputs)),
        (1, encode_head(4, len(outputs)) + b"".join(outputs)),
        (2, cbor2.dumps(fee)),
    ]
    if ttl is not None:
        fields.append((3, cbor2.dumps(ttl)))
    fields.extend(extra)
    fields.sort(key=lambda kv: kv[0])
    return encode_head(5, len(fields)) + b"".join(cbor2.dumps(k) + v for k, v in fields)


def encode_transaction(
    body: bytes, witness_set: bytes = EMPTY_WITNESS_SET, auxiliary_data: bytes | None = None
) -> bytes:
    """Conway transaction `[body, witness_set, true, aux | null]`."""
    return b"\x84" + body + witness_set + b"\xf5" + (auxiliary_data or b"\xf6")


def body_hash(body: bytes) -> bytes:
    """The transaction id: the hash of the exact body bytes."""
    return blake2b_256(body)


def transaction_inputs(tx: bytes) -> list[OutRef]:
    """The inputs a transaction spends, in ledger order (read back, e.g. to name its pointer)."""
    try:
        decoded = cbor2.loads(tx)
        raw = decoded[0][0]
    except (cbor2.CBORDecodeError, TypeError, KeyError, IndexError) as exc:
        raise CborError(f"not a transaction with inputs: {exc}") from None
    if isinstance(raw, cbor2.CBORTag):
        raw = raw.value
    try:
        refs = [OutRef(bytes(tx_hash), int(index)) for tx_hash, index in raw]
    except (TypeError, ValueError) as exc:
        raise CborError(f"malformed transaction inputs: {exc}") from None
    return sort_inputs(refs)
