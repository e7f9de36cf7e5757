"""Custodial signing keys at rest: AES-256-GCM round trips, wrong keys, tampering, nonce
uniqueness, rotation, the devnet's generated key file, and a database file with no plaintext."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cardano_market.domain.errors import ConfigError
from cardano_market.domain.keys import PaymentKey
from cardano_market.security.keystore import (
    BLOB_VERSION,
    HEADER_BYTES,
    KeyStore,
    KeystoreError,
    parse_key_encryption_key,
)
from cardano_market.store.db import Database
from cardano_market.store.users import CustodialWalletRepo, UserRepo
from env_support import clear_market_env

KEK = bytes.fromhex("8f" * 16 + "1e" * 16)
ALICE = "680c02896d91ca0145cfeb81"
BOB = "680c02896d91ca0145cfeb82"
SEED = PaymentKey.derive("custodial alice").seed


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_market_env(monkeypatch)
    monkeypatch.chdir(tmp_path)


def test_round_trip_and_blob_layout() -> None:
    store = KeyStore(KEK)
    blob = store.encrypt_signing_key(ALICE, SEED)
    assert len(blob) == HEADER_BYTES + len(SEED) + 16
    assert blob[0] == BLOB_VERSION
    assert blob[1:5] == store.current_key_id
    assert SEED not in blob
    assert store.decrypt_signing_key(ALICE, blob) == SEED
    assert KEK.hex() not in repr(store) and "8f8f" not in repr(store)


def test_every_encryption_uses_a_fresh_nonce() -> None:
    store = KeyStore(KEK)
    blobs = [store.encrypt_signing_key(ALICE, SEED) for _ in range(2000)]
    nonces = {blob[5:HEADER_BYTES] for blob in blobs}
    assert len(nonces) == len(blobs)
    assert len({blob[HEADER_BYTES:] for blob in blobs}) == len(blobs)


def test_a_wrong_key_is_named_not_guessed() -> None:
    blob = KeyStore(KEK).encrypt_signing_key(ALICE, SEED)
    other = KeyStore(bytes(32))
    with pytest.raises(KeystoreError, match="which is not configured"):
        other.decrypt_signing_key(ALICE, blob)
    # a blob claiming the other key's id still fails: the id is authenticated with the data
    relabelled = blob[:1] + other.current_key_id + blob[5:]
    with pytest.raises(KeystoreError, match="failed authentication"):
        other.decrypt_signing_key(ALICE, relabelled)


def test_every_tampered_byte_and_another_user_fail_authentication() -> None:
    store = KeyStore(KEK)
    blob = store.encrypt_signing_key(ALICE, SEED)
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(KeystoreError):
            store.decrypt_signing_key(ALICE, bytes(tampered))
    with pytest.raises(KeystoreError, match="belongs to another user"):
        store.decrypt_signing_key(BOB, blob)
    with pytest.raises(KeystoreError, match="truncated"):
        store.decrypt_signing_key(ALICE, blob[:20])
    with pytest.raises(KeystoreError, match="version 2"):
        store.decrypt_signing_key(ALICE, b"\x02" + blob[1:])
    with pytest.raises(KeystoreError, match="non-empty"):
        store.encrypt_signing_key(ALICE, b"")


def test_rotation_reseals_under_the_current_key() -> None:
    old = KeyStore(KEK)
    blob = old.encrypt_signing_key(ALICE, SEED)
    rotated_store = KeyStore(bytes(range(32)), retired=[KEK])
    assert rotated_store.needs_rotation(blob)
    assert rotated_store.decrypt_signing_key(ALICE, blob) == SEED
    resealed = rotated_store.rotate(ALICE, blob)
    assert not rotated_store.needs_rotation(resealed)
    assert KeyStore(bytes(range(32))).decrypt_signing_key(ALICE, resealed) == SEED


@pytest.mark.parametrize(
    "text",
    [
        KEK.hex(),
        KEK.hex().upper(),
        base64.b64encode(KEK).decode(),
        base64.urlsafe_b64encode(KEK).decode().rstrip("="),
        f"  {base64.b64encode(KEK).decode()}\n",
    ],
)
def test_key_encryption_key_as_hex_or_base64(text: str) -> None:
    assert parse_key_encryption_key(text) == KEK


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (base64.b64encode(bytes(16)).decode(), "decodes to 16 bytes"),
        ("ab" * 31, "decodes to"),
        (base64.b64encode(bytes(33)).decode(), "decodes to 33 bytes"),
        ("not a key at all!", "neither"),
        ("", "decodes to 0 bytes"),
    ],
)
def test_key_encryption_keys_of_other_lengths_are_refused(text: str, cause: str) -> None:
    with pytest.raises(ConfigError, match=cause) as caught:
        parse_key_encryption_key(text, source="CARDANO_MARKET_KEY_ENCRYPTION_KEY")
    assert "CARDANO_MARKET_KEY_ENCRYPTION_KEY" in str(caught.value)
    if text.strip():
        assert text.strip() not in str(caught.value)
    with pytest.raises(ConfigError):
        KeyStore(bytes(16))


def test_the_database_file_holds_no_plaintext_signing_key(tmp_path: Path) -> None:
    """Write wallets through the repositories, then read every byte SQLite left on disk (the
    database, its WAL and shared memory): the encrypted blobs are there, the keys in no form."""
    path = tmp_path / "custodial.db"
    database = Database.connect(f"sqlite:///{path}")
    store = KeyStore(KEK)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    seeds = [PaymentKey.derive(f"custodial user {n}") for n in range(5)]
    try:
        with database.session() as session:
            for key in seeds:
                owner = UserRepo(session).create(now=now)
                CustodialWalletRepo(session).create(
                    owner.id,
                    address=b"\x60" + key.hash,
                    sealed_key=store.encrypt_signing_key(owner.id, key.seed),
                    key_id=store.current_key_id,
                    now=now,
                )
        before_checkpoint = _disk_bytes(path)
        with database.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            blobs = [
                bytes(row[0])
                for row in connection.execute(
                    text("SELECT encrypted_signing_key FROM v2_custodial_wallets")
                )
            ]
    finally:
        database.dispose()
    after_checkpoint = _disk_bytes(path)
    assert len(blobs) == len(seeds)
    for blob in blobs:  # control: the scan does see what the database stored
        assert blob in after_checkpoint
    for key in seeds:
        for form in (
            key.seed,
            key.seed.hex().encode(),
            key.seed.hex().upper().encode(),
            base64.b64encode(key.seed),
        ):
            assert form not in before_checkpoint
            assert form not in after_checkpoint


def _disk_bytes(path: Path) -> bytes:
    return b"".join(
        candidate.read_bytes()
        for candidate in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        )
        if candidate.exists()
    )
