"""The 24-hex ids of users, tokens and custodial transactions (deals have integer ids).

Like the v2 specs' examples, a MongoDB ObjectId's shape: 4 bytes of creation time, then 8 random
bytes, so ids sort roughly by age.
"""

from __future__ import annotations

import re
import secrets
import time

from ..domain.errors import StoreError

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def new_object_id(now: float | None = None) -> str:
    """A fresh 24-hex id: creation time (Unix seconds, 4 bytes) then 8 random bytes."""
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    return seconds.to_bytes(4, "big").hex() + secrets.token_hex(8)


def parse_object_id(value: object) -> str | None:
    """`value` as a canonical (lowercase) 24-hex id, or None when it is not one."""
    if not isinstance(value, str):
        return None
    key = value.lower()
    return key if _OBJECT_ID.fullmatch(key) else None


def require_object_id(kind: str, value: str) -> str:
    """`value` as a canonical 24-hex id; StoreError naming `kind` when it is not one."""
    key = parse_object_id(value)
    if key is None:
        raise StoreError(f"{kind} id {value!r} is not 24 hex digits")
    return key
