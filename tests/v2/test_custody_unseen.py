"""THREATS 8: a lost answer from the chain. The worker never marks a submitted transaction failed
while it can still land, never pays twice, and what follows from `failed` (a deal cancelled)
happens only once the transaction's validity (TTL) slot has passed on chain without it.

`UnseenChain` sits in front of the real devnet (like `chain.instrumented.InstrumentedBackend`):
everything is forwarded, except that a transaction submitted through it stays invisible for a
number of status reads (a Blockfrost whose mempool is not indexed yet), a second copy of a
transaction the ledger holds is refused as a node refuses it (`BadInputsUTxO`: the first copy
spent its inputs), and optionally the answer to the first submission is lost, or submissions
never reach the ledger at all."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from custody_world import ALICE, BOB, NEWM, SONG, V2Service, transaction_row
from fastapi.testclient import TestClient

from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.app.seeding import derived_id
from cardano_market.chain.base import (
    ChainError,
    ChainHistory,
    ChainTransaction,
    SubmitError,
    TxState,
    TxStatus,
)
from cardano_market.chain.devnet.backend import DevnetBackend
from cardano_market.domain.cip30 import OutRef
from cardano_market.domain.datums import QueueDatum, wallet_from_address
from cardano_market.ledger.parse import parse_transaction, transaction_id
from cardano_market.runtime import create_service_app
from cardano_market.store.deals import DealRepo, DealStatus
from cardano_market.store.transactions import V2Transaction, V2TxStatus
from cardano_market.worker.processor import TransactionProcessor

ADA_TOKEN = derived_id("token/ADA")


class UnseenChain:
    """The real chain behind a backend that does not show what was submitted through it."""

    def __init__(
        self,
        inner: Any,
        *,
        hide_polls: int = 0,
        lose_answers: bool = False,
        drop: bool = False,
        refuse_landed: bool = False,
    ) -> None:
        assert isinstance(inner, ChainHistory)
        self.inner = inner
        self.network_id = inner.network_id
        self.hide_polls = hide_polls
        self.lose_answers = lose_answers
        self.drop = drop
        self.refuse_landed = refuse_landed
        """The first submission lands, but the answer is the refusal of a retried copy (a
        backend that retried after a timeout and could not find the first copy yet)."""
        self.hidden: dict[bytes, int] = {}
        """Transaction id -> status reads it stays invisible for."""
        self.landed: list[bytes] = []
        self.refused_copies = 0
        self.hidden_reads = 0
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def submit(self, tx: bytes) -> bytes:
        tx_id = transaction_id(tx)
        if self.drop:
            self.dropped += 1
            raise ChainError(f"submitting {tx_id.hex()} timed out (it never reached the node)")
        if self._hides(tx_id):
            self.refused_copies += 1
            first = parse_transaction(tx).inputs[0]
            raise SubmitError(
                f"BadInputsUTxO: input {first[0].hex()}#{first[1]} is not in the UTxO set",
                rule="BadInputsUTxO",
            )
        result: bytes = self.inner.submit(tx)
        if tx_id not in self.hidden:
            self.hidden[tx_id] = self.hide_polls
            self.landed.append(tx_id)
            if self.lose_answers:
                raise ChainError(f"submitting {tx_id.hex()} timed out (the answer was lost)")
            if self.refuse_landed:
                self.refused_copies += 1
                first = parse_transaction(tx).inputs[0]
                raise SubmitError(
                    f"BadInputsUTxO: input {first[0].hex()}#{first[1]} is not in the UTxO set",
                    rule="BadInputsUTxO",
                )
        return result

    def tx_status(self, tx_id: bytes) -> TxStatus:
        if self._hides(tx_id):
            self.hidden[tx_id] -= 1
            self.hidden_reads += 1
            return TxStatus(TxState.UNKNOWN)
        status: TxStatus = self.inner.tx_status(tx_id)
        return status

    def transaction(self, tx_id: bytes) -> ChainTransaction | None:
        return None if self._hides(tx_id) else self.inner.transaction(tx_id)

    def spending_transaction(self, ref: OutRef) -> ChainTransaction | None:
        spender: ChainTransaction | None = self.inner.spending_transaction(ref)
        return None if spender is not None and self._hides(spender.tx_id) else spender

    def _hides(self, tx_id: bytes) -> bool:
        return self.hidden.get(tx_id, 0) > 0


def lagging_worker(v2: V2Service, chain: UnseenChain) -> TransactionProcessor:
    """A worker on `chain` that looks again at once (no back-off)."""
    return TransactionProcessor(v2.with_chain(chain), "lagging-worker", retry_seconds=0)


def run_until_final(worker: TransactionProcessor, limit: int = 40) -> list[V2Transaction]:
    steps = []
    for _ in range(limit):
        step = worker.run_once()
        assert step is not None
        steps.append(step)
        if step.status.is_final:
            break
    return steps


def address_of(v2: V2Service, user: str) -> bytes:
    with v2.ctx.database.session() as session:
        return wallet_of(v2.ctx, session, user).address


def orders_of(v2: V2Service, user: str) -> list[QueueDatum]:
    owner = wallet_from_address(address_of(v2, user))
    return [
        datum
        for u in v2.ctx.backend.utxos_at(v2.ctx.addresses.queue)
        if u.inline_datum is not None
        and (datum := QueueDatum.from_cbor(u.inline_datum)).owner == owner
    ]


def status(v2: V2Service, tx_id: str, token: str) -> dict[str, Any]:
    response = v2.get(f"/v2/admin/tokens/{token}/transactions/{tx_id}", ALICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sell(v2: V2Service, quantity: int = 10) -> str:
    response = v2.post(
        f"/v2/users/secondary-markets/users/{ALICE}/tokens/{NEWM}/sell",
        ALICE,
        {"quantity": quantity, "price_id": ADA_TOKEN, "price_amount": 1},
    )
    assert response.status_code == 200, response.text
    tx_id: str = response.json()["transaction_id"]
    return tx_id


def deal_status(v2: V2Service, tx: V2Transaction) -> DealStatus:
    assert tx.deal_id is not None
    with v2.ctx.database.session() as session:
        deal = DealRepo(session).get(tx.deal_id)
    assert deal is not None
    return deal.status


@pytest.mark.parametrize("lose_answers", [False, True], ids=["not indexed", "answer lost"])
def test_a_purchase_the_backend_hides_is_never_failed_and_paid_once(
    v2: V2Service, lose_answers: bool
) -> None:
    address = address_of(v2, ALICE)
    before = wallet_value(v2.ctx, address)
    response = v2.post(
        f"/v2/users/purchases/users/{ALICE}/tokens/{SONG}/buy-on-primary-market",
        ALICE,
        {"quantity": 2},
    )
    assert response.status_code == 200, response.text
    tx_id = response.json()["transaction_id"]
    chain = UnseenChain(v2.ctx.backend, hide_polls=8, lose_answers=lose_answers)

    steps = run_until_final(lagging_worker(v2, chain))
    assert [s.status for s in steps if s.status is V2TxStatus.FAILED] == []
    assert steps[-1].status is V2TxStatus.COMPLETED, steps[-1].failure_reason
    assert len(steps) > 2  # it was looked at several times while hidden
    assert chain.hidden_reads == 8 and chain.refused_copies >= 1
    assert len(chain.landed) == 1  # one transaction reached the ledger

    body = status(v2, tx_id, SONG)
    assert body["status"] == "completed" and body["failure_reason"] is None
    assert bytes.fromhex(body["tx_hash"]) == chain.landed[0]
    spent = before - wallet_value(v2.ctx, address)
    currency = v2.ctx.config.currency
    assert spent.quantity(currency) == steps[-1].payload["quoted_currency_amount"]  # once
    assert len(orders_of(v2, ALICE)) == 1


def test_a_listing_the_backend_hides_is_never_cancelled(v2_sqlite: V2Service) -> None:
    """The escrow lock lands while the backend hides it: the deal must not be cancelled (its
    tokens would sit in escrow for a deal nobody can buy from); it turns active once seen."""
    v2 = v2_sqlite
    tx_id = sell(v2)
    chain = UnseenChain(v2.ctx.backend, hide_polls=6)
    worker = lagging_worker(v2, chain)
    deals_seen = []
    for _ in range(40):
        step = worker.run_once()
        assert step is not None and step.status is not V2TxStatus.FAILED, step
        deals_seen.append(deal_status(v2, step))
        if step.status.is_final:
            break
    assert DealStatus.CANCELLED not in deals_seen
    assert deals_seen[-1] is DealStatus.ACTIVE and chain.refused_copies >= 1
    final = transaction_row(v2, tx_id)
    assert final.status is V2TxStatus.COMPLETED
    escrow = v2.ctx.escrow
    assert escrow is not None
    held = v2.ctx.backend.utxos_at(escrow.address)
    locked = [u for u in held if u.tx_hash.hex() == final.tx_hash]
    assert len(locked) == 1 and locked[0].value.quantity(v2.ctx.config.currency) == 10**7


def test_a_transaction_that_never_lands_fails_only_after_its_ttl(v2_sqlite: V2Service) -> None:
    """Every submission is lost before the node: the worker keeps trying, the deal stays
    pending; once the chain passes the transaction's TTL it fails, and only then is the deal
    cancelled. The seller's wallet never changed."""
    v2 = v2_sqlite
    address = address_of(v2, ALICE)
    before = wallet_value(v2.ctx, address)
    tx_id = sell(v2)
    chain = UnseenChain(v2.ctx.backend, drop=True)
    worker = lagging_worker(v2, chain)
    for _ in range(5):
        step = worker.run_once()
        assert step is not None and step.status is V2TxStatus.PENDING, step.failure_reason
        assert deal_status(v2, step) is DealStatus.PENDING
    assert chain.dropped == 5
    signed = transaction_row(v2, tx_id).signed_cbor
    assert signed is not None
    ttl = parse_transaction(signed).ttl
    assert ttl is not None
    devnet = v2.parts.chain
    assert isinstance(devnet, DevnetBackend)
    devnet.advance(ttl - devnet.tip().slot - 1)  # the last slot it is valid in
    step = worker.run_once()
    assert step is not None and step.status is V2TxStatus.PENDING
    assert deal_status(v2, step) is DealStatus.PENDING

    devnet.advance(1)  # the chain reaches its TTL: it can no longer land
    failed = worker.run_once()
    assert failed is not None and failed.status is V2TxStatus.FAILED
    assert failed.failure_reason == (
        "the transaction never reached the chain: its validity ended at slot "
        f"{ttl} and the chain is at slot {devnet.tip().slot} without it"
    )
    assert deal_status(v2, failed) is DealStatus.CANCELLED
    assert chain.dropped == 6
    assert wallet_value(v2.ctx, address) == before
    assert status(v2, tx_id, NEWM)["status"] == "failed"


