"""The transaction worker under crashes and concurrency: a worker killed between storing the
signed bytes and submitting them, or between submitting and seeing the confirmation, is replaced
by another that finishes the job with the same bytes (never a second transaction); two workers
on one database never process the same transaction twice; failures are final and explained."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from custody_world import ALICE, BOB, SONG, V2Service, buy_on_primary, orders_of, transaction_row

from cardano_market.app import transactions
from cardano_market.app.custodial_tx import BuiltTx
from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.store.transactions import V2Transaction, V2TransactionRepo, V2TxStatus
from cardano_market.worker.processor import TransactionProcessor


class WorkerKilled(BaseException):
    """Stands for the process dying: nothing in the worker catches it."""


class CrashingChain:
    """The real chain, except that `submit` kills the worker before or after it runs."""

    def __init__(self, chain: Any, *, when: str) -> None:
        self._chain = chain
        self._when = when

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def submit(self, tx: bytes) -> bytes:
        if self._when == "before submit":
            raise WorkerKilled(self._when)
        tx_id: bytes = self._chain.submit(tx)
        raise WorkerKilled(self._when)
        return tx_id  # pragma: no cover


def currency_held(v2: V2Service, user: str) -> int:
    with v2.ctx.database.session() as session:
        address = wallet_of(v2.ctx, session, user).address
    return wallet_value(v2.ctx, address).quantity(v2.ctx.config.currency)


def after_lease(v2: V2Service) -> TransactionProcessor:
    """A new worker whose clock is past the dead worker's lease."""
    later = v2.ctx.clock() + timedelta(seconds=v2.ctx.worker_lease_seconds + 1)
    return v2.processor("restarted-worker", clock=lambda: later)


@pytest.mark.parametrize("when", ["before submit", "after submit"])
def test_a_killed_worker_is_finished_by_the_next_with_the_same_bytes(
    v2: V2Service, when: str
) -> None:
    tx_id = buy_on_primary(v2)
    held = currency_held(v2, ALICE)
    dying = TransactionProcessor(v2.with_chain(CrashingChain(v2.ctx.backend, when=when)), "dying")
    with pytest.raises(WorkerKilled):
        dying.run_once()

    crashed = transaction_row(v2, tx_id)
    assert crashed.status is V2TxStatus.PENDING and crashed.claimed_by == "dying"
    assert crashed.signed_cbor is not None and crashed.tx_hash is not None
    on_chain = v2.ctx.backend.tx_status(bytes.fromhex(crashed.tx_hash)).state.value
    assert on_chain == ("unknown" if when == "before submit" else "confirmed")
    # Within the lease nobody else touches it.
    assert v2.processor("impatient").run_once() is None

    finished = after_lease(v2).run_once()
    assert finished is not None and finished.status is V2TxStatus.COMPLETED
    assert finished.tx_hash == crashed.tx_hash  # the stored bytes, not a rebuilt transaction
    assert finished.signed_cbor == crashed.signed_cbor
    assert [o.number_of_bundles for o in orders_of(v2, ALICE)] == [2]  # one order, not two
    spent = held - currency_held(v2, ALICE)
    assert spent == finished.payload["quoted_currency_amount"]  # paid once
    assert after_lease(v2).run_once() is None  # nothing left to do


def test_a_worker_killed_after_confirmation_completes_once(v2_sqlite: V2Service) -> None:
    """Between `confirmed` and `completed` (the handler's effects), the next worker applies the
    effects exactly once."""
    v2 = v2_sqlite
    tx_id = buy_on_primary(v2)
    worker = v2.processor("first")
    with v2.ctx.database.session() as session:
        tx = V2TransactionRepo(session).claim_next("first", lease_seconds=60, now=v2.ctx.clock())
    assert tx is not None
    handler = transactions.handler_for(tx.type.value)
    tx = worker.build_and_sign(tx, handler)
    tx = worker.submit(tx, handler)
    tx = worker.watch(tx, handler)
    assert tx.status is V2TxStatus.CONFIRMED  # ... and here the worker dies
    finished = after_lease(v2).run_once()
    assert finished is not None and finished.status is V2TxStatus.COMPLETED
    from cardano_market.store.audit import AuditLogRepo

    with v2.ctx.database.session() as session:
        assert [e.transaction_id for e in AuditLogRepo(session).list(actor=ALICE)] == [tx_id]


