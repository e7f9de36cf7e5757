"""`cardano-market order`: price an order and build its transaction from a scenario file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_ORDER_FIXTURE = Path(__file__).parent.parent / "scenarios" / "usd-sale.json"
"""The packaged copy of fixtures/orders/usd-sale.json (found from any working directory)."""


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
    from ..domain.errors import MarketError
    from ..scenario import load_scenario, run_order

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
