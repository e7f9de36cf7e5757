"""`cardano-market demo`: the whole v1 path on a fresh devnet, over real HTTP, step by step.

The service runs in a background thread on a free loopback port; the demo plays the dApp and the
CIP-30 wallet: fees -> amount -> getUtxos(amount) -> order transaction -> signTx -> submitTx ->
the queue UTxO on the ledger -> the in-process batcher fills the order and refunds the rest, which
the order status route (`GET /v1/marketplace/orders/{orderId}`) shows once the monitor saw it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .config import load_settings
from .domain.address import encode_address
from .domain.datums import QueueDatum
from .domain.values import Value, unit_of
from .ledger.parse import transaction_id
from .runtime import ServiceParts, create_service_app, open_service

DEMO_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # the demo seed's USD-priced sale
SETTLE_INTERVAL_SECONDS = 0.5
FILL_TIMEOUT_SECONDS = 180.0
NO_RECAPTCHA = {"g-recaptcha-platform": "web", "g-recaptcha-token": "devnet"}


@contextmanager
def running_service(workdir: Path, *, settle: bool = False) -> Iterator[tuple[str, ServiceParts]]:
    """The service on a fresh devnet and SQLite file in `workdir`, served on a free port (with
    `settle`, the chain monitor and the batcher run in-process)."""
    import uvicorn

    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{workdir / 'cardano-market.db'}",
        devnet_path=workdir / "devnet.db",
        settle_interval_seconds=SETTLE_INTERVAL_SECONDS,
    )
    parts = open_service(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_service_app(parts, settle=settle),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the demo service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", parts
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_demo(
    workdir: Path,
    *,
    wallet: str = "alice",
    sale_id: str = DEMO_SALE,
    bundles: int = 3,
    say: Callable[[str], None] = print,
    wait_for_fill: bool = True,
    fill_timeout: float = FILL_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Walk the v1 order path; returns what happened (the printed figures, as data). With
    `wait_for_fill` the batcher and monitor run in-process and the walk ends at the settled
    order status."""
    with (
        running_service(workdir, settle=wait_for_fill) as (base, parts),
        httpx.Client(base_url=base, headers=NO_RECAPTCHA, timeout=30) as http,
    ):
        buyer = parts.wallets[wallet]
        market = parts.market
        names = {token.asset: name for name, token in parts.devnet.seed.tokens.items()}

        def show(value: Value) -> str:
            tokens = ", ".join(
                f"{q} {names.get(a, unit_of(a))}" for a, q in sorted(value.assets.items())
            )
            return f"{value.coin} lovelace" + (f" + {tokens}" if tokens else "")

        say(f"service      {base} (devnet {workdir / 'devnet.db'})")
        fees = _ok(http.get("/v1/marketplace/orders/fees"))
        say(f"1 fees       {fees['serviceFeePercentage']} % service fee, "
            f"${fees['profitAmountUsd']} profit per order")  # fmt: skip
        sale = _ok(http.get(f"/v1/marketplace/sales/{sale_id}"))
        say(f"  sale       {sale_id}: {sale['availableBundleQuantity']} bundles left at "
            f"${sale['costAmountUsd']} ({sale['costAmountNewm']} NEWM)")  # fmt: skip
        quote = _ok(
            http.post(
                "/v1/marketplace/orders/amount", json={"saleId": sale_id, "bundleQuantity": bundles}
            )
        )
        amount = Value.from_cbor(bytes.fromhex(quote["amountCborHex"]))
        say(f"2 amount     order {quote['orderId']}: {show(amount)}")
        say(f"             amountCborHex {quote['amountCborHex']}")
        utxos = buyer.get_utxos(amount) or []
        say(f"3 wallet     {wallet} ({buyer.bech32[:24]}...) offers {len(utxos)} UTxO(s) "
            "for getUtxos(amount)")  # fmt: skip
        built = _ok(
            http.post(
                "/v1/marketplace/orders/transaction",
                json={
                    "orderId": quote["orderId"],
                    "changeAddress": buyer.bech32,
                    "utxoCborHexList": utxos,
                },
            )
        )
        tx = bytes.fromhex(built["txCborHex"])
        tx_id = built["txId"]  # the id of the bytes as issued (what submitTx takes)
        assert tx_id == transaction_id(tx).hex()
        summary = _describe_tx(tx, market.addresses.queue, market.addresses.cash_register)
        say(f"4 tx         {tx_id}  fee {built['fee']} lovelace, {len(tx)} bytes unsigned")
        for role, value in summary["outputs"]:
            say(f"               -> {role:<13} {show(value)}")
        witnesses = buyer.sign_tx(built["txCborHex"], partial_sign=False)
        say(f"5 signature  signTx returned a witness set of {len(witnesses) // 2} bytes")
        submitted = _ok(
            http.post("/v1/cardano/submitTx", json={"txId": tx_id, "witnessSetCborHex": witnesses})
        )
        say(f"6 submit     {submitted['result']} {submitted['txId']}")
        status = market.backend.tx_status(bytes.fromhex(tx_id))
        queued = [u for u in market.backend.utxos_at(market.addresses.queue)
                  if u.tx_hash.hex() == tx_id]  # fmt: skip
        say(f"7 confirmed  {status.state.value} (depth {status.depth})")
        if queued:
            datum = QueueDatum.from_cbor(queued[0].inline_datum or b"")
            say(f"             queue UTxO {tx_id}#{queued[0].index}: {show(queued[0].value)}")
            say(f"             datum: owner {datum.owner.pkh.hex()[:16]}..., "
                f"{datum.number_of_bundles} bundles, incentive {datum.incentive.amount}, "
                f"pointer {datum.pointer_name.hex()[:16]}...")  # fmt: skip
        settled: dict[str, Any] | None = None
        if wait_for_fill:
            settled = _wait_for_fill(http, quote["orderId"], fill_timeout, say, show)
        return {
            "orderId": quote["orderId"],
            "amountCborHex": quote["amountCborHex"],
            "txId": tx_id,
            "fee": summary["fee"],
            "status": status.state.value,
            "queued": bool(queued),
            "owner": encode_address(buyer.address),
            "order": settled,
        }


