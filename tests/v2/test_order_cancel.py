"""Cancelling a custodial order through the v2 API on the devnet: a primary purchase puts an
order in the queue (the worker builds, signs and submits it), the owner cancels it over HTTP, the
worker builds the QueueCancel transaction from the user's wallet, signs it with the user's key
and submits it; the status reaches `completed`, the order is gone and its whole value is back in
the wallet less the fee. No batcher runs in these services, so nothing fills the order first."""

from __future__ import annotations

import cbor2
from custody_world import ALICE, BOB, SONG, V2Service

from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum, wallet_from_address
from cardano_market.domain.values import Value
from cardano_market.store.transactions import V2TransactionRepo, V2TxStatus


def buy(v2: V2Service, user: str = ALICE, quantity: int = 2) -> Utxo:
    """A primary purchase of `quantity` SONG, processed by the worker: the user's order UTxO."""
    response = v2.post(
        f"/v2/users/purchases/users/{user}/tokens/{SONG}/buy-on-primary-market",
        user,
        {"quantity": quantity},
    )
    assert response.status_code == 200, response.text
    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.COMPLETED, done
    assert done.tx_hash is not None
    [order] = [u for u in queue(v2) if u.tx_hash.hex() == done.tx_hash]
    return order


def queue(v2: V2Service) -> list[Utxo]:
    return v2.ctx.backend.utxos_at(v2.ctx.addresses.queue)


def address_of(v2: V2Service, user: str) -> bytes:
    with v2.ctx.database.session() as session:
        return wallet_of(v2.ctx, session, user).address


def cancel_path(order_tx_id: str, user: str = ALICE) -> str:
    return f"/v2/users/purchases/users/{user}/orders/{order_tx_id}/cancel"


def status_path(tx_id: str, token: str = SONG) -> str:
    return f"/v2/admin/tokens/{token}/transactions/{tx_id}"


def test_the_owner_cancels_an_order_and_gets_its_value_back(v2: V2Service) -> None:
    order = buy(v2)
    assert QueueDatum.from_cbor(order.inline_datum or b"").owner == wallet_from_address(
        address_of(v2, ALICE)
    )
    before = wallet_value(v2.ctx, address_of(v2, ALICE))

    response = v2.post(cancel_path(order.tx_hash.hex()), ALICE, {"output_index": order.index})
    assert response.status_code == 200, response.text
    tx_id = response.json()["transaction_id"]
    pending = v2.get(status_path(tx_id), ALICE).json()
    assert pending["type"] == "order_cancel" and pending["status"] == "pending"
    assert pending["quantity"] == 2  # the order's SONG, in whole tokens

    for _ in range(5):  # the worker, step by step, until the status says completed
        if v2.get(status_path(tx_id), ALICE).json()["status"] == "completed":
            break
        v2.processor().run_once()
    status = v2.get(status_path(tx_id), ALICE).json()
    assert status["status"] == "completed", status
    assert status["failure_reason"] is None
    assert v2.ctx.backend.tx_status(bytes.fromhex(status["tx_hash"])).state.value == "confirmed"

    assert v2.ctx.backend.utxos_by_ref([order.out_ref]) == []
    with v2.ctx.database.session() as session:
        row = V2TransactionRepo(session).get(tx_id)
    assert row is not None and row.signed_cbor is not None
    fee: int = cbor2.loads(row.signed_cbor)[0][2]
    after = wallet_value(v2.ctx, address_of(v2, ALICE))
    assert after == before + order.value - Value(fee)  # every lovelace and token, less the fee

    listed = v2.get(f"/v2/users/{ALICE}/transactions", ALICE).json()["transactions"]
    assert [t["type"] for t in listed] == ["order_cancel", "primary_purchase"]
    assert listed[0]["transaction_id"] == tx_id and listed[0]["token_id"] == SONG

    # The order is gone: cancelling it again is a 404.
    again = v2.post(cancel_path(order.tx_hash.hex()), ALICE, None)
    assert again.status_code == 404, again.text


def test_only_the_owner_cancels(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    order = buy(v2)
    # Bob's token on Alice's path: refused before anything is looked up.
    foreign = v2.post(cancel_path(order.tx_hash.hex(), ALICE), BOB, None)
    assert foreign.status_code == 403
    assert foreign.json()["error"] == "Access denied"
    # Bob on his own path, naming Alice's order: the order is not his.
    not_his = v2.post(cancel_path(order.tx_hash.hex(), BOB), BOB, None)
    assert not_his.status_code == 403, not_his.text
    assert not_his.json() == {"error": "Access denied", "details": "Order belongs to another user"}
    assert [u.out_ref for u in queue(v2)] == [order.out_ref]  # nothing was queued or spent
    assert v2.processor().run_once() is None


def test_unknown_orders_and_bad_input(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    order = buy(v2)
    unknown = v2.post(cancel_path("ab" * 32), ALICE, None)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "Resource not found",
        "details": f"Order {'ab' * 32}#0 not found in the queue",
    }
    change = v2.post(cancel_path(order.tx_hash.hex()), ALICE, {"output_index": order.index + 1})
    assert change.status_code == 404  # the purchase's change output is not an order
    malformed = v2.post(cancel_path("xyz"), ALICE, None)
    assert malformed.status_code == 400
    assert "order_tx_id" in malformed.json()["details"]
    negative = v2.post(cancel_path(order.tx_hash.hex()), ALICE, {"output_index": -1})
    assert negative.status_code == 400


def test_idempotency_key_queues_one_cancel(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    order = buy(v2)
    path = cancel_path(order.tx_hash.hex())
    first = v2.post(path, ALICE, None, **{"Idempotency-Key": "cancel-1"})
    second = v2.post(path, ALICE, None, **{"Idempotency-Key": "cancel-1"})
    assert first.status_code == second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == second.json()
    assert v2.processor().drain() >= 1
    assert v2.ctx.backend.utxos_by_ref([order.out_ref]) == []
