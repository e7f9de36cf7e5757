"""Buying on the primary market through HTTP, end to end on the devnet: the request, the worker,
the order at the queue address, the transaction's status; every documented error status; and
Idempotency-Key."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from custody_world import ADMIN, ALICE, BOB, NEWM, SONG, V2Service, v2_settings
from fastapi.testclient import TestClient

from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.domain.datums import QueueDatum, wallet_from_address
from cardano_market.domain.pointer import pointer_asset_name
from cardano_market.runtime import create_service_app, open_service
from cardano_market.store.audit import AuditAction, AuditLogRepo
from cardano_market.store.sales import SaleRepo
from cardano_market.store.transactions import V2TransactionRepo

SALE_ID = "0b7346aa-137a-5041-9b23-7afaa88573d5"
"""The demo seed's first sale: SONG in 1-token bundles, USD-priced, 100 bundles."""


def buy_path(user: str = ALICE, token: str = SONG) -> str:
    return f"/v2/users/purchases/users/{user}/tokens/{token}/buy-on-primary-market"


def status_path(tx_id: str, token: str = SONG) -> str:
    return f"/v2/admin/tokens/{token}/transactions/{tx_id}"


def queue_orders(v2: V2Service, owner: str) -> list[QueueDatum]:
    """The QueueDatums at the queue address whose owner is `owner`'s wallet."""
    with v2.ctx.database.session() as session:
        address = wallet_of(v2.ctx, session, owner).address
    datums = [
        QueueDatum.from_cbor(u.inline_datum)
        for u in v2.ctx.backend.utxos_at(v2.ctx.addresses.queue)
        if u.inline_datum is not None
    ]
    return [d for d in datums if d.owner == wallet_from_address(address)]


def test_primary_purchase_end_to_end(v2: V2Service) -> None:
    """HTTP -> pending row -> worker builds, signs, stores, submits -> order at the queue ->
    completed; the user reads the status; the audit log has the purchase."""
    with v2.ctx.database.session() as session:
        address = wallet_of(v2.ctx, session, ALICE).address
    before = wallet_value(v2.ctx, address)

    response = v2.post(buy_path(), ALICE, {"quantity": 3})
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["transaction_id"]
    tx_id = response.json()["transaction_id"]
    pending = v2.get(status_path(tx_id), ALICE).json()
    assert pending["status"] == "pending" and pending["tx_hash"] is None
    assert pending["type"] == "primary_purchase" and pending["quantity"] == 3

    done = v2.processor().run_once()
    assert done is not None and done.id == tx_id

    status = v2.get(status_path(tx_id), ALICE)
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "completed", body
    assert body["failure_reason"] is None
    assert body["submitted_at"] and body["completed_at"] and body["created_at"]
    assert v2.ctx.backend.tx_status(bytes.fromhex(body["tx_hash"])).state.value == "confirmed"
    admin_view = v2.get(status_path(tx_id), ADMIN, admin=True)
    assert admin_view.status_code == 200 and admin_view.json() == body

    (order,) = queue_orders(v2, ALICE)
    assert order.number_of_bundles == 3
    assert order.pointer_name == _pointer_of_first_sale(v2)
    spent = before - wallet_value(v2.ctx, address)
    quoted = done.payload["quoted_currency_amount"]
    assert spent.quantity(v2.ctx.config.currency) == quoted  # paid once, as priced
    with v2.ctx.database.session() as session:
        (entry,) = AuditLogRepo(session).list(actor=ALICE)
    assert entry.action is AuditAction.PRIMARY_PURCHASE and entry.tx_hash == body["tx_hash"]
    listed = v2.get(f"/v2/users/{ALICE}/transactions", ALICE).json()["transactions"]
    assert [t["transaction_id"] for t in listed] == [tx_id]


def _pointer_of_first_sale(v2: V2Service) -> bytes:
    with v2.ctx.database.session() as session:
        stored = SaleRepo(session).get(SALE_ID)
    assert stored is not None
    return stored.sale.pointer_name


