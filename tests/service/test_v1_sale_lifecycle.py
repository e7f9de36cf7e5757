"""Sale start and sale end over HTTP on the devnet: amount -> the seller's getUtxos(amount) ->
transaction -> the seller signs -> submitTx (the service adds the operator's signatures) -> the
ledger runs the pointer policy and the sale validator."""

from __future__ import annotations

from service_world import Service

from cardano_market.domain.datums import SaleDatum, wallet_from_address
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import transaction_id
from worlds import song_sale_start

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"


def _sign_and_submit(service: Service, wallet: str, tx_hex: str) -> str:
    witnesses = service.parts.wallets[wallet].sign_tx(tx_hex, partial_sign=True)
    tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
    response = service.post(
        "/v1/cardano/submitTx", "submit_tx", {"txId": tx_id, "witnessSetCborHex": witnesses}
    )
    assert response.status_code == 200, response.text
    return tx_id


def _build(service: Service, path: str, action: str, sale_id: str, wallet: str, amount: str) -> str:
    seller = service.parts.wallets[wallet]
    utxos = seller.get_utxos(Value.from_cbor(bytes.fromhex(amount)))
    assert utxos
    response = service.post(
        path,
        action,
        {"saleId": sale_id, "changeAddress": seller.bech32, "utxoCborHexList": utxos},
    )
    assert response.status_code == 200, response.text
    tx_hex: str = response.json()["txCborHex"]
    return tx_hex


def test_start_then_order_then_end_a_sale(service: Service) -> None:
    market = service.parts.market
    artist = service.parts.wallets["artist"]
    song = service.parts.devnet.seed.asset("SONG")
    start = service.sale_start_amount(song_sale_start(artist.bech32, song, 10))
    assert start.status_code == 200, start.text
    sale_id = start.json()["saleId"]
    amount = Value.from_cbor(bytes.fromhex(start.json()["amountCborHex"]))
    assert amount.coin == market.config.sale_lovelace + 2_000_000
    assert amount.quantity(song) == 10_000_000

    tx_hex = _build(
        service,
        "/v1/marketplace/sales/start/transaction",
        "generate_sale_start_transaction",
        sale_id,
        "artist",
        start.json()["amountCborHex"],
    )
    tx_id = _sign_and_submit(service, "artist", tx_hex)
    held = [u for u in market.backend.utxos_at(market.addresses.sale) if u.tx_hash.hex() == tx_id]
    assert len(held) == 1
    datum = SaleDatum.from_cbor(held[0].inline_datum or b"")
    assert datum.owner == wallet_from_address(artist.address)
    assert held[0].value.quantity(song) == 10_000_000
    pointers = [a for a in held[0].value.assets if a[0] == market.addresses.pointer_policy]
    assert len(pointers) == 1 and pointers[0][1].startswith(bytes.fromhex("ca11ab1e"))

    # The new sale is found by its id (read from the chain by its pointer) and can be ordered.
    sale = service.get(f"/v1/marketplace/sales/{sale_id}", "get_sale")
    assert sale.status_code == 200, sale.text
    assert sale.json()["availableBundleQuantity"] == 10
    assert sale.json()["pointerAssetName"] == pointers[0][1].hex()
    order = service.post(
        "/v1/marketplace/orders/amount",
        "generate_order_amount",
        {"saleId": sale_id, "bundleQuantity": 11},
    )
    assert order.status_code == 422
    assert order.json()["cause"] == "Bundle quantity (11) exceeds sale availability (10)"

    # End it: the owner signs, the service adds the collateral key's signature.
    end = service.post(
        "/v1/marketplace/sales/end/amount", "generate_sale_end_amount", {"saleId": sale_id}
    )
    assert end.status_code == 200, end.text
    assert Value.from_cbor(bytes.fromhex(end.json()["amountCborHex"])).coin == (
        market.config.sale_lovelace + 2_000_000
    )
    songs_before = artist.balance().quantity(song)
    end_hex = _build(
        service,
        "/v1/marketplace/sales/end/transaction",
        "generate_sale_end_transaction",
        sale_id,
        "artist",
        end.json()["amountCborHex"],
    )
    _sign_and_submit(service, "artist", end_hex)
    assert not market.backend.utxos_with_asset(market.addresses.sale, pointers[0])
    assert artist.balance().quantity(song) == songs_before + 10_000_000


def test_ending_a_seeded_sale_and_sale_errors(service: Service) -> None:
    end = service.post(
        "/v1/marketplace/sales/end/amount", "generate_sale_end_amount", {"saleId": USD_SALE}
    )
    assert end.status_code == 200
    end_hex = _build(
        service,
        "/v1/marketplace/sales/end/transaction",
        "generate_sale_end_transaction",
        USD_SALE,
        "artist",
        end.json()["amountCborHex"],
    )
    # Someone else's signature does not end it: the ledger runs the sale validator.
    bob_witnesses = service.parts.wallets["bob"].sign_tx(end_hex, partial_sign=True)
    refused = service.post(
        "/v1/cardano/submitTx",
        "submit_tx",
        {"txId": transaction_id(bytes.fromhex(end_hex)).hex(), "witnessSetCborHex": bob_witnesses},
    )
    assert refused.status_code == 422
    _sign_and_submit(service, "artist", end_hex)

    artist = service.parts.wallets["artist"]
    one = {"bundleAssetName": "", "bundleAmount": 1, "costAmount": 1, "totalBundleQuantity": 1}
    refused_terms = [  # (terms over `one`, status, a word of the cause)
        ({"bundlePolicyId": "zz"}, 400, "bundle"),
        (
            {"bundlePolicyId": "00" * 28, "costPolicyId": "555344", "costAssetName": "01"},
            422,
            "empty",
        ),
        (
            {"bundlePolicyId": "00" * 28, "bundleAmount": 2**62, "totalBundleQuantity": 1024},
            422,
            "exceeds",
        ),
    ]
    for terms, status, word in refused_terms:
        refused = service.sale_start_amount({"ownerAddress": artist.bech32, **one, **terms})
        assert refused.status_code == status and word in refused.json()["cause"], (
            terms,
            refused.text,
        )
    unknown = service.post(
        "/v1/marketplace/sales/start/transaction",
        "generate_sale_start_transaction",
        {
            "saleId": "d0907e3d-a9a7-43b1-93dc-f3b0ee929021",
            "changeAddress": artist.bech32,
            "utxoCborHexList": artist.get_utxos() or [],
        },
    )
    assert unknown.status_code == 404
