"""The v1 order path end to end over HTTP on the devnet: fees, amount, the wallet's UTxOs, the
order transaction, the wallet's signature, submitTx, and the queue UTxO on the ledger; then every
documented error status with its cause."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service_world import Service

from cardano_market.domain.address import encode_address
from cardano_market.domain.datums import QueueDatum, Token, wallet_from_address
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import transaction_id
from cardano_market.ledger.witness import splice_witnesses
from cardano_market.store.transactions import IssuedTransactionRepo, TxStatus

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
TOKEN_SALE = "4fda0b09-87c2-553e-a358-4490842a0f29"  # demo seed: 50 bundles at 150 NEWM
AMOUNT = "/v1/marketplace/orders/amount"
TRANSACTION = "/v1/marketplace/orders/transaction"
SUBMIT = "/v1/cardano/submitTx"


def _amount(service: Service, sale_id: str, quantity: int, **extra: object) -> dict[str, str]:
    body = {"saleId": sale_id, "bundleQuantity": quantity, **extra}
    response = service.post(AMOUNT, "generate_order_amount", body)
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def _order_tx_with_all_utxos(service: Service, order_id: str, wallet: str) -> Any:
    """`POST .../orders/transaction` for `order_id` offering all of `wallet`'s UTxOs."""
    buyer = service.parts.wallets[wallet]
    body = {
        "orderId": order_id,
        "changeAddress": buyer.bech32,
        "utxoCborHexList": buyer.get_utxos() or [],
    }
    return service.post(TRANSACTION, "generate_order_transaction", body)


def _order_tx(service: Service, order_id: str, wallet: str, amount_hex: str) -> str:
    buyer = service.parts.wallets[wallet]
    utxos = buyer.get_utxos(Value.from_cbor(bytes.fromhex(amount_hex)))
    assert utxos, "the demo wallet covers the amount"
    response = service.post(
        TRANSACTION,
        "generate_order_transaction",
        {"orderId": order_id, "changeAddress": buyer.bech32, "utxoCborHexList": utxos},
    )
    assert response.status_code == 200, response.text
    tx_hex: str = response.json()["txCborHex"]
    return tx_hex


def test_fees(service: Service) -> None:
    response = service.get("/v1/marketplace/orders/fees", "get_order_fees")
    assert response.status_code == 200
    assert response.text == '{"serviceFeePercentage":10.0,"profitAmountUsd":0.5}'


def test_order_lands_in_the_queue_with_its_datum_and_value(service: Service) -> None:
    market = service.parts.market
    quote = _amount(service, USD_SALE, 3, incentiveAmount=6_000_000)
    tx_hex = _order_tx(service, quote["orderId"], "alice", quote["amountCborHex"])
    buyer = service.parts.wallets["alice"]
    witnesses = buyer.sign_tx(tx_hex, partial_sign=False)
    tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()

    response = service.post(SUBMIT, "submit_tx", {"txId": tx_id, "witnessSetCborHex": witnesses})
    assert response.status_code == 200, response.text
    assert response.json() == {"txId": tx_id, "result": "MsgAcceptTx"}

    queued = [
        u for u in market.backend.utxos_at(market.addresses.queue) if u.tx_hash.hex() == tx_id
    ]
    assert len(queued) == 1
    datum = QueueDatum.from_cbor(queued[0].inline_datum or b"")
    sale = service.parts.devnet.sales[0].sale
    assert datum.owner == wallet_from_address(buyer.address)
    assert datum.number_of_bundles == 3
    assert datum.incentive == Token.of(market.config.currency, 6_000_000)
    assert datum.pointer_name == sale.pointer_name
    # The queue holds orderLovelace and the currency amount less the service fee (PROTOCOL 4).
    priced = order_amount(sale, 3, 6_000_000, market.prices.current().price, market.config)
    assert queued[0].value.coin == market.config.order_lovelace
    assert queued[0].value.quantity(market.config.currency) == (
        priced.currency_amount - priced.service_fee
    )
    with market.database.session() as session:
        issued = IssuedTransactionRepo(session).get(tx_id)
    assert issued is not None and issued.status is TxStatus.SUBMITTED

    # submitTx is idempotent: the same witnesses again answer the same id, nothing resent.
    again = service.post(SUBMIT, "submit_tx", {"txId": tx_id, "witnessSetCborHex": witnesses})
    assert again.status_code == 200 and again.json()["txId"] == tx_id


