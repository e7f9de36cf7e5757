"""The monitor behind the v1 service on the demo devnet: a sale started over HTTP is discovered,
an order placed over HTTP is queued against its sale, submitted transactions are confirmed (or
failed past their TTL), an ended sale is Ended; a restarted monitor adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from batcher_world import devnet_service_settings
from fastapi.testclient import TestClient

from cardano_market.domain.sale import SaleStatus
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import transaction_id
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from cardano_market.store.orders import OrderRepo, OrderState
from cardano_market.store.sales import SaleRepo
from cardano_market.store.transactions import IssuedTransactionRepo, TxStatus
from cardano_market.worker.monitor import ChainMonitor
from worlds import song_sale_start

pytest.importorskip("uplc", reason="sale start and end run the sale scripts with uplc")

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50


@dataclass
class Service:
    client: TestClient
    parts: ServiceParts

    def post(self, path: str, body: Any) -> Any:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def build(self, path: str, body: dict[str, Any], wallet: str, amount_hex: str) -> str:
        payer = self.parts.wallets[wallet]
        utxos = payer.get_utxos(Value.from_cbor(bytes.fromhex(amount_hex)))
        assert utxos
        answer = self.post(path, {**body, "changeAddress": payer.bech32, "utxoCborHexList": utxos})
        tx_hex: str = answer["txCborHex"]
        return tx_hex

    def sign_and_submit(self, wallet: str, tx_hex: str) -> str:
        witnesses = self.parts.wallets[wallet].sign_tx(tx_hex, partial_sign=True)
        tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
        self.post("/v1/cardano/submitTx", {"txId": tx_id, "witnessSetCborHex": witnesses})
        return tx_id

    def monitor(self) -> ChainMonitor:
        market = self.parts.market
        return ChainMonitor(
            self.parts.chain,  # type: ignore[arg-type]
            self.parts.database,
            market.addresses,
            market.addresses.pointer_policy,
        )


@pytest.fixture
def service(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    parts = open_service(devnet_service_settings(database_url, tmp_path, monkeypatch))
    with TestClient(create_service_app(parts)) as client:
        yield Service(client, parts)


def start_sale(service: Service) -> tuple[str, str]:
    song = service.parts.devnet.seed.asset("SONG")
    artist = service.parts.wallets["artist"]
    start = service.post(
        "/v1/marketplace/sales/start/amount",
        song_sale_start(artist.bech32, song, 10),
    )
    tx_hex = service.build(
        "/v1/marketplace/sales/start/transaction",
        {"saleId": start["saleId"]},
        "artist",
        start["amountCborHex"],
    )
    return start["saleId"], service.sign_and_submit("artist", tx_hex)


def place_order(service: Service, sale_id: str, bundles: int) -> str:
    quote = service.post(
        "/v1/marketplace/orders/amount", {"saleId": sale_id, "bundleQuantity": bundles}
    )
    tx_hex = service.build(
        "/v1/marketplace/orders/transaction",
        {"orderId": quote["orderId"]},
        "alice",
        quote["amountCborHex"],
    )
    return service.sign_and_submit("alice", tx_hex)


def test_discovery_orders_and_confirmations(service: Service) -> None:
    sale_id, start_tx = start_sale(service)
    order_tx = place_order(service, USD_SALE, 3)
    monitor = service.monitor()

    report = monitor.poll_once()
    assert report.count("sale_discovered") == 1 and report.count("order_queued") == 1
    assert report.count("tx_confirmed") == 2
    database = service.parts.database
    with database.session() as session:
        discovered = SaleRepo(session).get(sale_id)
        (order,) = OrderRepo(session).find(sale_id=USD_SALE)
        issued = IssuedTransactionRepo(session)
        statuses = {issued.get(t).status for t in (start_tx, order_tx)}  # type: ignore[union-attr]
    assert discovered is not None and discovered.sale.status is SaleStatus.STARTED
    assert discovered.sale.available_bundle_quantity == 10
    assert order.state is OrderState.QUEUED and order.origin == (bytes.fromhex(order_tx), 0)
    assert order.bundles_requested == 3
    assert statuses == {TxStatus.CONFIRMED}

    # An order for the discovered sale is linked to it; a restarted monitor repeats nothing.
    place_order(service, sale_id, 1)
    restarted = service.monitor()
    report = restarted.poll_once()
    assert report.count("order_queued") == 1 and report.count("tx_confirmed") == 1
    assert restarted.poll_once().events == [] and monitor.poll_once().events == []
    with database.session() as session:
        assert len(OrderRepo(session).find(sale_id=sale_id)) == 1
        assert len(OrderRepo(session).find()) == 2


def test_ended_sale_and_expired_transaction(service: Service) -> None:
    monitor = service.monitor()
    assert monitor.poll_once().count("sale_ended") == 0  # sees the seeded sale UTxOs
    end = service.post("/v1/marketplace/sales/end/amount", {"saleId": USD_SALE})
    end_hex = service.build(
        "/v1/marketplace/sales/end/transaction",
        {"saleId": USD_SALE},
        "artist",
        end["amountCborHex"],
    )
    service.sign_and_submit("artist", end_hex)
    report = monitor.poll_once()
    assert report.count("sale_ended") == 1 and report.count("tx_confirmed") == 1
    with service.parts.database.session() as session:
        ended = SaleRepo(session).get(USD_SALE)
    assert ended is not None and ended.sale.status is SaleStatus.ENDED

    # A transaction recorded as submitted that never reaches the chain fails after its TTL.
    quote = service.post(
        "/v1/marketplace/orders/amount",
        {"saleId": "4fda0b09-87c2-553e-a358-4490842a0f29", "bundleQuantity": 1},
    )
    tx_hex = service.build(
        "/v1/marketplace/orders/transaction",
        {"orderId": quote["orderId"]},
        "bob",
        quote["amountCborHex"],
    )
    tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
    market = service.parts.market
    with service.parts.database.session() as session:
        IssuedTransactionRepo(session).mark_submitted(
            tx_id, signed_cbor=bytes.fromhex(tx_hex), now=market.clock()
        )
    assert monitor.poll_once().count("tx_failed") == 0  # still within its validity
    service.parts.chain.advance(market.order_validity_seconds + 60)  # type: ignore[attr-defined]
    report = monitor.poll_once()
    assert report.count("tx_failed") == 1
    with service.parts.database.session() as session:
        failed = IssuedTransactionRepo(session).get(tx_id)
    assert failed is not None and failed.status is TxStatus.FAILED
