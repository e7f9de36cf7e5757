"""Plutus data as `uplc` values: small constructors and a reader from CBOR (user datums, redeemers).

The script context is built directly in uplc's data classes, so nothing is encoded to CBOR and
decoded again on the way into the evaluator. Importing this module imports `uplc`, which imports
pycardano (about 2 s): only `plutus.evaluate_scripts` imports it, lazily.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cbor2
from uplc.ast import (
    PlutusByteString,
    PlutusConstr,
    PlutusData,
    PlutusInteger,
    PlutusList,
    PlutusMap,
)

from ...domain.errors import DatumError
from ...domain.plutus_data import CONSTR_TAG_0, CONSTR_TAG_7, CONSTR_TAG_GENERAL

__all__ = [
    "FALSE",
    "NOTHING",
    "TRUE",
    "PlutusData",
    "bstr",
    "constr",
    "data_from_cbor",
    "data_from_object",
    "dlist",
    "dmap",
    "integer",
    "just",
    "maybe",
]


def constr(index: int, *fields: PlutusData) -> PlutusData:
    return PlutusConstr(index, list(fields))


def integer(value: int) -> PlutusData:
    return PlutusInteger(value)


def bstr(value: bytes) -> PlutusData:
    return PlutusByteString(value)


def dlist(items: Iterable[PlutusData]) -> PlutusData:
    return PlutusList(list(items))


def dmap(pairs: Iterable[tuple[PlutusData, PlutusData]]) -> PlutusData:
    """A Plutus map keeping the given order (the ledger's order is the caller's job)."""
    return PlutusMap(dict(pairs))


def just(value: PlutusData) -> PlutusData:
    return PlutusConstr(0, [value])


NOTHING: PlutusData = PlutusConstr(1, [])
FALSE: PlutusData = PlutusConstr(0, [])
TRUE: PlutusData = PlutusConstr(1, [])


def maybe(value: PlutusData | None) -> PlutusData:
    return NOTHING if value is None else just(value)


def data_from_cbor(raw: bytes, what: str = "Plutus data") -> PlutusData:
    """Plutus data from its CBOR bytes (a datum or redeemer exactly as written)."""
    try:
        obj = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise DatumError(f"{what} is not well-formed CBOR: {exc}") from exc
    return data_from_object(obj, what)


def data_from_object(obj: Any, what: str = "Plutus data") -> PlutusData:
    """Plutus data from the cbor2 data model (map keys may come back as tuples or frozen dicts)."""
    if isinstance(obj, bool) or obj is None:
        raise DatumError(f"{what} holds {obj!r}, which is not Plutus data")
    if isinstance(obj, int):
        return PlutusInteger(obj)
    if isinstance(obj, bytes):
        return PlutusByteString(obj)
    if isinstance(obj, (list, tuple)):
        return PlutusList([data_from_object(x, what) for x in obj])
    if isinstance(obj, Mapping):
        return PlutusMap(
            {data_from_object(k, what): data_from_object(v, what) for k, v in obj.items()}
        )
    if isinstance(obj, cbor2.CBORTag):
        return _constr_from_tag(obj, what)
    raise DatumError(f"{what} holds a {type(obj).__name__}, which is not Plutus data")


def _constr_from_tag(tag: cbor2.CBORTag, what: str) -> PlutusData:
    number, value = tag.tag, tag.value
    if CONSTR_TAG_0 <= number <= CONSTR_TAG_0 + 6:
        index, fields = number - CONSTR_TAG_0, value
    elif CONSTR_TAG_7 <= number <= CONSTR_TAG_7 + 120:
        index, fields = number - CONSTR_TAG_7 + 7, value
    elif number == CONSTR_TAG_GENERAL and isinstance(value, (list, tuple)) and len(value) == 2:
        index, fields = value
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise DatumError(f"{what} has a tag-102 constructor with a bad index {index!r}")
    else:
        raise DatumError(f"{what} has CBOR tag {number}, which is not a Plutus constructor")
    if not isinstance(fields, (list, tuple)):
        raise DatumError(f"{what} constructor fields must be an array")
    return PlutusConstr(index, [data_from_object(x, what) for x in fields])
