"""The v1 order status over HTTP, kept true by the in-process monitor: an over-subscribed sale
(3 bundles; alice asks 2, bob 2, alice 1 more) ends with one order filled, one partially filled
and one refunded, and every amount the API reports adds up to what the ledger holds."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_world import Service

from cardano_market.config import load_settings
from cardano_market.domain.values import Value, asset_from_unit, unit_of
from cardano_market.runtime import create_service_app, open_service
from cardano_market.runtime.workers import settlement_loops

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SALE = "4fda0b09-87c2-553e-a358-4490842a0f29"  # demo seed: NEWM-priced; 3 bundles here
BUNDLES = 3
COST = 150_000_000  # NEWM base units per bundle
ORDERS = "/v1/marketplace/orders"


def value_of(amounts: dict[str, int]) -> Value:
    return Value(
        amounts["lovelace"], {asset_from_unit(u): q for u, q in amounts.items() if u != "lovelace"}
    )


@pytest.fixture
def settling(tmp_path: Path, clean_env: None) -> Iterator[Service]:
    seed = json.loads((ROOT / "fixtures" / "devnet" / "demo-seed.json").read_text())
    for sale in seed["sales"]:
        if sale["id"] == TOKEN_SALE:
            sale["totalBundleQuantity"] = BUNDLES
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(seed))
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        devnet_path=tmp_path / "devnet.db",
        seed=seed_file,
        settle_interval_seconds=0.2,
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts, settle=True)) as client:
        yield Service(client, parts)


def sale_currency(service: Service) -> int:
    market = service.parts.market
    held = market.backend.utxos_at(market.addresses.sale)
    return sum(u.value.quantity(market.config.currency) for u in held)


def status(service: Service, order_id: str) -> dict[str, Any]:
    response = service.get(f"{ORDERS}/{order_id}", "get_order")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def place(service: Service, wallet: str, bundles: int, incentive: int) -> str:
    """amount -> transaction -> submitTx; checks Pending then Issued on the way."""
    quote = service.post(
        f"{ORDERS}/amount",
        "generate_order_amount",
        {"saleId": TOKEN_SALE, "bundleQuantity": bundles, "incentiveAmount": incentive},
    )
    assert quote.status_code == 200, quote.text
    order_id: str = quote.json()["orderId"]
    pending = status(service, order_id)
    assert pending["state"] == "Pending" and pending["bundlesRequested"] == bundles
    assert pending["orderTxId"] is None and not pending["settled"]
    buyer = service.parts.wallets[wallet]
    utxos = buyer.get_utxos(Value.from_cbor(bytes.fromhex(quote.json()["amountCborHex"])))
    built = service.post(
        f"{ORDERS}/transaction",
        "generate_order_transaction",
        {"orderId": order_id, "changeAddress": buyer.bech32, "utxoCborHexList": utxos},
    ).json()
    issued = status(service, order_id)
    assert issued["state"] == "Issued", issued
    assert issued["orderTxId"] == built["txId"]
    assert issued["ownerAddress"] == buyer.bech32 and issued["saleId"] == TOKEN_SALE
    submitted = service.post(
        "/v1/cardano/submitTx",
        "submit_tx",
        {"txId": built["txId"], "witnessSetCborHex": buyer.sign_tx(built["txCborHex"])},
    )
    assert submitted.status_code == 200, submitted.text
    assert status(service, order_id)["state"] in ("Submitted", "Queued", "Filled")
    return order_id


def test_an_over_subscribed_sale_fills_partly_fills_and_refunds(
    settling: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cardano_market.monitor")
    caplog.set_level(logging.INFO, logger="cardano_market.orders")
    service = settling
    market = service.parts.market
    ledger = service.parts.chain.ledger
    song = service.parts.devnet.seed.asset("SONG")
    newm = market.config.currency
    alice, bob = service.parts.wallets["alice"], service.parts.wallets["bob"]
    sale_before = sale_currency(service)
    songs_before = {w: service.parts.wallets[w].balance().quantity(song) for w in ("alice", "bob")}

    # Incentives order the batcher's queue: alice's 2, then bob's 2 (1 left), then alice's 1.
    first = place(service, "alice", 2, 7_000_000)
    second = place(service, "bob", 2, 6_000_000)
    third = place(service, "alice", 1, 5_000_000)

    deadline = time.monotonic() + 300
    states: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        states = {oid: status(service, oid) for oid in (first, second, third)}
        if all(s["settled"] for s in states.values()):
            break
        time.sleep(0.5)
    assert all(s["settled"] for s in states.values()), states
    assert [states[o]["state"] for o in (first, second, third)] == [
        "Filled",
        "PartiallyFilled",
        "Refunded",
    ]
    assert [states[o]["bundlesFilled"] for o in (first, second, third)] == [2, 1, 0]
    assert [len(states[o]["purchaseTxIds"]) for o in (first, second, third)] == [1, 1, 0]

    for order_id, wallet in ((first, alice), (second, bob), (third, alice)):
        st = states[order_id]
        assert st["orderId"] == order_id and st["cancelTxId"] is None
        order_tx = ledger.transaction(bytes.fromhex(st["orderTxId"]))
        assert order_tx is not None
        queue_out = market.backend.transaction(bytes.fromhex(st["orderTxId"])).outputs[0]
        locked, paid, refunded = (
            value_of(st[k]) for k in ("amountLocked", "amountPaid", "amountRefunded")
        )
        assert locked == queue_out.value  # what the order transaction put at the queue
        # the refund gave the owner exactly its output on the ledger, bundle tokens aside
        refund = market.backend.transaction(bytes.fromhex(st["refundTxId"]))
        assert refund is not None
        [owner_out] = refund.outputs_at(wallet.address)
        assert owner_out.value.quantity(song) == st["bundlesFilled"] * 1_000_000
        assert refunded == Value(owner_out.value.coin, {newm: owner_out.value.quantity(newm)})
        # what is neither paid nor refunded is the refund's fee and the batcher's incentive
        refund_fee = ledger.transaction(refund.tx_id).fee
        incentive = {first: 7_000_000, second: 6_000_000, third: 5_000_000}[order_id]
        assert locked - paid - refunded == Value(refund_fee, {newm: incentive})
        # each purchase paid what left the queue UTxO on the ledger
        if st["purchaseTxIds"]:
            [purchase_id] = st["purchaseTxIds"]
            purchase = market.backend.transaction(bytes.fromhex(purchase_id))
            assert purchase is not None
            [continuing] = purchase.outputs_at(market.addresses.queue)
            assert continuing.out_ref in refund.inputs
            left = Value(continuing.value.coin, {newm: continuing.value.quantity(newm)})
            assert locked - paid == left
            assert paid.quantity(newm) >= st["bundlesFilled"] * COST + incentive
        else:
            assert paid == Value()

    # The sale took 3 bundles' cost; the buyers hold what the API says they got.
    assert sale_currency(service) - sale_before == BUNDLES * COST
    assert alice.balance().quantity(song) - songs_before["alice"] == 2 * 1_000_000
    assert bob.balance().quantity(song) - songs_before["bob"] == 1_000_000

    # The monitor's log names the API's order ids.
    logged = [r.getMessage() for r in caplog.records if r.name == "cardano_market.monitor"]
    for kind, order_id in (("purchase", first), ("purchase", second), ("refund", third)):
        assert any(line.startswith(f"{kind} {order_id} ") for line in logged), logged
    issued = [r.getMessage() for r in caplog.records if r.name == "cardano_market.orders"]
    for order_id in (first, second, third):
        assert any(line.startswith(f"order {order_id} issued as") for line in issued), issued
    metrics = service.client.get("/metrics").text
    assert 'cardano_market_monitor_events_total{kind="purchase"} 2.0' in metrics
    assert 'cardano_market_monitor_events_total{kind="order_queued"} 3.0' in metrics

    # A wallet's orders, paged like the sales list.
    listed = service.get(ORDERS, "get_orders", ownerAddress=alice.bech32)
    assert listed.status_code == 200, listed.text
    assert [o["orderId"] for o in listed.json()] == [first, third]
    newest = service.get(ORDERS, "get_orders", ownerAddress=alice.bech32, sortOrder="desc", limit=1)
    assert [o["orderId"] for o in newest.json()] == [third]
    assert [o["orderId"] for o in service.get(ORDERS, "get_orders", ownerAddress=bob.bech32).json()]
    assert unit_of(newm) in states[first]["amountPaid"]


def test_unknown_order_ids_and_bad_owner_addresses(settling: Service) -> None:
    service = settling
    missing = service.get(f"{ORDERS}/d0907e3d-a9a7-43b1-93dc-f3b0ee929021", "get_order")
    assert missing.status_code == 404
    assert missing.json()["cause"] == "Order d0907e3d-a9a7-43b1-93dc-f3b0ee929021 not found"
    assert service.get(f"{ORDERS}/not-a-uuid", "get_order").status_code == 404
    bad = service.get(ORDERS, "get_orders", ownerAddress="addr_test1xyz")
    assert bad.status_code == 400 and "ownerAddress" in bad.json()["cause"]
    assert service.get(ORDERS, "get_orders").status_code == 400  # ownerAddress is required


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_recaptcha_guards_the_status_routes_with_their_actions(service: Service) -> None:
    quote = service.post(
        f"{ORDERS}/amount", "generate_order_amount", {"saleId": TOKEN_SALE, "bundleQuantity": 1}
    ).json()
    path = f"{ORDERS}/{quote['orderId']}"
    assert service.client.get(path, headers=service.headers("get_sale")).status_code == 403
    assert service.client.get(path).status_code == 400  # no reCAPTCHA headers
    assert service.get(path, "get_order").json()["state"] == "Pending"
    owner = service.parts.wallets["alice"].bech32
    listed = service.client.get(
        ORDERS, params={"ownerAddress": owner}, headers=service.headers("get_order")
    )
    assert listed.status_code == 403
    assert service.get(ORDERS, "get_orders", ownerAddress=owner).json() == []


@pytest.fixture
def manual(tmp_path: Path, clean_env: None) -> Iterator[Service]:
    """The service without in-process loops: the test turns the batcher and monitor itself."""
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        devnet_path=tmp_path / "devnet.db",
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts)) as client:
        yield Service(client, parts)


def test_an_order_filled_and_refunded_between_two_polls_is_still_followed(
    manual: Service,
) -> None:
    """The batcher fills and refunds the order before the monitor ever sees it at the queue:
    the monitor adopts it from the confirmed order transaction and follows its spends."""
    service = manual
    [monitor, batcher] = settlement_loops(service.parts)
    order_id = place(service, "bob", 2, 5_000_000)
    for _ in range(4):  # purchase, then refund (chained without waiting for blocks)
        batcher.once()
    queued = service.parts.market.backend.utxos_at(service.parts.market.addresses.queue)
    assert not queued, "the order came and went before any monitor poll"
    for _ in range(3):
        monitor.once()
    status_now = status(service, order_id)
    assert status_now["state"] == "Filled" and status_now["settled"], status_now
    assert status_now["bundlesFilled"] == 2 and len(status_now["purchaseTxIds"]) == 1
    assert status_now["refundTxId"] and status_now["amountRefunded"]["lovelace"] > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unused_and_unsubmitted_orders_expire(service: Service) -> None:
    market = service.parts.market
    unused = service.post(
        f"{ORDERS}/amount", "generate_order_amount", {"saleId": TOKEN_SALE, "bundleQuantity": 1}
    ).json()["orderId"]
    unsigned = service.post(
        f"{ORDERS}/amount", "generate_order_amount", {"saleId": TOKEN_SALE, "bundleQuantity": 1}
    ).json()
    alice = service.parts.wallets["alice"]
    built = service.post(
        f"{ORDERS}/transaction",
        "generate_order_transaction",
        {
            "orderId": unsigned["orderId"],
            "changeAddress": alice.bech32,
            "utxoCborHexList": alice.get_utxos(Value.from_cbor(unsigned["amountCborHex"])),
        },
    )
    assert built.status_code == 200, built.text
    assert status(service, unused)["state"] == "Pending"
    assert status(service, unsigned["orderId"])["state"] == "Issued"
    later = market.clock() + timedelta(seconds=market.order_validity_seconds + 1)
    object.__setattr__(market, "clock", lambda: later)
    for order_id in (unused, unsigned["orderId"]):
        expired = status(service, order_id)
        assert expired["state"] == "Expired" and expired["settled"], expired
