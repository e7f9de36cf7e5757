"""v2 repositories on SQLite and PostgreSQL: users, tokens, wallets, deals, transactions (the
state machine and leases), the audit log and idempotency keys."""

from __future__ import annotations

import uuid

import pytest
from store_samples import POINTER_POLICY, T0, later, make_sale
from v2_samples import ESCROW, KEK, SONG, USDT, active_deal, tokens, user

from cardano_market.domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from cardano_market.domain.keys import PaymentKey
from cardano_market.security.keystore import KeyStore, KeystoreError
from cardano_market.store.db import Database
from cardano_market.store.repos import SaleRepo
from cardano_market.store.v2_errors import (
    DealUnavailableError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    InsufficientQuantityError,
    LeaseLostError,
)
from cardano_market.store.v2_records import (
    AuditAction,
    DealStatus,
    EscrowRef,
    TokenKind,
    UserRole,
    V2TxStatus,
    V2TxType,
    new_object_id,
    parse_object_id,
)
from cardano_market.store.v2_repos import (
    AuditLogRepo,
    CustodialWalletRepo,
    DealRepo,
    IdempotencyRepo,
    TokenRepo,
    UserRepo,
    V2TransactionRepo,
)

HUGE = 2**64 - 1  # a token quantity beyond BigInteger's range
SIGNED = b"\x84signed-bytes"
TX_HASH = "ef" * 32


# -- ids, users, tokens ----------------------------------------------------------------------------


def test_object_ids_are_24_hex_digits_led_by_the_creation_time() -> None:
    ids = {new_object_id(T0.timestamp()) for _ in range(100)}
    assert len(ids) == 100
    for value in ids:
        assert parse_object_id(value) == value
        assert int(value[:8], 16) == int(T0.timestamp())
    assert parse_object_id("680C02896D91CA0145CFEB81") == "680c02896d91ca0145cfeb81"
    for bad in ("680c02896d91ca0145cfeb8", "680c02896d91ca0145cfeb8g", 12, None):
        assert parse_object_id(bad) is None


def test_users(db: Database) -> None:
    with db.session() as session:
        alice = user(session)
        admin = user(session, role=UserRole.ADMIN, user_id="680C02896D91CA0145CFEB81")
    assert admin.id == "680c02896d91ca0145cfeb81" and admin.is_admin
    with db.session() as session:
        repo = UserRepo(session)
        assert repo.get(alice.id) == alice
        assert repo.get("nope") is None
        verified = repo.set_kyc(alice.id, True, now=later(5))
    assert verified.kyc_verified and verified.updated_at == later(5)
    with pytest.raises(DuplicateRecordError), db.session() as session:
        user(session, user_id=admin.id)
    with pytest.raises(UnknownRecordError), db.session() as session:
        UserRepo(session).set_kyc("00" * 12, True, now=T0)


