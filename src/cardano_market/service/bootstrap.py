"""Turn `Settings` into a running service: chain backend, database (migrated), marketplace,
reCAPTCHA, metrics, the v2 custodial context (JWT verifier, key store, fees, escrow), and on the
devnet the seed (applied once) with its sales, v2 users, tokens and wallets in the database.

`cardano-market serve` calls `open_service` then `create_service_app`; tests do the same with
settings of their own (a temporary devnet file and database).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from ..app.operator import OperatorKeys, load_signing_key
from ..app.prices import OraclePrices
from ..app.runtime import ContractAddresses, Marketplace
from ..app.sale_lifecycle import DeploymentRefs
from ..app.signing import ServiceKeys
from ..chain.base import ChainBackend
from ..chain.instrumented import InstrumentedBackend
from ..config import Network, Settings
from ..domain.address import decode_address, parse_address
from ..domain.errors import ConfigError, DuplicateRecordError
from ..domain.pricing import MarketplaceConfig
from ..domain.values import asset_from_unit
from ..store.db import Database
from ..store.sales import SaleRepo
from ..worker.loops import NamedLoop
from .observability import Metrics
from .recaptcha import RecaptchaVerifier

if TYPE_CHECKING:
    from ..app.v2.context import EscrowKey, SecondaryFees, V2Context
    from ..security.jwt_auth import JwtVerifier
    from ..security.keystore import KeyStore
    from ..worker.batcher import Batcher
    from .edge import EdgeOptions

log = logging.getLogger("cardano_market.service")

DEVNET_JWT_SECRET_SUFFIX = ".jwt-secret"
DEVNET_ESCROW_WALLET = "v2-escrow"
DEVNET_PLATFORM_FEE_WALLET = "v2-platform-fee"
DEVNET_NODE_FEE_WALLET = "v2-node-fee"
"""Derived devnet wallets (not in the seed file): the escrow and the fee receivers."""


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
    v2: V2Context | None = None
    """The custodial API's context (JWT verifier, key store, fees, escrow)."""

    def close(self) -> None:
        self.database.dispose()
        close = getattr(self.chain, "close", None)
        if close is not None:
            close()


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
    database = Database.connect(settings.database_url)
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
        parts.v2 = _open_v2(settings, parts)
    except BaseException:
        parts.close()
        raise
    _register_service_keys(parts)
    return parts


def _register_service_keys(parts: ServiceParts) -> None:
    """Tell the signing gate (and the builders' first check) every key the service holds or is
    paid at: no caller's transaction may spend from them, whatever the address's stake part."""
    keys = parts.market.service_keys
    settings = parts.settings
    if parts.operator is not None:
        keys.register(parts.operator.hot.hash, "the marketplace operator")
        keys.register(parts.operator.collateral.hash, "the operator's collateral wallet")
    keys.register_address(parts.market.addresses.cash_register, "the marketplace operator")
    seeded = parts.devnet
    if seeded is not None:
        for wallet, owner in (
            (seeded.cash_register, "the marketplace operator"),
            (seeded.collateral, "the operator's collateral wallet"),
            (seeded.batcher, "the batcher"),
        ):
            if wallet is not None:
                keys.register(wallet.payment_key.hash, owner)
    for secret, setting, owner in (
        (settings.batcher_key, "CARDANO_MARKET_BATCHER_KEY", "the batcher"),
        (
            settings.operator_collateral_key,
            "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY",
            "the operator's collateral wallet",
        ),
    ):
        key = _key(secret, setting)
        if key is not None:
            keys.register(key.hash, owner)
    for text, owner in (
        (settings.batcher_address, "the batcher"),
        (settings.collateral_address, "the operator's collateral wallet"),
    ):
        if text is not None:
            keys.register_address(decode_address(text), owner)
    v2 = parts.v2
    if v2 is not None:
        if v2.escrow is not None:
            keys.register(v2.escrow.key.hash, "the escrow")
        keys.register_address(v2.fees.platform_fee_address, "the platform fee address")
        keys.register_address(v2.fees.node_fee_address, "the node fee address")
    # The devnet's CIP-30 wallets sign anything they are handed: never serve one for a key the
    # service holds, or /devnet/wallets/<name>/sign-tx would sign around the gate.
    parts.wallets = {
        name: wallet
        for name, wallet in parts.wallets.items()
        if wallet.keys.payment_key.hash not in keys
    }


