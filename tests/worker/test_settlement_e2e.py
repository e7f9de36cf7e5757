"""Settlement end to end through the v1 HTTP flow on the devnet, on SQLite and PostgreSQL.

A sale of 5 bundles: bob orders 3 (amount -> order transaction -> wallet signature -> submitTx)
and the batcher fills them. The database has not caught up (no monitor ran), so alice can still
order 3 of the 2 left. Then the batcher and the monitor run in background threads, as `serve`
runs them: alice gets 2 bundles and the rest of her order back, the unspent incentive included;
the monitor marks the sale SoldOut and her order partially filled. Lovelace and every token add
up across all wallets and contracts, the fees being the only loss.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from batcher_world import demo_seed_data, devnet_service_settings, extra_sale_id, seed_file
from fastapi.testclient import TestClient

from cardano_market.domain.pricing import order_amount
from cardano_market.domain.sale import SaleStatus
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.parse import transaction_id
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from cardano_market.store.orders import Order, OrderRepo, OrderState
from cardano_market.store.sales import SaleRepo
from cardano_market.worker.batcher import Batcher
from cardano_market.worker.monitor import ChainMonitor

pytest.importorskip("uplc", reason="the devnet runs the marketplace validators with uplc")

SALE = extra_sale_id(0)  # the seed's 5-bundle USD sale ($0.50 a bundle)


@dataclass
class Service:
    client: TestClient
    parts: ServiceParts

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def order(self, wallet: str, bundles: int) -> str:
        """The v1 flow: amount, the wallet's UTxOs, the order transaction, sign, submitTx."""
        quote = self.post(
            "/v1/marketplace/orders/amount", {"saleId": SALE, "bundleQuantity": bundles}
        )
        payer = self.parts.wallets[wallet]
        utxos = payer.get_utxos(Value.from_cbor(bytes.fromhex(quote["amountCborHex"])))
        assert utxos
        built = self.post(
            "/v1/marketplace/orders/transaction",
            {"orderId": quote["orderId"], "changeAddress": payer.bech32, "utxoCborHexList": utxos},
        )
        tx_hex = built["txCborHex"]
        witnesses = payer.sign_tx(tx_hex, partial_sign=True)
        tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
        self.post("/v1/cardano/submitTx", {"txId": tx_id, "witnessSetCborHex": witnesses})
        return tx_id


