"""IdempotencyRepo: one answer per user and Idempotency-Key, replayed unchanged."""

from __future__ import annotations

import pytest
from custody_samples import user
from store_samples import T0, later

from cardano_market.domain.errors import StoreError, UnknownRecordError
from cardano_market.store.db import Database
from cardano_market.store.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
)
from cardano_market.store.idempotency import IdempotencyRepo


def test_idempotency_key_replays_the_first_answer(db: Database) -> None:
    fingerprint = IdempotencyRepo.fingerprint("post", "/v2/x", b'{"quantity": 10}')
    assert fingerprint == IdempotencyRepo.fingerprint("POST", "/v2/x", b'{"quantity": 10}')
    assert fingerprint != IdempotencyRepo.fingerprint("POST", "/v2/x", b'{"quantity": 11}')
    body = {"transaction_id": "6913872755654191dede37da"}
    with db.session() as session:
        alice, bob = user(session), user(session)
        repo = IdempotencyRepo(session)
        assert repo.begin(alice.id, "key-1", request_hash=fingerprint, now=T0) is None
        with pytest.raises(IdempotencyInProgressError):
            repo.begin(alice.id, "key-1", request_hash=fingerprint, now=later(1))
        stored = repo.store_response(
            alice.id,
            "key-1",
            status_code=200,
            body=body,
            now=later(1),
            transaction_id=body["transaction_id"],
        )
        with pytest.raises(IllegalTransitionError, match="already has its response"):
            repo.store_response(alice.id, "key-1", status_code=500, body={}, now=later(2))
        assert repo.begin(bob.id, "key-1", request_hash=fingerprint, now=T0) is None  # per user
    with db.session() as session:
        repo = IdempotencyRepo(session)
        replay = repo.begin(alice.id, "key-1", request_hash=fingerprint, now=later(5))
        assert replay == stored
        assert (replay.status_code, replay.body) == (200, body)
        with pytest.raises(IdempotencyKeyReusedError):
            repo.begin(alice.id, "key-1", request_hash="0" * 64, now=later(5))
        for bad in ("", "x" * 256, "has space", "caf\u00e9"):
            with pytest.raises(StoreError, match="Idempotency-Key"):
                repo.begin(alice.id, bad, request_hash=fingerprint, now=T0)
        assert repo.purge(later(1)) == 2
        assert repo.begin(alice.id, "key-1", request_hash="0" * 64, now=later(6)) is None
    with pytest.raises(UnknownRecordError), db.session() as session:
        IdempotencyRepo(session).begin("00" * 12, "k", request_hash=fingerprint, now=T0)