def test_tokens_round_trip_and_refuse_inconsistent_terms(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        repo = TokenRepo(session)
        offering = repo.create(
            asset=(bytes.fromhex("cc" * 28), b"artist"),
            symbol="ART",
            decimals=0,
            kind=TokenKind.PRIMARY_OFFERING,
            now=T0,
            sale_id=sale.id,
            min_purchase_quantity=10,
            max_purchase_quantity=HUGE,
            kyc_required=True,
        )
        ada = repo.create(asset=(b"", b""), symbol="ADA", decimals=6, kind="currency", now=T0)
    with db.session() as session:
        repo = TokenRepo(session)
        assert repo.get(offering.id) == offering
        assert offering.sale_id == sale.id and offering.max_purchase_quantity == HUGE
        assert repo.get_by_asset((b"", b"")) == ada
        assert [t.id for t in repo.list(TokenKind.CURRENCY)] == [ada.id]
        assert len(repo.list()) == 2
    bad_terms = [
        {"asset": (b"\x01" * 27, b"x")},
        {"symbol": ""},
        {"decimals": 39},
        {"decimals": True},
        {"min_purchase_quantity": 0},
        {"min_purchase_quantity": 5, "max_purchase_quantity": 4},
        {"sale_id": sale.id},  # a currency is not sold from a sale
    ]
    for overrides in bad_terms:
        fields = {"asset": USDT, "symbol": "USDT", "decimals": 6, "kind": TokenKind.CURRENCY}
        fields.update(overrides)
        with pytest.raises(StoreError), db.session() as session:
            TokenRepo(session).create(now=T0, **fields)  # type: ignore[arg-type]
    with pytest.raises(DuplicateRecordError, match="already"), db.session() as session:
        TokenRepo(session).create(
            asset=(b"", b""), symbol="ADA2", decimals=6, kind=TokenKind.CURRENCY, now=T0
        )
    with pytest.raises(DuplicateRecordError), db.session() as session:  # unknown sale
        TokenRepo(session).create(
            asset=SONG,
            symbol="S",
            decimals=0,
            kind="primary_offering",
            now=T0,
            sale_id=uuid.uuid4(),
        )


# -- custodial wallets -----------------------------------------------------------------------------


def test_wallet_keys_are_sealed_and_only_signing_key_opens_them(db: Database) -> None:
    keystore = KeyStore(KEK)
    key = PaymentKey.derive("alice")
    with db.session() as session:
        alice = user(session)
        wallet = CustodialWalletRepo(session, keystore).create(
            alice.id, address=b"\x60" + key.hash, signing_key=key.seed, now=T0
        )
    assert key.seed.hex() not in repr(wallet)
    assert wallet.key_id == keystore.current_key_id
    with db.session() as session:
        repo = CustodialWalletRepo(session, keystore)
        assert repo.get(alice.id) == wallet
        assert repo.get_by_address(b"\x60" + key.hash) == wallet
        assert repo.signing_key(alice.id) == key.seed
        with pytest.raises(UnknownRecordError):
            repo.signing_key("00" * 12)
        with pytest.raises(KeystoreError, match="not configured"):
            CustodialWalletRepo(session, KeyStore(bytes(32))).signing_key(alice.id)
    with pytest.raises(DuplicateRecordError), db.session() as session:
        CustodialWalletRepo(session, keystore).create(
            alice.id, address=b"\x60" + b"\x01" * 28, signing_key=key.seed, now=T0
        )


def test_wallet_keys_rotate_to_a_new_key_encryption_key(db: Database) -> None:
    old, new = KeyStore(KEK), KeyStore(bytes(32), retired=[KEK])
    seeds = {}
    with db.session() as session:
        for n in range(3):
            owner = user(session)
            key = PaymentKey.derive(f"user-{n}")
            seeds[owner.id] = key.seed
            CustodialWalletRepo(session, old).create(
                owner.id, address=b"\x60" + key.hash, signing_key=key.seed, now=T0
            )
    with db.session() as session:
        assert CustodialWalletRepo(session, new).rotate(now=later(1), limit=2) == 2
        assert CustodialWalletRepo(session, new).rotate(now=later(1)) == 1
        assert CustodialWalletRepo(session, new).rotate(now=later(1)) == 0
    with db.session() as session:
        current_only = CustodialWalletRepo(session, KeyStore(bytes(32)))
        for user_id, seed in seeds.items():
            assert current_only.signing_key(user_id) == seed
            assert current_only.get(user_id).key_id == new.current_key_id  # type: ignore[union-attr]


# -- deals -----------------------------------------------------------------------------------------


def test_deal_lifecycle_with_integer_ids_and_versions(db: Database) -> None:
    with db.session() as session:
        seller = user(session)
        song, usdt = tokens(session)
        repo = DealRepo(session)
        first = repo.create(
            seller_id=seller.id,
            token_id=song.id,
            quantity=HUGE,
            price_token_id=usdt.id,
            unit_price=12_500_000,
            now=T0,
        )
        second = repo.create(
            seller_id=seller.id,
            token_id=song.id,
            quantity=5,
            price_token_id=usdt.id,
            unit_price=1,
            now=T0,
        )
    assert isinstance(first.id, int) and second.id > first.id
    assert (first.status, first.remaining, first.version, first.escrow) == (
        DealStatus.PENDING,
        HUGE,
        1,
        None,
    )
    with db.session() as session:
        repo = DealRepo(session)
        with pytest.raises(DealUnavailableError):
            repo.reserve(first.id, 1, now=later(1))  # pending: not for sale yet
        active = repo.activate(first.id, escrow=ESCROW, now=later(1))
        assert (active.status, active.escrow, active.version) == (DealStatus.ACTIVE, ESCROW, 2)
        reserved = repo.reserve(first.id, HUGE - 1, now=later(2))
        assert reserved.remaining == 1
        with pytest.raises(InsufficientQuantityError) as caught:
            repo.reserve(first.id, 2, now=later(3))
        assert (caught.value.requested, caught.value.remaining) == (2, 1)
        assert repo.release(first.id, 10, now=later(4)).remaining == 11
        with pytest.raises(StoreError, match="exceed"):
            repo.release(first.id, HUGE, now=later(4))
        moved = repo.move_escrow(first.id, escrow=EscrowRef(tx_hash="01" * 32, index=3), now=T0)
        assert moved.escrow == EscrowRef(tx_hash="01" * 32, index=3)
        with pytest.raises(IllegalTransitionError, match="still has 11"):
            repo.complete(first.id, now=later(5))
        with pytest.raises(IllegalTransitionError, match="changed since"):
            repo.cancel(first.id, now=later(5), expected_version=moved.version - 1)
        cancelled = repo.cancel(first.id, now=later(6), expected_version=moved.version)
        assert (cancelled.status, cancelled.remaining, cancelled.closed_at) == (
            DealStatus.CANCELLED,
            11,
            later(6),
        )
        with pytest.raises(IllegalTransitionError, match="is cancelled"):
            repo.cancel(first.id, now=later(7))
        with pytest.raises(DealUnavailableError):
            repo.reserve(first.id, 1, now=later(7))
        assert [d.id for d in repo.list_by_seller(seller.id)] == [second.id, first.id]
        assert repo.list_by_token(song.id) == []  # neither is active
        assert [d.id for d in repo.list_by_token(song.id, statuses=None)] == [second.id, first.id]
        assert repo.get(999_999) is None
        with pytest.raises(UnknownRecordError):
            repo.reserve(999_999, 1, now=T0)


def test_a_sold_out_deal_completes(db: Database) -> None:
    with db.session() as session:
        deal = active_deal(session, quantity=3)
        repo = DealRepo(session)
        repo.reserve(deal.id, 3, now=later(1))
        done = repo.complete(deal.id, now=later(2))
    assert (done.status, done.remaining, done.closed_at) == (DealStatus.COMPLETED, 0, later(2))


# -- v2 transactions -------------------------------------------------------------------------------


def _pending(db: Database, count: int = 1) -> list[str]:
    with db.session() as session:
        buyer = user(session)
        deal = active_deal(session)
        repo = V2TransactionRepo(session)
        return [
            repo.create(
                user_id=buyer.id,
                token_id=deal.token_id,
                type=V2TxType.SECONDARY_PURCHASE,
                payload={"quantity": 10, "deal_id": deal.id, "big": HUGE},
                deal_id=deal.id,
                now=later(n),
            ).id
            for n in range(count)
        ]


def test_transaction_happy_path_build_sign_store_submit_confirm_complete(db: Database) -> None:
    (tx_id,) = _pending(db)
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
            signed_cbor=SIGNED,
            tx_hash=TX_HASH,
            now=later(11),
        )
        assert (stored.signed_cbor, stored.tx_hash) == (SIGNED, TX_HASH)
        again = repo.store_signed(  # a worker repeating the step after a crash: no-op
            tx_id,
            "worker-a",
            unsigned_cbor=b"\x84u",
            signed_cbor=SIGNED,
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
    first, second = _pending(db, 2)
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
    (tx_id,) = _pending(db)
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
    ids = _pending(db, 3)
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


# -- audit log, idempotency ------------------------------------------------------------------------


def test_audit_log_records_who_did_what(db: Database) -> None:
    (tx_id,) = _pending(db)
    with db.session() as session:
        tx = V2TransactionRepo(session).get(tx_id)
        assert tx is not None and tx.deal_id is not None
        log = AuditLogRepo(session)
        trade = log.record(
            actor=tx.user_id,
            action=AuditAction.TRADE,
            now=later(1),
            deal_id=tx.deal_id,
            token_id=tx.token_id,
            quantity=10,
            amount=HUGE * 10,
            transaction_id=tx.id,
            tx_hash=TX_HASH,
            details={"seller": "x"},
        )
        log.record(actor="worker-a", action=AuditAction.DELIST, now=later(2), deal_id=tx.deal_id)
        log.record(actor="worker-a", action=AuditAction.LIST, now=later(3), deal_id=None)
    with db.session() as session:
        log = AuditLogRepo(session)
        entries = log.list(deal_id=tx.deal_id)
        assert [e.action for e in entries] == [AuditAction.TRADE, AuditAction.DELIST]
        assert entries[0] == trade and trade.amount == HUGE * 10
        assert [e.action for e in log.list(actor="worker-a")] == [
            AuditAction.DELIST,
            AuditAction.LIST,
        ]
        with pytest.raises(StoreError, match="actor"):
            log.record(actor="", action=AuditAction.LIST, now=T0)


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
