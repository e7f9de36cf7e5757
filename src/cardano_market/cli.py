"""The `cardano-market` command line. Commands import their layers lazily: `--help` stays fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Order amounts, order transactions and settlement for a Cardano marketplace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_ORDER_FIXTURE = Path(__file__).parent / "scenarios" / "usd-sale.json"
"""The packaged copy of fixtures/orders/usd-sale.json (found from any working directory)."""


@app.callback()
def _root() -> None:
    """Order amounts, order transactions and settlement for a Cardano marketplace."""


@app.command()
def order(
    fixture: Annotated[
        Path,
        typer.Option(help="Order scenario: sale, config, oracle price, wallet UTxOs, addresses."),
    ] = DEFAULT_ORDER_FIXTURE,
    bundle_quantity: Annotated[
        int | None, typer.Option(help="Bundles to buy (default: the fixture's).")
    ] = None,
    incentive_amount: Annotated[
        int | None, typer.Option(help="Incentive per action in currency base units.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Compute an order amount and build the unsigned order transaction from a scenario file."""
    from .domain.errors import MarketError
    from .scenario import load_scenario, run_order

    try:
        scenario = load_scenario(fixture)
        result = run_order(
            scenario, bundle_quantity=bundle_quantity, incentive_amount=incentive_amount
        )
    except (MarketError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_order(result)


def _print_order(result: dict[str, Any]) -> None:
    amount = result["amount"]
    out = sys.stdout.write
    out(f"sale            {result['saleId']}\n")
    out(f"bundles         {amount['bundleQuantity']}  incentive {amount['incentiveAmount']}\n")
    out(
        f"currency amount {amount['currencyAmount']}  service fee {amount['serviceFee']} "
        f"({amount['serviceFeeUnit']})\n"
    )
    out(f"amountCborHex   {amount['amountCborHex']}\n")
    tx = result["transaction"]
    out(f"tx id           {tx['txId']}\n")
    out(
        f"fee             {tx['fee']} lovelace, {len(tx['inputs'])} input(s), "
        f"{tx['vkeyWitnesses']} witness(es) expected\n"
    )
    for i, o in enumerate(tx["outputs"]):
        assets = ", ".join(f"{q} {u}" for u, q in o["assets"].items())
        out(
            f"  output {i} {o['role']:<12} {o['lovelace']} lovelace"
            f"{', ' + assets if assets else ''}\n"
        )
    out(f"txCborHex       {result['txCborHex']}\n")


@app.command()
def serve(
    network: Annotated[
        str | None, typer.Option(help="devnet (default), preview, preprod or mainnet.")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///FILE (default: ./cardano-market.db) or postgresql+psycopg://..."
        ),
    ] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Devnet seed file (default: the demo seed).")
    ] = None,
    devnet_path: Annotated[
        Path | None, typer.Option(help="Devnet ledger file (default: ./devnet.db).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
    env_file: Annotated[
        Path | None, typer.Option(help="A .env file of CARDANO_MARKET_* settings.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    json_logs: Annotated[bool, typer.Option("--json-logs/--text-logs", help="Log format.")] = True,
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

    from .config import load_settings
    from .domain.errors import MarketError
    from .runtime import create_service_app, open_service
    from .service.observability import configure_logging

    overrides = _given(
        network=network,
        database_url=database_url,
        seed=seed,
        devnet_path=devnet_path,
        host=host,
        port=port,
    )
    configure_logging(log_level.upper(), json=json_logs)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is enough
    from .runtime.serve import check_port, export_for_workers, run_workers

    try:
        settings = load_settings(env_file, **overrides)
        check_port(settings.host, settings.port)  # before anything starts or is created
        parts = open_service(settings)
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"cardano-market: {json.dumps(settings.describe())}", err=True)
    on_devnet = settings.network.value == "devnet"
    if on_devnet and not _is_loopback(settings.host):
        if not allow_remote_devnet and not settings.allow_remote_devnet:
            parts.close()
            raise _fail(
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
        raise _fail(str(exc)) from exc
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


_EnvFile = Annotated[Path | None, typer.Option(help="A .env file of CARDANO_MARKET_* settings.")]
_Once = Annotated[bool, typer.Option(help="One pass, then exit.")]
_LogLevel = Annotated[str, typer.Option(help="debug, info, warning or error.")]


@app.command("settle")
def settle_command(
    env_file: _EnvFile = None,
    monitor: Annotated[
        bool, typer.Option("--monitor/--no-monitor", help="Follow the chain into the database.")
    ] = True,
    batcher: Annotated[
        bool, typer.Option("--batcher/--no-batcher", help="Fill and refund queued orders.")
    ] = True,
    once: _Once = False,
    log_level: _LogLevel = "info",
) -> None:
    """Run settlement without the HTTP API: the chain monitor (keeps sales, orders and issued
    transactions true to the chain) and the batcher (fills, then refunds, queued orders). Run
    one process of it per deployment. On a public network the batcher needs
    CARDANO_MARKET_BATCHER_KEY and the deployment's reference-script out-refs (README)."""
    _run_settlement(env_file, monitor=monitor, batcher=batcher, once=once, log_level=log_level)


@app.command("batcher")
def batcher_command(
    env_file: _EnvFile = None, once: _Once = False, log_level: _LogLevel = "info"
) -> None:
    """Run the batcher alone: fill, then refund, queued orders (`settle --no-monitor`)."""
    _run_settlement(env_file, monitor=False, batcher=True, once=once, log_level=log_level)


def _run_settlement(
    env_file: Path | None, *, monitor: bool, batcher: bool, once: bool, log_level: str
) -> None:
    import threading

    from .config import load_settings
    from .domain.errors import MarketError
    from .runtime import open_service
    from .runtime.workers import housekeeping_loop, settlement_loops
    from .service.observability import configure_logging

    configure_logging(log_level.upper(), json=True)
    try:
        parts = open_service(load_settings(env_file))
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    try:
        loops = [
            *settlement_loops(parts, monitor=monitor, batcher=batcher),
            housekeeping_loop(parts),
        ]
    except MarketError as exc:  # ConfigError, or ChainError reading the deployment
        parts.close()
        raise _fail(str(exc)) from exc
    if once:
        try:
            for loop in loops:
                report = loop.once()
                summary = getattr(report, "summary", None)
                typer.echo(f"{loop.name}: {summary() if callable(summary) else report}", err=True)
        finally:
            parts.close()
        return
    from .worker.loops import RunningLoops

    running = RunningLoops(loops)
    try:
        threading.Event().wait()  # until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        parts.close()


@app.command("worker")
def worker_command(
    network: Annotated[
        str | None, typer.Option(help="devnet (default), preview, preprod or mainnet.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The service's database (sqlite:///FILE or postgresql...).")
    ] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Devnet seed file (default: the demo seed).")
    ] = None,
    devnet_path: Annotated[
        Path | None, typer.Option(help="Devnet ledger file (default: ./devnet.db).")
    ] = None,
    env_file: _EnvFile = None,
    once: Annotated[
        bool, typer.Option("--once", help="Work until nothing is left to do, then exit.")
    ] = False,
    log_level: _LogLevel = "info",
    json_logs: Annotated[bool, typer.Option("--json-logs/--text-logs", help="Log format.")] = True,
) -> None:
    """Advance v2 custodial transactions: build, sign, store, submit, confirm.

    Run as many as you like against one database: they share the work through row leases.
    Stops cleanly on SIGINT or SIGTERM.
    """
    import logging
    import signal
    import threading

    from .config import load_settings
    from .domain.errors import MarketError
    from .runtime import open_service
    from .service.observability import configure_logging
    from .worker.processor import TransactionProcessor

    overrides = _given(
        network=network, database_url=database_url, seed=seed, devnet_path=devnet_path
    )
    configure_logging(log_level.upper(), json=json_logs)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        parts = open_service(load_settings(env_file, **overrides))
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    if parts.v2 is None:
        parts.close()
        raise _fail("the v2 custodial API is not configured: set CARDANO_MARKET_KEY_ENCRYPTION_KEY")
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


@app.command()
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

    from .demo import run_demo
    from .domain.errors import MarketError

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="cardano-market-demo-") as scratch:
        target = workdir or Path(scratch)
        target.mkdir(parents=True, exist_ok=True)
        try:
            run_demo(target, wallet=wallet, bundles=bundles, say=typer.echo)
        except (MarketError, RuntimeError, KeyError) as exc:
            raise _fail(str(exc)) from exc


devnet_app = typer.Typer(
    help="The embedded devnet: create it from a seed file, read its tip, move its time.",
    no_args_is_help=True,
)
app.add_typer(devnet_app, name="devnet")

DEFAULT_DEVNET_PATH = Path("devnet.db")
_DevnetPath = Annotated[Path, typer.Option("--path", help="The devnet's SQLite file.")]
_SeedFile = Annotated[
    Path | None, typer.Option("--seed", help="Seed file (JSON; default: the demo seed).")
]


# -- cardano-market check (issue 14) ---------------------------------------------------------------


@app.command("check")
def check_command(
    network: Annotated[
        str | None, typer.Option(help="devnet, preview, preprod or mainnet (default: settings).")
    ] = None,
    env_file: _EnvFile = None,
    seed: Annotated[Path | None, typer.Option(help="Devnet seed file.")] = None,
    devnet_path: Annotated[Path | None, typer.Option(help="Devnet ledger file.")] = None,
) -> None:
    """Read the live deployment of the configured network and print one line per check
    (reference datum, reference scripts, contract addresses, oracle, currency, fee bounds,
    chain latency); exit status 1 when any fails."""
    import logging
    import time

    from .app.deployment_check import check_deployment, failures
    from .config import load_settings
    from .domain.errors import MarketError
    from .runtime import open_service
    from .runtime.deployment import expected_deployment

    logging.getLogger().setLevel(logging.ERROR)
    try:
        settings = load_settings(
            env_file, **_given(network=network, seed=seed, devnet_path=devnet_path)
        )
        # nothing to store: an in-memory database, so no file is created or migrated
        parts = open_service(
            settings.model_copy(update={"database_url": "sqlite://"}), verify=False
        )
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    try:
        expected = expected_deployment(parts)
        checks = check_deployment(parts.chain, expected, now_ms=int(time.time() * 1000))
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    finally:
        parts.close()
    typer.echo(f"network {settings.network.value}" + (" (profile)" if expected.profile else ""))
    for check in checks:
        typer.echo(check.line())
    failed = failures(checks)
    if failed:
        typer.echo(f"{len(failed)} of {len(checks)} checks failed", err=True)
        raise typer.Exit(1)


def _given(**options: Any) -> dict[str, Any]:
    """The command-line options that were given: they override CARDANO_MARKET_* settings."""
    return {key: value for key, value in options.items() if value is not None}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _load_seed(seed: Path | None) -> Any:
    from .chain.devnet.seed import DEFAULT_SEED, load_seed
    from .domain.errors import SeedError

    try:
        return load_seed(seed or DEFAULT_SEED)
    except SeedError as exc:
        raise _fail(str(exc)) from exc


def _open_existing(path: Path) -> Any:
    from .chain.devnet.ledger import Ledger

    if not path.exists():
        raise _fail(f"no devnet at {path}; create one with: cardano-market devnet init")
    return Ledger(path)


@devnet_app.command("init")
def devnet_init(path: _DevnetPath = DEFAULT_DEVNET_PATH, seed: _SeedFile = None) -> None:
    """Create the devnet at PATH and apply the seed (a no-op when that seed is applied already)."""
    from .chain.devnet.ledger import Ledger
    from .chain.devnet.seed import apply_seed
    from .domain.errors import SeedError

    parsed = _load_seed(seed)
    with Ledger(path) as ledger:
        try:
            result = apply_seed(ledger, parsed)
        except SeedError as exc:
            raise _fail(str(exc)) from exc
    state = "seeded" if result.applied else "already seeded with this seed"
    typer.echo(
        f"{path}: {state} (seed {parsed.hash.hex()[:16]}): {len(result.wallets)} wallet(s), "
        f"{len(result.sales)} sale(s), oracle {'yes' if result.oracle else 'no'}"
    )


@devnet_app.command("reset")
def devnet_reset(
    path: _DevnetPath = DEFAULT_DEVNET_PATH,
    seed: _SeedFile = None,
    empty: Annotated[bool, typer.Option("--empty", help="Leave the devnet unseeded.")] = False,
) -> None:
    """Wipe the devnet at PATH (UTxOs, transactions, blocks, time) and apply the seed again."""
    from .chain.devnet.seed import apply_seed

    parsed = None if empty else _load_seed(seed)
    with _open_existing(path) as ledger:
        ledger.reset()
        if parsed is not None:
            apply_seed(ledger, parsed)
    typer.echo(f"{path}: reset{'' if parsed is None else ' and seeded'}")


@devnet_app.command("tip")
def devnet_tip(path: _DevnetPath = DEFAULT_DEVNET_PATH) -> None:
    """Print the devnet's tip: slot, POSIX time (ms), epoch, block height."""
    with _open_existing(path) as ledger:
        tip = ledger.tip()
    typer.echo(
        f"slot {tip.slot}  time_ms {tip.time_ms}  epoch {tip.epoch}  block {tip.block_height}"
    )


@devnet_app.command("advance")
def devnet_advance(
    slots: Annotated[int, typer.Argument(min=0, help="Slots to move forward.")],
    path: _DevnetPath = DEFAULT_DEVNET_PATH,
) -> None:
    """Move the devnet's time forward by SLOTS (a block is cut at the new slot)."""
    with _open_existing(path) as ledger:
        tip = ledger.advance(slots)
    typer.echo(f"slot {tip.slot}  block {tip.block_height}")


@devnet_app.command("token")
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

    from .app.v2.seeding import DEVNET_ADMIN_ID
    from .domain.errors import ConfigError
    from .runtime.keys import devnet_jwt_secret
    from .security.jwt_auth import issue_token

    subject = user_id or DEVNET_ADMIN_ID
    configured = os.environ.get("CARDANO_MARKET_JWT_SECRET")
    try:
        secret = configured.encode() if configured else devnet_jwt_secret(path)
        token = issue_token(subject, key=secret, admin=admin or user_id is None, ttl_seconds=ttl)
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(token)


@devnet_app.command("wallets")
def devnet_wallets(path: _DevnetPath = DEFAULT_DEVNET_PATH, seed: _SeedFile = None) -> None:
    """List the seed's wallets: name, bech32 address, lovelace and tokens on the devnet."""
    from .domain.address import encode_address
    from .domain.values import sum_values, unit_of
    from .synthetic import wallet

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


# -- keys: custodial wallet keys at rest --------------------------------------------------------

keys_app = typer.Typer(
    help="Custodial wallet keys at rest: which key-encryption keys seal them; rotation.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

_KeysDatabase = Annotated[
    str | None, typer.Option(help="The service's database (sqlite:///FILE or postgresql...).")
]


def _open_keys(env_file: Path | None, database_url: str | None) -> tuple[Any, Any]:
    """The settings' key store and the migrated database (ConfigError as a clean exit)."""
    from .config import load_settings
    from .domain.errors import MarketError
    from .runtime.database import open_database
    from .runtime.keys import keystore_from_settings

    try:
        settings = load_settings(env_file, **_given(database_url=database_url))
        keystore = keystore_from_settings(settings)
        database = open_database(settings)
    except MarketError as exc:
        raise _fail(str(exc)) from exc
    return keystore, database


@keys_app.command("status")
def keys_status(env_file: _EnvFile = None, database_url: _KeysDatabase = None) -> None:
    """How many wallets each key id sealed, and whether that key is configured."""
    from .store.users import CustodialWalletRepo

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


@keys_app.command("rotate")
def keys_rotate(
    env_file: _EnvFile = None,
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
    from .app.v2.custody import RotationProgress, rotate_wallet_keys
    from .domain.errors import MarketError
    from .store.users import CustodialWalletRepo

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
        raise _fail(str(exc)) from exc
    finally:
        database.dispose()
    if left:  # another process sealed with an older configuration meanwhile
        raise _fail(f"wallets still sealed with other keys: {left}; run it again")
    typer.echo(f"done: {total} wallet(s) re-sealed; every wallet is sealed with key {current}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
