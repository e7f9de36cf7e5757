"""`cardano-market keys ...`: custodial wallet keys at rest (status, rotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import EnvFile, fail, given

app = typer.Typer(
    help="Custodial wallet keys at rest: which key-encryption keys seal them; rotation.",
    no_args_is_help=True,
)

_KeysDatabase = Annotated[
    str | None, typer.Option(help="The service's database (sqlite:///FILE or postgresql...).")
]


def _open_keys(env_file: Path | None, database_url: str | None) -> tuple[Any, Any]:
    """The settings' key store and the migrated database (ConfigError as a clean exit)."""
    from ..config import load_settings
    from ..domain.errors import MarketError
    from ..runtime.database import open_database
    from ..runtime.keys import keystore_from_settings

    try:
        settings = load_settings(env_file, **given(database_url=database_url))
        keystore = keystore_from_settings(settings)
        database = open_database(settings)
    except MarketError as exc:
        raise fail(str(exc)) from exc
    return keystore, database


@app.command("status")
def keys_status(env_file: EnvFile = None, database_url: _KeysDatabase = None) -> None:
    """How many wallets each key id sealed, and whether that key is configured."""
    from ..store.users import CustodialWalletRepo

    keystore, database = _open_keys(env_file, database_url)
    try:
        with database.session() as session:
            counts = CustodialWalletRepo(session).key_ids()
    finally:
        database.dispose()
    current = keystore.current_key_id.hex()
    typer.echo(f"current key id {current}")
    for key_id, count in sorted(counts.items()):
        state = (
            "current"
            if key_id == current
            else ("retired" if bytes.fromhex(key_id) in keystore.key_ids else "NOT CONFIGURED")
        )
        typer.echo(f"{key_id}  {count} wallet(s)  {state}")


@app.command("rotate")
def keys_rotate(
    env_file: EnvFile = None,
    database_url: _KeysDatabase = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Wallets per database transaction.")] = 100,
    pause_ms: Annotated[
        int, typer.Option(min=0, help="Wait between batches (spares a busy database).")
    ] = 0,
) -> None:
    """Re-seal every custodial wallet key under CARDANO_MARKET_KEY_ENCRYPTION_KEY.

    Configure the new key as KEY_ENCRYPTION_KEY and the old one in KEY_ENCRYPTION_KEYS_RETIRED
    (services keep running with both), run this, then remove the old key. Each batch commits
    on its own: interrupted, it loses nothing, and running it again finishes the job.
    """
    from ..app.custody import RotationProgress, rotate_wallet_keys
    from ..domain.errors import MarketError
    from ..store.users import CustodialWalletRepo

    keystore, database = _open_keys(env_file, database_url)
    current = keystore.current_key_id.hex()

    def progress(step: RotationProgress) -> None:
        typer.echo(f"re-sealed {step.resealed} wallet(s) ({step.total} so far)")

    try:
        total = rotate_wallet_keys(
            database,
            keystore,
            batch_size=batch_size,
            pause_seconds=pause_ms / 1000,
            on_batch=progress,
        )
        with database.session() as session:
            left = {
                k: n
                for k, n in CustodialWalletRepo(session).key_ids().items()
                if k != current
            }
    except MarketError as exc:
        raise fail(str(exc)) from exc
    finally:
        database.dispose()
    if left:  # another process sealed with an older configuration meanwhile
        raise fail(f"wallets still sealed with other keys: {left}; run it again")
    typer.echo(f"done: {total} wallet(s) re-sealed; every wallet is sealed with key {current}")
