"""The suite's shared test keys: named payment keys, their enterprise addresses, and the service
secrets (key-encryption key, JWT secret) the v2 tests configure. One place, so two tests that say
"alice" mean the same key."""

from __future__ import annotations

from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.keys import PaymentKey

ALICE = PaymentKey.derive("alice")
BOB = PaymentKey.derive("bob")
CAROL = PaymentKey.derive("carol")

KEK_HEX = "11" * 32  # the custodial keys' key-encryption key (32 bytes, hex)
JWT_SECRET = "v2-test-secret-0123456789abcdef0123456789"  # HS256, long enough to be accepted


def enterprise(key: PaymentKey, network_id: int = 0) -> bytes:
    """The enterprise address (no stake part) of `key`, on the test network by default."""
    return make_address(Credential.key(key.hash), None, network_id)
