"""The witness set's redeemers (key 5), read and written once: tag, index, data, ex-units.

The devnet's ledger rules, its script context, the chain history's classifier and the builders
all read or write redeemers through these functions. Both Conway forms are read: the list
`[+ [tag, index, data, ex_units]]` and the map `{+ [tag, index] => [data, ex_units]}`; the
builders write the map form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2

from ..domain.cbor import encode_head
from ..domain.errors import CborError
from .exunits import ExUnits, RedeemerKey

REDEEMER_TAGS = ("spend", "mint", "cert", "reward", "vote", "propose")
"""Purpose names by their CBOR tag number (0 spend, 1 mint, ...)."""

SPEND, MINT = 0, 1
"""The tag numbers of the two purposes the builders write."""

TAG_NUMBERS = {name: number for number, name in enumerate(REDEEMER_TAGS)}


@dataclass(frozen=True, slots=True)
class Redeemer:
    tag: str  # one of REDEEMER_TAGS
    index: int
    mem: int
    steps: int
    data: Any = field(default=None, compare=False)
    """The redeemer's Plutus data as cbor2 decodes it (not compared: it may be unhashable)."""

    @property
    def key(self) -> RedeemerKey:
        return (self.tag, self.index)

    @property
    def ex_units(self) -> ExUnits:
        return ExUnits(self.mem, self.steps)


def read_redeemers(raw: bytes) -> list[Redeemer]:
    """Witness key 5 in written order; CborError when malformed or a key appears twice."""
    decoded = _load(raw)
    entries: list[tuple[Any, Any, Any, Any]] = []
    if isinstance(decoded, list):  # [+ [tag, index, data, ex_units]]
        for item in decoded:
            if not isinstance(item, list) or len(item) != 4:
                raise CborError("a redeemer must be [tag, index, data, ex_units]")
            entries.append((item[0], item[1], item[2], item[3]))
    elif isinstance(decoded, dict):  # {+ [tag, index] => [data, ex_units]}
        for key, item in decoded.items():
            if not isinstance(key, (list, tuple)) or len(key) != 2:
                raise CborError("a redeemer key must be [tag, index]")
            if not isinstance(item, list) or len(item) != 2:
                raise CborError("a redeemer value must be [data, ex_units]")
            entries.append((key[0], key[1], item[0], item[1]))
    else:
        raise CborError("redeemers must be an array or a map")
    out: list[Redeemer] = []
    seen: set[RedeemerKey] = set()
    for tag, index, data, units in entries:
        if type(tag) is not int or not 0 <= tag < len(REDEEMER_TAGS):
            raise CborError(f"unknown redeemer tag {tag!r}")
        if type(index) is not int or index < 0:
            raise CborError("a redeemer index must be a uint")
        if (
            not isinstance(units, list)
            or len(units) != 2
            or not all(type(u) is int and u >= 0 for u in units)
        ):
            raise CborError("redeemer ex-units must be [mem, steps]")
        redeemer = Redeemer(REDEEMER_TAGS[tag], index, units[0], units[1], data)
        if redeemer.key in seen:
            raise CborError(f"two redeemers for {redeemer.tag} {redeemer.index}")
        seen.add(redeemer.key)
        out.append(redeemer)
    return out


def encode_redeemers(redeemers: Sequence[tuple[RedeemerKey, bytes, ExUnits]]) -> bytes:
    """The map form `{[tag, index]: [data, [mem, steps]]}` of (key, data CBOR, units) entries,
    in the order given; each datum's bytes are kept exactly."""
    return encode_head(5, len(redeemers)) + b"".join(
        cbor2.dumps([TAG_NUMBERS[key[0]], key[1]])
        + b"\x82"
        + data
        + cbor2.dumps([units.mem, units.steps])
        for key, data, units in redeemers
    )


def _load(raw: bytes) -> Any:
    try:
        return cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"redeemers is not well-formed CBOR: {exc}") from exc
