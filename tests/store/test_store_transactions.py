"""Transactions: IssuedTransactionRepo (the exact bytes the v1 API issued, idempotent recording
and submission) and V2TransactionRepo (the custodial state machine, leases, signed bytes)."""

from __future__ import annotations

import uuid

import pytest
from custody_samples import HUGE, pending_transactions, tokens
from store_samples import T0, later

from cardano_market.domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from cardano_market.store.db import Database
from cardano_market.store.errors import IllegalTransitionError, LeaseLostError
from cardano_market.store.transactions import (
    IssuedTransactionRepo,
    TxKind,
    TxStatus,
    V2TransactionRepo,
    V2TxStatus,
    V2TxType,
)

TX_ID = "5f" * 32
# Not canonical CBOR on purpose (indefinite array, non-minimal int): bytes must survive as-is.
UNSIGNED = bytes.fromhex("9f a4 00 80 01 80 02 19 00 01 03 1b 00 00 00 00 00 00 00 05 a0 f5 f6 ff")
SIGNED = UNSIGNED + b"\x00witnesses"
CUSTODIAL_SIGNED = b"\x84signed-bytes"
TX_HASH = "ef" * 32


def _record(db: Database) -> None:
    with db.session() as session:
        IssuedTransactionRepo(session).record(tx_id=TX_ID, cbor=UNSIGNED, kind=TxKind.ORDER, now=T0)


def test_record_and_get_keep_the_bytes_exactly(db: Database) -> None:
    reference = str(uuid.uuid4())
    with db.session() as session:
        issued = IssuedTransactionRepo(session).record(
            tx_id=TX_ID, cbor=UNSIGNED, kind=TxKind.SALE_START, now=T0, reference_id=reference
        )
    with db.session() as session:
        stored = IssuedTransactionRepo(session).get(TX_ID)
    assert stored == issued
    assert stored is not None
    assert stored.cbor == UNSIGNED
    assert stored.kind is TxKind.SALE_START
    assert stored.status is TxStatus.ISSUED
    assert stored.reference_id == reference
    assert stored.signed_cbor is None and stored.submitted_at is None
    assert stored.created_at == stored.updated_at == T0


def test_large_transaction_bytes_round_trip(db: Database) -> None:
    big = bytes(range(256)) * 64  # 16 KiB, every byte value
    with db.session() as session:
        IssuedTransactionRepo(session).record(tx_id=TX_ID, cbor=big, kind=TxKind.ORDER, now=T0)
    with db.session() as session:
        stored = IssuedTransactionRepo(session).get(TX_ID)
    assert stored is not None
    assert stored.cbor == big


def test_recording_the_same_bytes_again_is_idempotent(db: Database) -> None:
    _record(db)
    with db.session() as session:
        again = IssuedTransactionRepo(session).record(
            tx_id=TX_ID.upper(), cbor=UNSIGNED, kind=TxKind.ORDER, now=later(30)
        )
    assert again.created_at == T0
    assert again.tx_id == TX_ID


def test_other_bytes_under_the_same_id_are_refused(db: Database) -> None:
    _record(db)
    with pytest.raises(DuplicateRecordError), db.session() as session:
        IssuedTransactionRepo(session).record(
            tx_id=TX_ID, cbor=UNSIGNED + b"\x00", kind=TxKind.ORDER, now=T0
        )
    with db.session() as session:
        stored = IssuedTransactionRepo(session).get(TX_ID)
    assert stored is not None
    assert stored.cbor == UNSIGNED


@pytest.mark.parametrize("bad", ["5f" * 31, "zz" * 32, "5f" * 32 + "00", ""])
def test_malformed_ids(db: Database, bad: str) -> None:
    with pytest.raises(StoreError, match="64 hex"), db.session() as session:
        IssuedTransactionRepo(session).record(tx_id=bad, cbor=UNSIGNED, kind=TxKind.ORDER, now=T0)
    with db.session() as session:
        assert IssuedTransactionRepo(session).get(bad) is None


def test_mark_submitted_once_then_idempotent(db: Database) -> None:
    _record(db)
    with db.session() as session:
        assert IssuedTransactionRepo(session).mark_submitted(
            TX_ID, signed_cbor=SIGNED, now=later(5)
        )
    with db.session() as session:
        repo = IssuedTransactionRepo(session)
        assert not repo.mark_submitted(TX_ID, signed_cbor=SIGNED + b"x", now=later(6))
        stored = repo.get(TX_ID)
    assert stored is not None
    assert stored.status is TxStatus.SUBMITTED
    assert stored.signed_cbor == SIGNED
    assert stored.cbor == UNSIGNED
    assert stored.submitted_at == stored.updated_at == later(5)


