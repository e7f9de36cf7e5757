"""The secondary market end to end through HTTP on the devnet, on SQLite and PostgreSQL: sell ->
worker -> deal active -> buy part -> buy the rest -> completed; delist; every documented error.
Every settlement is checked on the ledger itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from secondary_fixtures import (
    ADA_ID,
    NEWM_ID,
    POOR_ID,
    SELLER_ID,
    SONG_ID,
    SecondaryService,
    buyer_id,
    fee_addresses,
    newm_asset,
    secondary_service,
    song_asset,
)

from cardano_market.app.deals.buying import buy_from_deal
from cardano_market.chain.base import ChainError
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.store.audit import AuditAction, AuditLogRepo
from cardano_market.store.deals import DealRepo, DealStatus
from cardano_market.store.transactions import V2TransactionRepo
from cardano_market.tx.deal import (
    build_deal_purchase,
    escrow_datum,
    escrow_deal_id,
    find_escrow,
    price_purchase,
)
from pg_support import postgres_schema

SONG = song_asset()
NEWM = newm_asset()
SELL = f"/v2/users/secondary-markets/users/{SELLER_ID}/tokens/{SONG_ID}/sell"
DELIST = f"/v2/users/secondary-markets/users/{SELLER_ID}/tokens/{SONG_ID}/delist"
BOOK = f"/v2/secondary-markets/tokens/{SONG_ID}/deals"


def buy_path(user_id: str, token_id: str = SONG_ID) -> str:
    return f"/v2/users/purchases/users/{user_id}/tokens/{token_id}/buy-on-secondary-market"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def svc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondaryService]:
    directory = tmp_path_factory.mktemp(f"secondary-{request.param}")
    if request.param == "sqlite":
        with secondary_service(f"sqlite:///{directory / 'service.db'}", directory) as service:
            yield service
        return
    with (
        postgres_schema(request.getfixturevalue("postgres_url")) as url,
        secondary_service(url, directory) as service,
    ):
        yield service


def request_sell(
    svc: SecondaryService, quantity: Any = 50, price: Any = 12.5, price_id: str = NEWM_ID
) -> tuple[str, int]:
    """Sell through HTTP: (transaction id, pending deal id)."""
    body = {"quantity": quantity, "price_id": price_id, "price_amount": price}
    answer = svc.post(SELL, SELLER_ID, body)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"transaction_id"}
    tx_id = answer.json()["transaction_id"]
    with svc.ctx.database.session() as session:
        tx = V2TransactionRepo(session).get(tx_id)
    assert tx is not None and tx.deal_id is not None
    return tx_id, tx.deal_id


def activate(svc: SecondaryService, tx_id: str) -> None:
    """Run the worker; the sell transaction is then completed (its deal active)."""
    svc.drain()
    status = svc.client.get(
        f"/v2/admin/tokens/{SONG_ID}/transactions/{tx_id}", headers=svc.auth(SELLER_ID)
    )
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "completed", status.text


def list_deal(
    svc: SecondaryService, quantity: Any = 50, price: Any = 12.5, price_id: str = NEWM_ID
) -> int:
    """Sell through HTTP, run the worker, return the now active deal's id."""
    tx_id, deal_id = request_sell(svc, quantity, price, price_id)
    activate(svc, tx_id)
    return deal_id


def deal(svc: SecondaryService, deal_id: int) -> Any:
    with svc.ctx.database.session() as session:
        return DealRepo(session).get(deal_id)


