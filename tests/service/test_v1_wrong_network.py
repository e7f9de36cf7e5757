"""Addresses and UTxOs of another network than the service's are refused with 400 naming the
field, before anything single-use is consumed: the order id (and the pending sale id) still works
afterwards with the right wallet."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from service_world import Service

from cardano_market.domain.address import encode_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.values import Value
from worlds import song_sale_start

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
AMOUNT = "/v1/marketplace/orders/amount"
ORDER = "/v1/marketplace/orders/transaction"

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def on_mainnet(raw: bytes) -> bytes:
    """The same credentials under network id 1 (mainnet)."""
    return bytes([(raw[0] & 0xF0) | 1]) + raw[1:]


def mainnet_utxo(utxo_hex: str) -> str:
    """The same UTxO (same out-ref, same value) as if it sat at the mainnet twin address."""
    utxo = Utxo.from_cbor(utxo_hex)
    output = cbor2.loads(utxo.output_cbor)
    output[0] = on_mainnet(utxo.address)  # key 0 of a map output, item 0 of a legacy one
    return str(cbor2.dumps([[utxo.tx_hash, utxo.index], output]).hex())


def assert_400(response: Any, *needles: str) -> None:
    assert response.status_code == 400, response.text
    cause = response.json()["cause"]
    for needle in needles:
        assert needle in cause, cause


@sqlite_only
def test_an_order_for_a_wallet_of_another_network_is_refused_and_the_order_id_kept(
    service: Service,
) -> None:
    quote = service.post(AMOUNT, "generate_order_amount", {"saleId": USD_SALE, "bundleQuantity": 2})
    assert quote.status_code == 200, quote.text
    order_id = quote.json()["orderId"]
    alice = service.parts.wallets["alice"]
    utxos = alice.get_utxos(Value.from_cbor(bytes.fromhex(quote.json()["amountCborHex"])))
    assert utxos
    mainnet_change = encode_address(on_mainnet(alice.address))
    assert mainnet_change.startswith("addr1")

    wrong_change = service.post(
        ORDER,
        "generate_order_transaction",
        {"orderId": order_id, "changeAddress": mainnet_change, "utxoCborHexList": utxos},
    )
    assert_400(wrong_change, "changeAddress", "mainnet (network id 1)", "network id 0")

    wrong_utxo = service.post(
        ORDER,
        "generate_order_transaction",
        {
            "orderId": order_id,
            "changeAddress": alice.bech32,
            "utxoCborHexList": [*utxos, mainnet_utxo(utxos[0])],
        },
    )
    assert_400(wrong_utxo, f"utxoCborHexList[{len(utxos)}]", "mainnet")

    # Nothing was consumed: the same order id builds with the right wallet.
    built = service.post(
        ORDER,
        "generate_order_transaction",
        {"orderId": order_id, "changeAddress": alice.bech32, "utxoCborHexList": utxos},
    )
    assert built.status_code == 200, built.text


@sqlite_only
def test_cancel_and_sale_routes_refuse_another_network(service: Service) -> None:
    alice = service.parts.wallets["alice"]
    artist = service.parts.wallets["artist"]
    mainnet_alice = encode_address(on_mainnet(alice.address))
    cancel = service.post(
        "/v1/marketplace/orders/cancel/transaction",
        "generate_order_cancel_transaction",
        {
            "orderTxId": "00" * 32,
            "changeAddress": mainnet_alice,
            "utxoCborHexList": alice.get_utxos(),
        },
    )
    assert_400(cancel, "changeAddress", "mainnet")
    utxos = alice.get_utxos() or []
    cancel = service.post(
        "/v1/marketplace/orders/cancel/transaction",
        "generate_order_cancel_transaction",
        {
            "orderTxId": "00" * 32,
            "changeAddress": alice.bech32,
            "utxoCborHexList": utxos,
            "collateralUtxoCborHexList": [mainnet_utxo(utxos[0])],
        },
    )
    assert_400(cancel, "collateralUtxoCborHexList[0]", "mainnet")

    song = service.parts.devnet.seed.asset("SONG")
    owner = encode_address(on_mainnet(artist.address))
    start = service.sale_start_amount(song_sale_start(owner, song, 2))
    assert_400(start, "ownerAddress", "mainnet")

    start = service.sale_start_amount(song_sale_start(artist.bech32, song, 2))
    assert start.status_code == 200, start.text
    sale_id = start.json()["saleId"]
    wallet_utxos = artist.get_utxos(Value.from_cbor(bytes.fromhex(start.json()["amountCborHex"])))
    assert wallet_utxos
    path = "/v1/marketplace/sales/start/transaction"
    action = "generate_sale_start_transaction"
    wrong = service.post(
        path,
        action,
        {
            "saleId": sale_id,
            "changeAddress": encode_address(on_mainnet(artist.address)),
            "utxoCborHexList": wallet_utxos,
        },
    )
    assert_400(wrong, "changeAddress", "mainnet")
    wrong = service.post(
        path,
        action,
        {
            "saleId": sale_id,
            "changeAddress": artist.bech32,
            "utxoCborHexList": [mainnet_utxo(u) for u in wallet_utxos],
        },
    )
    assert_400(wrong, "utxoCborHexList[0]", "mainnet")
    # the pending sale id is still usable
    right = service.post(
        path,
        action,
        {"saleId": sale_id, "changeAddress": artist.bech32, "utxoCborHexList": wallet_utxos},
    )
    assert right.status_code == 200, right.text
