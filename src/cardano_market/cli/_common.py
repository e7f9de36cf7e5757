"""What every command shares: options that override settings, clean failures, common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def given(**options: Any) -> dict[str, Any]:
    """The command-line options that were given: they override CARDANO_MARKET_* settings."""
    return {key: value for key, value in options.items() if value is not None}


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)



EnvFile = Annotated[Path | None, typer.Option(help="A .env file of CARDANO_MARKET_* settings.")]
Once = Annotated[bool, typer.Option(help="One pass, then exit.")]
LogLevel = Annotated[str, typer.Option(help="debug, info, warning or error.")]
Network = Annotated[str | None, typer.Option(help="devnet (default), preview, preprod or mainnet.")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="sqlite:///FILE (default: ./cardano-market.db) or postgresql+psycopg://..."),
]
SeedFile = Annotated[Path | None, typer.Option(help="Devnet seed file (default: the demo seed).")]
DevnetPath = Annotated[Path | None, typer.Option(help="Devnet ledger file (default: ./devnet.db).")]
JsonLogs = Annotated[bool, typer.Option("--json-logs/--text-logs", help="Log format.")]
