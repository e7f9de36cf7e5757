"""What every use case runs against, v1 and v2 alike: the chain, the database, the marketplace
settings, the contract addresses, a clock and, for the custodial (v2) API, users' keys, fees and
escrow. Resolved once at start-up (the composition root builds it from settings); everything in
it is safe to share between threads.

One `Context` serves both faces: the v1 routes use the marketplace part, the custodial routes and
the worker use a `Context` whose custodial part is filled in (`dataclasses.replace` of the v1 one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from ..chain.base import ChainBackend
from ..domain.keys import PaymentKey
from ..domain.pricing import MarketplaceConfig
from ..domain.values import AssetId
from ..store.db import Database
from .errors import ChainUnavailableError
from .prices import OraclePrices
from .signing import ServiceKeys, SigningGate

if TYPE_CHECKING:
    from ..security.jwt_auth import JwtVerifier
    from ..security.keystore import KeyStore

DEFAULT_PLATFORM_FEE_PERCENTAGE = Fraction(3)
DEFAULT_NODE_FEE_PERCENTAGE = Fraction(2)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractAddresses:
    """Raw (header + credentials) addresses of the marketplace's contracts and wallets."""

    queue: bytes
    """Orders go here; it carries the stake part batchers look for."""
    cash_register: bytes
    """Service fees go here."""
    sale: bytes
    """Sale UTxOs (bundle tokens + pointer) sit here."""
    oracle: bytes
    oracle_feed: AssetId
    pointer_policy: bytes | None = None
    """The pointer tokens' policy id; None until a pointer policy is deployed."""


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


class CustodyUnavailableError(ChainUnavailableError):
    """A custodial use case on a context without users' key store (503)."""


@dataclass(frozen=True, kw_only=True)
class Context:
    """One marketplace deployment on one network, and (when configured) its custodial API."""

    network_id: int
    config: MarketplaceConfig
    addresses: ContractAddresses
    backend: ChainBackend
    database: Database
    prices: OraclePrices
    order_validity_seconds: int = 900
    clock: Callable[[], datetime] = field(default=utc_now)
    service_keys: ServiceKeys = field(default_factory=ServiceKeys)
    """Every key the service holds or is paid at (filled at start-up): wallets a caller may not
    spend from, and the only keys the signing gate signs with under a mandate."""

    # -- the custodial (v2) API --------------------------------------------------------------
    keystore: KeyStore | None = None
    """Seals users' wallet keys (None: the custodial API is off)."""
    fees: SecondaryFees | None = None
    """The buyer's fees on the secondary market (None: the custodial API is off)."""
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

    @property
    def gate(self) -> SigningGate:
        """The signing gate over this marketplace's chain and keys."""
        return SigningGate(self.backend, self.service_keys)

    @property
    def wallet_keys(self) -> KeyStore:
        """The key store of users' custodial wallets; CustodyUnavailableError (503) without."""
        if self.keystore is None:
            raise CustodyUnavailableError("the custodial API is not configured (no key store)")
        return self.keystore

    @property
    def secondary_fees(self) -> SecondaryFees:
        """The secondary market's buyer fees; CustodyUnavailableError (503) without."""
        if self.fees is None:
            raise CustodyUnavailableError("the custodial API is not configured (no fees)")
        return self.fees

    def ttl_slot(self) -> int:
        """The last slot an issued transaction is valid in: now + the configured validity."""
        now_ms = int(self.clock().timestamp() * 1000)
        return self.backend.posix_ms_to_slot(now_ms + self.order_validity_seconds * 1000)
