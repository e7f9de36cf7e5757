"""The script data hash (body key 11): blake2b-256 of redeemers || datums || language views.

Redeemer and datum bytes are the witness set's exact bytes. The language views map each Plutus
language the transaction runs to its cost model, in the Conway form: V2 and V3 as `uint => [ints]`
(definite map and list), V1 in its historical form (key and value wrapped in byte strings, the
list indefinite-length). Map keys are ordered by their encoded bytes, shorter first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cbor2

from .cbor import encode_head
from .hashes import blake2b_256

EMPTY_MAP = b"\xa0"  # Conway encodes an empty redeemer set as an empty map

_NAMES = {
    1: ("PlutusV1", "plutus:v1", "plutusV1", "PlutusScriptV1"),
    2: ("PlutusV2", "plutus:v2", "plutusV2", "PlutusScriptV2"),
    3: ("PlutusV3", "plutus:v3", "plutusV3", "PlutusScriptV3"),
}


class CostModelError(LookupError):
    """The protocol parameters hold no usable cost model for a language the transaction runs."""


def cost_model(cost_models: Mapping[str, Any], version: int) -> list[int]:
    """The raw (ordered) cost model of Plutus `version` from Blockfrost's `cost_models_raw`."""
    for name in _NAMES[version]:
        model = cost_models.get(name)
        if model is None:
            continue
        if isinstance(model, list) and all(type(v) is int for v in model):
            return model
        raise CostModelError(
            f"cost model {name} must be the raw list of integers (`cost_models_raw`), "
            f"got {type(model).__name__}"
        )
    raise CostModelError(f"the protocol parameters hold no PlutusV{version} cost model")


def language_view(version: int, model: list[int]) -> tuple[bytes, bytes]:
    """(encoded key, encoded value) of one language's entry in the language views map."""
    if version == 1:
        key = cbor2.dumps(cbor2.dumps(0))  # the key 0, serialized, as a byte string
        ints = b"\x9f" + b"".join(cbor2.dumps(v) for v in model) + b"\xff"
        return key, cbor2.dumps(ints)
    return cbor2.dumps(version - 1), cbor2.dumps(model)


def language_views(versions: Iterable[int], cost_models: Mapping[str, Any]) -> bytes:
    entries = sorted(
        (language_view(v, cost_model(cost_models, v)) for v in set(versions)),
        key=lambda kv: (len(kv[0]), kv[0]),
    )
    return encode_head(5, len(entries)) + b"".join(k + v for k, v in entries)


def script_data_hash(redeemers: bytes | None, datums: bytes | None, views: bytes) -> bytes:
    """blake2b-256 of the three parts, as the ledger hashes them.

    `redeemers` are the witness set's exact redeemer bytes (None when the set has none: Conway's
    empty map is used); `datums` the exact datum bytes, None when there are no datums (then they
    contribute nothing). The caller expects no hash at all when redeemers, datums and languages
    are all empty.
    """
    payload = (redeemers if redeemers is not None else EMPTY_MAP) + (datums or b"") + views
    return blake2b_256(payload)
