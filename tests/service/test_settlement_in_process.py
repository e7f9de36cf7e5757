"""`serve --settle` on the devnet: the chain monitor and the batcher run in-process, so an order
placed over HTTP is filled and refunded with no other process, and the database follows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_world import Service

from cardano_market.config import load_settings
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import transaction_id
from cardano_market.runtime import create_service_app, open_service
from cardano_market.store.orders import OrderRepo, OrderState

TOKEN_SALE = "4fda0b09-87c2-553e-a358-4490842a0f29"  # demo seed: 50 bundles at 150 NEWM


@pytest.fixture
def settling(tmp_path: Path, clean_env: None) -> Iterator[Service]:
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        devnet_path=tmp_path / "devnet.db",
        settle_interval_seconds=0.2,
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts, settle=True)) as client:
        yield Service(client, parts)


def test_an_order_is_filled_by_the_in_process_batcher(settling: Service) -> None:
    service = settling
    buyer = service.parts.wallets["bob"]
    quote = service.post(
        "/v1/marketplace/orders/amount",
        "generate_order_amount",
        {"saleId": TOKEN_SALE, "bundleQuantity": 2},
    ).json()
    utxos = buyer.get_utxos(Value.from_cbor(bytes.fromhex(quote["amountCborHex"])))
    built = service.post(
        "/v1/marketplace/orders/transaction",
        "generate_order_transaction",
        {"orderId": quote["orderId"], "changeAddress": buyer.bech32, "utxoCborHexList": utxos},
    )
    assert built.status_code == 200, built.text
    tx_hex = built.json()["txCborHex"]
    submitted = service.post(
        "/v1/cardano/submitTx",
        "submit_tx",
        {
            "txId": transaction_id(bytes.fromhex(tx_hex)).hex(),
            "witnessSetCborHex": buyer.sign_tx(tx_hex),
        },
    )
    assert submitted.status_code == 200, submitted.text
    song = service.parts.devnet.seed.asset("SONG")
    deadline = time.monotonic() + 240
    orders = []
    while time.monotonic() < deadline:
        with service.parts.database.session() as session:
            orders = OrderRepo(session).find(owner_address=buyer.address)
        if orders and orders[0].state is OrderState.FILLED and orders[0].refund_tx_id:
            break
        time.sleep(0.5)
    assert orders and orders[0].state is OrderState.FILLED, orders
    assert orders[0].bundles_filled == 2
    assert buyer.balance().quantity(song) == 2 * 1_000_000
    sale = service.get(f"/v1/marketplace/sales/{TOKEN_SALE}", "get_sale").json()
    assert sale["availableBundleQuantity"] == 48
