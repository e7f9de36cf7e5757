"""THREATS 6, the v1 half: a price that moves after the quote never changes what the wallet pays.
The order transaction is built from the amount the wallet was quoted (and approved with
`getUtxos(amount)`), the wallet signs those bytes, and the ledger takes exactly them: the
wallet's currency goes down by the quoted amount, at the devnet's moved oracle price."""

from __future__ import annotations

from service_world import Service

from cardano_market.chain.devnet.backend import DevnetBackend
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.parse import transaction_id

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50


def test_the_wallet_pays_the_quote_whatever_the_price_does_next(service: Service) -> None:
    market = service.parts.market
    chain = service.parts.chain
    assert isinstance(chain, DevnetBackend)
    buyer = service.parts.wallets["alice"]
    currency = market.config.currency
    before = sum_values(u.value for u in chain.utxos_at(buyer.address))

    quote = service.post(
        "/v1/marketplace/orders/amount",
        "generate_order_amount",
        {"saleId": USD_SALE, "bundleQuantity": 2},
    )
    assert quote.status_code == 200, quote.text
    quoted = Value.from_cbor(bytes.fromhex(quote.json()["amountCborHex"]))

    old = chain.oracle_price(market.addresses.oracle, market.addresses.oracle_feed).price
    chain.publish_oracle_price(market.addresses.oracle, market.addresses.oracle_feed, old // 2)
    market.prices.forget()
    assert market.prices.current().price == old // 2  # the order now costs twice the currency

    utxos = buyer.get_utxos(quoted)
    assert utxos
    built = service.post(
        "/v1/marketplace/orders/transaction",
        "generate_order_transaction",
        {
            "orderId": quote.json()["orderId"],
            "changeAddress": buyer.bech32,
            "utxoCborHexList": utxos,
        },
    )
    assert built.status_code == 200, built.text
    tx_hex = built.json()["txCborHex"]
    witnesses = buyer.sign_tx(tx_hex, partial_sign=False)
    tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
    submitted = service.post(
        "/v1/cardano/submitTx", "submit_tx", {"txId": tx_id, "witnessSetCborHex": witnesses}
    )
    assert submitted.status_code == 200, submitted.text

    after = sum_values(u.value for u in chain.utxos_at(buyer.address))
    assert before.quantity(currency) - after.quantity(currency) == quoted.quantity(currency)
