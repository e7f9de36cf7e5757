"""`cardano-market devnet ...` (the embedded devnet: create, reset, read, advance, wallets, tokens)
and `cardano-market demo` (the v1 path walked on a fresh devnet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import fail


def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Where the devnet and database files go (default: a temporary folder)."),
    ] = None,
    wallet: Annotated[str, typer.Option(help="The demo seed's buyer wallet.")] = "alice",
    bundles: Annotated[int, typer.Option(min=1, help="Bundles to order.")] = 3,
) -> None:
    """Walk the v1 path on a fresh devnet over HTTP: fees, amount, UTxOs, transaction, signature,
    submit, confirmation, then the in-process batcher's fill as the order status shows it."""
    import logging
    import tempfile

    from ..demo import run_demo
    from ..domain.errors import MarketError

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="cardano-market-demo-") as scratch:
        target = workdir or Path(scratch)
        target.mkdir(parents=True, exist_ok=True)
        try:
            run_demo(target, wallet=wallet, bundles=bundles, say=typer.echo)
        except (MarketError, RuntimeError, KeyError) as exc:
            raise fail(str(exc)) from exc


app = typer.Typer(
    help="The embedded devnet: create it from a seed file, read its tip, move its time.",
    no_args_is_help=True,
)

DEFAULT_DEVNET_PATH = Path("devnet.db")
_DevnetPath = Annotated[Path, typer.Option("--path", help="The devnet's SQLite file.")]
_SeedFile = Annotated[
    Path | None, typer.Option("--seed", help="Seed file (JSON; default: the demo seed).")
]


def _load_seed(seed: Path | None) -> Any:
    from ..chain.devnet.seed import DEFAULT_SEED, load_seed
    from ..domain.errors import SeedError

    try:
        return load_seed(seed or DEFAULT_SEED)
    except SeedError as exc:
        raise fail(str(exc)) from exc


def _open_existing(path: Path) -> Any:
    from ..chain.devnet.ledger import Ledger

    if not path.exists():
        raise fail(f"no devnet at {path}; create one with: cardano-market devnet init")
    return Ledger(path)


@app.command("init")
def devnet_init(path: _DevnetPath = DEFAULT_DEVNET_PATH, seed: _SeedFile = None) -> None:
    """Create the devnet at PATH and apply the seed (a no-op when that seed is applied already)."""
    from ..chain.devnet.ledger import Ledger
    from ..chain.devnet.seed import apply_seed
    from ..domain.errors import SeedError

    parsed = _load_seed(seed)
    with Ledger(path) as ledger:
        try:
            result = apply_seed(ledger, parsed)
        except SeedError as exc:
            raise fail(str(exc)) from exc
    state = "seeded" if result.applied else "already seeded with this seed"
    typer.echo(
        f"{path}: {state} (seed {parsed.hash.hex()[:16]}): {len(result.wallets)} wallet(s), "
        f"{len(result.sales)} sale(s), oracle {'yes' if result.oracle else 'no'}"
    )


@app.command("reset")
def devnet_reset(
    path: _DevnetPath = DEFAULT_DEVNET_PATH,
    seed: _SeedFile = None,
    empty: Annotated[bool, typer.Option("--empty", help="Leave the devnet unseeded.")] = False,
) -> None:
    """Wipe the devnet at PATH (UTxOs, transactions, blocks, time) and apply the seed again."""
    from ..chain.devnet.seed import apply_seed

    parsed = None if empty else _load_seed(seed)
    with _open_existing(path) as ledger:
        ledger.reset()
        if parsed is not None:
            apply_seed(ledger, parsed)
    typer.echo(f"{path}: reset{'' if parsed is None else ' and seeded'}")


@app.command("tip")
def devnet_tip(path: _DevnetPath = DEFAULT_DEVNET_PATH) -> None:
    """Print the devnet's tip: slot, POSIX time (ms), epoch, block height."""
    with _open_existing(path) as ledger:
        tip = ledger.tip()
    typer.echo(
        f"slot {tip.slot}  time_ms {tip.time_ms}  epoch {tip.epoch}  block {tip.block_height}"
    )


@app.command("advance")
def devnet_advance(
    slots: Annotated[int, typer.Argument(min=0, help="Slots to move forward.")],
    path: _DevnetPath = DEFAULT_DEVNET_PATH,
) -> None:
    """Move the devnet's time forward by SLOTS (a block is cut at the new slot)."""
    with _open_existing(path) as ledger:
        tip = ledger.advance(slots)
    typer.echo(f"slot {tip.slot}  block {tip.block_height}")


@app.command("token")
def devnet_token(
    user_id: Annotated[
        str | None,
        typer.Argument(help="A seed user's 24-hex id (default: the devnet administrator)."),
    ] = None,
    path: _DevnetPath = DEFAULT_DEVNET_PATH,
    admin: Annotated[bool, typer.Option("--admin", help="Give the token the admin role.")] = False,
    ttl: Annotated[int, typer.Option(min=1, help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a v2 Bearer token for a devnet user (HS256 with CARDANO_MARKET_JWT_SECRET, or the
    devnet's generated secret beside PATH, which `serve` uses too)."""
    import os

    from ..app.seeding import DEVNET_ADMIN_ID
    from ..domain.errors import ConfigError
    from ..runtime.keys import devnet_jwt_secret
    from ..security.jwt_auth import issue_token

    subject = user_id or DEVNET_ADMIN_ID
    configured = os.environ.get("CARDANO_MARKET_JWT_SECRET")
    try:
        secret = configured.encode() if configured else devnet_jwt_secret(path)
        token = issue_token(subject, key=secret, admin=admin or user_id is None, ttl_seconds=ttl)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(token)


@app.command("wallets")
def devnet_wallets(path: _DevnetPath = DEFAULT_DEVNET_PATH, seed: _SeedFile = None) -> None:
    """List the seed's wallets: name, bech32 address, lovelace and tokens on the devnet."""
    from ..domain.address import encode_address
    from ..domain.values import sum_values, unit_of
    from ..synthetic import wallet

    parsed = _load_seed(seed)
    names = {token.asset: name for name, token in parsed.tokens.items()}
    with _open_existing(path) as ledger:
        for name in sorted(parsed.wallets):
            keys = wallet(name, ledger.network_id)
            balance = sum_values(u.value for u in ledger.utxos_at(keys.address))
            tokens = "".join(
                f"  {qty} {names.get(asset, unit_of(asset))}"
                for asset, qty in sorted(balance.assets.items())
            )
            typer.echo(
                f"{name:<14} {encode_address(keys.address)}  {balance.coin} lovelace{tokens}"
            )
