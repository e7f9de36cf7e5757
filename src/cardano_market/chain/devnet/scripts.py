"""Native (timelock) scripts for the devnet's ledger rules: the keys they name and their
Allegra semantics (signatures, all/any/at-least-n, time locks)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import cbor2

from ...domain.errors import CborError

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
