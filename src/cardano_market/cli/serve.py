"""Long-running commands: `serve` (the HTTP API), `worker` (custodial transactions), `settle` and
`batcher` (the chain monitor and the batcher without the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    DatabaseUrl,
    DevnetPath,
    EnvFile,
    JsonLogs,
    LogLevel,
    Network,
    Once,
    SeedFile,
    fail,
    given,
)


def serve(
    network: Network = None,
    database_url: DatabaseUrl = None,
    seed: SeedFile = None,
    devnet_path: DevnetPath = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
    env_file: EnvFile = None,
    log_level: LogLevel = "info",
    json_logs: JsonLogs = True,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run a v2 transaction worker in-process (default: on the devnet only).",
        ),
    ] = None,
    settle: Annotated[
        bool | None,
        typer.Option(
            "--settle/--no-settle",
            help="Run the chain monitor and the batcher in-process (default: on the devnet only).",
        ),
    ] = None,
    allow_remote_devnet: Annotated[
        bool,
        typer.Option(
            help="Let the devnet listen on a non-loopback --host (it serves admin tokens)."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="HTTP worker processes sharing the port; the background loops (v2 worker, "
            "monitor, batcher) run once, in the parent process.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (v1 marketplace, v2 custodial, /health, /metrics, /docs; /devnet on the
    devnet).

    Options override CARDANO_MARKET_* environment variables. Migrations run at start.
    """
    import logging

    import uvicorn

    from ..config import load_settings
    from ..domain.errors import MarketError
    from ..runtime import create_service_app, open_service
    from ..service.observability import configure_logging

    overrides = given(
        network=network,
        database_url=database_url,
        seed=seed,
        devnet_path=devnet_path,
        host=host,
        port=port,
    )
    configure_logging(log_level.upper(), json=json_logs)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is enough
    from ..runtime.serve import check_port, export_for_workers, run_workers

    try:
        settings = load_settings(env_file, **overrides)
        check_port(settings.host, settings.port)  # before anything starts or is created
        parts = open_service(settings)
    except MarketError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"cardano-market: {json.dumps(settings.describe())}", err=True)
    on_devnet = settings.network.value == "devnet"
    if on_devnet and not _is_loopback(settings.host):
        if not allow_remote_devnet and not settings.allow_remote_devnet:
            parts.close()
            raise fail(
                f"refusing to serve the devnet on {settings.host}: it hands out admin tokens"
                " (/devnet/token) and signs for its wallets, to anyone who can reach it. Use"
                " 127.0.0.1, or --allow-remote-devnet if that is what you want"
            )
        logging.getLogger("cardano_market.service").warning(
            "the devnet listens on %s: anyone who reaches it can mint admin tokens and sign"
            " with its wallets",
            settings.host,
        )
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(
            settings.metrics_port, addr=settings.host, registry=parts.metrics.registry
        )
    in_process = on_devnet if worker is None else worker
    settling = on_devnet if settle is None else settle
    if workers > 1:
        export_for_workers(overrides, env_file, log_level, json_logs)
        run_workers(parts, workers=workers, worker=in_process, settle=settling, log_level=log_level)
        return
    try:
        service = create_service_app(parts, worker=in_process, settle=settling)
    except MarketError as exc:
        parts.close()
        raise fail(str(exc)) from exc
    uvicorn.run(
        service,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        log_level=log_level.lower(),
    )


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def settle_command(
    env_file: EnvFile = None,
    monitor: Annotated[
        bool, typer.Option("--monitor/--no-monitor", help="Follow the chain into the database.")
    ] = True,
    batcher: Annotated[
        bool, typer.Option("--batcher/--no-batcher", help="Fill and refund queued orders.")
    ] = True,
    once: Once = False,
    log_level: LogLevel = "info",
) -> None:
    """Run settlement without the HTTP API: the chain monitor (keeps sales, orders and issued
    transactions true to the chain) and the batcher (fills, then refunds, queued orders). Run
    one process of it per deployment. On a public network the batcher needs
    CARDANO_MARKET_BATCHER_KEY and the deployment's reference-script out-refs (README)."""
    _run_settlement(env_file, monitor=monitor, batcher=batcher, once=once, log_level=log_level)


def batcher_command(
    env_file: EnvFile = None, once: Once = False, log_level: LogLevel = "info"
) -> None:
    """Run the batcher alone: fill, then refund, queued orders (`settle --no-monitor`)."""
    _run_settlement(env_file, monitor=False, batcher=True, once=once, log_level=log_level)


def _run_settlement(
    env_file: Path | None, *, monitor: bool, batcher: bool, once: bool, log_level: str
) -> None:
    import threading

    from ..config import load_settings
    from ..domain.errors import MarketError
    from ..runtime import open_service
    from ..runtime.workers import housekeeping_loop, settlement_loops
    from ..service.observability import configure_logging

    configure_logging(log_level.upper(), json=True)
    try:
        parts = open_service(load_settings(env_file))
    except MarketError as exc:
        raise fail(str(exc)) from exc
    try:
        loops = [
            *settlement_loops(parts, monitor=monitor, batcher=batcher),
            housekeeping_loop(parts),
        ]
    except MarketError as exc:  # ConfigError, or ChainError reading the deployment
        parts.close()
        raise fail(str(exc)) from exc
    if once:
        try:
            for loop in loops:
                report = loop.once()
                summary = getattr(report, "summary", None)
                typer.echo(f"{loop.name}: {summary() if callable(summary) else report}", err=True)
        finally:
            parts.close()
        return
    from ..worker.loops import RunningLoops

    running = RunningLoops(loops)
    try:
        threading.Event().wait()  # until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        parts.close()


def worker_command(
    network: Network = None,
    database_url: DatabaseUrl = None,
    seed: SeedFile = None,
    devnet_path: DevnetPath = None,
    env_file: EnvFile = None,
    once: Annotated[
        bool, typer.Option("--once", help="Work until nothing is left to do, then exit.")
    ] = False,
    log_level: LogLevel = "info",
    json_logs: JsonLogs = True,
) -> None:
    """Advance v2 custodial transactions: build, sign, store, submit, confirm.

    Run as many as you like against one database: they share the work through row leases.
    Stops cleanly on SIGINT or SIGTERM.
    """
    import logging
    import signal
    import threading

    from ..config import load_settings
    from ..domain.errors import MarketError
    from ..runtime import open_service
    from ..service.observability import configure_logging
    from ..worker.processor import TransactionProcessor

    overrides = given(
        network=network, database_url=database_url, seed=seed, devnet_path=devnet_path
    )
    configure_logging(log_level.upper(), json=json_logs)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        parts = open_service(load_settings(env_file, **overrides))
    except MarketError as exc:
        raise fail(str(exc)) from exc
    if parts.v2 is None:
        parts.close()
        raise fail("the v2 custodial API is not configured: set CARDANO_MARKET_KEY_ENCRYPTION_KEY")
    processor = TransactionProcessor(parts.v2)
    try:
        if once:
            steps = processor.drain()
            typer.echo(f"worker {processor.worker_id}: {steps} step(s)", err=True)
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        processor.run(stop)
    finally:
        parts.close()