def _wait_for_fill(
    http: httpx.Client,
    order_id: str,
    timeout: float,
    say: Callable[[str], None],
    show: Callable[[Value], str],
) -> dict[str, Any]:
    """Poll the order status until the order is settled (filled and refunded, or refunded)."""
    say(f"8 settle     waiting for the batcher (GET /v1/marketplace/orders/{order_id}) ...")
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        order: dict[str, Any] = _ok(http.get(f"/v1/marketplace/orders/{order_id}"))
        if order["state"] != seen:
            seen = order["state"]
            say(f"             {seen}")
        if order["settled"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"order {order_id} not settled after {timeout:.0f} s: {seen}")
        time.sleep(SETTLE_INTERVAL_SECONDS)

    def amounts(field: str) -> str:
        got = order[field]
        return "unknown" if got is None else show(_value(got))

    say(f"9 {order['state'].lower():<11} {order['bundlesFilled']} of {order['bundlesRequested']} "
        f"bundles; paid {amounts('amountPaid')}")  # fmt: skip
    say(f"             refunded {amounts('amountRefunded')}")
    for purchase in order["purchaseTxIds"]:
        say(f"             purchase {purchase}")
    say(f"             refund   {order['refundTxId']}")
    return order


def _value(amounts: dict[str, int]) -> Value:
    from .domain.values import asset_from_unit

    return Value(
        amounts["lovelace"],
        {asset_from_unit(unit): q for unit, q in amounts.items() if unit != "lovelace"},
    )


def _ok(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    return response.json()


def _describe_tx(tx: bytes, queue: bytes, cash_register: bytes) -> dict[str, Any]:
    import cbor2

    body = cbor2.loads(tx)[0]
    outputs = []
    for raw in body[1]:
        address, amount = raw[0], raw[1]  # legacy [addr, value] or map {0: addr, 1: value}
        value = Value.from_cbor(cbor2.dumps(amount))
        role = (
            "queue"
            if address == queue
            else "cash register"
            if address == cash_register
            else ("change")
        )
        outputs.append((role, value))
    return {"fee": body[2], "outputs": outputs}
