"""THREATS 1 and 2 over HTTP on the devnet: nobody makes the operator's keys sign what they should
not. Each attack is tried as an outsider would, and the ledger's balances are read afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import cbor2
import pytest
from service_world import Service

from cardano_market.app.sale_lifecycle import live_deployment
from cardano_market.app.signing import SigningGate
from cardano_market.chain.devnet import DevnetWallet
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.values import AssetId, Value
from cardano_market.ledger.parse import transaction_id
from cardano_market.store.sales import PendingSaleRepo
from cardano_market.store.sales import SaleTerms as StoredTerms
from cardano_market.store.transactions import IssuedTransactionRepo, TxKind
from cardano_market.tx import sale as sale_tx

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"
OPERATOR_WALLETS = ("cashRegister", "collateral", "batcher")


def _wallet(service: Service, name: str) -> DevnetWallet:
    return DevnetWallet(service.parts.chain, name)


def _balances(service: Service, *names: str) -> dict[str, Value]:
    return {name: _wallet(service, name).balance() for name in names}


def _operator_token(service: Service) -> AssetId:
    """The token the cash register (the hot key's wallet) holds: the NEWM of its service fees,
    what the drain is after."""
    [asset] = _wallet(service, "cashRegister").balance().assets
    return asset


def _start_amount(
    service: Service, owner: DevnetWallet, bundle: AssetId, bundle_amount: int = 1, bundles: int = 1
) -> dict[str, str]:
    """`POST .../sales/start/amount`: {saleId, amountCborHex}."""
    response = service.sale_start_amount(
        {
            "ownerAddress": owner.bech32,
            "bundlePolicyId": bundle[0].hex(),
            "bundleAssetName": bundle[1].hex(),
            "bundleAmount": bundle_amount,
            "costAmount": 1_000_000_000_000,
            "totalBundleQuantity": bundles,
        }
    )
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def _start_transaction(service: Service, sale_id: str, change: str, utxos: list[str]) -> object:
    return service.post(
        "/v1/marketplace/sales/start/transaction",
        "generate_sale_start_transaction",
        {"saleId": sale_id, "changeAddress": change, "utxoCborHexList": utxos},
    )


def _lie_about_address(utxo_hex: str, address: bytes) -> str:
    """A CIP-30 UTxO whose output claims `address`: what the chain holds says otherwise."""
    (ref, output) = cbor2.loads(bytes.fromhex(utxo_hex))
    amount = output[1]  # legacy [address, amount] or map {0: address, 1: amount}
    return bytes(cbor2.dumps([ref, [address, amount]])).hex()


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kinds the signing gate signed during a test (every service signature passes it)."""
    made: list[str] = []
    sign = SigningGate.sign

    def counting(self: SigningGate, tx: bytes, mandate: object, **kw: object) -> bytes:
        signed = sign(self, tx, mandate, **kw)  # type: ignore[arg-type]
        made.append(str(mandate.kind))  # type: ignore[attr-defined]
        return signed

    monkeypatch.setattr(SigningGate, "sign", counting)
    yield made


def test_a_sale_start_paid_with_the_cash_registers_utxos_is_refused_at_build(
    service: Service, signatures: list[str]
) -> None:
    mallory = _wallet(service, "mallory")  # a fresh key with no funds
    before = _balances(service, *OPERATOR_WALLETS, "mallory")
    sale_id = _start_amount(service, mallory, _operator_token(service))["saleId"]
    register = _wallet(service, "cashRegister").get_utxos()
    assert register

    refused = _start_transaction(service, sale_id, mallory.bech32, register)

    assert refused.status_code == 422, refused.text  # type: ignore[attr-defined]
    assert refused.json() == {  # type: ignore[attr-defined]
        "code": 422,
        "description": "Unprocessable Entity",
        "cause": "utxoCborHexList[0]: belongs to the marketplace operator",
    }
    assert _balances(service, *OPERATOR_WALLETS, "mallory") == before
    assert signatures == []


def test_the_cash_registers_utxos_mixed_with_the_callers_are_refused_naming_the_first(
    service: Service,
) -> None:
    bob = _wallet(service, "bob")
    sale_id = _start_amount(service, bob, _operator_token(service))["saleId"]
    own = bob.get_utxos()
    assert own
    mixed = own + _wallet(service, "collateral").get_utxos()[:1]

    refused = _start_transaction(service, sale_id, bob.bech32, mixed)

    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert refused.json()["cause"] == (  # type: ignore[attr-defined]
        f"utxoCborHexList[{len(own)}]: belongs to the operator's collateral wallet"
    )


def test_a_cash_register_utxo_disguised_as_the_callers_is_refused_by_the_gate_at_build(
    service: Service, signatures: list[str]
) -> None:
    """The CIP-30 bytes claim the caller's address; the gate reads the output from the chain."""
    bob = _wallet(service, "bob")
    before = _balances(service, *OPERATOR_WALLETS, "bob")
    sale_id = _start_amount(service, bob, _operator_token(service))["saleId"]
    register = _wallet(service, "cashRegister").get_utxos() or []
    disguised = [_lie_about_address(u, bob.address) for u in register]

    # only the disguised UTxOs: bob's own hold NEWM too, and the builder would take those first
    refused = _start_transaction(service, sale_id, bob.bech32, disguised)

    assert refused.status_code == 422, refused.text  # type: ignore[attr-defined]
    cause = refused.json()["cause"]  # type: ignore[attr-defined]
    assert cause.startswith("sale_start: input ") and cause.endswith(
        "belongs to the marketplace operator"
    ), cause
    assert _balances(service, *OPERATOR_WALLETS, "bob") == before
    assert signatures == []
    # Nothing was consumed: the same pending sale builds from bob's own UTxOs (he holds NEWM).
    again = _start_transaction(service, sale_id, bob.bech32, bob.get_utxos())
    assert again.status_code == 200, again.text  # type: ignore[attr-defined]


def test_a_sale_end_paid_with_the_collateral_wallets_utxos_is_refused(
    service: Service, signatures: list[str]
) -> None:
    artist = _wallet(service, "artist")  # owns the seeded USD sale
    before = _balances(service, *OPERATOR_WALLETS, "artist")
    end = service.post(
        "/v1/marketplace/sales/end/amount", "generate_sale_end_amount", {"saleId": USD_SALE}
    )
    assert end.status_code == 200

    refused = service.post(
        "/v1/marketplace/sales/end/transaction",
        "generate_sale_end_transaction",
        {
            "saleId": USD_SALE,
            "changeAddress": artist.bech32,
            "utxoCborHexList": _wallet(service, "collateral").get_utxos(),
        },
    )

    assert refused.status_code == 422
    assert refused.json()["cause"] == (
        "utxoCborHexList[0]: belongs to the operator's collateral wallet"
    )
    assert _balances(service, *OPERATOR_WALLETS, "artist") == before
    assert signatures == []


def _record_evil_start(service: Service, owner: DevnetWallet, utxos: list[Utxo]) -> str:
    """A sale start spending `utxos`, recorded as issued as if it had arrived another way (an
    older release, a restored backup): submitTx must still refuse to co-sign it."""
    parts = service.parts
    market = parts.market
    assert parts.operator is not None and parts.deployment is not None
    token = _operator_token(service)
    terms = StoredTerms(
        owner_address=owner.address,
        bundle=token,
        bundle_amount=1,
        cost=None,
        cost_amount=1_000_000_000_000,
        total_bundle_quantity=1,
    )
    with market.database.session() as session:
        pending = PendingSaleRepo(session).add(
            terms, amount_cbor_hex="00", now=market.clock(), ttl_seconds=300
        )
    built = sale_tx.build_sale_start_transaction(
        utxos=utxos,
        change_address=owner.address,
        terms=sale_tx.SaleTerms(
            bundle=token,
            bundle_amount=1,
            total_bundle_quantity=1,
            cost=None,
            cost_amount=1_000_000_000_000,
        ),
        sale_lovelace=market.config.sale_lovelace,
        deployment=live_deployment(market.backend, parts.deployment),
        collateral_utxos=[u for u in market.backend.utxos_at(parts.operator.collateral_address)],
        collateral_key_hash=parts.operator.collateral.hash,
        hot_key_hash=parts.operator.hot.hash,
        params=market.backend.protocol_parameters(),
        evaluate=market.backend.evaluate,
        ttl=market.ttl_slot(),
    )
    with market.database.session() as session:
        IssuedTransactionRepo(session).record(
            tx_id=built.tx_id,
            cbor=built.transaction.cbor,
            kind=TxKind.SALE_START,
            now=market.clock(),
            reference_id=pending.id,
        )
    return built.tx_id


def test_an_issued_drain_is_refused_at_submit_tx_and_nothing_is_signed(
    service: Service, signatures: list[str]
) -> None:
    mallory = _wallet(service, "mallory")
    register = _wallet(service, "cashRegister")
    before = _balances(service, *OPERATOR_WALLETS, "mallory")
    tx_id = _record_evil_start(service, mallory, register.utxos())

    refused = service.post(
        "/v1/cardano/submitTx", "submit_tx", {"txId": tx_id, "witnessSetCborHex": "a0"}
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["cause"].endswith("belongs to the marketplace operator")
    assert _balances(service, *OPERATOR_WALLETS, "mallory") == before
    assert signatures == []
    with service.parts.market.database.session() as session:
        issued = IssuedTransactionRepo(session).get(tx_id)
    assert issued is not None and issued.status.value == "issued"


def test_a_transaction_not_issued_here_is_never_co_signed(
    service: Service, signatures: list[str]
) -> None:
    """The same drain sent whole (`cborHex`) without being issued: refused, as any
    transaction this service did not issue (404 unless `SUBMIT_RELAY`), and never co-signed."""
    mallory = _wallet(service, "mallory")
    tx_id = _record_evil_start(service, mallory, _wallet(service, "cashRegister").utxos())
    with service.parts.market.database.session() as session:
        issued = IssuedTransactionRepo(session).get(tx_id)
    assert issued is not None
    unknown = service.post(
        "/v1/cardano/submitTx",
        "submit_tx",
        {"txId": "ab" * 32, "witnessSetCborHex": "a0"},
    )
    assert unknown.status_code == 404
    # An altered body is another transaction: not issued, so never co-signed.
    altered = bytearray(issued.cbor)
    fee_at = altered.find(b"\x02\x1a")  # body key 2 (fee) as a 4-byte uint
    assert fee_at > 0
    altered[fee_at + 5] ^= 1
    before = _balances(service, *OPERATOR_WALLETS, "mallory")
    refused = service.post("/v1/cardano/submitTx", "submit_tx", {"cborHex": altered.hex()})
    assert refused.status_code == 404, refused.text
    assert "was not issued by this service" in refused.json()["cause"]
    assert transaction_id(bytes(altered)).hex() != tx_id
    assert _balances(service, *OPERATOR_WALLETS, "mallory") == before
    assert signatures == []


def _issued_sale_start(service: Service) -> dict[str, str]:
    """A legitimate sale start by the artist, signed by the artist: the submitTx body."""
    artist = _wallet(service, "artist")
    song = service.parts.devnet.seed.asset("SONG")
    start = _start_amount(service, artist, song, bundle_amount=1_000_000, bundles=2)
    utxos = artist.get_utxos(Value.from_cbor(bytes.fromhex(start["amountCborHex"])))
    assert utxos is not None
    built = _start_transaction(service, start["saleId"], artist.bech32, utxos)
    tx_hex = built.json()["txCborHex"]  # type: ignore[attr-defined]
    witnesses = artist.sign_tx(tx_hex, partial_sign=True)
    return {"txId": transaction_id(bytes.fromhex(tx_hex)).hex(), "witnessSetCborHex": witnesses}


def test_a_submitted_sale_start_is_co_signed_once(service: Service, signatures: list[str]) -> None:
    body = _issued_sale_start(service)

    first = service.post("/v1/cardano/submitTx", "submit_tx", body)
    replay = service.post("/v1/cardano/submitTx", "submit_tx", body)

    assert first.status_code == 200, first.text
    assert replay.status_code == 200  # idempotent, and nothing signed again
    assert replay.json()["txId"] == body["txId"]
    assert signatures == ["sale_start"]


def test_two_concurrent_submits_of_one_sale_start_co_sign_it_once(
    service: Service, signatures: list[str]
) -> None:
    body = _issued_sale_start(service)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda _: service.post("/v1/cardano/submitTx", "submit_tx", body), range(2))
        )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert signatures == ["sale_start"]
