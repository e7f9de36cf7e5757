"""CIP-30 `TransactionUnspentOutput`: `[[txHash, ix], output]`, decoded fast, kept byte-for-byte.

The output may be a legacy array `[addr, amount(, datumHash)]` or a post-Alonzo map
`{0: addr, 1: amount, 2: datum_option, 3: script_ref}`. We decode it with cbor2 (C extension) and
keep the exact output bytes so that re-encoding, and any datum or script reference inside, is
byte-identical to what the wallet sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import cbor2

from .cbor import item_end, reject_duplicate_keys
from .errors import CborError
from .values import Value

_TX_ID_SIZE = 32
_MAX_INDEX = 2**16


class OutRef(NamedTuple):
    """(transaction id, output index): a tuple, so `(tx_id, index)` compares equal to it.

    `str(ref)` is the `txhash#index` form every message and setting uses; `OutRef.parse` reads it.
    """

    tx_hash: bytes
    output_index: int

    def __str__(self) -> str:
        return f"{self.tx_hash.hex()}#{self.output_index}"

    @classmethod
    def of(cls, ref: tuple[bytes, int]) -> OutRef:
        """`ref` as an OutRef (a plain `(tx_id, index)` tuple from older code or the store)."""
        return ref if isinstance(ref, OutRef) else cls(ref[0], ref[1])

    @classmethod
    def parse(cls, text: str) -> OutRef:
        """`txhash#index` (64 hex digits, a decimal index) as an out-ref; ValueError otherwise."""
        tx_hash, sep, index = text.strip().partition("#")
        try:
            parsed = (bytes.fromhex(tx_hash), int(index))
        except ValueError:
            parsed = (b"", -1)
        if (
            not sep
            or len(parsed[0]) != _TX_ID_SIZE
            or not 0 <= parsed[1] < _MAX_INDEX
            or not index.isdigit()
        ):
            raise ValueError(f"must be txhash#index (64 hex digits, # and an index), got {text!r}")
        return cls(*parsed)


@dataclass(frozen=True, slots=True)
class Utxo:
    tx_hash: bytes
    index: int
    address: bytes
    value: Value
    output_cbor: bytes
    datum_hash: bytes | None = None
    inline_datum: bytes | None = None  # the datum's CBOR exactly as inside tag 24
    script_ref: bytes | None = None  # the script reference's CBOR exactly as inside tag 24

    @property
    def out_ref(self) -> OutRef:
        return OutRef(self.tx_hash, self.index)

    def to_cbor(self) -> bytes:
        """Re-encode as a CIP-30 TransactionUnspentOutput; the output bytes are the original."""
        return _input_prefix(self) + self.output_cbor

    def to_cbor_hex(self) -> str:
        return self.to_cbor().hex()

    def check_no_duplicate_keys(self, where: str = "utxo") -> None:
        """Reject an output whose map holds a repeated key (cbor2 keeps only the last one).

        `parse_utxos` leaves this out for speed; the builder runs it on the UTxOs it spends.
        """
        reject_duplicate_keys(self.output_cbor, cbor2.loads(self.output_cbor), f"{where} output")

    @classmethod
    def from_cbor(
        cls, data: bytes | str, where: str = "utxo", *, check_duplicates: bool = True
    ) -> Utxo:
        if isinstance(data, str):
            try:
                data = bytes.fromhex(data)
            except ValueError as exc:
                raise CborError(f"{where} is not valid hex") from exc
        try:
            obj = cbor2.loads(data)
        except Exception as exc:
            raise CborError(f"{where} is not well-formed CBOR: {exc}") from exc
        if not isinstance(obj, list) or len(obj) != 2:
            raise CborError(f"{where} must be a [input, output] array")
        tx_in, output = obj
        if (
            not isinstance(tx_in, list)
            or len(tx_in) != 2
            or not isinstance(tx_in[0], bytes)
            or len(tx_in[0]) != 32
            or not isinstance(tx_in[1], int)
            or isinstance(tx_in[1], bool)
            or not 0 <= tx_in[1] < 2**16
        ):
            raise CborError(f"{where} input must be [32-byte tx hash, output index]")
        if data[0] != 0x82:
            raise CborError(f"{where} must be a definite 2-element array")
        output_cbor = data[_output_start(data) :]
        if check_duplicates:
            reject_duplicate_keys(output_cbor, output, f"{where} output")
        return _from_output(tx_in[0], tx_in[1], output, output_cbor, where)


def _output_start(data: bytes) -> int:
    """Where the output begins: right after `[h'<32 bytes>', ix]` in the usual encoding."""
    if data[1:4] == b"\x82\x58\x20":
        head = data[36]
        if head < 0x18:
            return 37
        if head == 0x18:
            return 38
        if head == 0x19:
            return 39
    return item_end(data, 1)


def _input_prefix(utxo: Utxo) -> bytes:
    return b"\x82" + cbor2.dumps([utxo.tx_hash, utxo.index])


def _from_output(tx_hash: bytes, index: int, output: Any, output_cbor: bytes, where: str) -> Utxo:
    datum_hash = inline = script_ref = None
    if isinstance(output, list):
        if len(output) not in (2, 3):
            raise CborError(f"{where} legacy output must be [address, amount(, datum hash)]")
        address, amount = output[0], output[1]
        if len(output) == 3:
            datum_hash = output[2]
            if not isinstance(datum_hash, bytes) or len(datum_hash) != 32:
                raise CborError(f"{where} datum hash must be 32 bytes")
    elif isinstance(output, dict):
        if 0 not in output or 1 not in output:
            raise CborError(f"{where} output map needs keys 0 (address) and 1 (amount)")
        address, amount = output[0], output[1]
        option = output.get(2)
        if option is not None:
            datum_hash, inline = _datum_option(option, where)
        ref = output.get(3)
        if ref is not None:
            if (
                not isinstance(ref, cbor2.CBORTag)
                or ref.tag != 24
                or not isinstance(ref.value, bytes)
            ):
                raise CborError(f"{where} script reference must be tag 24 over bytes")
            script_ref = ref.value
    else:
        raise CborError(f"{where} output must be an array or a map")
    if not isinstance(address, bytes) or not address:
        raise CborError(f"{where} address must be non-empty bytes")
    value = Value.from_primitive(amount, f"{where} amount")
    return Utxo(tx_hash, index, address, value, output_cbor, datum_hash, inline, script_ref)


def _datum_option(option: Any, where: str) -> tuple[bytes | None, bytes | None]:
    if not isinstance(option, list) or len(option) != 2 or option[0] not in (0, 1):
        raise CborError(f"{where} datum option must be [0, hash] or [1, tag24 datum]")
    if option[0] == 0:
        if not isinstance(option[1], bytes) or len(option[1]) != 32:
            raise CborError(f"{where} datum hash must be 32 bytes")
        return option[1], None
    tagged = option[1]
    if (
        not isinstance(tagged, cbor2.CBORTag)
        or tagged.tag != 24
        or not isinstance(tagged.value, bytes)
    ):
        raise CborError(f"{where} inline datum must be tag 24 over bytes")
    return None, tagged.value


def parse_utxos(hex_list: Iterable[str], field: str = "utxoCborHexList") -> list[Utxo]:
    """Decode a CIP-30 `getUtxos` result; errors name the list element that is wrong.

    Duplicate-key checks are left to the builder, for the UTxOs it actually spends.
    """
    utxos: list[Utxo] = []
    for i, h in enumerate(hex_list):
        try:
            utxos.append(Utxo.from_cbor(h, check_duplicates=False))
        except CborError:
            Utxo.from_cbor(h, f"{field}[{i}]")  # again, for an error that names the element
            raise
    return utxos