def test_mark_submitted_unknown_transaction(db: Database) -> None:
    with pytest.raises(UnknownRecordError), db.session() as session:
        IssuedTransactionRepo(session).mark_submitted(TX_ID, signed_cbor=SIGNED, now=T0)


def test_set_status_and_with_status(db: Database) -> None:
    ids = [f"{n:02x}" * 32 for n in (3, 1, 2)]
    with db.session() as session:
        repo = IssuedTransactionRepo(session)
        for n, tx_id in enumerate(ids):
            repo.record(tx_id=tx_id, cbor=UNSIGNED, kind=TxKind.ORDER, now=later(n))
    with db.session() as session:
        repo = IssuedTransactionRepo(session)
        confirmed = repo.set_status(ids[1], TxStatus.CONFIRMED, now=later(100))
        assert confirmed.status is TxStatus.CONFIRMED
        assert confirmed.updated_at == later(100)
        assert confirmed.created_at == later(1)
    with db.session() as session:
        repo = IssuedTransactionRepo(session)
        assert [t.tx_id for t in repo.with_status(TxStatus.ISSUED)] == [ids[0], ids[2]]
        assert [t.tx_id for t in repo.with_status(TxStatus.ISSUED, limit=1)] == [ids[0]]
        assert [t.tx_id for t in repo.with_status(TxStatus.CONFIRMED)] == [ids[1]]
        with pytest.raises(UnknownRecordError):
            repo.set_status("ee" * 32, TxStatus.FAILED, now=T0)


# -- custodial transactions ------------------------------------------------------------------------


def test_transaction_happy_path_build_sign_store_submit_confirm_complete(db: Database) -> None:
    (tx_id,) = pending_transactions(db)
    with db.session() as session:
        repo = V2TransactionRepo(session)
        created = repo.get(tx_id)
        assert created is not None
        assert (created.status, created.attempts, created.payload["big"]) == (
            V2TxStatus.PENDING,
            0,
            HUGE,
        )
        claimed = repo.claim_next("worker-a", lease_seconds=30, now=later(10))
        assert claimed is not None and claimed.id == tx_id
        assert (claimed.claimed_by, claimed.claimed_until, claimed.attempts) == (
            "worker-a",
            later(40),
            1,
        )
        with pytest.raises(IllegalTransitionError, match="no stored signed bytes"):
            repo.transition(tx_id, V2TxStatus.SUBMITTED, now=later(11), worker_id="worker-a")
        stored = repo.store_signed(
            tx_id,
            "worker-a",
            unsigned_cbor=b"\x84u",
            signed_cbor=CUSTODIAL_SIGNED,
            tx_hash=TX_HASH,
            now=later(11),
        )
        assert (stored.signed_cbor, stored.tx_hash) == (CUSTODIAL_SIGNED, TX_HASH)
        again = repo.store_signed(  # a worker repeating the step after a crash: no-op
            tx_id,
            "worker-a",
            unsigned_cbor=b"\x84u",
            signed_cbor=CUSTODIAL_SIGNED,
            tx_hash=TX_HASH,
            now=later(12),
        )
        assert again == stored
        with pytest.raises(IllegalTransitionError, match="never build a second"):
            repo.store_signed(
                tx_id,
                "worker-a",
                unsigned_cbor=b"\x84v",
                signed_cbor=b"\x84other",
                tx_hash="aa" * 32,
                now=later(12),
            )
        submitted = repo.transition(
            tx_id, V2TxStatus.SUBMITTED, now=later(13), worker_id="worker-a"
        )
        assert (submitted.status, submitted.submitted_at) == (V2TxStatus.SUBMITTED, later(13))
        repeat = repo.transition(tx_id, V2TxStatus.SUBMITTED, now=later(14), worker_id="worker-a")
        assert repeat == submitted
        repo.transition(tx_id, V2TxStatus.CONFIRMED, now=later(15), worker_id="worker-a")
        with pytest.raises(IllegalTransitionError, match="from confirmed to failed"):
            repo.transition(tx_id, V2TxStatus.FAILED, now=later(16), failure_reason="late")
        done = repo.transition(tx_id, V2TxStatus.COMPLETED, now=later(16), worker_id="worker-a")
    assert (done.status, done.finished_at, done.claimed_by, done.claimed_until) == (
        V2TxStatus.COMPLETED,
        later(16),
        None,
        None,
    )
    with db.session() as session:
        repo = V2TransactionRepo(session)
        assert repo.claim_next("worker-b", lease_seconds=30, now=later(100)) is None
        with pytest.raises(IllegalTransitionError, match="from completed to pending"):
            repo.transition(tx_id, V2TxStatus.PENDING, now=later(101))