def test_sell_buy_part_buy_rest(svc: SecondaryService) -> None:
    seller = svc.address(SELLER_ID)
    buyer = svc.address(buyer_id(0))
    platform, node = fee_addresses()
    song_before = svc.holds(seller, SONG)
    tx_id, deal_id = request_sell(svc, 50, 12.5)
    assert deal(svc, deal_id).status is DealStatus.PENDING
    pending = svc.client.get(BOOK, headers=svc.auth(buyer_id(0))).json()["data"]["deals"]
    assert all(d["deal_id"] != deal_id for d in pending), "a pending deal is not in the book"
    activate(svc, tx_id)
    listed = deal(svc, deal_id)
    assert listed.status is DealStatus.ACTIVE and listed.remaining == 50_000_000
    escrow = svc.ledger.utxo((bytes.fromhex(listed.escrow.tx_hash), listed.escrow.index))
    assert escrow.value.quantity(SONG) == 50_000_000 and escrow_deal_id(escrow) == deal_id
    assert escrow.address == svc.ctx.escrow.address
    book = svc.client.get(BOOK, headers=svc.auth(buyer_id(0))).json()["data"]["deals"]
    mine = next(d for d in book if d["deal_id"] == deal_id)
    assert mine["price"] == {"amount": 12.5, "decimal": 6, "symbol": "NEWM"}
    assert mine["remaining_quantity"] == 50

    newm = {a: svc.holds(a, NEWM) for a in (seller, buyer, platform, node)}
    answer = svc.post(buy_path(buyer_id(0)), buyer_id(0), {"quantity": 10, "deal_id": deal_id})
    assert answer.status_code == 200, answer.text
    assert '"amount":131.25' in answer.text and '"amount":3.75' in answer.text  # exact numbers
    body = answer.json()
    assert body["success"] is True and body["message"] == "Secondary market purchase successful"
    data = body["data"]
    money = {"decimal": 6, "symbol": "NEWM"}
    assert data["quantity"] == 10 and data["deal_id"] == deal_id
    assert data["unit_price"] == {"amount": 12.5, **money}
    assert data["total_cost"] == {"amount": 125.0, **money}
    assert data["fees"] == {
        "platform_fee": {"amount": 3.75, **money},
        "node_fee": {"amount": 2.5, **money},
    }
    assert data["net_amount"] == {"amount": 131.25, **money}
    assert data["user_id"] == buyer_id(0) and data["token_id"] == SONG_ID
    assert data["seller_id"] == SELLER_ID and data["seller_name"] == SELLER_ID
    assert data["status"] == "completed"
    assert data["purchase_date"].endswith("Z") and data["estimated_delivery"].endswith("Z")
    assert len(data["purchase_id"]) == 24
    tx_hash = data["transaction_hash"]
    assert svc.ledger.transaction(bytes.fromhex(tx_hash)) is not None
    # The ledger moved exactly what the answer says.
    assert svc.holds(buyer, SONG) == 10_000_000
    assert svc.holds(seller, NEWM) - newm[seller] == 125_000_000
    assert svc.holds(platform, NEWM) - newm[platform] == 3_750_000
    assert svc.holds(node, NEWM) - newm[node] == 2_500_000
    assert newm[buyer] - svc.holds(buyer, NEWM) == 131_250_000
    after = deal(svc, deal_id)
    assert after.remaining == 40_000_000 and after.escrow.tx_hash == tx_hash

    answer = svc.post(buy_path(buyer_id(1)), buyer_id(1), {"quantity": 40, "deal_id": deal_id})
    assert answer.status_code == 200, answer.text
    done = deal(svc, deal_id)
    assert done.status is DealStatus.COMPLETED and done.remaining == 0
    assert find_escrow(svc.ledger.utxos_at(svc.ctx.escrow.address), deal_id) is None
    assert svc.holds(svc.address(buyer_id(1)), SONG) == 40_000_000
    assert song_before - svc.holds(seller, SONG) == 50_000_000
    book = svc.client.get(BOOK, headers=svc.auth(buyer_id(0))).json()["data"]["deals"]
    assert all(d["deal_id"] != deal_id for d in book)
    with svc.ctx.database.session() as session:
        audit = AuditLogRepo(session).list(deal_id=deal_id)
    assert [e.action for e in audit] == [AuditAction.LIST, AuditAction.TRADE, AuditAction.TRADE]
    assert [e.quantity for e in audit[1:]] == [10_000_000, 40_000_000]

    # A finished deal: 404 (no longer available); delisting it: 409.
    again = svc.post(buy_path(buyer_id(2)), buyer_id(2), {"quantity": 1, "deal_id": deal_id})
    assert again.status_code == 404 and again.json()["error"] == "Deal not found"
    closed = svc.post(DELIST, SELLER_ID, {"deal_id": deal_id})
    assert closed.status_code == 409 and closed.json()["error"] == "Deal cannot be delisted"


