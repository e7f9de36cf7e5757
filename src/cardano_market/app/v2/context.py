"""What the v2 (custodial) use cases and the worker run against, resolved once at start-up.

`service.bootstrap` builds a `V2Context` from settings and keeps it on `app.state.v2`; the worker
process builds the same one. Everything in it is safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from ...chain.base import ChainBackend
from ...domain.keys import PaymentKey
from ...store.db import Database
from ..runtime import Marketplace, utc_now

if TYPE_CHECKING:
    from ...security.jwt_auth import JwtVerifier
    from ...security.keystore import KeyStore

DEFAULT_PLATFORM_FEE_PERCENTAGE = Fraction(3)
DEFAULT_NODE_FEE_PERCENTAGE = Fraction(2)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondaryFees:
    """The buyer's fees on a secondary purchase, as percentages of the deal's price, and where
    they are paid (raw addresses)."""

    platform_fee_address: bytes
    node_fee_address: bytes
    platform_fee_percentage: Fraction = DEFAULT_PLATFORM_FEE_PERCENTAGE
    node_fee_percentage: Fraction = DEFAULT_NODE_FEE_PERCENTAGE


@dataclass(frozen=True, slots=True)
class EscrowKey:
    """The platform's escrow wallet: deals' tokens wait at `address`, `key` signs them out."""

    key: PaymentKey
    address: bytes


@dataclass(frozen=True, kw_only=True)
class V2Context:
    """One custodial marketplace: the v1 marketplace plus users' keys, fees and escrow."""

    market: Marketplace
    database: Database
    keystore: KeyStore
    fees: SecondaryFees
    verifier: JwtVerifier | None = None
    """Checks Bearer tokens (None: a worker process, which serves no HTTP)."""
    escrow: EscrowKey | None = None
    """None: selling is not configured (the sell route answers 503)."""
    devnet: bool = False
    price_slippage_percentage: Fraction = Fraction(0)
    """How far above its quote a primary purchase may still be paid, in percent (0: never
    more than quoted)."""
    worker_poll_seconds: float = 0.5
    """How long an idle worker waits before looking for work again."""
    worker_lease_seconds: int = 120
    """How long a claimed transaction stays with its worker without progress."""
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def chain(self) -> ChainBackend:
        return self.market.backend

    @property
    def network_id(self) -> int:
        return self.market.network_id
