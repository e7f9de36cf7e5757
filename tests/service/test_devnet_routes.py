"""The `/devnet` routes over a real devnet: the CIP-30 path a dApp walks, and the v1 error body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from cardano_market.chain.base import SubmitError, TxState
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.domain.address import decode_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum, wallet_from_address
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import ProtocolParameters
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.witness import splice_witnesses, vkey_witnesses
from cardano_market.scenario import Scenario, load_scenario
from cardano_market.service.app import create_app
from cardano_market.service.devnet import devnet_wallets
from cardano_market.synthetic import wallet
from cardano_market.tx.balance import balance
from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction
from worlds import START_MS

ADA = 1_000_000
NOW_SLOT = 5_000
USD_SALE = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "usd-sale.json"


class FixedClock:
    """Wall-clock seconds that stay put, so only `advance` moves the devnet's time."""

    def __call__(self) -> float:
        return START_MS / 1000 + NOW_SLOT


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(USD_SALE)


@pytest.fixture
def backend(tmp_path: Path, scenario: Scenario) -> Iterator[DevnetBackend]:
    chain = DevnetBackend.open(
        tmp_path / "devnet.sqlite", system_start_ms=START_MS, clock=FixedClock()
    )
    currency = scenario.config.currency
    chain.ledger.genesis(
        [
            TxOutput(wallet("buyer").address, Value(100 * ADA)),
            TxOutput(wallet("buyer").address, Value.of(5 * ADA, {currency: 10**10})),
            TxOutput(wallet("buyer").address, Value(7 * ADA)),
            TxOutput(wallet("alice").address, Value(2 * ADA)),
            TxOutput(wallet("bob").address, Value(2 * ADA)),
        ]
    )
    yield chain
    chain.close()


@pytest.fixture
def client(backend: DevnetBackend) -> Iterator[TestClient]:
    app = create_app(backend, wallets=devnet_wallets(backend, ["buyer", "alice", "bob"]))
    with TestClient(app) as test_client:
        yield test_client


def utxo_values(hexes: list[str]) -> Value:
    return sum_values(Utxo.from_cbor(h).value for h in hexes)


def assert_error(response: Response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "description", "cause"}
    assert body["code"] == status
    for needle in needles:
        assert needle in body["cause"], body["cause"]
    return str(body["cause"])


def test_wallets_are_listed_with_their_bech32_addresses(client: TestClient) -> None:
    response = client.get("/devnet/wallets")
    assert response.status_code == 200
    assert response.json() == [
        {"name": name, "address": wallet(name).bech32} for name in ("alice", "bob", "buyer")
    ]
    assert all(w["address"].startswith("addr_test1") for w in response.json())


def test_the_dapp_order_path(
    client: TestClient, backend: DevnetBackend, scenario: Scenario
) -> None:
    """amount -> getUtxos(amount) -> order tx -> signTx -> splice -> submit -> confirmed."""
    amount = order_amount(scenario.sale, 3, None, scenario.oracle_price, scenario.config)
    [buyer] = [w for w in client.get("/devnet/wallets").json() if w["name"] == "buyer"]
    change_address = decode_address(buyer["address"])

    response = client.get("/devnet/wallets/buyer/utxos", params={"amount": amount.amount_cbor_hex})
    assert response.status_code == 200
    utxo_hexes = response.json()
    assert isinstance(utxo_hexes, list) and utxo_hexes
    assert utxo_values(utxo_hexes).covers(Value.from_cbor(amount.amount_cbor_hex))
    assert all(Utxo.from_cbor(h).address == change_address for h in utxo_hexes)

    tip = client.get("/devnet/tip").json()
    params = ProtocolParameters.from_blockfrost(client.get("/devnet/protocol-parameters").json())
    order = build_order_transaction(
        OrderTransactionRequest.from_cip30(
            utxo_cbor_hex_list=utxo_hexes,
            amount=amount,
            sale=scenario.sale,
            config=scenario.config,
            change_address=change_address,
            queue_address=scenario.queue_address,
            cash_register_address=scenario.cash_register_address,
            params=params,
            ttl=tip["slot"] + 600,
        )
    )

    signed = client.post(
        "/devnet/wallets/buyer/sign-tx", json={"txCborHex": order.cbor_hex, "partialSign": True}
    )
    assert signed.status_code == 200
    witness_set = signed.json()["witnessSetCborHex"]
    tx = splice_witnesses(order.cbor_hex, witness_set)
    [(vkey, _sig)] = vkey_witnesses(tx)
    assert vkey == wallet("buyer").payment_key.vkey

    tx_id = backend.submit(tx)
    assert tx_id.hex() == order.tx_id
    assert backend.tx_status(tx_id).state is TxState.CONFIRMED

    [queued] = backend.utxos_at(scenario.queue_address)
    assert queued.tx_hash == tx_id and queued.index == 0
    assert queued.inline_datum is not None
    datum = QueueDatum.from_cbor(queued.inline_datum)
    assert datum.owner == wallet_from_address(change_address)
    assert datum.number_of_bundles == 3
    assert queued.value.quantity(scenario.config.currency) > 0

    # the wallet no longer offers what it spent
    after = client.get("/devnet/wallets/buyer/utxos").json()
    spent = {Utxo.from_cbor(h).out_ref for h in utxo_hexes}
    assert spent.isdisjoint(Utxo.from_cbor(h).out_ref for h in after)
    assert any(Utxo.from_cbor(h).tx_hash == tx_id for h in after)  # the change came back


