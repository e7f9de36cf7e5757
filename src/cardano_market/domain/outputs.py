"""Transaction outputs and their minimum ADA.

An output with an inline datum or a script reference takes the post-Alonzo map form
`{0: address, 1: value, 2: [1, #6.24(datum)], 3: #6.24(script_ref)}`; any other takes the legacy
array `[address, value(, datum_hash)]`, two bytes shorter, as cardano-serialization-lib writes it
(so the size, the fee and the min-ADA we compute are the ones wallets compute). Datum and script
bytes are embedded as given, never re-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2

from .cbor import encode_head
from .fees import min_ada_fixed_point
from .params import ProtocolParameters
from .values import Value


@dataclass(frozen=True, slots=True)
class TxOutput:
    address: bytes
    value: Value
    inline_datum: bytes | None = None  # the datum's CBOR
    datum_hash: bytes | None = None
    script_ref: bytes | None = None  # the script reference's CBOR ([type, script bytes])

    def __post_init__(self) -> None:
        if self.inline_datum is not None and self.datum_hash is not None:
            raise ValueError("an output carries an inline datum or a datum hash, not both")

    def to_cbor(self) -> bytes:
        value = cbor2.dumps(self.value.to_primitive())
        if self.inline_datum is None and self.script_ref is None:
            if self.datum_hash is None:
                return b"\x82" + _bytes(self.address) + value
            return b"\x83" + _bytes(self.address) + value + _bytes(self.datum_hash)
        entries = 2
        parts = [b"\x00", _bytes(self.address), b"\x01", value]
        if self.inline_datum is not None:
            entries += 1
            parts += [b"\x02\x82\x01\xd8\x18", _bytes(self.inline_datum)]
        elif self.datum_hash is not None:
            entries += 1
            parts += [b"\x02\x82\x00", _bytes(self.datum_hash)]
        if self.script_ref is not None:
            entries += 1
            parts += [b"\x03\xd8\x18", _bytes(self.script_ref)]
        return encode_head(5, entries) + b"".join(parts)

    def with_coin(self, coin: int) -> TxOutput:
        return TxOutput(
            self.address,
            self.value.with_coin(coin),
            self.inline_datum,
            self.datum_hash,
            self.script_ref,
        )

    def min_ada(self, params: ProtocolParameters) -> int:
        """The minimum lovelace this output needs (its own coin's size taken into account)."""
        return min_ada_fixed_point(params, lambda coin: self.with_coin(coin).to_cbor())

    def with_min_ada(self, params: ProtocolParameters) -> TxOutput:
        """This output with its coin raised to the minimum when below it."""
        coin = min_ada_fixed_point(
            params, lambda c: self.with_coin(c).to_cbor(), at_least=self.value.coin
        )
        return self if coin == self.value.coin else self.with_coin(coin)


def _bytes(raw: bytes) -> bytes:
    return encode_head(2, len(raw)) + raw
