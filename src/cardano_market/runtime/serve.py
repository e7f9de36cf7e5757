"""`serve --workers N`: N HTTP worker processes on one port, the background loops once.

uvicorn's process manager binds the port once and hands it to N worker processes (spawned, so
each imports and opens the service afresh: `worker_app` below, configured from the environment
the parent exported). The parent opened the service first (migrations, the devnet's seed), so
the workers find everything in place, and it runs the background loops itself, once: the v2
transaction worker, the chain monitor and the batcher. With PostgreSQL any number of such
processes and replicas share the load; SQLite serialises their writes (WAL, busy timeout).

The port is checked before anything starts: a busy port says so and what to do.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from typing import TYPE_CHECKING

from ..domain.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")

ENV_FILE_VAR = "CARDANO_MARKET_SERVE_ENV_FILE"
LOG_VAR = "CARDANO_MARKET_SERVE_LOG"
"""How the parent tells its worker processes what it was told (not settings: never read as one)."""


def check_port(host: str, port: int) -> None:
    """ConfigError saying what to do when `host:port` cannot be listened on (in use, or not an
    address of this machine). Port 0 (any free port) always passes."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: SO_REUSEADDR ignores TIME_WAIT leftovers, never a live listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use (another cardano-market serve?): "
                    f"stop that process, or serve on another port with --port N "
                    f"(CARDANO_MARKET_PORT)"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def export_for_workers(
    overrides: dict[str, object], env_file: object | None, log_level: str, json_logs: bool
) -> None:
    """Put what the command line said into the environment the worker processes inherit."""
    from ..config import env_name

    for name, value in overrides.items():
        os.environ[env_name(name)] = str(value)
    if env_file is not None:
        os.environ[ENV_FILE_VAR] = str(env_file)
    os.environ[LOG_VAR] = json.dumps({"level": log_level, "json": json_logs})


def worker_app() -> FastAPI:
    """One HTTP worker process's app (a uvicorn factory): the service from the environment,
    without background loops (the parent runs them)."""
    from ..config import load_settings
    from ..service.observability import configure_logging
    from .assembly import open_service
    from .web import create_service_app

    logging_options = json.loads(os.environ.get(LOG_VAR) or "{}")
    configure_logging(
        str(logging_options.get("level", "info")).upper(), json=logging_options.get("json", True)
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = load_settings(os.environ.get(ENV_FILE_VAR) or None)
    # the parent checked the deployment and ran the migrations already
    parts = open_service(settings, verify=False)
    return create_service_app(parts)


def run_workers(
    parts: ServiceParts,
    *,
    workers: int,
    worker: bool,
    settle: bool,
    log_level: str,
) -> None:
    """Serve with `workers` processes until interrupted; the loops run here meanwhile."""
    import uvicorn

    from .workers import background_loops

    settings = parts.settings
    stop = background_loops(parts, worker=worker, settle=settle)
    try:
        uvicorn.run(
            "cardano_market.runtime.serve:worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,
            access_log=False,
            log_level=log_level.lower(),
        )
    finally:
        stop()
        parts.close()
