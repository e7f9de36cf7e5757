"""The background loops a service runs, built from opened parts and started: housekeeping, the
chain monitor, the batcher (the devnet's from its seed, a public network's from settings) and the
v2 transaction worker; in the HTTP app's lifetime (`in_app_background`) or once in the parent of
a multi-process serve (`background_loops`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..app.signing import ServiceKeys
from ..chain.base import ChainBackend
from ..config import Settings, parse_out_ref
from ..domain.address import decode_address
from ..domain.errors import ConfigError
from ..domain.values import asset_from_unit
from ..worker.loops import NamedLoop, RunningLoops
from .keys import key_address, load_key, required

if TYPE_CHECKING:
    from ..app.context import Context
    from ..worker.batcher import Batcher
    from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")

Background = Callable[[], Callable[[], None]]
"""Starts what runs beside the HTTP app; returns what stops it (and waits for it)."""


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
            # the batcher's allow-list: the profit token, which is the marketplace currency
            incentives=[parts.market.config.currency],
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
    from ..app.settlement.deployment import BatcherKeys
    from ..worker.batcher import Batcher

    missing = [n for n in _BATCHER_SETTINGS if getattr(settings, n) is None]
    if missing:
        names = ", ".join(f"CARDANO_MARKET_{n.upper()}" for n in missing)
        raise ConfigError(f"the batcher needs {names} (or run with --no-batcher)")
    batcher_key = load_key(settings.batcher_key, "CARDANO_MARKET_BATCHER_KEY")
    collateral_key = load_key(
        settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY"
    )
    hot_key = load_key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
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
        key_address(settings.batcher_address, batcher_key.hash, "CARDANO_MARKET_BATCHER_ADDRESS")
        or enterprise.batcher_address,
        key_address(
            settings.collateral_address, collateral_key.hash, "CARDANO_MARKET_COLLATERAL_ADDRESS"
        )
        or enterprise.collateral_address,
    )
    refs = (
        parse_out_ref(required(settings.sale_script_ref)),
        parse_out_ref(required(settings.queue_script_ref)),
        parse_out_ref(required(settings.vault_script_ref)),
    )
    try:
        return Batcher.from_chain(
            chain,
            reference_address=decode_address(required(settings.reference_address)),
            starter_nft=asset_from_unit(required(settings.starter_nft_unit)),
            script_refs=refs,
            keys=keys,
            service_keys=service_keys,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def in_app_background(
    v2: Context | None, *, worker: bool, loops: Sequence[NamedLoop]
) -> Background:
    """What the HTTP app runs while it is up: with `worker` (and a v2 context) a transaction
    worker in a daemon thread, and `loops`; stopped loops first, then the worker."""

    def start() -> Callable[[], None]:
        stop_worker = _start_processor(v2) if v2 is not None and worker else None
        running = RunningLoops(loops) if loops else None

        def stop() -> None:
            if running is not None:
                running.stop()
            if stop_worker is not None:
                stop_worker()

        return stop

    return start


def _start_processor(v2: Context) -> Callable[[], None]:
    """A transaction worker in a daemon thread; returns what stops it (and waits for it)."""
    import threading

    from ..worker.processor import TransactionProcessor

    stop = threading.Event()
    processor = TransactionProcessor(v2)
    thread = threading.Thread(target=processor.run, args=(stop,), name="v2-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_worker


def background_loops(parts: ServiceParts, *, worker: bool, settle: bool) -> Callable[[], None]:
    """Start the loops a multi-process serve runs once, here; returns what stops them."""
    loops: list[NamedLoop] = []
    if settle:
        loops += settlement_loops(parts, optional_batcher=True)
    if worker and parts.v2 is not None:
        from ..worker.processor import TransactionProcessor

        processor = TransactionProcessor(parts.v2)
        loops.append(NamedLoop("v2-worker", processor.run, lambda: None))
    running = RunningLoops(loops)
    log.info("background loops running once, in the parent: %s", [loop.name for loop in loops])
    return running.stop