def test_get_utxos_without_amount_is_everything(client: TestClient) -> None:
    every = client.get("/devnet/wallets/buyer/utxos").json()
    assert len(every) == 3
    assert utxo_values(every).coin == 112 * ADA
    assert client.get("/devnet/wallets/alice/utxos", params={"amount": "1a001e8480"}).json() == [
        client.get("/devnet/wallets/alice/utxos").json()[0]
    ]


def test_get_utxos_is_null_when_the_wallet_cannot_cover(
    client: TestClient, scenario: Scenario
) -> None:
    too_much = Value(113 * ADA).to_cbor_hex()
    response = client.get("/devnet/wallets/buyer/utxos", params={"amount": too_much})
    assert response.status_code == 200 and response.json() is None
    missing_token = Value.of(1, {(b"\x01" * 28, b"Nope"): 1}).to_cbor_hex()
    response = client.get("/devnet/wallets/buyer/utxos", params={"amount": missing_token})
    assert response.status_code == 200 and response.json() is None
    too_many = Value.of(0, {scenario.config.currency: 10**10 + 1}).to_cbor_hex()
    assert client.get("/devnet/wallets/buyer/utxos", params={"amount": too_many}).json() is None


@pytest.mark.parametrize(
    "amount",
    ["zz", "8200", "820100a0", "f5", "8201a1581c" + "00" * 28 + "a0"],
    ids=["not-hex", "truncated", "multiasset-not-a-map", "not-a-value", "empty-asset-map"],
)
def test_a_malformed_amount_is_400_naming_the_field(client: TestClient, amount: str) -> None:
    response = client.get("/devnet/wallets/buyer/utxos", params={"amount": amount})
    assert assert_error(response, 400).startswith("amount: ")


def test_an_unknown_wallet_is_404(client: TestClient) -> None:
    assert_error(client.get("/devnet/wallets/mallory/utxos"), 404, "mallory", "buyer")
    response = client.post(
        "/devnet/wallets/mallory/sign-tx", json={"txCborHex": "84", "partialSign": True}
    )
    assert_error(response, 404, "mallory")


def two_owner_payment(backend: DevnetBackend) -> str:
    """Alice's and Bob's 2 ADA each paying 3 ADA: the transaction needs both signatures."""
    inputs = backend.utxos_at(wallet("alice").address) + backend.utxos_at(wallet("bob").address)
    built = balance(
        utxos=inputs,
        outputs=[TxOutput(wallet("carol").address, Value(3 * ADA))],
        change_address=wallet("alice").address,
        params=backend.protocol_parameters(),
    )
    assert len(built.inputs) == 2
    return built.cbor.hex()


