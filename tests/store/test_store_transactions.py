"""IssuedTransactionRepo: the exact bytes we issued, idempotent recording and submission."""

from __future__ import annotations

import uuid

import pytest
from store_samples import T0, later

from cardano_market.domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from cardano_market.store.db import Database
from cardano_market.store.records import TxKind, TxStatus
from cardano_market.store.repos import IssuedTransactionRepo

TX_ID = "5f" * 32
# Not canonical CBOR on purpose (indefinite array, non-minimal int): bytes must survive as-is.
UNSIGNED = bytes.fromhex("9f a4 00 80 01 80 02 19 00 01 03 1b 00 00 00 00 00 00 00 05 a0 f5 f6 ff")
SIGNED = UNSIGNED + b"\x00witnesses"


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
