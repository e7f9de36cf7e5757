"""Custodial key rotation, on SQLite and PostgreSQL: retired keys still open wallets;
`cardano-market keys rotate` re-seals every wallet under the current key, batch by batch, and an
interrupted run (killed mid-way, or failing inside a batch) loses nothing and is finished by the
next; the service refuses to start when a stored key id is not configured, naming it; a key
store failure is a retryable 503 on the API and a retry (never a failure) in the worker, and
no key id ever reaches a user."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from custody_world import ALICE, BOB, NEWM, SONG, V2Service, buy_on_primary, v2_settings
from sqlalchemy import select, update

from cardano_market.app.custody import create_wallet, rotate_wallet_keys, signing_key
from cardano_market.app.seeding import derived_id
from cardano_market.domain.errors import ConfigError, UnknownRecordError
from cardano_market.runtime import open_service
from cardano_market.security.keystore import KeyStore, KeystoreError, key_id
from cardano_market.store.db import Database
from cardano_market.store.deals import DealRepo, DealStatus
from cardano_market.store.transactions import V2TxStatus
from cardano_market.store.users import CustodialWalletRepo, CustodialWalletRow, UserRepo
from keys import KEK_HEX

OLD = bytes.fromhex(KEK_HEX)
"""The key the test service seals with (conftest)."""
NEW = bytes(range(32))
OTHER = b"\x77" * 32
EXTRA_USERS = 10
ADA_TOKEN = derived_id("token/ADA")


def add_users(v2: V2Service, n: int = EXTRA_USERS) -> list[str]:
    """`n` more users, each with a fresh wallet sealed under the service's key."""
    ids = []
    with v2.ctx.database.session() as session:
        for i in range(n):
            user = UserRepo(session).create(now=v2.ctx.clock(), user_id=f"{0xABC000 + i:024x}")
            create_wallet(v2.ctx, session, user.id)
            ids.append(user.id)
    return ids


def sealed_keys(database: Database, keystore: KeyStore) -> dict[str, tuple[str, bytes]]:
    """user id -> (key id that sealed the wallet, the decrypted signing key)."""
    with database.session() as session:
        rows = list(session.scalars(select(CustodialWalletRow)))
        return {
            row.user_id: (
                row.key_id,
                keystore.decrypt_signing_key(row.user_id, bytes(row.encrypted_signing_key)),
            )
            for row in rows
        }


def key_id_counts(database: Database, keystore: KeyStore) -> dict[str, int]:
    with database.session() as session:
        return CustodialWalletRepo(session).key_ids()


class CrashingKeyStore(KeyStore):
    """The real key store, except that the `crash_at`-th sealing raises (the process dying in
    the middle of a batch, with earlier wallets of that batch already re-sealed in it)."""

    def __init__(self, current: bytes, *, retired: list[bytes], crash_at: int) -> None:
        super().__init__(current, retired=retired)
        self.crash_at = crash_at
        self.sealed = 0

    def encrypt_signing_key(self, user_id: str, key_bytes: bytes) -> bytes:
        self.sealed += 1
        if self.sealed == self.crash_at:
            raise RuntimeError("killed while re-sealing")
        return super().encrypt_signing_key(user_id, key_bytes)


def test_a_wallet_key_is_sealed_at_rest_and_opens_only_with_a_configured_key(
    v2_sqlite: V2Service,
) -> None:
    """The store keeps the sealed blob; the custody layer seals and opens it."""
    (user_id,) = add_users(v2_sqlite, 1)
    ctx = v2_sqlite.ctx
    with ctx.database.session() as session:
        seed = signing_key(ctx, session, user_id)
        sealed = CustodialWalletRepo(session).sealed_key(user_id)
        assert len(seed) == 32 and seed not in sealed.blob
        assert sealed.key_id == ctx.wallet_keys.current_key_id
        stranger = dataclasses.replace(ctx, keystore=KeyStore(bytes(32)))
        with pytest.raises(KeystoreError, match="not configured"):
            signing_key(stranger, session, user_id)
        with pytest.raises(UnknownRecordError):
            signing_key(ctx, session, "00" * 12)