def test_delist_returns_the_rest_to_the_seller(svc: SecondaryService) -> None:
    seller = svc.address(SELLER_ID)
    deal_id = list_deal(svc, quantity=50)
    bought = svc.post(buy_path(buyer_id(2)), buyer_id(2), {"quantity": 15, "deal_id": deal_id})
    assert bought.status_code == 200, bought.text
    before = svc.holds(seller, SONG)
    other = svc.post(
        f"/v2/users/secondary-markets/users/{buyer_id(2)}/tokens/{SONG_ID}/delist",
        buyer_id(2),
        {"deal_id": deal_id},
    )
    assert other.status_code == 403
    assert other.json() == {
        "error": "Access denied",
        "details": "You can only delist your own deals",
    }
    answer = svc.post(DELIST, SELLER_ID, {"deal_id": deal_id})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["message"] == "Deal delisted successfully"
    data = body["data"]
    assert data["deal_id"] == deal_id and data["user_id"] == SELLER_ID
    assert data["token_id"] == SONG_ID and data["status"] == "delisted"
    assert data["quantity"] == 50 and data["remaining_quantity"] == 35
    assert data["price"] == {"amount": 12.5, "decimal": 6, "symbol": "NEWM"}
    assert data["created_at"].endswith("Z") and data["delisted_at"].endswith("Z")
    assert svc.holds(seller, SONG) - before == 35_000_000
    assert find_escrow(svc.ledger.utxos_at(svc.ctx.escrow.address), deal_id) is None
    assert deal(svc, deal_id).status is DealStatus.CANCELLED
    with svc.ctx.database.session() as session:
        actions = [e.action for e in AuditLogRepo(session).list(deal_id=deal_id)]
    assert actions == [AuditAction.LIST, AuditAction.TRADE, AuditAction.DELIST]
    again = svc.post(DELIST, SELLER_ID, {"deal_id": deal_id})
    assert again.status_code == 409
    assert again.json()["error"] == "Deal cannot be delisted"
    gone = svc.post(buy_path(buyer_id(2)), buyer_id(2), {"quantity": 1, "deal_id": deal_id})
    assert gone.status_code == 404


def test_a_deal_priced_in_ada(svc: SecondaryService) -> None:
    seller = svc.address(SELLER_ID)
    deal_id = list_deal(svc, quantity=2, price=7.5, price_id=ADA_ID)
    lovelace = svc.holds(seller, (b"", b""))
    answer = svc.post(buy_path(buyer_id(3)), buyer_id(3), {"quantity": 2, "deal_id": deal_id})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["total_cost"] == {"amount": 15.0, "decimal": 6, "symbol": "ADA"}
    assert data["net_amount"] == {"amount": 15.75, "decimal": 6, "symbol": "ADA"}
    deposit_back = svc.holds(seller, (b"", b"")) - lovelace - 15_000_000
    assert 0 < deposit_back < 2_000_000, "the seller gets the total and the escrow's deposit"


def test_idempotent_purchase(svc: SecondaryService) -> None:
    deal_id = list_deal(svc, quantity=5)
    body = {"quantity": 1, "deal_id": deal_id}
    key = {"Idempotency-Key": f"buy-{deal_id}"}
    first = svc.post(buy_path(buyer_id(0)), buyer_id(0), body, **key)
    second = svc.post(buy_path(buyer_id(0)), buyer_id(0), body, **key)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert deal(svc, deal_id).remaining == 4_000_000, "one purchase, not two"
    other = svc.post(buy_path(buyer_id(0)), buyer_id(0), {**body, "quantity": 2}, **key)
    assert other.status_code == 422


