"""The ledger's hashes, written once: key, script and datum hashes.

All are blake2b: 224 bits for key and script hashes, 256 bits for datums, bodies and auxiliary
data. A transaction id (the hash of the body's exact bytes) is `ledger.parse.transaction_id`.
"""

from __future__ import annotations

import hashlib


def blake2b_224(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=28).digest()


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def key_hash(vkey: bytes) -> bytes:
    """The 28-byte hash of a verification key, as addresses, datums and required signers use it."""
    return blake2b_224(vkey)


def script_hash(language: int, script: bytes) -> bytes:
    """Hash of a script: a language byte (0 native, 1/2/3 Plutus V1/V2/V3), then its bytes."""
    return blake2b_224(bytes([language]) + script)


def datum_hash(datum: bytes) -> bytes:
    """Hash of a datum's exact CBOR bytes."""
    return blake2b_256(datum)
