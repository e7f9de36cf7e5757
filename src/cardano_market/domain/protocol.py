"""Facts of the marketplace protocol (PROTOCOL sections 1, 2 and 6) that more than one layer reads.

Written once here; the builders, the batcher, the monitor and the devnet seed import them. The
on-chain validators (`contracts/onchain/*.py`) are OpShin sources compiled on their own: they
cannot import this module and keep their own copy (`contracts/onchain/queue.py`'s
`BATCHER_PREFIX` must equal the one here).
"""

from __future__ import annotations

from .values import AssetId, Value

BATCHER_PREFIX = bytes.fromhex("affab1e0005e77ab1e")
"""Batcher-certificate names start so (PROTOCOL section 2); the queue checks it."""


def batcher_certificate(value: Value, batcher_pid: bytes) -> AssetId | None:
    """The batcher-certificate token `value` holds (policy `batcher_pid`, a name with the
    certificate prefix), or None."""
    for policy, name in value.assets:
        if policy == batcher_pid and name.startswith(BATCHER_PREFIX):
            return policy, name
    return None
