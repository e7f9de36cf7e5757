"""Turn `Settings` into a running service: chain backend, database (migrated), marketplace,
reCAPTCHA, metrics, and on the devnet the seed (applied once) with its sales in the database.

`cardano-market serve` calls `open_service` then `create_service_app`; tests do the same with
settings of their own (a temporary devnet file and database).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from ..app.prices import OraclePrices
from ..app.runtime import ContractAddresses, Marketplace
from ..app.submit import TransactionSubmitter
from ..chain.base import ChainBackend
from ..chain.instrumented import InstrumentedBackend
from ..config import Network, Settings
from ..domain.address import decode_address
from ..domain.errors import ConfigError, DuplicateRecordError
from ..domain.pricing import MarketplaceConfig
from ..domain.values import asset_from_unit
from ..store.db import Database
from ..store.repos import SaleRepo
from .observability import Metrics
from .recaptcha import RecaptchaVerifier

log = logging.getLogger("cardano_market.service")


@dataclass
class ServiceParts:
    """Everything a service process holds for its lifetime."""

    settings: Settings
    market: Marketplace
    chain: ChainBackend
    """The backend itself (the market's is wrapped for metrics)."""
    database: Database
    metrics: Metrics
    devnet: Any = None
    """On the devnet: the `SeedResult` of the applied seed."""
    wallets: dict[str, Any] = field(default_factory=dict)
    """On the devnet: name -> `DevnetWallet`, served under /devnet."""

    def close(self) -> None:
        self.database.dispose()
        close = getattr(self.chain, "close", None)
        if close is not None:
            close()


def open_service(settings: Settings) -> ServiceParts:
    """Open the chain and the database and resolve the marketplace `settings` describe."""
    metrics = Metrics()
    database = Database.connect(settings.database_url)
    try:
        if settings.network is Network.DEVNET:
            return _open_devnet(settings, database, metrics)
        return _open_public(settings, database, metrics)
    except BaseException:
        database.dispose()
        raise


def create_service_app(parts: ServiceParts) -> FastAPI:
    """The HTTP app over opened `parts` (v1 routes, health, metrics, /devnet on the devnet)."""
    from .app import create_app
    from .v1 import V1

    recaptcha = RecaptchaVerifier.from_settings(
        parts.settings, on_outcome=parts.metrics.recaptcha_outcome
    )
    return create_app(
        parts.chain,
        wallets=parts.wallets,
        v1=V1.build(parts.market, parts.metrics, TransactionSubmitter(parts.market)),
        metrics=parts.metrics,
        recaptcha=recaptcha,
        database=parts.database,
        on_close=parts.close,
    )


def _marketplace(
    network: Network,
    settings: Settings,
    chain: ChainBackend,
    database: Database,
    metrics: Metrics,
    addresses: ContractAddresses,
    config: MarketplaceConfig,
) -> Marketplace:
    observed = InstrumentedBackend(chain, metrics)
    return Marketplace(
        network_id=chain.network_id,
        config=config,
        addresses=addresses,
        backend=observed,
        database=database,
        prices=OraclePrices(observed, addresses.oracle, addresses.oracle_feed),
        order_validity_seconds=settings.order_validity_seconds,
    )


def _open_devnet(settings: Settings, database: Database, metrics: Metrics) -> ServiceParts:
    from ..chain.devnet import DevnetBackend, DevnetWallet
    from ..chain.devnet.seed import DEFAULT_SEED, apply_seed, load_seed

    seed = load_seed(settings.seed or DEFAULT_SEED)
    chain = DevnetBackend.open(settings.devnet_path)
    try:
        seeded = apply_seed(chain.ledger, seed)
        config = settings.marketplace_config or seeded.marketplace
        if config is None:
            raise ConfigError(
                "the devnet seed has no marketplace section: add one, or set "
                "CARDANO_MARKET_MARKETPLACE"
            )
        addresses = _devnet_addresses(settings, seeded, chain.network_id)
        market = _marketplace(Network.DEVNET, settings, chain, database, metrics, addresses, config)
        _record_seeded_sales(market, seeded)
    except BaseException:
        chain.close()
        raise
    wallets = {name: DevnetWallet(chain, name) for name in sorted(seeded.wallets)}
    log.info("devnet %s seeded from %s", settings.devnet_path, settings.seed or "the demo seed")
    return ServiceParts(
        settings=settings,
        market=market,
        chain=chain,
        database=database,
        metrics=metrics,
        devnet=seeded,
        wallets=wallets,
    )


def _devnet_addresses(settings: Settings, seeded: Any, network_id: int) -> ContractAddresses:
    from ..chain.devnet import seed as devnet_seed

    if seeded.cash_register is None and settings.cash_register_address is None:
        raise ConfigError("the devnet seed names no cashRegister wallet")
    if seeded.oracle is None:
        raise ConfigError("the devnet seed has no oracle: the order amount needs its price")
    cash_register = (
        decode_address(settings.cash_register_address)
        if settings.cash_register_address
        else seeded.cash_register.address
    )
    return ContractAddresses(
        queue=_standin_queue_address(network_id),
        cash_register=cash_register,
        sale=devnet_seed.sale_address(network_id),
        oracle=seeded.oracle.address,
        oracle_feed=seeded.oracle.feed_asset,
        pointer_policy=devnet_seed.POINTER_POLICY,
    )


def _standin_queue_address(network_id: int) -> bytes:
    import hashlib

    from ..domain.address import script_address

    def label(text: str) -> bytes:
        return hashlib.blake2b(f"cardano-market devnet {text}".encode(), digest_size=28).digest()

    return script_address(label("queue stand-in"), label("stake stand-in"), network_id)


def _record_seeded_sales(market: Marketplace, seeded: Any) -> None:
    """Put the seed's sales in the database (once; later starts find them there)."""
    policy = market.addresses.pointer_policy
    with market.database.session() as session:
        repo = SaleRepo(session)
        for entry in seeded.sales:
            if entry.utxo is None or policy is None:
                continue  # ended since: the monitor records what the chain says
            try:
                repo.add(entry.sale, pointer_policy=policy, now=market.clock())
            except DuplicateRecordError as exc:
                log.warning("seeded sale %s not recorded: %s", entry.sale.id, exc)


def _open_public(settings: Settings, database: Database, metrics: Metrics) -> ServiceParts:
    from ..chain.blockfrost import BlockfrostBackend

    project = settings.blockfrost_project_id
    chain = BlockfrostBackend(
        project.get_secret_value() if project else "none",
        network=settings.network.value,  # type: ignore[arg-type]
        base_url=settings.blockfrost_url,
        on_retry=metrics.chain_retry,
    )
    config = settings.marketplace_config
    assert config is not None  # Settings refuses a public network without it
    addresses = ContractAddresses(
        queue=decode_address(_required(settings.queue_address)),
        cash_register=decode_address(_required(settings.cash_register_address)),
        sale=decode_address(_required(settings.sale_address)),
        oracle=decode_address(_required(settings.oracle_address)),
        oracle_feed=asset_from_unit(_required(settings.oracle_feed_unit)),
    )
    market = _marketplace(settings.network, settings, chain, database, metrics, addresses, config)
    return ServiceParts(
        settings=settings, market=market, chain=chain, database=database, metrics=metrics
    )


def _required(value: str | None) -> str:
    assert value is not None  # Settings refuses a public network without the addresses
    return value
