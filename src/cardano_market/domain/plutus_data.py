"""Plutus data in CBOR: the encoder that writes the deployed server's exact bytes, the strict
decoder that names the bad field, and `PlutusRecord`, the base of every datum record.

Encoding choice: definite-length arrays and maps, byte strings over 64 bytes in 64-byte chunks (the
ledger's rule). Decoding accepts either array form, every constructor tag form (121..127,
1280..1400, 102 [ix, fields]) and big-integer tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import cbor2

from .address import HASH_SIZE
from .cbor import encode_head, item_end
from .errors import CborError, DatumError

_CHUNK = 64
_MAX_UINT64 = 2**64 - 1

CONSTR_TAG_0 = 121
"""Constructors 0..6 are CBOR tags 121..127."""
CONSTR_TAG_7 = 1280
"""Constructors 7..127 are CBOR tags 1280..1400."""
CONSTR_TAG_GENERAL = 102
"""Any constructor: tag 102 over `[index, fields]`."""


# -- Plutus data encoding -------------------------------------------------------------------------


def constr(index: int, fields: Sequence[Any]) -> cbor2.CBORTag:
    """Plutus `Constr index fields` in the CBOR data model (tag 121+i, 1280+(i-7) or 102)."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise DatumError(f"constructor index must be a non-negative int, got {index!r}")
    if index <= 6:
        return cbor2.CBORTag(CONSTR_TAG_0 + index, list(fields))
    if index <= 127:
        return cbor2.CBORTag(CONSTR_TAG_7 + index - 7, list(fields))
    return cbor2.CBORTag(CONSTR_TAG_GENERAL, [index, list(fields)])


def encode_plutus(data: Any) -> bytes:
    """CBOR of Plutus data: definite-length arrays and maps, long byte strings in 64-byte chunks.

    `data` is the CBOR data model: int, bytes, list, dict or a constructor `cbor2.CBORTag`.
    """
    out = bytearray()
    _encode(data, out)
    return bytes(out)


def _encode(data: Any, out: bytearray) -> None:
    if isinstance(data, cbor2.CBORTag):
        _constructor_index(data, "Plutus data")  # only constructor tags are Plutus data
        out += encode_head(6, data.tag)
        _encode(data.value, out)
    elif isinstance(data, bool):
        raise DatumError("a bool is not Plutus data")
    elif isinstance(data, int):
        _encode_int(data, out)
    elif isinstance(data, (bytes, bytearray)):
        _encode_bytes(bytes(data), out)
    elif isinstance(data, (list, tuple)):
        out += encode_head(4, len(data))
        for item in data:
            _encode(item, out)
    elif isinstance(data, dict):
        out += encode_head(5, len(data))
        for key, value in data.items():
            _encode(key, out)
            _encode(value, out)
    else:
        raise DatumError(f"a {type(data).__name__} is not Plutus data")