def test_a_signed_transaction_is_submitted_whole(service: Service) -> None:
    quote = _amount(service, TOKEN_SALE, 2)
    tx_hex = _order_tx(service, quote["orderId"], "bob", quote["amountCborHex"])
    signed = splice_witnesses(
        bytes.fromhex(tx_hex), bytes.fromhex(service.parts.wallets["bob"].sign_tx(tx_hex))
    )
    response = service.post(SUBMIT, "submit_tx", {"cborHex": signed.hex()})
    assert response.status_code == 200, response.text
    assert response.json()["txId"] == transaction_id(signed).hex()


def test_an_order_id_is_single_use(service: Service) -> None:
    quote = _amount(service, USD_SALE, 1)
    _order_tx(service, quote["orderId"], "alice", quote["amountCborHex"])
    response = _order_tx_with_all_utxos(service, quote["orderId"], "alice")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert "used" in response.json()["cause"]


def test_an_expired_order_id_says_so(service: Service) -> None:
    quote = _amount(service, USD_SALE, 1)
    market = service.parts.market
    later = market.clock() + timedelta(seconds=market.config.order_ttl_seconds + 1)
    object.__setattr__(market, "clock", lambda: later)
    response = _order_tx_with_all_utxos(service, quote["orderId"], "alice")
    assert response.status_code == 404
    assert "expired" in response.json()["cause"]


def test_a_failed_build_leaves_the_order_usable(service: Service) -> None:
    quote = _amount(service, USD_SALE, 2)
    artist = service.parts.wallets["artist"]  # holds no NEWM: cannot pay
    response = service.post(
        TRANSACTION,
        "generate_order_transaction",
        {
            "orderId": quote["orderId"],
            "changeAddress": artist.bech32,
            "utxoCborHexList": artist.get_utxos() or [],
        },
    )
    assert response.status_code == 422
    assert (
        "NEWM" in response.json()["cause"]
        or "744e" in response.json()["cause"]
        or ("4e45574d" in response.json()["cause"])
    )
    # The same order id still works with a wallet that can pay.
    _order_tx(service, quote["orderId"], "alice", quote["amountCborHex"])


def test_error_statuses(service: Service) -> None:
    def amount(body: object) -> tuple[int, str]:
        r = service.post(AMOUNT, "generate_order_amount", body)
        return r.status_code, r.json().get("cause", "")

    assert amount({"saleId": USD_SALE, "bundleQuantity": 101}) == (
        422,
        "Bundle quantity (101) exceeds sale availability (100)",
    )
    status, cause = amount({"saleId": USD_SALE, "bundleQuantity": 0})
    assert status == 422 and "0" in cause
    status, cause = amount({"saleId": USD_SALE, "bundleQuantity": 1, "incentiveAmount": 10})
    assert status == 422 and "Incentive amount (10)" in cause
    unknown = "d0907e3d-a9a7-43b1-93dc-f3b0ee929021"
    assert amount({"saleId": unknown, "bundleQuantity": 1}) == (
        404,
        f"Entity MarketplaceSaleEntity, id={unknown} not found in the database",
    )
    status, cause = amount({"saleId": USD_SALE, "bundleQuantity": "3"})
    assert status == 400 and "bundleQuantity" in cause
    status, cause = amount({"saleId": USD_SALE, "bundleQuantity": 2**63})
    assert status == 400 and "bundleQuantity" in cause
    status, cause = amount({"saleId": USD_SALE})
    assert status == 400 and "bundleQuantity" in cause

    quote = _amount(service, USD_SALE, 1)
    buyer = service.parts.wallets["alice"]

    def transaction(body: dict[str, object]) -> tuple[int, str]:
        full = {"orderId": quote["orderId"], "changeAddress": buyer.bech32, **body}
        r = service.post(TRANSACTION, "generate_order_transaction", full)
        return r.status_code, r.json().get("cause", "")

    assert transaction({"utxoCborHexList": []})[0] == 402
    status, cause = transaction({"utxoCborHexList": ["zz"]})
    assert status == 400 and "utxoCborHexList[0]" in cause
    status, cause = transaction({"utxoCborHexList": ["8200"]})
    assert status == 400 and "utxoCborHexList[0]" in cause
    status, cause = transaction(
        {"changeAddress": "addr_test1xyz", "utxoCborHexList": buyer.get_utxos() or []}
    )
    assert status == 400 and "changeAddress" in cause
    # None of the failures used the order up.
    assert transaction({"utxoCborHexList": buyer.get_utxos() or []})[0] == 200
    assert encode_address(buyer.address) == buyer.bech32
