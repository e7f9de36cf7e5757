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

from ..app.operator import OperatorKeys, load_signing_key
from ..app.prices import OraclePrices
from ..app.runtime import ContractAddresses, Marketplace
from ..app.sale_lifecycle import DeploymentRefs
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
    operator: OperatorKeys | None = None
    """Hot and collateral keys for sale start/end (None: those routes answer 503)."""
    deployment: DeploymentRefs | None = None
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
        v1=V1.build(
            parts.market, parts.metrics, operator=parts.operator, deployment=parts.deployment
        ),
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
    operator, deployment = _devnet_operator(settings, seeded, chain.network_id)
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
        wallets=wallets,
    )


def _devnet_addresses(settings: Settings, seeded: Any, network_id: int) -> ContractAddresses:
    if seeded.cash_register is None and settings.cash_register_address is None:
        raise ConfigError("the devnet seed names no cashRegister wallet")
    if seeded.oracle is None:
        raise ConfigError("the devnet seed has no oracle: the order amount needs its price")
    if seeded.contracts is None:
        raise ConfigError("the devnet seed deploys no marketplace contracts (no marketplace)")
    cash_register = (
        decode_address(settings.cash_register_address)
        if settings.cash_register_address
        else seeded.cash_register.address
    )
    contracts = seeded.contracts
    return ContractAddresses(
        queue=contracts.queue_address,
        cash_register=cash_register,
        sale=contracts.sale_address,
        oracle=seeded.oracle.address,
        oracle_feed=seeded.oracle.feed_asset,
        pointer_policy=contracts.pointer_policy,
    )


def _devnet_operator(
    settings: Settings, seeded: Any, network_id: int
) -> tuple[OperatorKeys | None, DeploymentRefs | None]:
    """The seed's cash register (hot key) and collateral wallets, unless settings name keys."""
    hot = _key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
    collateral = _key(settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY")
    hot = hot or (seeded.cash_register.payment_key if seeded.cash_register else None)
    contracts = seeded.contracts
    if hot is None or contracts is None or (collateral is None and seeded.collateral is None):
        return None, None
    operator = (
        OperatorKeys.enterprise(hot, collateral, network_id)
        if collateral is not None
        else OperatorKeys(hot, seeded.collateral.payment_key, seeded.collateral.address)
    )
    refs = DeploymentRefs(
        reference_address=contracts.reference_utxo.address,
        starter_nft=contracts.starter_nft,
        pointer_script_ref=contracts.pointer_script_utxo.out_ref,
        sale_script_ref=contracts.sale_script_utxo.out_ref,
        sale_address=contracts.sale_address,
    )
    return operator, refs


def _key(secret: Any, setting: str) -> Any:
    return None if secret is None else load_signing_key(secret.get_secret_value(), setting)


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
    operator, deployment = _public_operator(settings, chain.network_id, addresses.sale)
    return ServiceParts(
        settings=settings,
        market=market,
        chain=chain,
        database=database,
        metrics=metrics,
        operator=operator,
        deployment=deployment,
    )


def _public_operator(
    settings: Settings, network_id: int, sale_address: bytes
) -> tuple[OperatorKeys | None, DeploymentRefs | None]:
    """Sale start/end on a public network: every key and reference configured, or none."""
    from ..config import parse_out_ref

    names = (
        "operator_hot_key",
        "operator_collateral_key",
        "reference_address",
        "starter_nft_unit",
        "pointer_script_ref",
        "sale_script_ref",
    )
    given = [name for name in names if getattr(settings, name) is not None]
    if not given:
        log.warning("sale start/end disabled: no operator keys or deployment configured")
        return None, None
    if len(given) != len(names):
        missing = ", ".join(f"CARDANO_MARKET_{n.upper()}" for n in names if n not in given)
        raise ConfigError(f"sale start/end are partly configured: also set {missing}")
    hot = _key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
    collateral = _key(settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY")
    refs = DeploymentRefs(
        reference_address=decode_address(_required(settings.reference_address)),
        starter_nft=asset_from_unit(_required(settings.starter_nft_unit)),
        pointer_script_ref=parse_out_ref(_required(settings.pointer_script_ref)),
        sale_script_ref=parse_out_ref(_required(settings.sale_script_ref)),
        sale_address=sale_address,
    )
    return OperatorKeys.enterprise(hot, collateral, network_id), refs


def _required(value: str | None) -> str:
    assert value is not None  # Settings refuses a public network without the addresses
    return value
