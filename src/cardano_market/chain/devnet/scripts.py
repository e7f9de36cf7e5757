"""Scripts as the ledger sees them: hashes, reference-script sizes, and native (timelock) scripts.

A script hash is blake2b-224 over a language byte (0 native, 1/2/3 Plutus V1/V2/V3) and the
script's bytes: a native script's exact CBOR, a Plutus script's serialized program (the content of
its CBOR byte string). The same bytes are what the Conway reference-script fee counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cbor2

from ...domain.cbor import split_array
from ...domain.errors import CborError
from ...domain.hashes import script_hash

NATIVE = 0
LANGUAGE_NAMES = {0: "native", 1: "PlutusV1", 2: "PlutusV2", 3: "PlutusV3"}


@dataclass(frozen=True, slots=True)
class Script:
    language: int  # 0 native, 1..3 Plutus version
    body: bytes  # native: the script's exact CBOR; Plutus: the serialized program bytes

    @property
    def hash(self) -> bytes:
        return script_hash(self.language, self.body)

    @property
    def is_plutus(self) -> bool:
        return self.language != NATIVE

    @property
    def size(self) -> int:
        """The size the reference-script fee counts."""
        return len(self.body)


def script_from_ref(script_ref: bytes) -> Script:
    """The script of an output's script reference `[type, script]` (the CBOR inside tag 24)."""
    try:
        spans, end = split_array(script_ref)
        if end != len(script_ref) or len(spans) != 2:
            raise CborError("a script reference must be [type, script]")
        language = cbor2.loads(script_ref[spans[0][0] : spans[0][1]])
        second = script_ref[spans[1][0] : spans[1][1]]
        if language == NATIVE:
            return Script(NATIVE, second)
        if language in (1, 2, 3):
            body = cbor2.loads(second)
            if isinstance(body, bytes):
                return Script(language, body)
    except CborError:
        raise
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"malformed script reference: {exc}") from exc
    raise CborError("a script reference must be [0, native script] or [1..3, bytes]")


# -- native scripts ------------------------------------------------------------------------------


def native_signers(script: bytes) -> Iterator[bytes]:
    """Every key hash a native script mentions (a wallet signs when its key is among them)."""
    stack = [_load_native(script)]
    while stack:
        node = stack.pop()
        tag = node[0]
        if tag == 0:
            yield node[1]
        elif tag in (1, 2):
            stack.extend(node[1])
        elif tag == 3:
            stack.extend(node[2])


def eval_native(
    script: bytes, signers: set[bytes], validity_start: int | None, ttl: int | None
) -> bool:
    """The Allegra timelock semantics: signatures, all/any/at-least-n, and time locks.

    `invalid_before n` needs the transaction's validity start to be set and >= n;
    `invalid_hereafter n` needs its TTL to be set and <= n.
    """
    return _eval(_load_native(script), signers, validity_start, ttl)


def _eval(node: list[Any], signers: set[bytes], start: int | None, ttl: int | None) -> bool:
    tag = node[0]
    if tag == 0:
        return bool(node[1] in signers)
    if tag == 1:
        return all(_eval(s, signers, start, ttl) for s in node[1])
    if tag == 2:
        return any(_eval(s, signers, start, ttl) for s in node[1])
    if tag == 3:
        return sum(_eval(s, signers, start, ttl) for s in node[2]) >= int(node[1])
    if tag == 4:
        return start is not None and int(node[1]) <= start
    return ttl is not None and ttl <= int(node[1])  # tag 5


def _load_native(script: bytes) -> list[Any]:
    try:
        node = cbor2.loads(script)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"native script is not well-formed CBOR: {exc}") from exc
    _check_native(node)
    return node  # type: ignore[no-any-return]


def _check_native(node: Any) -> None:
    if not isinstance(node, list) or not node or type(node[0]) is not int:
        raise CborError("a native script must be an array starting with its type")
    tag = node[0]
    if tag == 0 and len(node) == 2 and isinstance(node[1], bytes) and len(node[1]) == 28:
        return
    if tag in (1, 2) and len(node) == 2 and isinstance(node[1], list):
        _check_all(node[1])
        return
    if tag == 3 and len(node) == 3 and type(node[1]) is int and isinstance(node[2], list):
        _check_all(node[2])
        return
    if tag in (4, 5) and len(node) == 2 and type(node[1]) is int and node[1] >= 0:
        return
    raise CborError(f"malformed native script of type {tag}")


def _check_all(nodes: Iterable[Any]) -> None:
    for child in nodes:
        _check_native(child)