# -- the deployment check (issue 14) --------------------------------------------------------------


def expected_deployment(parts: ServiceParts) -> Any:
    """What the settings (with the network profile) say the deployment is, for
    `app.deployment_check`; ConfigError when the reference data is not configured."""
    from ..app.deployment_check import ExpectedDeployment
    from ..config import parse_out_ref
    from ..domain.profiles import profile_for

    settings, market = parts.settings, parts.market
    refs: dict[str, tuple[bytes, int]] = {}
    contracts = getattr(parts.devnet, "contracts", None)
    if contracts is not None:
        reference_address, starter = contracts.reference_utxo.address, contracts.starter_nft
        refs = {
            "sale": contracts.sale_script_utxo.out_ref,
            "queue": contracts.queue_script_utxo.out_ref,
            "vault": contracts.vault_script_utxo.out_ref,
            "pointer": contracts.pointer_script_utxo.out_ref,
        }
    else:
        if settings.reference_address is None or settings.starter_nft_unit is None:
            raise ConfigError(
                "the deployment check needs CARDANO_MARKET_REFERENCE_ADDRESS and "
                "CARDANO_MARKET_STARTER_NFT_UNIT (the network profile sets them on preprod "
                "and mainnet)"
            )
        reference_address = decode_address(settings.reference_address)
        starter = asset_from_unit(settings.starter_nft_unit)
        for name in ("sale", "queue", "vault", "pointer"):
            text = getattr(settings, f"{name}_script_ref")
            if text is not None:
                refs[name] = parse_out_ref(text)
    profile = profile_for(settings.network.value) if settings.network_profile else None
    return ExpectedDeployment(
        network_id=market.network_id,
        reference_address=reference_address,
        starter_nft=starter,
        queue_address=market.addresses.queue,
        sale_address=market.addresses.sale,
        oracle_address=market.addresses.oracle,
        oracle_feed=market.addresses.oracle_feed,
        currency=market.config.currency,
        script_refs=refs,
        profile=profile,
    )


def verify_deployment(parts: ServiceParts) -> None:
    """On a network with a profile in use: refuse (ConfigError) a deployment that is not the
    profile's. A chain that cannot be reached now is logged, not fatal (/health shows it)."""
    from ..app.deployment_check import failures, structural_checks
    from ..chain.base import ChainError
    from ..domain.profiles import profile_for

    settings = parts.settings
    if not settings.network_profile or profile_for(settings.network.value) is None:
        return
    try:
        parts.chain.tip()
    except ChainError as exc:
        log.warning("the deployment was not checked at start: the chain is unreachable (%s)", exc)
        return
    failed = failures(structural_checks(parts.chain, expected_deployment(parts)))
    if failed:
        raise ConfigError(
            f"the live deployment does not match the {settings.network.value} profile (or "
            "your settings): "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            + " (override a value with its CARDANO_MARKET_* setting, or set "
            "CARDANO_MARKET_NETWORK_PROFILE=false)"
        )


def create_service_app(
    parts: ServiceParts, *, worker: bool = False, settle: bool = False
) -> FastAPI:
    """The HTTP app over opened `parts` (v1 and v2 routes, health, metrics, /devnet on the
    devnet); with `worker`, a v2 transaction worker runs in-process while the app is up; with
    `settle`, the chain monitor and (on the devnet) the batcher too."""
    from .app import create_app
    from .v1.routes import V1

    recaptcha = RecaptchaVerifier.from_settings(
        parts.settings, on_outcome=parts.metrics.recaptcha_outcome
    )
    return create_app(
        parts.chain,
        wallets=parts.wallets,
        v1=V1.build(
            parts.market,
            parts.metrics,
            operator=parts.operator,
            deployment=parts.deployment,
            submit_relay=parts.settings.submit_relay,
        ),
        metrics=parts.metrics,
        recaptcha=recaptcha,
        database=parts.database,
        on_close=parts.close,
        v2=parts.v2,
        v2_worker=worker,
        loops=[
            *(settlement_loops(parts, optional_batcher=True) if settle else ()),
            housekeeping_loop(parts),
        ],
        edge=edge_options(parts.settings),
    )


