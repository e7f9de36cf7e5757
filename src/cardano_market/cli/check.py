"""`cardano-market check`: read the configured network's live deployment, one line per check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import EnvFile, fail, given


def check_command(
    network: Annotated[
        str | None, typer.Option(help="devnet, preview, preprod or mainnet (default: settings).")
    ] = None,
    env_file: EnvFile = None,
    seed: Annotated[Path | None, typer.Option(help="Devnet seed file.")] = None,
    devnet_path: Annotated[Path | None, typer.Option(help="Devnet ledger file.")] = None,
) -> None:
    """Read the live deployment of the configured network and print one line per check
    (reference datum, reference scripts, contract addresses, oracle, currency, fee bounds,
    chain latency); exit status 1 when any fails."""
    import logging
    import time

    from ..app.deployment_check import check_deployment, failures
    from ..config import load_settings
    from ..domain.errors import MarketError
    from ..runtime import open_service
    from ..runtime.deployment import expected_deployment

    logging.getLogger().setLevel(logging.ERROR)
    try:
        settings = load_settings(
            env_file, **given(network=network, seed=seed, devnet_path=devnet_path)
        )
        # nothing to store: an in-memory database, so no file is created or migrated
        parts = open_service(
            settings.model_copy(update={"database_url": "sqlite://"}), verify=False
        )
    except MarketError as exc:
        raise fail(str(exc)) from exc
    try:
        expected = expected_deployment(parts)
        checks = check_deployment(parts.chain, expected, now_ms=int(time.time() * 1000))
    except MarketError as exc:
        raise fail(str(exc)) from exc
    finally:
        parts.close()
    typer.echo(f"network {settings.network.value}" + (" (profile)" if expected.profile else ""))
    for check in checks:
        typer.echo(check.line())
    failed = failures(checks)
    if failed:
        typer.echo(f"{len(failed)} of {len(checks)} checks failed", err=True)
        raise typer.Exit(1)
