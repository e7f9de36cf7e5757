"""Every v1 transaction route answers `txId` and `fee` beside `txCborHex`, and they are the id and
fee of the bytes handed out: checked by cardano-serialization-lib (what CIP-30 dApps use), then
used as is (`submitTx {txId, witnessSetCborHex}` with the returned id)."""

from __future__ import annotations

from typing import Any

import pytest
from service_world import Service

from cardano_market.domain.values import Value
from interop.csl import CslInspect
from worlds import song_sale_start

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
SUBMIT = "/v1/cardano/submitTx"

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _built(service: Service, path: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = service.post(path, action, body)
    assert response.status_code == 200, response.text
    built: dict[str, Any] = response.json()
    assert set(built) == {"txCborHex", "txId", "fee"}
    assert isinstance(built["fee"], int) and built["fee"] > 0
    return built


def _submit_with_returned_id(service: Service, wallet: str, built: dict[str, Any]) -> None:
    witnesses = service.parts.wallets[wallet].sign_tx(built["txCborHex"], partial_sign=True)
    response = service.post(
        SUBMIT, "submit_tx", {"txId": built["txId"], "witnessSetCborHex": witnesses}
    )
    assert response.status_code == 200, response.text
    assert response.json()["txId"] == built["txId"]


def _wallet_body(service: Service, wallet: str, amount_hex: str, **ids: str) -> dict[str, Any]:
    holder = service.parts.wallets[wallet]
    utxos = holder.get_utxos(Value.from_cbor(bytes.fromhex(amount_hex)))
    assert utxos
    return {**ids, "changeAddress": holder.bech32, "utxoCborHexList": utxos}


@sqlite_only
def test_every_transaction_route_returns_the_id_and_fee_of_its_bytes(
    service: Service, csl: CslInspect
) -> None:
    issued: list[dict[str, Any]] = []

    def issue(path: str, action: str, wallet: str, body: dict[str, Any]) -> dict[str, Any]:
        """Build at `path`, keep the answer, and submit it with the returned txId."""
        built = _built(service, path, action, body)
        issued.append(built)
        _submit_with_returned_id(service, wallet, built)
        return built

    # The order: amount -> transaction -> submitTx with the returned txId.
    quote = service.post(
        "/v1/marketplace/orders/amount",
        "generate_order_amount",
        {"saleId": USD_SALE, "bundleQuantity": 2},
    ).json()
    order = issue(
        "/v1/marketplace/orders/transaction",
        "generate_order_transaction",
        "alice",
        _wallet_body(service, "alice", quote["amountCborHex"], orderId=quote["orderId"]),
    )

    # Its cancel (QueueCancel, a script transaction).
    alice = service.parts.wallets["alice"]
    issue(
        "/v1/marketplace/orders/cancel/transaction",
        "generate_order_cancel_transaction",
        "alice",
        {
            "orderTxId": order["txId"],
            "changeAddress": alice.bech32,
            "utxoCborHexList": alice.get_utxos(),
        },
    )

    # A sale start and its end.
    artist = service.parts.wallets["artist"]
    song = service.parts.devnet.seed.asset("SONG")
    start = service.sale_start_amount(song_sale_start(artist.bech32, song, 3)).json()
    issue(
        "/v1/marketplace/sales/start/transaction",
        "generate_sale_start_transaction",
        "artist",
        _wallet_body(service, "artist", start["amountCborHex"], saleId=start["saleId"]),
    )
    end = service.post(
        "/v1/marketplace/sales/end/amount", "generate_sale_end_amount", {"saleId": start["saleId"]}
    ).json()
    issue(
        "/v1/marketplace/sales/end/transaction",
        "generate_sale_end_transaction",
        "artist",
        _wallet_body(service, "artist", end["amountCborHex"], saleId=start["saleId"]),
    )

    params = service.parts.market.backend.protocol_parameters()
    linear_fee = {"coefficient": str(params.min_fee_a), "constant": str(params.min_fee_b)}
    readings = csl(
        [
            {
                "kind": "tx",
                "hex": built["txCborHex"],
                "linearFee": linear_fee,
                "coinsPerUtxoByte": str(params.coins_per_utxo_byte),
            }
            for built in issued
        ]
    )
    for built, reading in zip(issued, readings, strict=True):
        assert "error" not in reading, reading
        assert reading["txId"] == built["txId"]
        assert int(reading["fee"]) == built["fee"]
    assert len({b["txId"] for b in issued}) == 4