def test_a_hidden_transaction_past_its_ttl_is_decided_by_the_chain(v2_sqlite: V2Service) -> None:
    """Hidden, then the chain passes its TTL: the worker sees it once the backend shows it and
    completes it; it is never failed although its TTL has passed (it landed in time)."""
    v2 = v2_sqlite
    tx_id = sell(v2)
    chain = UnseenChain(v2.ctx.backend, hide_polls=12)
    worker = lagging_worker(v2, chain)
    first = worker.run_once()
    assert first is not None and first.status is not V2TxStatus.FAILED
    assert first.signed_cbor is not None
    ttl = parse_transaction(first.signed_cbor).ttl
    assert ttl is not None
    devnet = v2.parts.chain
    assert isinstance(devnet, DevnetBackend)
    devnet.advance(ttl - devnet.tip().slot + 5)
    assert chain.hidden[chain.landed[0]] > 0  # still hidden while the chain is past its TTL
    steps = run_until_final(worker)
    assert all(s.status is not V2TxStatus.FAILED for s in steps)
    assert steps[-1].status is V2TxStatus.COMPLETED
    assert deal_status(v2, steps[-1]) is DealStatus.ACTIVE
    assert transaction_row(v2, tx_id).tx_hash == chain.landed[0].hex()


def test_a_secondary_purchase_refused_after_it_landed_is_never_paid_twice(
    v2_sqlite: V2Service,
) -> None:
    """The synchronous buy: the backend's retry of a submission that had landed is refused
    (`BadInputsUTxO`) while the backend does not show the first copy. The answer is 503 (the
    outcome is unknown), not 409, so the Idempotency-Key stays taken: a retry once the chain
    shows the purchase is 409 and the buyer pays once (read from the ledger)."""
    v2 = v2_sqlite
    sell_tx = sell(v2)
    listed = v2.processor().run_once()
    assert listed is not None and listed.status is V2TxStatus.COMPLETED
    deal_id = transaction_row(v2, sell_tx).deal_id
    chain = UnseenChain(v2.ctx.backend, hide_polls=3, refuse_landed=True)
    lagging = replace(v2.parts, v2=v2.with_chain(chain))
    buyer = address_of(v2, BOB)
    newm = v2.ctx.config.currency
    before = wallet_value(v2.ctx, buyer)
    before_refs = {u.out_ref for u in v2.ctx.backend.utxos_at(buyer)}
    path = f"/v2/users/purchases/users/{BOB}/tokens/{NEWM}/buy-on-secondary-market"
    headers = {**v2.auth(BOB), "Idempotency-Key": "bob-buys-2"}
    with TestClient(create_service_app(lagging)) as client:
        first = client.post(path, json={"quantity": 2, "deal_id": deal_id}, headers=headers)
        assert first.status_code == 503, first.text
        assert "may have landed" in first.json()["details"]
        assert len(chain.landed) == 1 and chain.refused_copies == 1
        while chain.hidden.get(chain.landed[0], 0) > 0:  # the backend's index catches up
            chain.tx_status(chain.landed[0])
        retry = client.post(path, json={"quantity": 2, "deal_id": deal_id}, headers=headers)
        assert retry.status_code == 409, retry.text
        # (read before the app stops: it closes the devnet)
        after = wallet_value(v2.ctx, buyer)
        spent = before_refs - {u.out_ref for u in v2.ctx.backend.utxos_at(buyer)}
        spenders = [v2.ctx.backend.spending_transaction(ref) for ref in spent]
    assert after.quantity(newm) - before.quantity(newm) == 2 * 10**6  # delivered once
    assert spent and {s.tx_id for s in spenders if s is not None} == {chain.landed[0]}
    assert before.coin > after.coin  # the buyer paid, with one transaction
