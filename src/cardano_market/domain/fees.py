"""Minimum fee and minimum ADA: the ledger's formulas, written once for builders and the devnet.

- fee = min_fee_a * size + min_fee_b + ceil(price_mem * mem + price_step * steps)
        + tiered reference-script fee (Conway: each 25,600-byte tier costs 1.2x the one before)
- min-ADA of an output = (160 + size of the serialized output) * coins_per_utxo_byte (Babbage)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction

import cbor2

from .cbor import split_array
from .cip30 import Utxo
from .errors import CborError
from .params import ProtocolParameters

# The ledger adds this many bytes per output to account for the UTxO entry's overhead.
UTXO_ENTRY_OVERHEAD = 160


def script_fee(params: ProtocolParameters, mem: int, steps: int) -> int:
    """Execution cost of the given total ex-units, rounded up once over the sum (as the ledger)."""
    if mem == 0 and steps == 0:
        return 0
    return math.ceil(params.price_mem * mem + params.price_step * steps)


def ref_script_fee(params: ProtocolParameters, ref_script_size: int) -> int:
    """Conway's tiered fee for the total size of reference scripts a transaction uses."""
    if ref_script_size <= 0:
        return 0
    acc = Fraction(0)
    price = params.min_fee_ref_script_cost_per_byte
    remaining = ref_script_size
    tier = params.ref_script_tier_size
    while remaining >= tier:
        acc += tier * price
        price *= params.ref_script_tier_multiplier
        remaining -= tier
    return math.floor(acc + remaining * price)


def min_fee(
    params: ProtocolParameters,
    tx_size: int,
    *,
    mem: int = 0,
    steps: int = 0,
    ref_script_size: int = 0,
) -> int:
    """The smallest fee the ledger accepts for a `tx_size`-byte transaction (witnesses included)."""
    return (
        params.min_fee_a * tx_size
        + params.min_fee_b
        + script_fee(params, mem, steps)
        + ref_script_fee(params, ref_script_size)
    )


def min_ada(params: ProtocolParameters, output_size: int) -> int:
    """Minimum lovelace for an output whose serialized form is `output_size` bytes."""
    return (UTXO_ENTRY_OVERHEAD + output_size) * params.coins_per_utxo_byte


def min_ada_fixed_point(
    params: ProtocolParameters, encode: Callable[[int], bytes], at_least: int = 0
) -> int:
    """Smallest coin >= `at_least` that covers the min-ADA of the output `encode(coin)`.

    The output's size depends on how many bytes its own coin takes, so iterate to the fixed point
    (at most a few rounds: a uint's encoded length changes only at 2^8, 2^16, 2^32 boundaries).
    """
    coin = at_least
    while True:
        needed = min_ada(params, len(encode(coin)))
        if coin >= needed:
            return coin
        coin = needed


def script_ref_size(script_ref: bytes) -> int:
    """The bytes the reference-script fee counts for one script reference `[type, script]`: a
    Plutus script's serialized form (its CBOR byte string's content), a native script's CBOR."""
    spans, _end = split_array(script_ref)
    if len(spans) != 2:
        raise CborError("a script reference must be [type, script]")
    language = cbor2.loads(script_ref[spans[0][0] : spans[0][1]])
    script = script_ref[spans[1][0] : spans[1][1]]
    if language == 0:
        return len(script)
    body = cbor2.loads(script)
    if not isinstance(body, bytes):
        raise CborError("a Plutus script reference must hold a byte string")
    return len(body)


def reference_scripts_size(utxos: Iterable[Utxo]) -> int:
    """Conway's count for the reference-script fee: the script references of the spent and
    referenced UTxOs, each out-ref once (builders and the devnet ledger both use this)."""
    seen: dict[tuple[bytes, int], int] = {}
    for utxo in utxos:
        if utxo.script_ref is not None and utxo.out_ref not in seen:
            seen[utxo.out_ref] = script_ref_size(utxo.script_ref)
    return sum(seen.values())
