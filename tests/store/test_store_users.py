"""UserRepo and CustodialWalletRepo: 24-hex ids, roles and KYC, wallets that keep their signing
key sealed exactly as given (the store never opens it), and the batches a key rotation re-seals."""

from __future__ import annotations

import pytest
from custody_samples import user
from store_samples import T0, later

from cardano_market.domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from cardano_market.domain.keys import PaymentKey
from cardano_market.store.db import Database
from cardano_market.store.ids import new_object_id, parse_object_id
from cardano_market.store.users import CustodialWalletRepo, SealedKey, UserRepo, UserRole


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


# -- custodial wallets -----------------------------------------------------------------------------

OLD_KEY_ID, NEW_KEY_ID = b"\x01\x02\x03\x04", b"\x0a\x0b\x0c\x0d"


def _sealed(n: int) -> bytes:
    """Stand-in sealed blobs: the store keeps whatever bytes it is given."""
    return b"\x01sealed-" + bytes([n]) * 40


def test_wallets_keep_their_sealed_key_exactly_as_given(db: Database) -> None:
    key = PaymentKey.derive("alice")
    with db.session() as session:
        alice = user(session)
        wallet = CustodialWalletRepo(session).create(
            alice.id.upper(),
            address=b"\x60" + key.hash,
            sealed_key=_sealed(1),
            key_id=OLD_KEY_ID,
            now=T0,
        )
    assert wallet.user_id == alice.id and wallet.key_id == OLD_KEY_ID
    with db.session() as session:
        repo = CustodialWalletRepo(session)
        assert repo.get(alice.id) == wallet
        assert repo.get_by_address(b"\x60" + key.hash) == wallet
        sealed = repo.sealed_key(alice.id.upper())
        assert sealed == SealedKey(user_id=alice.id, blob=_sealed(1), key_id=OLD_KEY_ID)
        assert _sealed(1).hex() not in repr(sealed) and "sealed-" not in repr(sealed)
        assert repo.key_ids() == {OLD_KEY_ID.hex(): 1}
        with pytest.raises(UnknownRecordError):
            repo.sealed_key("00" * 12)
    with pytest.raises(DuplicateRecordError), db.session() as session:
        CustodialWalletRepo(session).create(
            alice.id,
            address=b"\x60" + b"\x01" * 28,
            sealed_key=_sealed(2),
            key_id=OLD_KEY_ID,
            now=T0,
        )
    with pytest.raises(StoreError, match="address"), db.session() as session:
        CustodialWalletRepo(session).create(
            user(session).id, address=b"", sealed_key=_sealed(3), key_id=OLD_KEY_ID, now=T0
        )


def test_wallets_sealed_by_other_keys_are_handed_out_in_batches_and_resealed(
    db: Database,
) -> None:
    with db.session() as session:
        owners = sorted(user(session).id for _ in range(3))
        repo = CustodialWalletRepo(session)
        for n, owner in enumerate(owners):
            repo.create(
                owner,
                address=b"\x60" + bytes([n]) * 28,
                sealed_key=_sealed(n),
                key_id=OLD_KEY_ID,
                now=T0,
            )
    with db.session() as session:
        repo = CustodialWalletRepo(session)
        assert repo.lock_sealed_elsewhere(OLD_KEY_ID, limit=10) == []
        batch = repo.lock_sealed_elsewhere(NEW_KEY_ID, limit=2)
        assert [s.user_id for s in batch] == owners[:2]
        assert [s.blob for s in batch] == [_sealed(0), _sealed(1)]
        for sealed in batch:
            resealed = SealedKey(user_id=sealed.user_id, blob=sealed.blob + b"!", key_id=NEW_KEY_ID)
            repo.reseal(resealed, now=later(1))
    with db.session() as session:
        repo = CustodialWalletRepo(session)
        assert [s.user_id for s in repo.lock_sealed_elsewhere(NEW_KEY_ID, limit=10)] == owners[2:]
        assert repo.key_ids() == {OLD_KEY_ID.hex(): 1, NEW_KEY_ID.hex(): 2}
        assert repo.sealed_key(owners[0]).blob == _sealed(0) + b"!"
        moved = repo.get(owners[0])
        assert moved is not None and moved.key_id == NEW_KEY_ID and moved.updated_at == later(1)