def test_documented_errors(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite

    def expect(status: int, error: str, response: Any, details: str | None = None) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
        if details is not None:
            assert response.json()["details"].startswith(details), response.json()

    # 400: quantity <= 0, not whole bundles (1-token bundles, 6 decimals), not a number.
    expect(400, "Invalid parameters", v2.post(buy_path(), ALICE, {"quantity": 0}),
           "Quantity must be greater than 0")  # fmt: skip
    expect(400, "Invalid parameters", v2.post(buy_path(), ALICE, {"quantity": -5}),
           "Quantity must be greater than 0")  # fmt: skip
    expect(400, "Invalid parameters", v2.post(buy_path(), ALICE, {"quantity": 2.5}),
           "Quantity must be a whole number of bundles of 1 SONG")  # fmt: skip
    expect(400, "Invalid parameters", v2.post(buy_path(), ALICE, {"quantity": 0.0000001}),
           "quantity has more than 6 decimal places")  # fmt: skip
    # 403: another user's id; a KYC-only token for a user without KYC.
    expect(403, "Access denied", v2.post(buy_path(BOB), ALICE, {"quantity": 1}))
    kyc_token = _offering(v2, kyc_required=True)
    expect(403, "Access denied", v2.post(buy_path(BOB, kyc_token), BOB, {"quantity": 1}),
           "KYC verification is required")  # fmt: skip
    # 404: a currency token, an unknown token, an unknown user.
    for token in (NEWM, "0123456789abcdef01234567", "not-an-id"):
        expect(404, "Resource not found", v2.post(buy_path(ALICE, token), ALICE, {"quantity": 1}),
               "Token not available for primary market purchase")  # fmt: skip
    stranger = "0123456789abcdef01234567"
    expect(404, "Resource not found", v2.post(buy_path(stranger), stranger, {"quantity": 1}))
    # 422: more than the sale has, outside the token's limits, a wallet that cannot pay.
    expect(422, "Purchase not possible", v2.post(buy_path(), ALICE, {"quantity": 101}),
           "Insufficient token supply available")  # fmt: skip
    limited = _offering(v2, min_purchase_quantity=2, max_purchase_quantity=5)
    expect(422, "Purchase not possible", v2.post(buy_path(ALICE, limited), ALICE, {"quantity": 1}),
           "Quantity is below the minimum purchase quantity of 2")  # fmt: skip
    expect(422, "Purchase not possible", v2.post(buy_path(ALICE, limited), ALICE, {"quantity": 6}),
           "Quantity is above the maximum purchase quantity of 5")  # fmt: skip
    created = v2.post("/v2/admin/users", ADMIN, {"kyc_verified": True}, **_admin_header(v2))
    assert created.status_code == 201, created.text
    pauper = created.json()["user_id"]
    expect(422, "Purchase not possible", v2.post(buy_path(pauper), pauper, {"quantity": 1}),
           "Insufficient funds: the wallet lacks")  # fmt: skip
    # None of it left a transaction behind.
    with v2.ctx.database.session() as session:
        repo = V2TransactionRepo(session)
        assert repo.list_by_user(ALICE) == [] and repo.list_by_user(pauper) == []


def _admin_header(v2: V2Service) -> dict[str, str]:
    return {"Authorization": f"Bearer {v2.token(ADMIN, admin=True)}"}


def _offering(v2: V2Service, **terms: Any) -> str:
    """A primary offering (through the admin API) sold from a new sale record of a new asset
    (off chain: the checks under test come before any chain access)."""
    with v2.ctx.database.session() as session:
        stored = SaleRepo(session).get(SALE_ID)
        assert stored is not None
        sale_id = str(uuid.uuid4())
        asset = (bytes(28 * [len(terms)]), f"T{uuid.uuid4().hex[:8]}".encode())
        sale = replace(
            stored.sale,
            id=sale_id,
            bundle=asset,
            pointer_name=pointer_asset_name([(uuid.UUID(sale_id).bytes * 2, 0)]),
        )
        SaleRepo(session).add(sale, pointer_policy=stored.pointer_policy, now=v2.ctx.clock())
    created = v2.client.post(
        "/v2/admin/tokens",
        json={
            "policy_id": asset[0].hex(),
            "asset_name": asset[1].hex(),
            "symbol": "LTD",
            "decimals": 6,
            "kind": "primary_offering",
            "sale_id": sale_id,
            **terms,
        },
        headers=_admin_header(v2),
    )
    assert created.status_code == 201, created.text
    token_id: str = created.json()["token_id"]
    return token_id


def test_idempotency_key(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    first = v2.post(buy_path(), ALICE, {"quantity": 2}, **{"Idempotency-Key": "order-1"})
    again = v2.post(buy_path(), ALICE, {"quantity": 2}, **{"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = v2.post(buy_path(), ALICE, {"quantity": 3}, **{"Idempotency-Key": "order-1"})
    assert other.status_code == 422
    assert other.json()["error"] == "Idempotency key reused"
    # A failed request leaves its key free for the corrected retry.
    failed = v2.post(buy_path(), ALICE, {"quantity": 101}, **{"Idempotency-Key": "order-2"})
    assert failed.status_code == 422
    retried = v2.post(buy_path(), ALICE, {"quantity": 1}, **{"Idempotency-Key": "order-2"})
    assert retried.status_code == 200
    # Keys are per user: Bob's "order-1" is his own.
    bob = v2.post(buy_path(BOB), BOB, {"quantity": 1}, **{"Idempotency-Key": "order-1"})
    assert bob.status_code == 200 and bob.json() != first.json()
    with v2.ctx.database.session() as session:
        assert len(V2TransactionRepo(session).list_by_user(ALICE)) == 2
    bad = v2.post(buy_path(), ALICE, {"quantity": 1}, **{"Idempotency-Key": "has space"})
    assert bad.status_code == 400
    # The admin routes honour it too (an admin known only from its token included).
    header = {**_admin_header(v2), "Idempotency-Key": "new-user"}
    user_a = v2.client.post("/v2/admin/users", json={}, headers=header)
    user_b = v2.client.post("/v2/admin/users", json={}, headers=header)
    assert user_a.status_code == user_b.status_code == 201
    assert user_a.json() == user_b.json()


def test_admin_users_and_tokens(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    headers = _admin_header(v2)
    new_id = "5e5e5e5e5e5e5e5e5e5e5e5e"
    created = v2.client.post(
        "/v2/admin/users", json={"user_id": new_id, "kyc_verified": False}, headers=headers
    )
    assert created.status_code == 201
    assert created.json()["wallet_address"].startswith("addr_test1")
    duplicate = v2.client.post("/v2/admin/users", json={"user_id": new_id}, headers=headers)
    assert duplicate.status_code == 409
    kyc = v2.client.post(f"/v2/admin/users/{new_id}/kyc", json={"kyc_verified": True},
                         headers=headers)  # fmt: skip
    assert kyc.status_code == 200 and kyc.json()["kyc_verified"] is True
    read = v2.client.get(f"/v2/admin/users/{new_id}", headers=headers).json()
    assert read["kyc_verified"] is True and read["role"] == "user"
    assert v2.client.get(f"/v2/admin/users/{'f' * 24}", headers=headers).status_code == 404

    tokens = v2.client.get("/v2/admin/tokens", headers=headers).json()["tokens"]
    kinds = {t["symbol"]: t["kind"] for t in tokens}
    assert kinds == {"ADA": "currency", "NEWM": "currency", "SONG": "primary_offering"}
    song = v2.client.get(f"/v2/admin/tokens/{SONG}", headers=headers).json()
    assert song["sale_id"] == SALE_ID and song["decimals"] == 6
    assert song["min_purchase_quantity"] == 0.000001  # one base unit, rendered exactly
    bad = v2.client.post(
        "/v2/admin/tokens",
        json={"policy_id": "zz", "symbol": "X", "decimals": 6, "kind": "currency"},
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["details"].startswith("policy_id:")
    wrong_sale = v2.client.post(
        "/v2/admin/tokens",
        json={"policy_id": "ab" * 28, "asset_name": "", "symbol": "X", "decimals": 0,
              "kind": "primary_offering", "sale_id": SALE_ID},
        headers=headers,
    )  # fmt: skip
    assert wrong_sale.status_code == 400 and "sells" in wrong_sale.json()["details"]
    taken = v2.client.post(
        "/v2/admin/tokens",
        json={"token_id": SONG, "policy_id": "ab" * 28, "symbol": "X", "decimals": 0,
              "kind": "other"},
        headers=headers,
    )  # fmt: skip
    assert taken.status_code == 409


def test_transaction_status_is_for_its_owner_and_admins(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    tx_id = v2.post(buy_path(), ALICE, {"quantity": 1}).json()["transaction_id"]
    assert v2.get(status_path(tx_id), BOB).status_code == 403
    assert v2.get(status_path(tx_id, NEWM), ALICE).status_code == 404  # another token's path
    assert v2.get(status_path("f" * 24), ALICE).status_code == 404
    assert v2.get(status_path(tx_id), ADMIN, admin=True).status_code == 200


def test_balances_are_exact_and_per_token(v2_sqlite: V2Service) -> None:
    body = v2_sqlite.get(f"/v2/users/{ALICE}/balances", ALICE).json()
    newm = next(b for b in body["balances"] if b["token_id"] == NEWM)
    assert newm["quantity"] == 100_000_000_000 and newm["amount"] == 100_000.0
    ada = next(b for b in body["balances"] if b["symbol"] == "ADA")
    assert ada["quantity"] == body["lovelace"] == 1_000_000_000


def test_in_process_worker_completes_a_purchase(tmp_path: Path, clean_env: None) -> None:
    """`serve` on the devnet: the worker thread takes the purchase to completed unaided."""
    settings = v2_settings(f"sqlite:///{tmp_path / 'service.db'}", tmp_path, worker_poll_ms=50)
    parts = open_service(settings)
    with TestClient(create_service_app(parts, worker=True)) as client:
        v2 = V2Service(client, parts)
        tx_id = v2.post(buy_path(), ALICE, {"quantity": 1}).json()["transaction_id"]
        deadline = time.monotonic() + 30
        while (status := v2.get(status_path(tx_id), ALICE).json()["status"]) != "completed":
            assert status in ("pending", "submitted", "confirmed"), status
            assert time.monotonic() < deadline, "the in-process worker never completed it"
            time.sleep(0.05)
        assert len(queue_orders(v2, ALICE)) == 1


@pytest.mark.parametrize("quantity", [1, 4])
def test_purchases_queue_one_order_each(v2_sqlite: V2Service, quantity: int) -> None:
    v2 = v2_sqlite
    for _ in range(2):
        assert v2.post(buy_path(), ALICE, {"quantity": quantity}).status_code == 200
    assert v2.processor().drain() == 2
    orders = queue_orders(v2, ALICE)
    assert [o.number_of_bundles for o in orders] == [quantity, quantity]
