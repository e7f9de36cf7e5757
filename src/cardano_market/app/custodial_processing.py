"""Advancing custodial transactions: build -> sign -> store the signed bytes -> submit -> confirm.
The worker's loop (`worker.processor`) runs these steps; this module is what each step does.

Any number of workers (threads or processes, on any machine sharing the database) run side by
side: each claims one transaction at a time with a lease (`V2TransactionRepo.claim_next`,
`FOR UPDATE SKIP LOCKED` on PostgreSQL), and every state change names the state it leaves and
the worker holding the lease, so a stale worker cannot overwrite a newer one's work.

Crash safety rests on one rule: the signed bytes are stored before they are submitted, and a
transaction with stored bytes is never built again. Its twin: a transaction whose signed bytes
exist is never marked failed while it can still land. When the backend does not show it (a
mempool not indexed yet, an answer lost, a resubmission refused because the node holds the
first copy), the worker keeps watching until its validity (TTL) slot has passed on chain, or
one of its inputs is spent by another transaction, and only then fails it (and only then does
the handler undo what the request reserved). A worker that dies after storing them leaves
a pending transaction that the next worker (once the lease expires) submits, or finds already on
chain; one that dies after submitting leaves one that is found on chain (or resubmitted, which
is harmless: the same bytes have the same id). Confirmation then applies the handler's database
effects and the final state in one database transaction, so they happen exactly once.

Two transactions of the same user are never built at once (a per-user lock), and a user's next
transaction waits while one of theirs is signed but not yet on chain, so they never spend the
same UTxOs.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..chain.base import ChainError, ChainHistory, SubmitError, TxState
from ..domain.cip30 import OutRef
from ..domain.errors import MarketError
from ..ledger.parse import transaction_id
from ..security.keystore import KeystoreError
from ..store.errors import IllegalTransitionError, LeaseLostError
from ..store.transactions import V2Transaction, V2TransactionRepo, V2TxStatus
from .context import Context
from .custodial_tx import RefusedError, TxHandler
from .signing import SigningRefusedError
from .transactions import handler_for

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("cardano_market.worker")

DEFAULT_RETRY_SECONDS = 2
"""Back-off after a transient failure or while waiting for confirmation."""
IN_FLIGHT = (V2TxStatus.PENDING, V2TxStatus.SUBMITTED)


def new_worker_id() -> str:
    """`host-pid-random`: unique per worker, readable in the database."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class CustodialProcessor:
    """Advances custodial transactions; `run_once` for one step (the worker loops over it)."""

    def __init__(
        self,
        ctx: Context,
        worker_id: str | None = None,
        *,
        lease_seconds: int | None = None,
        retry_seconds: int = DEFAULT_RETRY_SECONDS,
        poll_seconds: float | None = None,
        confirmations: int = 1,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.ctx = ctx
        self.worker_id = worker_id or new_worker_id()
        self.lease_seconds = ctx.worker_lease_seconds if lease_seconds is None else lease_seconds
        self.retry_seconds = retry_seconds
        self.poll_seconds = ctx.worker_poll_seconds if poll_seconds is None else poll_seconds
        self.confirmations = confirmations
        self._clock = clock or ctx.clock

    def run_once(self) -> V2Transaction | None:
        """Claim the oldest workable transaction and take it as far as it goes now; its state
        afterwards, or None when there was nothing to claim (or the lease was lost)."""
        with self.ctx.database.session() as session:
            tx = V2TransactionRepo(session).claim_next(
                self.worker_id, lease_seconds=self.lease_seconds, now=self._clock()
            )
        if tx is None:
            return None
        try:
            return self.advance(tx)
        except LeaseLostError as exc:
            log.warning("worker %s lost transaction %s: %s", self.worker_id, tx.id, exc)
            return None
        except (ChainError, KeystoreError, IllegalTransitionError) as exc:
            log.warning("transaction %s: %s; retrying later", tx.id, exc)
            return self._release(tx)

    def drain(self, limit: int = 1000) -> int:
        """Run steps until nothing is claimable (tests, `worker --once`); how many were run."""
        steps = 0
        while steps < limit and self.run_once() is not None:
            steps += 1
        return steps

    # -- steps --------------------------------------------------------------------------------

    def advance(self, tx: V2Transaction) -> V2Transaction:
        """Move a claimed transaction along: build and sign (unless its signed bytes are
        stored), submit (unless it is on chain), wait for confirmation, complete."""
        handler = handler_for(tx.type.value)
        if tx.status is V2TxStatus.PENDING and tx.signed_cbor is None:
            tx = self.build_and_sign(tx, handler)
            if tx.status is not V2TxStatus.PENDING or tx.signed_cbor is None:
                return tx
        if tx.status is V2TxStatus.PENDING:
            tx = self.submit(tx, handler)
        if tx.status is V2TxStatus.SUBMITTED:
            tx = self.watch(tx, handler)
        if tx.status is V2TxStatus.CONFIRMED:
            tx = self.complete(tx, handler)
        return tx

    def build_and_sign(self, tx: V2Transaction, handler: TxHandler) -> V2Transaction:
        """Build with the handler, sign with its keys and store the signed bytes, all under the
        user's build lock. A `MarketError` from the handler fails the transaction for good."""
        with self.ctx.database.session() as session:
            repo = V2TransactionRepo(session)
            self._lock_user(session, tx.user_id)
            repo.renew_lease(
                tx.id, self.worker_id, lease_seconds=self.lease_seconds, now=self._clock()
            )
            busy = self._in_flight(session, tx)
            if busy is not None:
                log.info("transaction %s waits for %s of the same wallet", tx.id, busy)
                return repo.release(tx.id, self.worker_id, now=self._clock(), retry_after_seconds=1)
            try:
                built = handler.build(self.ctx, tx)
            except (ChainError, KeystoreError):
                raise  # transient: the chain or the key store is down, retried later
            except RefusedError as exc:
                return self._fail_in(session, tx, handler, str(exc))
            except MarketError as exc:
                return self._fail_in(session, tx, handler, f"cannot build the transaction: {exc}")
            try:
                signed = self.ctx.gate.sign(built.cbor, built.mandate)
            except SigningRefusedError as exc:
                return self._fail_in(session, tx, handler, f"refused to sign: {exc}")
            stored = repo.store_signed(
                tx.id,
                self.worker_id,
                unsigned_cbor=built.cbor,
                signed_cbor=signed,
                tx_hash=transaction_id(built.cbor).hex(),
                now=self._clock(),
            )
        log.info("transaction %s signed: %s", tx.id, stored.tx_hash)
        return stored

    def submit(self, tx: V2Transaction, handler: TxHandler) -> V2Transaction:
        """Send the stored signed bytes (unless the chain has them already) -> submitted."""
        assert tx.signed_cbor is not None and tx.tx_hash is not None
        if self.ctx.backend.tx_status(bytes.fromhex(tx.tx_hash)).state is TxState.UNKNOWN:
            outcome = self._send(tx, handler)
            if outcome is not None:
                return outcome
        with self.ctx.database.session() as session:
            submitted = V2TransactionRepo(session).transition(
                tx.id, V2TxStatus.SUBMITTED, now=self._clock(), worker_id=self.worker_id
            )
        log.info("transaction %s submitted: %s", tx.id, tx.tx_hash)
        return submitted

    def watch(self, tx: V2Transaction, handler: TxHandler) -> V2Transaction:
        """Confirmed on chain -> confirmed; not shown by the backend -> send the same bytes
        again and look again later, until it can no longer land (`_send`)."""
        assert tx.signed_cbor is not None and tx.tx_hash is not None
        chain = self.ctx.backend
        status = chain.tx_status(bytes.fromhex(tx.tx_hash))
        if status.state is TxState.CONFIRMED and status.depth >= self.confirmations:
            with self.ctx.database.session() as session:
                return V2TransactionRepo(session).transition(
                    tx.id, V2TxStatus.CONFIRMED, now=self._clock(), worker_id=self.worker_id
                )
        if status.state is TxState.UNKNOWN:
            outcome = self._send(tx, handler)
            if outcome is not None:
                return outcome
        return self._release(tx)

    def _send(self, tx: V2Transaction, handler: TxHandler) -> V2Transaction | None:
        """Send the stored bytes, which the backend does not show: None once sent; otherwise
        the transaction failed, or released to be looked at again.

        The bytes may have been sent before (a worker that died, an answer lost on the way
        back), and the backend may not show them yet (a mempool not indexed): a node then
        refuses the copy, which does not mean the first cannot land. So a transaction fails
        only once it can no longer land: its validity (TTL) slot has passed on chain, or,
        after a refusal, one of its inputs was spent by another transaction. What follows from
        `failed` (a deal cancelled, a reservation given back) must never happen to a
        transaction that then lands. A `ChainError` (no answer) propagates: retried later."""
        assert tx.signed_cbor is not None and tx.tx_hash is not None
        chain = self.ctx.backend
        expired = self._cannot_land(tx, check_inputs=False)
        if expired is not None:
            return self.fail(tx, handler, f"the transaction never reached the chain: {expired}")
        try:
            chain.submit(tx.signed_cbor)
        except SubmitError as exc:
            if chain.tx_status(bytes.fromhex(tx.tx_hash)).state is not TxState.UNKNOWN:
                return None  # the refused copy was a second one: the first is there
            why = self._cannot_land(tx, check_inputs=True)
            if why is not None:
                return self.fail(tx, handler, f"the ledger rejected the transaction: {exc} ({why})")
            log.warning(
                "transaction %s (%s): a copy was refused (%s) but it may still land: watching "
                "it until its validity ends",
                tx.id,
                tx.tx_hash,
                exc,
            )
            return self._release(tx)
        return None

    def _cannot_land(self, tx: V2Transaction, *, check_inputs: bool) -> str | None:
        """Why `tx` can never be on chain, or None while it still can, or may be there already
        (the backend shows it after all, or every input is spent by a transaction the backend
        does not show yet). The tip is read before the status, so a transaction in a block at
        or before that tip is seen.

        Proofs: one of its inputs spent by another transaction (looked up after a refusal, or
        once the TTL has passed); the TTL passed on chain while an input is still unspent (a
        backend that tells no history: the TTL alone)."""
        from ..ledger.parse import parse_transaction

        assert tx.signed_cbor is not None and tx.tx_hash is not None
        chain = self.ctx.backend
        tx_id = bytes.fromhex(tx.tx_hash)
        parsed = parse_transaction(tx.signed_cbor)
        tip = chain.tip()
        if chain.tx_status(tx_id).state is not TxState.UNKNOWN:
            return None
        expired = parsed.ttl is not None and tip.slot >= parsed.ttl
        if not expired and not check_inputs:
            return None
        conflict = self._spent_elsewhere(parsed.inputs, tx_id)
        if conflict is not None or not expired:
            return conflict
        ended = (
            f"its validity ended at slot {parsed.ttl} and the chain is at slot {tip.slot} "
            "without it"
        )
        if chain.utxos_by_ref(parsed.inputs) or not isinstance(chain, ChainHistory):
            return ended
        log.warning(
            "transaction %s (%s): past its TTL, its inputs spent, but the backend does not "
            "show it or their spender yet: watching",
            tx.id,
            tx.tx_hash,
        )
        return None

    def _spent_elsewhere(self, inputs: list[OutRef], tx_id: bytes) -> str | None:
        """An input of transaction `tx_id` that another transaction spent, if the backend
        tells (a `ChainHistory`)."""
        chain = self.ctx.backend
        if not isinstance(chain, ChainHistory):
            return None
        for ref in inputs:
            try:
                spender = chain.spending_transaction(ref)
            except ChainError:
                return None  # cannot tell now
            if spender is not None and spender.tx_id != tx_id:
                return f"its input {OutRef.of(ref)} was spent by transaction {spender.tx_id.hex()}"
        return None

    def complete(self, tx: V2Transaction, handler: TxHandler) -> V2Transaction:
        """The handler's database effects and `completed`, in one database transaction."""
        with self.ctx.database.session() as session:
            repo = V2TransactionRepo(session)
            repo.renew_lease(
                tx.id, self.worker_id, lease_seconds=self.lease_seconds, now=self._clock()
            )
            handler.on_confirmed(self.ctx, session, tx)
            done = repo.transition(
                tx.id, V2TxStatus.COMPLETED, now=self._clock(), worker_id=self.worker_id
            )
        log.info("transaction %s completed", tx.id)
        return done

    def fail(self, tx: V2Transaction, handler: TxHandler, reason: str) -> V2Transaction:
        with self.ctx.database.session() as session:
            return self._fail_in(session, tx, handler, reason)

    # -- helpers ------------------------------------------------------------------------------

    def _fail_in(
        self, session: Session, tx: V2Transaction, handler: TxHandler, reason: str
    ) -> V2Transaction:
        handler.on_failed(self.ctx, session, tx, reason)
        failed = V2TransactionRepo(session).transition(
            tx.id,
            V2TxStatus.FAILED,
            now=self._clock(),
            worker_id=self.worker_id,
            failure_reason=reason,
        )
        log.warning("transaction %s failed: %s", tx.id, reason)
        return failed

    def _release(self, tx: V2Transaction) -> V2Transaction:
        with self.ctx.database.session() as session:
            return V2TransactionRepo(session).release(
                tx.id, self.worker_id, now=self._clock(), retry_after_seconds=self.retry_seconds
            )

    @staticmethod
    def _lock_user(session: Session, user_id: str) -> None:
        """Serialise builds for one wallet until this database transaction ends (PostgreSQL:
        an advisory lock; SQLite: the lease renewal that follows takes the write lock)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(user_id[:15], 16)}
            )

    @staticmethod
    def _in_flight(session: Session, tx: V2Transaction) -> str | None:
        """Another transaction of the same user that is signed but not yet on chain."""
        for other in V2TransactionRepo(session).list_by_user(tx.user_id, limit=100):
            if other.id != tx.id and other.status in IN_FLIGHT and other.signed_cbor is not None:
                return other.id
        return None