def test_a_refused_purchase_frees_its_idempotency_key(svc: SecondaryService) -> None:
    deal_id = list_deal(svc, quantity=5)
    key = {"Idempotency-Key": f"refused-{deal_id}"}
    too_many = svc.post(
        buy_path(buyer_id(0)), buyer_id(0), {"quantity": 6, "deal_id": deal_id}, **key
    )
    assert too_many.status_code == 422
    corrected = svc.post(
        buy_path(buyer_id(0)), buyer_id(0), {"quantity": 1, "deal_id": deal_id}, **key
    )
    assert corrected.status_code == 200, corrected.text
    assert deal(svc, deal_id).remaining == 4_000_000


def test_a_purchase_that_failed_after_submitting_keeps_its_key(
    svc: SecondaryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain took the purchase, then the request failed (here: the status read after the
    submit): a retry with the same key must not pay again. It answers 409 while the key stays
    taken; the one transaction on chain is all that happened."""
    deal_id = list_deal(svc, quantity=5)
    body = {"quantity": 1, "deal_id": deal_id}
    key = {"Idempotency-Key": f"uncertain-{deal_id}"}
    songs = svc.holds(svc.address(buyer_id(0)), song_asset())

    def status_unavailable(_tx_id: bytes) -> object:
        raise ChainError("the chain backend went away after the submit")

    with monkeypatch.context() as patch:
        patch.setattr(svc.ctx.backend, "tx_status", status_unavailable)
        failed = svc.post(buy_path(buyer_id(0)), buyer_id(0), body, **key)
    assert failed.status_code >= 500
    assert svc.holds(svc.address(buyer_id(0)), song_asset()) == songs + 1_000_000  # on chain
    retry = svc.post(buy_path(buyer_id(0)), buyer_id(0), body, **key)
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"] == "Request in progress"
    assert svc.holds(svc.address(buyer_id(0)), song_asset()) == songs + 1_000_000  # not twice


def test_sell_errors(svc: SecondaryService) -> None:
    good = {"quantity": 1, "price_id": NEWM_ID, "price_amount": 1}
    assert svc.client.post(SELL, json=good).status_code == 401
    assert svc.client.post(SELL, json=good, headers={"Authorization": "Bearer x"}).json() == {
        "error": "Authentication required"
    }
    denied = svc.post(SELL, buyer_id(0), good)
    assert denied.status_code == 403
    assert denied.json() == {
        "error": "Access denied",
        "details": "Insufficient permissions to sell tokens",
    }
    for bad, detail in (
        ({**good, "quantity": 0}, "Quantity must be greater than 0"),
        ({**good, "quantity": -3}, "Quantity must be greater than 0"),
        ({**good, "price_amount": 0}, "Price amount must be greater than 0"),
        ({**good, "quantity": "10"}, "quantity: must be a number"),
        ({**good, "quantity": 0.0000001}, "quantity has more than 6 decimal places"),
        ({"quantity": 1, "price_amount": 1}, "Quantity, price_id and price_amount are required"),
        ({**good, "price_id": ADA_ID, "price_amount": 0.0000001}, "price_amount has more"),
        ({**good, "price_id": SONG_ID}, "price_id: token"),
    ):
        answer = svc.post(SELL, SELLER_ID, bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"] == "Invalid parameters"
        assert detail in answer.json()["details"], answer.text
    raw = svc.client.post(SELL, content=b"{not json", headers=svc.auth(SELLER_ID))
    assert raw.status_code == 400
    unknown = svc.post(
        f"/v2/users/secondary-markets/users/{SELLER_ID}/tokens/{'0' * 24}/sell", SELLER_ID, good
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Resource not found", "details": "User or token not found"}
    unknown_price = svc.post(SELL, SELLER_ID, {**good, "price_id": "1" * 24})
    assert unknown_price.status_code == 404
    # 1,000 SONG held: a 990-token listing leaves too little for another 20 while it is pending.
    big = svc.post(SELL, SELLER_ID, {**good, "quantity": 10_000})
    assert big.status_code == 422
    assert big.json()["error"] == "Insufficient token balance"
    assert "User does not have enough tokens to sell" in big.json()["details"]
    held = svc.holds(svc.address(SELLER_ID), SONG) // 1_000_000
    first = svc.post(SELL, SELLER_ID, {**good, "quantity": held - 5})
    assert first.status_code == 200
    second = svc.post(SELL, SELLER_ID, {**good, "quantity": 10})
    assert second.status_code == 422, "pending listings count against the balance"
    svc.drain()  # the big listing goes to escrow; delist it to give the tokens back
    with svc.ctx.database.session() as session:
        big_deal = DealRepo(session).list_by_seller(SELLER_ID, limit=1)[0]
    assert big_deal.status is DealStatus.ACTIVE
    assert svc.post(DELIST, SELLER_ID, {"deal_id": big_deal.id}).status_code == 200


def test_buy_errors(svc: SecondaryService) -> None:
    deal_id = list_deal(svc, quantity=5)
    path = buy_path(buyer_id(1))
    assert svc.client.post(path, json={"quantity": 1, "deal_id": deal_id}).status_code == 401
    denied = svc.post(path, buyer_id(0), {"quantity": 1, "deal_id": deal_id})
    assert denied.status_code == 403
    assert denied.json()["details"] == "Insufficient permissions to purchase tokens"
    for bad, status, detail in (
        ({"quantity": 1}, 400, "Quantity and deal_id are required"),
        ({"deal_id": deal_id}, 400, "Quantity and deal_id are required"),
        ({"quantity": 0, "deal_id": deal_id}, 400, "Quantity must be greater than 0"),
        ({"quantity": 1, "deal_id": 1.5}, 400, "deal_id: must be a whole number"),
        ({"quantity": 1, "deal_id": "x"}, 400, "deal_id: must be a number"),
        ({"quantity": 1, "deal_id": 999_999}, 404, "The specified deal is no longer available"),
        ({"quantity": 1, "deal_id": 10**30}, 400, "deal_id: must be between 1 and"),
        ({"quantity": 1, "deal_id": -1}, 400, "deal_id: must be between 1 and"),
        ({"quantity": 6, "deal_id": deal_id}, 422, "Insufficient quantity available in the deal"),
    ):
        answer = svc.post(path, buyer_id(1), bad)
        assert answer.status_code == status, (bad, answer.text)
        assert detail in answer.json()["details"], answer.text
    assert svc.post(path, buyer_id(1), {"quantity": 6, "deal_id": deal_id}).json()["error"] == (
        "Purchase not possible"
    )
    other_token = svc.post(
        buy_path(buyer_id(1), NEWM_ID), buyer_id(1), {"quantity": 1, "deal_id": deal_id}
    )
    assert other_token.status_code == 404 and other_token.json()["error"] == "Deal not found"
    own = svc.post(buy_path(SELLER_ID), SELLER_ID, {"quantity": 1, "deal_id": deal_id})
    assert own.status_code == 422
    poor = svc.post(buy_path(POOR_ID), POOR_ID, {"quantity": 1, "deal_id": deal_id})
    assert poor.status_code == 422 and "cannot pay" in poor.json()["details"]
    assert deal(svc, deal_id).remaining == 5_000_000, "failed purchases reserve nothing"
    assert svc.post(DELIST, SELLER_ID, {"deal_id": 999_999}).status_code == 404
    assert svc.post(DELIST, SELLER_ID, {"deal_id": 2**63}).status_code == 400  # out of range
    assert svc.post(DELIST, SELLER_ID, {}).json() == {
        "error": "Invalid parameters",
        "details": "Deal ID is required (deal_id is missing)",
    }


def test_a_buyer_waiting_on_the_deal_lock_gets_409(svc: SecondaryService) -> None:
    """Buyer A passes the pre-check (5 left), then waits on the deal's lock, which a concurrent
    settlement holds; that settlement takes everything: A gets 409, not 422."""
    deal_id = list_deal(svc, quantity=5)
    ctx = svc.ctx
    results: dict[str, Any] = {}
    with ctx.database.session() as holder:
        DealRepo(holder).reserve(deal_id, 5_000_000, now=ctx.clock())  # the lock, held
        thread = threading.Thread(
            target=lambda: results.update(
                answer=svc.post(
                    buy_path(buyer_id(1)), buyer_id(1), {"quantity": 2, "deal_id": deal_id}
                )
            )
        )
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second buyer waits for the lock"
        # (the holder commits here, having taken all 5)
    thread.join(timeout=30)
    answer = results["answer"]
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "Deal conflict"
    assert "Another user has already purchased this quantity" in answer.json()["details"]
    with ctx.database.session() as session:  # give the quantity back for the other tests' sake
        DealRepo(session).release(deal_id, 5_000_000, now=ctx.clock())


def test_recovers_a_purchase_applied_on_chain_but_never_recorded(svc: SecondaryService) -> None:
    """A settlement that crashed after the ledger accepted it: the next buyer finds the deal's
    escrow output by its datum, the lost trade is recorded, and the purchase goes through."""
    deal_id = list_deal(svc, quantity=10, price=1)
    ctx = svc.ctx
    listed = deal(svc, deal_id)
    escrow = svc.ledger.utxo((bytes.fromhex(listed.escrow.tx_hash), listed.escrow.index))
    buyer = svc.address(buyer_id(3))
    platform, node = fee_addresses()
    lost = build_deal_purchase(
        escrow=escrow,
        deal_id=deal_id,
        asset=SONG,
        quantity=4_000_000,
        price_asset=NEWM,
        pricing=price_purchase(
            quantity=4_000_000,
            unit_price=1_000_000,
            token_decimals=6,
            platform_fee_percentage=3,
            node_fee_percentage=2,
        ),
        buyer_utxos=svc.ledger.utxos_at(buyer),
        buyer_address=buyer,
        seller_address=svc.address(SELLER_ID),
        platform_fee_address=platform,
        node_fee_address=node,
        params=ctx.backend.protocol_parameters(),
    )
    with ctx.database.session() as session:
        from cardano_market.app.custody import signing_key

        seeds = [ctx.escrow.key.seed, signing_key(ctx, session, buyer_id(3))]
    svc.ledger.submit(splice_witnesses(lost.cbor, sign_transaction(lost.cbor, seeds)))
    assert deal(svc, deal_id).remaining == 10_000_000, "the database never heard of it"
    # anyone can send an output carrying the deal's datum to the escrow address: never adopted
    decoy = TxOutput(
        escrow.address, Value.of(0, {SONG: 1_000_000}), inline_datum=escrow_datum(deal_id)
    )
    (planted,) = svc.ledger.genesis([decoy.with_min_ada(svc.ledger.params)])

    answer = svc.post(buy_path(buyer_id(0)), buyer_id(0), {"quantity": 6, "deal_id": deal_id})
    assert answer.status_code == 200, answer.text
    after = deal(svc, deal_id)
    assert after.status is DealStatus.COMPLETED and after.remaining == 0
    with ctx.database.session() as session:
        trades = [
            e for e in AuditLogRepo(session).list(deal_id=deal_id) if e.action is AuditAction.TRADE
        ]
    assert [(t.quantity, (t.details or {}).get("recovered")) for t in trades] == [
        (4_000_000, True),
        (6_000_000, None),
    ]
    assert trades[0].tx_hash == lost.tx_id
    assert svc.ledger.utxo(planted.out_ref) == planted  # left where it was


def test_use_case_rejects_quantities_finer_than_the_token(svc: SecondaryService) -> None:
    deal_id = list_deal(svc, quantity=1)
    from cardano_market.app.errors import BadRequestError

    with svc.ctx.database.session() as session, pytest.raises(BadRequestError):
        buy_from_deal(
            svc.ctx,
            session,
            user_id=buyer_id(0),
            token_id=SONG_ID,
            deal_id=deal_id,
            quantity=Decimal("0.0000001"),
        )
