"""The `cardano-market` command line. Commands import their layers lazily: `--help` stays fast.

Each command lives in the module of its job; this module registers them, in the order `--help`
lists them.
"""

from __future__ import annotations

import typer

from . import check, devnet, keys, order, serve

app = typer.Typer(
    help="Order amounts, order transactions and settlement for a Cardano marketplace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Order amounts, order transactions and settlement for a Cardano marketplace."""


app.command()(order.order)
app.command()(serve.serve)
app.command("settle")(serve.settle_command)
app.command("batcher")(serve.batcher_command)
app.command("worker")(serve.worker_command)
app.command()(devnet.demo)
app.add_typer(devnet.app, name="devnet")
app.command("check")(check.check_command)
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()


__all__ = ["app", "main"]