def housekeeping_loop(parts: ServiceParts) -> NamedLoop:
    """The periodic purge (`app.housekeeping`) as a loop; safe to run in every replica."""
    from ..app.housekeeping import Housekeeper

    settings = parts.settings
    keeper = Housekeeper(
        parts.database,
        parts.market.clock,
        validity_seconds=settings.order_validity_seconds,
        idempotency_retention_seconds=settings.idempotency_retention_seconds,
    )
    interval = settings.purge_interval_seconds
    return NamedLoop("housekeeping", lambda stop: keeper.run(stop, interval), keeper.purge_once)


def edge_options(settings: Settings) -> EdgeOptions:
    """The edge's settings: body limit, rate limits (memory or Redis), proxy header, CORS, and
    where /metrics may be read."""
    from .edge import EdgeOptions
    from .ratelimit import RateLimiter

    limiter = None
    if settings.rate_limit_enabled:
        limiter = RateLimiter(settings.rate_limits(), settings.rate_limit_storage_url)
    token = settings.metrics_token
    return EdgeOptions(
        max_body_bytes=settings.max_body_bytes,
        limiter=limiter,
        trusted_proxy_header=settings.trusted_proxy_header,
        cors_allowed_origins=settings.cors_allowed_origins,
        metrics_token=None if token is None else token.get_secret_value(),
        metrics_elsewhere=settings.metrics_port is not None,
    )


def settlement_loops(
    parts: ServiceParts,
    *,
    monitor: bool = True,
    batcher: bool = True,
    optional_batcher: bool = False,
) -> list[NamedLoop]:
    """The chain monitor and the batcher (the devnet's from its seed, a public network's from
    settings: `configured_batcher`) as loops for `worker.loops`.

    A devnet seed without a batcher or collateral wallet has nothing to batch with: ConfigError,
    or with `optional_batcher` (`serve`) a warning saying why, and the monitor alone."""
    from ..worker.monitor import ChainMonitor

    settings = parts.settings
    loops: list[NamedLoop] = []
    interval = settings.settle_interval_seconds
    if monitor:
        chain_monitor = ChainMonitor(
            parts.chain,  # type: ignore[arg-type]  # devnet and Blockfrost both tell history
            parts.database,
            parts.market.addresses,
            parts.market.addresses.pointer_policy,
            confirmations=settings.monitor_confirmations,
            from_block=settings.monitor_from_block,
            on_event=parts.metrics.monitor_event,
        )
        loops.append(
            NamedLoop(
                "monitor", lambda stop: chain_monitor.run(stop, interval), chain_monitor.poll_once
            )
        )
    if batcher:
        from ..worker.batcher import Batcher

        try:
            queue_batcher = (
                Batcher.for_devnet(
                    parts.devnet, parts.chain, service_keys=parts.market.service_keys
                )
                if parts.devnet is not None
                else configured_batcher(
                    settings, parts.chain, service_keys=parts.market.service_keys
                )
            )
        except (ValueError, ConfigError) as exc:
            if not optional_batcher or parts.devnet is None:
                raise ConfigError(str(exc)) from exc
            log.warning(
                "serving without the batcher (orders are not filled): %s; name `batcher` and "
                "`collateral` wallets in the seed's marketplace section to settle on this devnet",
                exc,
            )
            return loops
        loops.append(
            NamedLoop(
                "batcher", lambda stop: queue_batcher.run(stop, interval), queue_batcher.poll_once
            )
        )
    return loops


_BATCHER_SETTINGS = (
    "batcher_key",
    "operator_collateral_key",
    "reference_address",
    "starter_nft_unit",
    "sale_script_ref",
    "queue_script_ref",
    "vault_script_ref",
)