def test_rotation_is_resumable_and_loses_nothing(v2: V2Service) -> None:
    add_users(v2)
    database = v2.ctx.database
    before = sealed_keys(database, KeyStore(OLD))
    assert {k for k, _ in before.values()} == {key_id(OLD).hex()}
    assert len(before) == 2 + EXTRA_USERS  # the seed's users and the extra ones

    # The first run dies inside its third batch (after two committed batches of 4).
    crashing = CrashingKeyStore(NEW, retired=[OLD], crash_at=11)
    with pytest.raises(RuntimeError, match="killed"):
        rotate_wallet_keys(database, crashing, batch_size=4)
    both = KeyStore(NEW, retired=[OLD])
    assert key_id_counts(database, both) == {
        key_id(NEW).hex(): 8,
        key_id(OLD).hex(): len(before) - 8,
    }
    middle = sealed_keys(database, both)
    assert {u: k for u, (_, k) in middle.items()} == {u: k for u, (_, k) in before.items()}

    # The next run finishes the job; afterwards the new key alone opens every wallet.
    progress: list[int] = []
    done = rotate_wallet_keys(
        database, both, batch_size=4, on_batch=lambda p: progress.append(p.total)
    )
    assert done == len(before) - 8 == 4 and progress == [4]
    after = sealed_keys(database, KeyStore(NEW))
    assert {u: k for u, (_, k) in after.items()} == {u: k for u, (_, k) in before.items()}
    assert {k for k, _ in after.values()} == {key_id(NEW).hex()}
    assert rotate_wallet_keys(database, both) == 0  # nothing left: idempotent

    with pytest.raises(KeystoreError):  # the old key alone opens nothing any more
        sealed_keys(database, KeyStore(OLD))


def test_a_wallet_that_cannot_be_opened_stops_the_batch(v2_sqlite: V2Service) -> None:
    """Rotating without the old key configured re-seals nothing: every wallet stays as it was."""
    v2 = v2_sqlite
    database = v2.ctx.database
    with pytest.raises(KeystoreError):
        rotate_wallet_keys(database, KeyStore(NEW), batch_size=100)
    assert key_id_counts(database, KeyStore(OLD)) == {key_id(OLD).hex(): 2}


def _cli(database_url: str, *args: str, **env: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cardano_market.cli",
        "keys",
        *args,
        "--database-url",
        database_url,
    ]


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env.update({f"CARDANO_MARKET_{k.upper()}": v for k, v in settings.items()})
    return env


def test_keys_rotate_killed_mid_way_is_finished_by_the_next_run(v2: V2Service) -> None:
    add_users(v2)
    database = v2.ctx.database
    url = str(v2.parts.settings.database_url)
    before = sealed_keys(database, KeyStore(OLD))
    env = _env(key_encryption_key=NEW.hex(), key_encryption_keys_retired=OLD.hex())

    status = subprocess.run(_cli(url, "status"), env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert f"{key_id(OLD).hex()}  {len(before)} wallet(s)  retired" in status.stdout

    run = subprocess.Popen(
        _cli(url, "rotate", "--batch-size", "1", "--pause-ms", "400"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    lines = [run.stdout.readline(), run.stdout.readline()]
    run.send_signal(signal.SIGKILL)  # no clean-up of any kind
    run.wait(timeout=30)
    run.stdout.close()
    assert run.stderr is not None
    run.stderr.close()
    assert lines == ["re-sealed 1 wallet(s) (1 so far)\n", "re-sealed 1 wallet(s) (2 so far)\n"]
    both = KeyStore(NEW, retired=[OLD])
    counts = key_id_counts(database, both)
    assert 2 <= counts[key_id(NEW).hex()] < len(before)  # interrupted mid-way
    middle = sealed_keys(database, both)
    assert {u: k for u, (_, k) in middle.items()} == {u: k for u, (_, k) in before.items()}

    again = subprocess.run(_cli(url, "rotate"), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(f"every wallet is sealed with key {key_id(NEW).hex()}\n"), (
        again.stdout
    )
    after = sealed_keys(database, KeyStore(NEW))
    assert {u: k for u, (_, k) in after.items()} == {u: k for u, (_, k) in before.items()}


def test_start_up_refuses_an_unconfigured_stored_key_id(
    v2: V2Service, database_url: str, tmp_path: Path
) -> None:
    """Wallets sealed with the old key; a service configured with another key only refuses
    to start, naming the key id; with the old key retired it starts."""
    v2.parts.close()
    with pytest.raises(ConfigError) as refused:
        open_service(v2_settings(database_url, tmp_path, key_encryption_key=OTHER.hex()))
    message = str(refused.value)
    assert key_id(OLD).hex() in message and "KEY_ENCRYPTION_KEYS_RETIRED" in message
    parts = open_service(
        v2_settings(
            database_url,
            tmp_path,
            key_encryption_key=OTHER.hex(),
            key_encryption_keys_retired=f"{NEW.hex()}, {OLD.hex()}",
        )
    )
    try:
        assert parts.v2 is not None
        with parts.database.session() as session:
            assert len(signing_key(parts.v2, session, ALICE)) == 32
    finally:
        parts.close()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"key_encryption_keys_retired": "zz"}, "CARDANO_MARKET_KEY_ENCRYPTION_KEYS_RETIRED[0]"),
        (
            {"key_encryption_keys_retired": f"{OLD.hex()},abcd"},
            "CARDANO_MARKET_KEY_ENCRYPTION_KEYS_RETIRED[1]",
        ),
        (
            {"key_encryption_key": None, "key_encryption_keys_retired": OLD.hex()},
            "needs CARDANO_MARKET_KEY_ENCRYPTION_KEY",
        ),
    ],
)
def test_retired_keys_setting_errors(
    tmp_path: Path, clean_env: None, settings: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        v2_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **settings)
    assert expected in str(refused.value)
    assert OLD.hex() not in str(refused.value)  # never the key itself


