"""Users' platform-managed wallets: create them, find them, read their balances, open their keys.

A wallet is an Ed25519 payment key (sealed at rest by the `KeyStore`) and its enterprise address;
a devnet seed user's wallet is the seed's synthetic wallet (its base address), so the demo's
funds are the user's. The decrypted key only ever lives in the signer's memory.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..domain.address import Credential, make_address
from ..domain.keys import PaymentKey
from ..domain.values import ADA, AssetId, Value, sum_values
from ..store.deals import DealRepo, DealStatus
from ..store.ids import require_object_id
from ..store.tokens import Token, TokenRepo
from ..store.users import CustodialWallet, CustodialWalletRepo, SealedKey
from .context import Context, utc_now
from .errors import NotFoundError

if TYPE_CHECKING:
    from ..security.keystore import KeyStore
    from ..store.db import Database


def wallet_of(ctx: Context, session: Session, user_id: str) -> CustodialWallet:
    """The user's wallet; NotFoundError when the user has none."""
    wallet = CustodialWalletRepo(session).get(user_id)
    if wallet is None:
        raise NotFoundError(f"user {user_id} has no custodial wallet")
    return wallet


def signing_key(ctx: Context, session: Session, user_id: str) -> bytes:
    """The user's 32-byte Ed25519 seed, decrypted in memory for the signer: never log it.

    UnknownRecordError when the user has no wallet; KeystoreError when it cannot be opened."""
    sealed = CustodialWalletRepo(session).sealed_key(user_id)
    return ctx.wallet_keys.decrypt_signing_key(sealed.user_id, sealed.blob)


def create_wallet(
    ctx: Context,
    session: Session,
    user_id: str,
    *,
    key: PaymentKey | None = None,
    address: bytes | None = None,
) -> CustodialWallet:
    """Store a wallet for `user_id`: a fresh random key and its enterprise address unless
    `key` (and its `address`) are given."""
    key = key if key is not None else PaymentKey(secrets.token_bytes(32))
    if address is None:
        address = make_address(Credential.key(key.hash), None, ctx.network_id)
    owner = require_object_id("user", user_id)  # the stored id the key is sealed for
    keys = ctx.wallet_keys
    return CustodialWalletRepo(session).create(
        owner,
        address=address,
        sealed_key=keys.encrypt_signing_key(owner, key.seed),
        key_id=keys.current_key_id,
        now=ctx.clock(),
    )


def wallet_value(ctx: Context, address: bytes) -> Value:
    """Everything the wallet holds on chain now."""
    return sum_values(u.value for u in ctx.backend.utxos_at(address))


@dataclass(frozen=True, slots=True)
class TokenBalance:
    token: Token
    quantity: int
    """Base units in the wallet."""
    listed: int
    """Base units still for sale in the user's pending and active deals (held in escrow)."""


def quantity_of(value: Value, asset: AssetId) -> int:
    """How much of `asset` (lovelace for ADA) `value` holds."""
    return value.coin if asset == ADA else value.quantity(asset)


def balances(
    ctx: Context, session: Session, user_id: str
) -> tuple[CustodialWallet, Value, list[TokenBalance]]:
    """The wallet, its whole value, and one balance per token record (zero ones included)."""
    wallet = wallet_of(ctx, session, user_id)
    held = wallet_value(ctx, wallet.address)
    listed: dict[str, int] = {}
    deals = DealRepo(session).list_by_seller(
        user_id, statuses=(DealStatus.PENDING, DealStatus.ACTIVE), limit=10_000
    )
    for deal in deals:
        listed[deal.token_id] = listed.get(deal.token_id, 0) + deal.remaining
    rows = [
        TokenBalance(token, quantity_of(held, token.asset), listed.get(token.id, 0))
        for token in TokenRepo(session).list(limit=10_000)
    ]
    return wallet, held, rows


@dataclass(frozen=True, slots=True)
class RotationProgress:
    """After one committed batch of `rotate_wallet_keys`."""

    resealed: int
    """Wallets re-sealed in this batch."""
    total: int
    """Wallets re-sealed so far by this run."""


def rotate_wallet_keys(
    database: Database,
    keystore: KeyStore,
    *,
    batch_size: int = 100,
    pause_seconds: float = 0.0,
    clock: Callable[[], datetime] = utc_now,
    on_batch: Callable[[RotationProgress], None] | None = None,
) -> int:
    """Re-seal every custodial wallet key sealed by a retired key under the current one; how
    many were re-sealed.

    Resumable and crash-safe: each batch is one database transaction (a crash rolls back at
    most the batch in flight, whose wallets stay sealed under their old key, which the
    keystore still holds), and only wallets not yet under the current key are picked, so a
    second run takes over where the first stopped. KeystoreError when a wallet cannot be
    opened (its batch is left as it was)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    total = 0
    while True:
        with database.session() as session:
            done = _reseal_batch(CustodialWalletRepo(session), keystore, clock(), batch_size)
        if done == 0:
            return total
        total += done
        if on_batch is not None:
            on_batch(RotationProgress(done, total))
        if pause_seconds > 0:
            time.sleep(pause_seconds)


def _reseal_batch(
    wallets: CustodialWalletRepo, keystore: KeyStore, now: datetime, limit: int
) -> int:
    """Re-seal up to `limit` keys sealed by a retired key under the current one; how many.

    Each wallet's blob and key id change together, and only after the new blob was opened
    again and gave back the same key; the batch is the caller's unit of work, so a crash loses
    nothing: a wallet is sealed either way, both keys open it. KeystoreError when a blob cannot
    be opened (nothing of the batch is written)."""
    from ..security.keystore import KeystoreError

    batch = wallets.lock_sealed_elsewhere(keystore.current_key_id, limit=limit)
    for sealed in batch:
        plain = keystore.decrypt_signing_key(sealed.user_id, sealed.blob)
        blob = keystore.encrypt_signing_key(sealed.user_id, plain)
        if keystore.decrypt_signing_key(sealed.user_id, blob) != plain:
            raise KeystoreError(f"re-sealing the key of user {sealed.user_id} did not round-trip")
        wallets.reseal(
            SealedKey(user_id=sealed.user_id, blob=blob, key_id=keystore.current_key_id), now=now
        )
    return len(batch)