def _encode_int(value: int, out: bytearray) -> None:
    if 0 <= value <= _MAX_UINT64:
        out += encode_head(0, value)
    elif -(2**64) <= value < 0:
        out += encode_head(1, -1 - value)
    else:  # bignum: tag 2 (positive) or 3 (negative, -1 - n) over a byte string, chunked like bytes
        magnitude = value if value > 0 else -1 - value
        out += encode_head(6, 2 if value > 0 else 3)
        _encode_bytes(magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big"), out)


def _encode_bytes(data: bytes, out: bytearray) -> None:
    if len(data) <= _CHUNK:
        out += encode_head(2, len(data))
        out += data
        return
    out.append(0x5F)  # indefinite-length byte string of definite 64-byte chunks
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        out += encode_head(2, len(chunk))
        out += chunk
    out.append(0xFF)


# -- Plutus data decoding -------------------------------------------------------------------------


def load_plutus(data: bytes | str, what: str = "datum") -> Any:
    """The CBOR data model of Plutus data given as bytes or hex; one item, nothing after it."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data)
        except ValueError:
            raise DatumError(f"{what} is not valid hex") from None
    try:
        end = item_end(data)
    except CborError as exc:
        raise DatumError(f"{what} is not well-formed CBOR: {exc}") from None
    if end != len(data):
        raise DatumError(f"{what} has {len(data) - end} bytes after its CBOR item")
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise DatumError(f"{what} is not well-formed CBOR: {exc}") from None


def constr_of(obj: Any, where: str) -> tuple[int, list[Any]]:
    """(constructor index, fields) of a decoded Plutus constructor in any tag form."""
    if not isinstance(obj, cbor2.CBORTag):
        raise DatumError(f"{where} must be a Plutus constructor, got {kind_of(obj)}")
    index = _constructor_index(obj, where)
    fields = obj.value[1] if obj.tag == CONSTR_TAG_GENERAL else obj.value
    if not isinstance(fields, (list, tuple)):
        raise DatumError(f"{where} constructor fields must be an array, got {kind_of(fields)}")
    return index, list(fields)


def _constructor_index(tag: Any, where: str) -> int:
    number = tag.tag
    if CONSTR_TAG_0 <= number <= CONSTR_TAG_0 + 6:
        return int(number - CONSTR_TAG_0)
    if CONSTR_TAG_7 <= number <= CONSTR_TAG_7 + 120:
        return int(number - CONSTR_TAG_7 + 7)
    if number == CONSTR_TAG_GENERAL:
        value = tag.value
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or isinstance(value[0], bool)
            or not isinstance(value[0], int)
            or value[0] < 0
        ):
            raise DatumError(f"{where} tag 102 must hold [index, fields]")
        return int(value[0])
    raise DatumError(f"{where} has CBOR tag {number}, which is not a Plutus constructor")


def read_fields(obj: Any, where: str, count: int, index: int = 0) -> list[Any]:
    ix, fields = constr_of(obj, where)
    if ix != index:
        raise DatumError(f"{where} must be constructor {index}, got constructor {ix}")
    if len(fields) != count:
        raise DatumError(f"{where} must have {count} fields, got {len(fields)}")
    return fields


def read_int(obj: Any, where: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise DatumError(f"{where} must be an integer, got {kind_of(obj)}")
    return obj


def read_bytes(
    obj: Any, where: str, sizes: tuple[int, ...] | None = None, max_size: int | None = None
) -> bytes:
    if not isinstance(obj, bytes):
        raise DatumError(f"{where} must be a byte string, got {kind_of(obj)}")
    if sizes is not None and len(obj) not in sizes:
        allowed = " or ".join(str(s) for s in sizes)
        raise DatumError(f"{where} must be {allowed} bytes, got {len(obj)}")
    if max_size is not None and len(obj) > max_size:
        raise DatumError(f"{where} must be at most {max_size} bytes, got {len(obj)}")
    return obj


def read_hash(obj: Any, where: str) -> bytes:
    return read_bytes(obj, where, (HASH_SIZE,))


def read_list(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, (list, tuple)):
        raise DatumError(f"{where} must be a list, got {kind_of(obj)}")
    return list(obj)


def kind_of(obj: Any) -> str:
    if isinstance(obj, cbor2.CBORTag):
        return f"CBOR tag {obj.tag}"
    return {
        bytes: "a byte string",
        int: "an integer",
        list: "a list",
        tuple: "a list",
        dict: "a map",
        bool: "a bool",
    }.get(type(obj), type(obj).__name__)


# -- records --------------------------------------------------------------------------------------


class PlutusRecord:
    """Shared CBOR plumbing: subclasses define `to_plutus` and `from_plutus`."""

    __slots__ = ()

    def to_plutus(self) -> cbor2.CBORTag:
        raise NotImplementedError

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        raise NotImplementedError

    def to_cbor(self) -> bytes:
        return encode_plutus(self.to_plutus())

    def to_cbor_hex(self) -> str:
        return self.to_cbor().hex()

    @classmethod
    def from_cbor(cls, data: bytes | str) -> Self:
        return cls.from_plutus(load_plutus(data, cls.__name__))
