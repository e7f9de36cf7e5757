"""The marketplace a service serves, assembled from opened parts: the app's `Context` (terms,
contract addresses, the chain behind metrics, oracle prices, database) and, for the custodial
API, the same `Context` with its custodial part filled in (key store, JWT verifier,
secondary-market fees and escrow)."""

from __future__ import annotations

import logging
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

from ..app.context import Context, ContractAddresses
from ..app.prices import OraclePrices
from ..chain.base import ChainBackend
from ..chain.instrumented import InstrumentedBackend
from ..config import Network, Settings
from ..domain.address import decode_address
from ..domain.errors import ConfigError
from ..domain.pricing import MarketplaceConfig
from ..store.db import Database
from .database import check_stored_keys
from .keys import escrow_key, keystore_from_settings, service_jwt_verifier

if TYPE_CHECKING:
    from ..app.context import Context, SecondaryFees
    from ..service.observability import Metrics
    from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")

DEVNET_PLATFORM_FEE_WALLET = "v2-platform-fee"
DEVNET_NODE_FEE_WALLET = "v2-node-fee"
"""Derived devnet wallets (not in the seed file): the fee receivers."""


def build_marketplace(
    settings: Settings,
    chain: ChainBackend,
    database: Database,
    metrics: Metrics,
    addresses: ContractAddresses,
    config: MarketplaceConfig,
) -> Context:
    """The marketplace over `chain`, its every call counted in `metrics`."""
    observed = InstrumentedBackend(chain, metrics)
    return Context(
        network_id=chain.network_id,
        config=config,
        addresses=addresses,
        backend=observed,
        database=database,
        prices=OraclePrices(observed, addresses.oracle, addresses.oracle_feed),
        order_validity_seconds=settings.order_validity_seconds,
    )


def open_v2(settings: Settings, parts: ServiceParts) -> Context | None:
    """The custodial API's context; on the devnet, its users, tokens and wallets recorded.

    ConfigError when it cannot be configured, except for a devnet whose key store refuses to
    generate a key (a PostgreSQL devnet without `KEY_ENCRYPTION_KEY`): there the v2 API is
    left out with a warning and v1 serves on.
    """
    from ..app.seeding import seed_v2

    devnet = settings.network is Network.DEVNET
    network_id = parts.market.network_id
    try:
        keystore = keystore_from_settings(settings)
    except ConfigError as exc:
        if not devnet:
            raise
        log.warning("the v2 custodial API is off: %s", exc)
        return None
    check_stored_keys(parts.database, keystore)
    ctx = replace(
        parts.market,
        keystore=keystore,
        fees=secondary_fees(settings, parts.market.addresses.cash_register, network_id),
        verifier=service_jwt_verifier(settings),
        escrow=escrow_key(settings, network_id),
        price_slippage_percentage=Fraction(settings.primary_price_slippage_percentage),
        devnet=devnet,
        worker_poll_seconds=settings.worker_poll_ms / 1000,
        worker_lease_seconds=settings.worker_lease_seconds,
    )
    if devnet and parts.devnet is not None:
        seed_v2(ctx, parts.devnet)
    return ctx


def secondary_fees(settings: Settings, cash_register: bytes, network_id: int) -> SecondaryFees:
    """Where secondary-market fees go and how much: configured, the devnet's derived wallets,
    or the cash register."""
    from ..app.context import SecondaryFees
    from ..synthetic import wallet

    def address(configured: str | None, devnet_wallet: str) -> bytes:
        if configured is not None:
            return decode_address(configured)
        if settings.network is Network.DEVNET:
            return wallet(devnet_wallet, network_id).address
        return cash_register  # the platform's own fee address unless told otherwise

    return SecondaryFees(
        platform_fee_address=address(settings.platform_fee_address, DEVNET_PLATFORM_FEE_WALLET),
        node_fee_address=address(settings.node_fee_address, DEVNET_NODE_FEE_WALLET),
        platform_fee_percentage=Fraction(settings.platform_fee_percentage),
        node_fee_percentage=Fraction(settings.node_fee_percentage),
    )
