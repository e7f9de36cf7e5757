"""Cancelling an order over the v1 API on the devnet: an order placed through the real v1 flow
(amount, the wallet's UTxOs, the order transaction, the wallet's signature, submitTx) is
cancelled by its owner (the cancel transaction built over HTTP, signed by the same CIP-30 wallet,
submitted whole through submitTx, QueueCancel run by the ledger); then every error status with
its cause."""

from __future__ import annotations

import dataclasses

import cbor2
import pytest
from service_world import Service

from cardano_market.app.errors import ChainUnavailableError
from cardano_market.app.order_cancel import load_cancel_deployment
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.parse import transaction_id
from cardano_market.ledger.witness import splice_witnesses

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
AMOUNT = "/v1/marketplace/orders/amount"
ORDER = "/v1/marketplace/orders/transaction"
CANCEL = "/v1/marketplace/orders/cancel/transaction"
SUBMIT = "/v1/cardano/submitTx"
ACTION = "generate_order_cancel_transaction"

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def place_order(service: Service, wallet: str = "alice", bundles: int = 2) -> str:
    """An order of `bundles` from the USD sale by `wallet`, through the v1 routes; its tx id."""
    quote = service.post(
        AMOUNT, "generate_order_amount", {"saleId": USD_SALE, "bundleQuantity": bundles}
    )
    assert quote.status_code == 200, quote.text
    buyer = service.parts.wallets[wallet]
    utxos = buyer.get_utxos(Value.from_cbor(bytes.fromhex(quote.json()["amountCborHex"])))
    body = {
        "orderId": quote.json()["orderId"],
        "changeAddress": buyer.bech32,
        "utxoCborHexList": utxos,
    }
    built = service.post(ORDER, "generate_order_transaction", body)
    assert built.status_code == 200, built.text
    return submit_signed(service, wallet, built.json()["txCborHex"])


def submit_signed(service: Service, wallet: str, tx_hex: str) -> str:
    """`wallet` signs (CIP-30 signTx) and the whole signed transaction goes through submitTx."""
    witnesses = service.parts.wallets[wallet].sign_tx(tx_hex, partial_sign=False)
    signed = splice_witnesses(bytes.fromhex(tx_hex), bytes.fromhex(witnesses))
    response = service.post(SUBMIT, "submit_tx", {"cborHex": signed.hex()})
    assert response.status_code == 200, response.text
    tx_id: str = response.json()["txId"]
    assert tx_id == transaction_id(signed).hex()
    return tx_id


def cancel_body(
    service: Service, wallet: str, order_tx_id: str, **extra: object
) -> dict[str, object]:
    owner = service.parts.wallets[wallet]
    return {
        "orderTxId": order_tx_id,
        "changeAddress": owner.bech32,
        "utxoCborHexList": owner.get_utxos(),
        **extra,
    }


def queue_value(service: Service) -> Value:
    market = service.parts.market
    return sum_values(u.value for u in market.backend.utxos_at(market.addresses.queue))


def fee_of(tx_hex: str) -> int:
    fee: int = cbor2.loads(bytes.fromhex(tx_hex))[0][2]
    return fee


def test_the_owner_cancels_and_gets_the_whole_order_back(service: Service) -> None:
    market = service.parts.market
    alice = service.parts.wallets["alice"]
    order_tx = place_order(service)
    [order] = [
        u for u in market.backend.utxos_at(market.addresses.queue) if u.tx_hash.hex() == order_tx
    ]
    wallet_before = alice.balance()
    queue_before = queue_value(service)

    response = service.post(CANCEL, ACTION, cancel_body(service, "alice", order_tx))
    assert response.status_code == 200, response.text
    tx_hex = response.json()["txCborHex"]
    cancel_tx = submit_signed(service, "alice", tx_hex)

    assert market.backend.utxos_by_ref([order.out_ref]) == []
    assert queue_value(service) == queue_before - order.value
    # Every lovelace and token of the order is back; the wallet paid the fee (and nothing else:
    # the collateral was not taken).
    fee = fee_of(tx_hex)
    assert fee > 0
    assert alice.balance() == wallet_before + order.value - Value(fee)
    [refund] = [u for u in alice.utxos() if u.tx_hash.hex() == cancel_tx and u.index == 0]
    assert refund.value == order.value

    # Gone from the queue: asking again is a 404.
    again = service.post(CANCEL, ACTION, cancel_body(service, "alice", order_tx))
    assert again.status_code == 404