def _tamper(v2: V2Service, user: str) -> bytes:
    """Flip the last byte of `user`'s sealed key (a damaged key store); returns the original."""
    with v2.ctx.database.session() as session:
        row = session.scalars(
            select(CustodialWalletRow).where(CustodialWalletRow.user_id == user)
        ).one()
        blob = bytes(row.encrypted_signing_key)
        session.execute(
            update(CustodialWalletRow)
            .where(CustodialWalletRow.user_id == user)
            .values(encrypted_signing_key=blob[:-1] + bytes([blob[-1] ^ 1]))
        )
    return blob


def _restore(v2: V2Service, user: str, blob: bytes) -> None:
    with v2.ctx.database.session() as session:
        session.execute(
            update(CustodialWalletRow)
            .where(CustodialWalletRow.user_id == user)
            .values(encrypted_signing_key=blob)
        )


def test_a_key_store_failure_is_retried_and_never_shown(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    # The worker: the purchase waits (pending, no failure reason) until the key opens again.
    original = _tamper(v2, ALICE)
    tx_id = buy_on_primary(v2, ALICE, 1)
    waiting = v2.processor(retry_seconds=0).run_once()
    assert waiting is not None and waiting.status is V2TxStatus.PENDING
    assert waiting.failure_reason is None and waiting.signed_cbor is None
    shown = v2.get(f"/v2/admin/tokens/{SONG}/transactions/{tx_id}", ALICE).json()
    assert shown["status"] == "pending" and shown["failure_reason"] is None
    _restore(v2, ALICE, original)
    done = v2.processor(retry_seconds=0).run_once()
    assert done is not None and done.status is V2TxStatus.COMPLETED

    # The API: a synchronous purchase whose key cannot be opened is a 503 with Retry-After.
    sell = v2.post(
        f"/v2/users/secondary-markets/users/{ALICE}/tokens/{NEWM}/sell",
        ALICE,
        {"quantity": 5, "price_id": ADA_TOKEN, "price_amount": 1},
    )
    assert sell.status_code == 200, sell.text
    listed = v2.processor().run_once()
    assert listed is not None and listed.status is V2TxStatus.COMPLETED
    assert listed.deal_id is not None
    original = _tamper(v2, BOB)
    buy_path = f"/v2/users/purchases/users/{BOB}/tokens/{NEWM}/buy-on-secondary-market"
    refused = v2.post(buy_path, BOB, {"quantity": 2, "deal_id": listed.deal_id})
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"].isdigit()
    body = refused.json()
    assert body["details"] == "the wallet's key cannot be opened right now; retry later"
    assert key_id(OLD).hex() not in refused.text and BOB not in refused.text
    with v2.ctx.database.session() as session:
        deal = DealRepo(session).get(listed.deal_id)
    assert deal is not None and deal.status is DealStatus.ACTIVE and deal.remaining == 5 * 10**6
    _restore(v2, BOB, original)
    bought = v2.post(buy_path, BOB, {"quantity": 2, "deal_id": listed.deal_id})
    assert bought.status_code == 200, bought.text