def test_illegal_moves_and_failures(db: Database) -> None:
    first, second = pending_transactions(db, 2)
    with db.session() as session:
        repo = V2TransactionRepo(session)
        for target in (V2TxStatus.CONFIRMED, V2TxStatus.COMPLETED):
            with pytest.raises(IllegalTransitionError, match="cannot move from pending"):
                repo.transition(first, target, now=later(1))
        with pytest.raises(IllegalTransitionError, match="needs a reason"):
            repo.transition(first, V2TxStatus.FAILED, now=later(1))
        failed = repo.transition(
            first, V2TxStatus.FAILED, now=later(2), failure_reason="insufficient funds"
        )
        assert (failed.failure_reason, failed.finished_at) == ("insufficient funds", later(2))
        with pytest.raises(IllegalTransitionError, match="pending"):
            repo.store_signed(
                first, "w", unsigned_cbor=b"u", signed_cbor=b"s", tx_hash=TX_HASH, now=later(3)
            )
        with pytest.raises(UnknownRecordError):
            repo.transition("00" * 12, V2TxStatus.FAILED, now=later(3), failure_reason="x")
        with pytest.raises(StoreError, match="24 hex"):
            repo.transition("not-an-id", V2TxStatus.FAILED, now=later(3), failure_reason="x")
        with pytest.raises(StoreError, match="never claimed"):
            repo.claim_next("w", lease_seconds=5, now=later(3), statuses=[V2TxStatus.FAILED])
        with pytest.raises(StoreError, match="positive"):
            repo.claim_next("w", lease_seconds=0, now=later(3))
        assert repo.get(second) is not None


def test_leases_expire_fence_stale_workers_and_back_off(db: Database) -> None:
    (tx_id,) = pending_transactions(db)
    with db.session() as session:
        repo = V2TransactionRepo(session)
        assert repo.claim_next("worker-a", lease_seconds=30, now=later(0)) is not None
        assert repo.claim_next("worker-b", lease_seconds=30, now=later(29)) is None  # held
        taken = repo.claim_next("worker-b", lease_seconds=30, now=later(30))  # expired: free
        assert taken is not None and (taken.claimed_by, taken.attempts) == ("worker-b", 2)
        with pytest.raises(LeaseLostError, match="held by worker-b"):
            repo.store_signed(
                tx_id,
                "worker-a",
                unsigned_cbor=b"u",
                signed_cbor=b"s",
                tx_hash=TX_HASH,
                now=later(31),
            )
        with pytest.raises(LeaseLostError):
            repo.transition(
                tx_id, V2TxStatus.FAILED, now=later(31), worker_id="worker-a", failure_reason="x"
            )
        with pytest.raises(LeaseLostError):
            repo.renew_lease(tx_id, "worker-a", lease_seconds=30, now=later(31))
        renewed = repo.renew_lease(tx_id, "worker-b", lease_seconds=300, now=later(31))
        assert renewed.claimed_until == later(331)
        repo.release(tx_id, "worker-b", now=later(40), retry_after_seconds=60)
        assert repo.claim_next("worker-c", lease_seconds=30, now=later(99)) is None
        again = repo.claim_next("worker-c", lease_seconds=30, now=later(100))
        assert again is not None and again.attempts == 3


def test_claims_take_the_oldest_first_and_listing_is_newest_first(db: Database) -> None:
    ids = pending_transactions(db, 3)
    with db.session() as session:
        repo = V2TransactionRepo(session)
        claimed = [repo.claim_next(f"w{n}", lease_seconds=60, now=later(10)) for n in range(3)]
        assert [c.id for c in claimed if c is not None] == ids
        buyer = claimed[0].user_id if claimed[0] else ""
        assert [t.id for t in repo.list_by_user(buyer)] == ids[::-1]
        assert [t.id for t in repo.list_by_user(buyer, offset=1, limit=1)] == [ids[1]]
        token = claimed[0].token_id if claimed[0] else ""
        assert len(repo.list_by_token(token)) == 3
        assert repo.list_by_user("nobody") == []


def test_transactions_need_known_users_tokens_and_deals(db: Database) -> None:
    with db.session() as session:
        song, _ = tokens(session)
    with pytest.raises(DuplicateRecordError, match="does not exist"), db.session() as session:
        V2TransactionRepo(session).create(
            user_id="00" * 12, token_id=song.id, type=V2TxType.SELL, payload={}, now=T0
        )