def configured_batcher(
    settings: Settings, chain: ChainBackend, *, service_keys: ServiceKeys | None = None
) -> Batcher:
    """The batcher a public network's settings describe: its key (certificate and vault), the
    operator's collateral key, and the deployment (reference data, sale, queue and vault
    reference scripts), read from the chain and checked against the ReferenceDatum."""
    from ..config import parse_out_ref
    from ..worker.batcher import Batcher, BatcherKeys

    missing = [n for n in _BATCHER_SETTINGS if getattr(settings, n) is None]
    if missing:
        names = ", ".join(f"CARDANO_MARKET_{n.upper()}" for n in missing)
        raise ConfigError(f"the batcher needs {names} (or run with --no-batcher)")
    batcher_key = _key(settings.batcher_key, "CARDANO_MARKET_BATCHER_KEY")
    collateral_key = _key(
        settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY"
    )
    hot_key = _key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
    if hot_key is not None and hot_key.hash == batcher_key.hash:
        # The validators trust the hot key's signature alone in their fallback branches: a key
        # that also signs every purchase and refund would put that trust on the batcher's path.
        raise ConfigError(
            "CARDANO_MARKET_BATCHER_KEY is the operator's hot key "
            "(CARDANO_MARKET_OPERATOR_HOT_KEY): give the batcher a key of its own"
        )
    enterprise = BatcherKeys.enterprise(batcher_key, collateral_key, chain.network_id)
    keys = BatcherKeys(
        batcher_key,
        collateral_key,
        _key_address(settings.batcher_address, batcher_key.hash, "CARDANO_MARKET_BATCHER_ADDRESS")
        or enterprise.batcher_address,
        _key_address(
            settings.collateral_address, collateral_key.hash, "CARDANO_MARKET_COLLATERAL_ADDRESS"
        )
        or enterprise.collateral_address,
    )
    refs = (
        parse_out_ref(_required(settings.sale_script_ref)),
        parse_out_ref(_required(settings.queue_script_ref)),
        parse_out_ref(_required(settings.vault_script_ref)),
    )
    try:
        return Batcher.from_chain(
            chain,
            reference_address=decode_address(_required(settings.reference_address)),
            starter_nft=asset_from_unit(_required(settings.starter_nft_unit)),
            script_refs=refs,
            keys=keys,
            service_keys=service_keys,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _key_address(text: str | None, key_hash: bytes, setting: str) -> bytes | None:
    """The configured address of a key's UTxOs; ConfigError when another key pays it."""
    if text is None:
        return None
    address = decode_address(text)
    payment = parse_address(address).payment
    if payment.is_script or payment.hash != key_hash:
        raise ConfigError(f"{setting} is not paid to its key (payment part {payment.hash.hex()})")
    return address


def _open_v2(settings: Settings, parts: ServiceParts) -> V2Context | None:
    """The custodial API's context; on the devnet, its users, tokens and wallets recorded.

    ConfigError when it cannot be configured, except for a devnet whose key store refuses to
    generate a key (a PostgreSQL devnet without `KEY_ENCRYPTION_KEY`): there the v2 API is
    left out with a warning and v1 serves on.
    """
    from ..app.v2.context import V2Context
    from ..app.v2.seeding import seed_v2
    from ..security.keystore import KeyStore

    devnet = settings.network is Network.DEVNET
    network_id = parts.market.network_id
    try:
        keystore = KeyStore.from_settings(settings)
    except ConfigError as exc:
        if not devnet:
            raise
        log.warning("the v2 custodial API is off: %s", exc)
        return None
    check_stored_keys(parts.database, keystore)
    ctx = V2Context(
        market=parts.market,
        database=parts.database,
        keystore=keystore,
        fees=_secondary_fees(settings, parts.market.addresses.cash_register, network_id),
        verifier=_jwt_verifier(settings),
        escrow=_escrow_key(settings, network_id),
        price_slippage_percentage=Fraction(settings.primary_price_slippage_percentage),
        devnet=devnet,
        worker_poll_seconds=settings.worker_poll_ms / 1000,
        worker_lease_seconds=settings.worker_lease_seconds,
        clock=parts.market.clock,
    )
    if devnet and parts.devnet is not None:
        seed_v2(ctx, parts.devnet)
    return ctx


def check_stored_keys(database: Database, keystore: KeyStore) -> None:
    """Refuse to start (ConfigError naming the key id) when a stored custodial wallet was
    sealed with a key that is not configured: its user could never sign."""
    from ..store.users import CustodialWalletRepo

    with database.session() as session:
        stored = CustodialWalletRepo(session).key_ids()
    keystore.check_stored_key_ids(stored)


def _jwt_verifier(settings: Settings) -> JwtVerifier:
    """The configured verifier; on the devnet without one, HS256 with a secret kept beside the
    devnet file (`devnet_jwt_secret`), so `cardano-market devnet token` mints usable tokens."""
    from ..security.jwt_auth import JwtVerifier

    configured = settings.jwt_secret is not None or settings.jwt_public_key_pem() is not None
    if configured or settings.network is not Network.DEVNET:
        return JwtVerifier.from_settings(settings)
    return JwtVerifier(
        algorithm="HS256",
        key=devnet_jwt_secret(settings.devnet_path),
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
    )


def devnet_jwt_secret(devnet_path: Path) -> bytes:
    """The devnet's generated HS256 secret: 32 random bytes in `<devnet file>.jwt-secret`
    (mode 0600, created exclusively, so processes sharing the devnet agree on it)."""
    path = Path(f"{devnet_path}{DEVNET_JWT_SECRET_SUFFIX}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the devnet JWT secret {path}: {exc}") from None
    secret = secrets.token_bytes(32)
    try:
        os.write(fd, secret.hex().encode() + b"\n")
    finally:
        os.close(fd)
    return secret


def _read_secret(path: Path) -> bytes:
    import time

    for _ in range(50):  # another process may have created it a moment ago
        text = path.read_text(encoding="ascii")
        if text.endswith("\n"):
            try:
                return bytes.fromhex(text.strip())
            except ValueError:
                break
        time.sleep(0.01)
    raise ConfigError(f"the devnet JWT secret {path} is malformed: delete it to get a new one")


def _secondary_fees(settings: Settings, cash_register: bytes, network_id: int) -> SecondaryFees:
    from ..app.v2.context import SecondaryFees
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


def _escrow_key(settings: Settings, network_id: int) -> EscrowKey | None:
    from ..app.v2.context import EscrowKey
    from ..domain.address import Credential, make_address
    from ..synthetic import wallet

    key = _key(settings.escrow_key, "CARDANO_MARKET_ESCROW_KEY")
    if key is None:
        if settings.network is not Network.DEVNET:
            log.warning("selling on the secondary market disabled: no CARDANO_MARKET_ESCROW_KEY")
            return None
        key = wallet(DEVNET_ESCROW_WALLET, network_id).payment_key
    return EscrowKey(key, make_address(Credential.key(key.hash), None, network_id))


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


def _open_devnet(
    settings: Settings, database: Database, metrics: Metrics, seed: Any
) -> ServiceParts:
    from ..chain.devnet import DevnetBackend, DevnetWallet
    from ..chain.devnet.seed import apply_seed

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
        queue_script_ref=contracts.queue_script_utxo.out_ref,
        vault_script_ref=contracts.vault_script_utxo.out_ref,
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
        pointer_policy=_profile_pointer_policy(settings),
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


def _profile_pointer_policy(settings: Settings) -> bytes | None:
    """The network profile's pointer policy (the monitor follows sales by it)."""
    from ..domain.profiles import profile_for

    profile = profile_for(settings.network.value) if settings.network_profile else None
    return None if profile is None else profile.pointer_policy


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
    if settings.operator_hot_key is None and settings.operator_collateral_key is None:
        given = []  # the deployment alone (a network profile's) enables nothing
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
        queue_script_ref=_out_ref_or_none(settings.queue_script_ref),
        vault_script_ref=_out_ref_or_none(settings.vault_script_ref),
    )
    return OperatorKeys.enterprise(hot, collateral, network_id), refs


def _out_ref_or_none(text: str | None) -> tuple[bytes, int] | None:
    from ..config import parse_out_ref

    return None if text is None else parse_out_ref(text)


def _required(value: str | None) -> str:
    assert value is not None  # Settings refuses a public network without the addresses
    return value