@pytest.fixture
def service(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    seed = seed_file(tmp_path / "seed.json", demo_seed_data(5))
    parts = open_service(devnet_service_settings(database_url, tmp_path, monkeypatch, seed=seed))
    with TestClient(create_service_app(parts)) as client:
        yield Service(client, parts)


def test_three_bundles_ordered_two_left_over_http(service: Service) -> None:
    parts = service.parts
    market, seeded = parts.market, parts.devnet
    contracts = seeded.contracts
    everyone = [
        contracts.sale_address,
        contracts.queue_address,
        contracts.vault_address,
        *(w.address for w in seeded.wallets.values()),
    ]

    def holdings(*addresses: bytes) -> Value:
        chosen = set(addresses or everyone)
        return sum_values(u.value for a in chosen for u in parts.chain.utxos_at(a))

    start_height = parts.chain.tip().block_height
    before = holdings()
    alice, bob = seeded.wallets["alice"].address, seeded.wallets["bob"].address
    song, currency = seeded.seed.asset("SONG"), market.config.currency
    alice_before, batcher_before = holdings(alice), holdings(seeded.batcher.address)
    assert seeded.cash_register is not None and seeded.cash_register != seeded.batcher
    register_before = holdings(seeded.cash_register.address)
    vault_before = holdings(contracts.vault_address)

    monitor = ChainMonitor(
        parts.chain,  # type: ignore[arg-type]
        parts.database,
        market.addresses,
        market.addresses.pointer_policy,
    )
    service.order("bob", 3)
    assert monitor.poll_once().count("order_queued") == 1
    batcher = Batcher.for_devnet(seeded, parts.chain)
    first = batcher.poll_once()
    assert [s.bundles for s in first.settled] == [3]
    assert _sale_left(parts, song) == 2_000_000

    alice_tx = service.order("alice", 3)  # the database still says 5 bundles are available
    stop = threading.Event()
    workers = [
        threading.Thread(target=batcher.run, args=(stop, 0.2), name="batcher"),
        threading.Thread(target=monitor.run, args=(stop, 0.2), name="monitor"),
    ]
    for worker in workers:
        worker.start()
    try:
        alice_order = _wait_for_closed_order(parts, alice_tx, timeout=240)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)

    # the monitor: sale SoldOut, alice's order partially filled (2 of 3) and closed, bob's filled
    with parts.database.session() as session:
        stored = SaleRepo(session).get(SALE)
        orders = {o.origin[0].hex(): o for o in OrderRepo(session).find(sale_id=SALE)}
    assert stored is not None and stored.sale.status is SaleStatus.SOLD_OUT
    assert stored.sale.available_bundle_quantity == 0
    assert alice_order.state is OrderState.PARTIALLY_FILLED and alice_order.bundles_filled == 2
    assert alice_order.refund_tx_id is not None
    (bob_order,) = [o for h, o in orders.items() if h != alice_tx]
    assert bob_order.state is OrderState.FILLED and bob_order.bundles_filled == 3

    # every balance adds up: nothing created, nothing lost but the fees
    fees = sum(r.fee for r in parts.chain.ledger.transactions_from(start_height + 1))
    after = holdings()
    assert after == before - Value(fees)
    assert holdings(alice).quantity(song) == 2_000_000
    assert holdings(bob).quantity(song) == 3_000_000
    assert _sale_left(parts, song) == 0
    # alice paid two bundles, one profit, two incentives (purchase and refund) and the service
    # fee; the third bundle's price and the rest came back with the refund
    price = seeded.oracle.datum.price
    priced = order_amount(market_sale(parts), 3, None, price, market.config)
    unit = profit = 500_000_000_000 // price
    incentive = market.config.incentive_min_amount
    spent = 2 * unit + profit + 2 * incentive + priced.service_fee
    assert holdings(alice).quantity(currency) == alice_before.quantity(currency) - spent
    # the vault has both profits, the batcher four incentives, the cash register two service
    # fees
    assert holdings(contracts.vault_address).quantity(currency) == (
        vault_before.quantity(currency) + 2 * profit
    )
    bob_fee = order_amount(market_sale(parts), 3, None, price, market.config).service_fee
    assert holdings(seeded.batcher.address).quantity(currency) == (
        batcher_before.quantity(currency) + 4 * incentive
    )
    assert holdings(seeded.cash_register.address).quantity(currency) == (
        register_before.quantity(currency) + priced.service_fee + bob_fee
    )
    assert parts.chain.utxos_at(contracts.queue_address) == []


def market_sale(parts: ServiceParts) -> Any:
    return next(s.sale for s in parts.devnet.sales if s.sale.id == SALE)


def _sale_left(parts: ServiceParts, song: Any) -> int:
    contracts = parts.devnet.contracts
    pointer = (contracts.pointer_policy, market_sale(parts).pointer_name)
    (sale,) = [u for u in parts.chain.utxos_at(contracts.sale_address) if u.value.quantity(pointer)]
    return int(sale.value.quantity(song))


def _wait_for_closed_order(parts: ServiceParts, tx_id: str, timeout: float) -> Order:
    """The order placed by `tx_id` once the monitor has recorded it closed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with parts.database.session() as session:
            found = [o for o in OrderRepo(session).find(sale_id=SALE) if o.origin[0].hex() == tx_id]
        if found and not found[0].is_open and found[0].refund_tx_id is not None:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"order {tx_id} was not settled within {timeout} s")