class CountingHandler:
    """The real handler, counting builds per transaction."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.builds: Counter[str] = Counter()
        self.lock = threading.Lock()

    def build(self, ctx: Any, tx: V2Transaction) -> BuiltTx:
        with self.lock:
            self.builds[tx.id] += 1
        built: BuiltTx = self.inner.build(ctx, tx)
        return built

    def on_confirmed(self, ctx: Any, session: Any, tx: V2Transaction) -> None:
        self.inner.on_confirmed(ctx, session, tx)

    def on_failed(self, ctx: Any, session: Any, tx: V2Transaction, reason: str) -> None:
        self.inner.on_failed(ctx, session, tx, reason)


def test_two_workers_never_process_the_same_transaction(
    v2: V2Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and PostgreSQL: two workers drain six purchases of two users concurrently;
    each is built once, submitted once, completed, and the ledger holds exactly six orders."""
    counting = CountingHandler(transactions.HANDLERS["primary_purchase"])
    monkeypatch.setitem(transactions.HANDLERS, "primary_purchase", counting)
    tx_ids = [buy_on_primary(v2, user, 1) for user in (ALICE, BOB) for _ in range(3)]

    errors: list[BaseException] = []

    def work(name: str) -> None:
        worker = v2.processor(name, retry_seconds=0)
        deadline = time.monotonic() + 120  # a time bound, not a step count: load varies
        try:
            while time.monotonic() < deadline:
                with v2.ctx.database.session() as session:
                    repo = V2TransactionRepo(session)
                    if all(repo.get(t).status.is_final for t in tx_ids):  # type: ignore[union-attr]
                        return
                worker.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert not errors, errors
    final = [transaction_row(v2, t) for t in tx_ids]
    assert [t.status for t in final] == [V2TxStatus.COMPLETED] * 6, [
        (t.status, t.failure_reason) for t in final
    ]
    assert counting.builds == Counter({t: 1 for t in tx_ids})
    assert len({t.tx_hash for t in final}) == 6
    assert len(orders_of(v2, ALICE)) == 3 and len(orders_of(v2, BOB)) == 3


def test_a_transaction_that_cannot_be_built_fails_with_its_reason(v2_sqlite: V2Service) -> None:
    """The wallet was emptied after the request was accepted: the build fails for good."""
    v2 = v2_sqlite
    tx_id = buy_on_primary(v2, BOB, 1)
    with v2.ctx.database.session() as session:
        bob = wallet_of(v2.ctx, session, BOB)
    _empty_wallet(v2, bob.address)
    failed = v2.processor().run_once()
    assert failed is not None and failed.status is V2TxStatus.FAILED
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("cannot build the transaction:")
    status = v2.get(f"/v2/admin/tokens/{SONG}/transactions/{tx_id}", BOB).json()
    assert status["status"] == "failed" and status["failure_reason"] == failed.failure_reason
    assert v2.processor().run_once() is None  # final: never claimed again


def test_signed_bytes_the_ledger_refuses_fail_the_transaction(v2_sqlite: V2Service) -> None:
    """Bytes stored, then their inputs spent elsewhere before submission: the ledger refuses
    them, and the transaction fails instead of being rebuilt."""
    v2 = v2_sqlite
    tx_id = buy_on_primary(v2, BOB, 1)
    dying = TransactionProcessor(
        v2.with_chain(CrashingChain(v2.ctx.backend, when="before submit")), "dying"
    )
    with pytest.raises(WorkerKilled):
        dying.run_once()
    with v2.ctx.database.session() as session:
        bob = wallet_of(v2.ctx, session, BOB)
    _empty_wallet(v2, bob.address)
    failed = after_lease(v2).run_once()
    assert failed is not None and failed.status is V2TxStatus.FAILED
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("the ledger rejected the transaction")
    assert transaction_row(v2, tx_id).tx_hash == failed.tx_hash


def _empty_wallet(v2: V2Service, address: bytes) -> None:
    """Send everything at `address` elsewhere with the wallet's own devnet CIP-30 signer."""
    from cardano_market.ledger.witness import sign_transaction, splice_witnesses
    from cardano_market.synthetic import wallet
    from cardano_market.tx.balance import balance

    chain = v2.ctx.backend
    sink = wallet("sink", v2.ctx.network_id).address
    bob = wallet("bob", v2.ctx.network_id)
    for _ in range(10):  # the balancer takes what it needs: repeat until nothing is left
        utxos = chain.utxos_at(address)
        if not utxos:
            return
        built = balance(
            utxos=utxos,
            outputs=[],
            change_address=sink,
            params=chain.protocol_parameters(),
            ttl=v2.ctx.ttl_slot(),
        )
        witnesses = sign_transaction(built.cbor, [bob.payment_key.seed])
        chain.submit(splice_witnesses(built.cbor, witnesses))
    assert chain.utxos_at(address) == []
