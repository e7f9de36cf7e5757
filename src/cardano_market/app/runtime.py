"""What the use cases run against: the chain, the database, the marketplace settings, the contract
addresses and a clock, resolved once at start-up (`service.bootstrap` builds it from settings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..chain.base import ChainBackend
from ..domain.pricing import MarketplaceConfig
from ..domain.values import AssetId
from ..store.db import Database
from .prices import OraclePrices
from .signing import ServiceKeys, SigningGate


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


@dataclass(frozen=True, kw_only=True)
class Marketplace:
    """One marketplace deployment on one network."""

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

    @property
    def gate(self) -> SigningGate:
        """The signing gate over this marketplace's chain and keys."""
        return SigningGate(self.backend, self.service_keys)

    def ttl_slot(self) -> int:
        """The last slot an issued transaction is valid in: now + the configured validity."""
        now_ms = int(self.clock().timestamp() * 1000)
        return self.backend.posix_ms_to_slot(now_ms + self.order_validity_seconds * 1000)
