"""Ed25519 payment keys: derive deterministically, hash, sign.

The devnet's wallets and the tests use keys derived from a name, so a seed file fully determines
every address. Real deployments load keys from configuration; nothing here reads the environment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from nacl.signing import SigningKey as _NaclSigningKey

from .hashes import key_hash

__all__ = ["PaymentKey", "key_hash"]


@dataclass(frozen=True, slots=True)
class PaymentKey:
    seed: bytes = field(repr=False)  # the 32-byte Ed25519 secret seed

    @classmethod
    def derive(cls, name: str, namespace: str = "cardano-market devnet") -> PaymentKey:
        """A key determined by `name` (for devnet and test wallets only, never for real funds)."""
        return cls(hashlib.blake2b(f"{namespace}/{name}".encode(), digest_size=32).digest())

    @property
    def vkey(self) -> bytes:
        return bytes(_NaclSigningKey(self.seed).verify_key)

    @property
    def hash(self) -> bytes:
        return key_hash(self.vkey)

    def sign(self, message: bytes) -> bytes:
        return _NaclSigningKey(self.seed).sign(message).signature

    def __repr__(self) -> str:  # never print the secret
        return f"PaymentKey(hash={self.hash.hex()})"