def test_sign_tx_follows_cip30_partial_sign(client: TestClient, backend: DevnetBackend) -> None:
    tx = two_owner_payment(backend)
    refused = client.post("/devnet/wallets/alice/sign-tx", json={"txCborHex": tx})
    assert_error(refused, 422, "ProofGeneration", wallet("bob").payment_key.hash.hex())

    signed = tx
    for name in ("alice", "bob"):
        response = client.post(
            f"/devnet/wallets/{name}/sign-tx", json={"txCborHex": tx, "partialSign": True}
        )
        assert response.status_code == 200
        signed = splice_witnesses(signed, response.json()["witnessSetCborHex"]).hex()
    assert {vk for vk, _ in vkey_witnesses(signed)} == {
        wallet("alice").payment_key.vkey,
        wallet("bob").payment_key.vkey,
    }
    assert backend.tx_status(backend.submit(bytes.fromhex(signed))).state is TxState.CONFIRMED


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"txCborHex": "xyz", "partialSign": True}, "txCborHex"),
        ({"txCborHex": "8200", "partialSign": True}, "txCborHex"),
        ({"partialSign": True}, "txCborHex"),
        ({"txCborHex": 7}, "txCborHex"),
    ],
    ids=["not-hex", "not-a-tx", "missing", "not-a-string"],
)
def test_sign_tx_rejects_malformed_input_with_400(
    client: TestClient, body: dict[str, object], needle: str
) -> None:
    assert_error(client.post("/devnet/wallets/buyer/sign-tx", json=body), 400, needle)


def test_sign_tx_rejects_a_body_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        "/devnet/wallets/buyer/sign-tx",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400)


def test_tip_and_advance(client: TestClient) -> None:
    tip = client.get("/devnet/tip").json()
    assert tip["slot"] == NOW_SLOT
    assert tip["time"] == START_MS + NOW_SLOT * 1000
    assert set(tip) == {"slot", "time", "epoch", "blockHeight"}

    advanced = client.post("/devnet/advance", json={"slots": 432_000})
    assert advanced.status_code == 200
    new = advanced.json()
    assert new["slot"] == NOW_SLOT + 432_000
    assert new["time"] == tip["time"] + 432_000 * 1000
    assert new["epoch"] == tip["epoch"] + 1
    assert new["blockHeight"] > tip["blockHeight"]
    assert client.get("/devnet/tip").json()["slot"] == new["slot"]


@pytest.mark.parametrize(
    "body", [{"slots": -1}, {"slots": "many"}, {"slots": True}, {}, {"slots": 10**30}]
)
def test_advance_rejects_bad_slots_with_400(client: TestClient, body: dict[str, object]) -> None:
    assert_error(client.post("/devnet/advance", json=body), 400, "slots")
    assert client.get("/devnet/tip").json()["slot"] == NOW_SLOT


def test_protocol_parameters_in_blockfrost_shape(
    client: TestClient, backend: DevnetBackend
) -> None:
    response = client.get("/devnet/protocol-parameters")
    assert response.status_code == 200
    body = response.json()
    params = backend.protocol_parameters()
    assert body["min_fee_a"] == params.min_fee_a == 44
    assert body["min_fee_b"] == params.min_fee_b
    assert body["coins_per_utxo_size"] == str(params.coins_per_utxo_byte)
    assert body["max_tx_size"] == params.max_tx_size
    assert ProtocolParameters.from_blockfrost(body) == params


def test_a_ledger_rejection_is_422_naming_the_rule(backend: DevnetBackend) -> None:
    app = create_app(backend)

    @app.post("/test/submit")
    def submit(tx: dict[str, str]) -> str:
        return backend.submit(bytes.fromhex(tx["cborHex"])).hex()

    unsigned = two_owner_payment(backend)
    with TestClient(app) as test_client:
        response = test_client.post("/test/submit", json={"cborHex": unsigned})
    assert assert_error(response, 422).startswith("MissingVKeyWitnessesUTXOW")
    with pytest.raises(SubmitError):  # and nothing was applied
        backend.submit(bytes.fromhex(unsigned))


def test_devnet_routes_exist_only_on_the_devnet(backend: DevnetBackend) -> None:
    with TestClient(create_app()) as test_client:
        assert_error(test_client.get("/devnet/tip"), 404)
    with pytest.raises(ValueError, match="DevnetBackend"):
        create_app(None, wallets=devnet_wallets(backend, ["buyer"]))
    with TestClient(create_app(backend)) as test_client:
        assert test_client.get("/devnet/wallets").json() == []
