"""Turn `Settings` into the parts a service process holds for its lifetime: chain backend,
database (migrated), marketplace, metrics, operator keys, the v2 custodial context, and on the
devnet the seed (applied once) with its sales, v2 users, tokens and wallets in the database.

`cardano-market serve` calls `open_service` then `runtime.web.create_service_app`; tests do the
same with settings of their own (a temporary devnet file and database).
"""

from __future__ import annotations

import logging
from typing import Any

from ..config import Network, Settings
from ..domain.errors import ConfigError
from ..service.observability import Metrics
from ..store.db import Database
from .chain import (
    blockfrost,
    devnet_addresses,
    devnet_wallets,
    public_addresses,
    seeded_devnet,
)
from .database import open_database, record_seeded_sales
from .deployment import verify_deployment
from .keys import devnet_operator, public_operator, register_service_keys
from .marketplace import build_marketplace, open_v2
from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")


def open_service(settings: Settings, *, verify: bool = True) -> ServiceParts:
    """Open the chain and the database and resolve the marketplace `settings` describe.

    On preprod and mainnet with the network profile (`verify`), the live deployment is checked
    against it first: ConfigError naming every mismatch (`app.deployment_check`)."""
    metrics = Metrics()
    seed = None
    if settings.network is Network.DEVNET:
        from ..chain.devnet.seed import DEFAULT_SEED, load_seed

        # read first: a bad seed fails before any database file is created or migrated
        seed = load_seed(settings.seed or DEFAULT_SEED)
    database = open_database(settings)
    try:
        if seed is not None:
            parts = _open_devnet(settings, database, metrics, seed)
        else:
            parts = _open_public(settings, database, metrics)
    except BaseException:
        database.dispose()
        raise
    try:
        if verify:
            verify_deployment(parts)
        parts.v2 = open_v2(settings, parts)
    except BaseException:
        parts.close()
        raise
    register_service_keys(parts)
    return parts


def _open_devnet(
    settings: Settings, database: Database, metrics: Metrics, seed: Any
) -> ServiceParts:
    chain, seeded = seeded_devnet(settings, seed)
    try:
        config = settings.marketplace_config or seeded.marketplace
        if config is None:
            raise ConfigError(
                "the devnet seed has no marketplace section: add one, or set "
                "CARDANO_MARKET_MARKETPLACE"
            )
        addresses = devnet_addresses(settings, seeded, chain.network_id)
        market = build_marketplace(settings, chain, database, metrics, addresses, config)
        record_seeded_sales(market, seeded)
    except BaseException:
        chain.close()
        raise
    operator, deployment = devnet_operator(settings, seeded, chain.network_id)
    log.info("devnet %s seeded from %s", settings.devnet_path, settings.seed or "the demo seed")
    return ServiceParts(
        settings=settings,
        market=market,
        chain=chain,
        database=database,
        metrics=metrics,
        operator=operator,
        deployment=deployment,
        devnet=seeded,
        wallets=devnet_wallets(chain, seeded),
    )


def _open_public(settings: Settings, database: Database, metrics: Metrics) -> ServiceParts:
    chain = blockfrost(settings, metrics)
    config = settings.marketplace_config
    assert config is not None  # Settings refuses a public network without it
    addresses = public_addresses(settings)
    market = build_marketplace(settings, chain, database, metrics, addresses, config)
    operator, deployment = public_operator(settings, chain.network_id, addresses.sale)
    return ServiceParts(
        settings=settings,
        market=market,
        chain=chain,
        database=database,
        metrics=metrics,
        operator=operator,
        deployment=deployment,
    )