@sqlite_only
def test_the_order_output_and_collateral_can_be_named_and_the_witness_set_submitted(
    service: Service,
) -> None:
    order_tx = place_order(service, bundles=1)
    alice = service.parts.wallets["alice"]
    collateral = [u.to_cbor_hex() for u in alice.utxos() if u.value.is_ada_only][:1]
    body = cancel_body(
        service, "alice", order_tx, orderOutputIndex=0, collateralUtxoCborHexList=collateral
    )
    response = service.post(CANCEL, ACTION, body)
    assert response.status_code == 200, response.text
    # the CIP-30 way: the wallet's signTx witness set, spliced by the service into what it issued
    tx_hex = response.json()["txCborHex"]
    witnesses = alice.sign_tx(tx_hex, partial_sign=False)
    tx_id = transaction_id(bytes.fromhex(tx_hex)).hex()
    submitted = service.post(SUBMIT, "submit_tx", {"txId": tx_id, "witnessSetCborHex": witnesses})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["txId"] == tx_id
    market = service.parts.market
    assert [
        u for u in market.backend.utxos_at(market.addresses.queue) if u.tx_hash.hex() == order_tx
    ] == []


@sqlite_only
def test_an_unknown_out_ref_is_404(service: Service) -> None:
    order_tx = place_order(service, bundles=1)
    for tx_id, index in (("ab" * 32, 0), (order_tx, 1)):  # no such tx; its change output
        response = service.post(
            CANCEL, ACTION, cancel_body(service, "alice", tx_id, orderOutputIndex=index)
        )
        assert response.status_code == 404, response.text
        assert response.json() == {
            "code": 404,
            "description": "Not Found",
            "cause": f"Order {tx_id}#{index} not found in the queue",
        }


@sqlite_only
def test_another_wallet_cannot_have_it_built(service: Service) -> None:
    order_tx = place_order(service, "alice", bundles=1)
    response = service.post(CANCEL, ACTION, cancel_body(service, "bob", order_tx))
    assert response.status_code == 422, response.text
    assert "belongs to another wallet" in response.json()["cause"]


@sqlite_only
def test_a_wallet_that_cannot_pay_or_back_the_collateral(service: Service) -> None:
    order_tx = place_order(service, "alice", bundles=1)
    alice = service.parts.wallets["alice"]
    empty = service.post(
        CANCEL, ACTION, cancel_body(service, "alice", order_tx, utxoCborHexList=[])
    )
    assert empty.status_code == 402, empty.text
    assert "utxoCborHexList is empty" in empty.json()["cause"]

    tokens_only = [u.to_cbor_hex() for u in alice.utxos() if not u.value.is_ada_only]
    no_collateral = service.post(
        CANCEL, ACTION, cancel_body(service, "alice", order_tx, utxoCborHexList=tokens_only)
    )
    assert no_collateral.status_code == 422, no_collateral.text
    assert "collateral" in no_collateral.json()["cause"]


@sqlite_only
def test_malformed_fields_are_400_naming_the_field(service: Service) -> None:
    order_tx = place_order(service, bundles=1)
    cases = {
        "orderTxId": cancel_body(service, "alice", "not-hex"),
        "changeAddress": cancel_body(service, "alice", order_tx, changeAddress="addr_test1xyz"),
        "utxoCborHexList[0]": cancel_body(service, "alice", order_tx, utxoCborHexList=["zz"]),
        "orderOutputIndex": cancel_body(service, "alice", order_tx, orderOutputIndex=-1),
    }
    for field, body in cases.items():
        response = service.post(CANCEL, ACTION, body)
        assert response.status_code == 400, (field, response.text)
        assert field in response.json()["cause"], (field, response.text)


@sqlite_only
def test_recaptcha_guards_it_with_its_own_action(service: Service) -> None:
    body = cancel_body(service, "alice", "ab" * 32)
    wrong = service.client.post(
        CANCEL, json=body, headers=service.headers("generate_order_transaction")
    )
    assert wrong.status_code == 403
    assert wrong.json() == {"code": 403, "description": "Forbidden", "cause": "Recaptcha failed"}
    right = service.post(CANCEL, ACTION, body)
    assert right.status_code == 404  # past reCAPTCHA, to the lookup


@sqlite_only
def test_the_deployment_comes_from_the_configured_script_refs(service: Service) -> None:
    """The queue and vault reference scripts are read at their configured out-refs (the seed's on
    the devnet); refs holding other scripts make cancelling unavailable, saying so."""
    refs = service.parts.deployment
    assert refs is not None and refs.queue_script_ref is not None
    backend = service.parts.market.backend
    deployment = load_cancel_deployment(backend, refs)
    assert deployment.queue_script_utxo.out_ref == refs.queue_script_ref
    assert deployment.vault_script_utxo.out_ref == refs.vault_script_ref
    swapped = dataclasses.replace(refs, queue_script_ref=refs.pointer_script_ref)
    with pytest.raises(ChainUnavailableError, match="at the configured out-refs"):
        load_cancel_deployment(backend, swapped)
