"""Repositories of the v2 (custodial API) tables: what the routes and the worker read and write.

As in `repos.py`, each wraps the caller's `Session`, never commits, and returns frozen records.
Everything that can race is one conditional statement, so it stays right with any number of
service replicas and workers:
- `DealRepo.reserve` takes quantity from a deal only while enough remains (PostgreSQL:
  `UPDATE ... SET remaining = remaining - :q WHERE remaining >= :q`; SQLite, whose `ExactInt`
  is text, so no SQL arithmetic: compare-and-set on the deal's version; its writes are
  serialised, so the loser re-reads and retries);
- `V2TransactionRepo.claim_next` leases the oldest workable transaction to one worker
  (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on each other's rows; SQLite: one
  UPDATE whose subquery runs under the database write lock);
- state changes name the state they leave (`WHERE status = :from`) and the worker holding the
  lease, so a stale worker cannot overwrite a newer one's work;
- `IdempotencyRepo.begin` inserts the key or finds the first request's answer.
Commit promptly after any of them: until then the row (PostgreSQL) or the database (SQLite) stays
write-locked.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain.errors import DuplicateRecordError, StoreError, UnknownRecordError
from ..domain.values import AssetId
from .columns import check_aware, check_exact_int
from .repos import _fresh, _insert, _parse_uuid
from .v2_errors import (
    DealUnavailableError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    InsufficientQuantityError,
    LeaseLostError,
)
from .v2_models import (
    IDEMPOTENCY_KEY_CHARS,
    MAX_DECIMALS,
    SYMBOL_CHARS,
    WORKER_ID_CHARS,
    V2AuditLogRow,
    V2CustodialWalletRow,
    V2DealRow,
    V2IdempotencyKeyRow,
    V2TokenRow,
    V2TransactionRow,
    V2UserRow,
)
from .v2_records import (
    DEAL_TRANSITIONS,
    TX_TRANSITIONS,
    AuditAction,
    AuditEntry,
    CustodialWallet,
    Deal,
    DealStatus,
    EscrowRef,
    StoredResponse,
    Token,
    TokenKind,
    User,
    UserRole,
    V2Transaction,
    V2TxStatus,
    V2TxType,
    new_object_id,
    parse_object_id,
)

if TYPE_CHECKING:
    from ..security.keystore import KeyStore

_TX_HASH = re.compile(r"[0-9a-f]{64}")
_IDEMPOTENCY_KEY = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_CHARS}}}")
WORKABLE = (V2TxStatus.PENDING, V2TxStatus.SUBMITTED, V2TxStatus.CONFIRMED)
"""What a worker advances: build/sign/submit, watch for confirmation, apply the effects."""


class UserRepo:
    """Users (`v2_users`): id, role, KYC status."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        now: datetime,
        role: UserRole = UserRole.USER,
        kyc_verified: bool = False,
        user_id: str | None = None,
    ) -> User:
        """A new user (a fresh 24-hex id unless given); DuplicateRecordError if the id is taken."""
        now = check_aware("now", now)
        key = new_object_id(now.timestamp()) if user_id is None else _require_id("user", user_id)
        row = V2UserRow(
            id=key,
            role=UserRole(role).value,
            kyc_verified=bool(kyc_verified),
            created_at=now,
            updated_at=now,
        )
        _add(self._session, row, f"user {key} already exists")
        return _user(row)

    def get(self, user_id: str) -> User | None:
        key = parse_object_id(user_id)
        if key is None:
            return None
        row = self._session.scalars(_fresh(select(V2UserRow).where(V2UserRow.id == key))).first()
        return None if row is None else _user(row)

    def set_kyc(self, user_id: str, verified: bool, *, now: datetime) -> User:
        now = check_aware("now", now)
        stmt = (
            update(V2UserRow)
            .where(V2UserRow.id == _require_id("user", user_id))
            .values(kyc_verified=bool(verified), updated_at=now)
            .returning(V2UserRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is None:
            raise UnknownRecordError(f"user {user_id} not found")
        return _user(row)


class TokenRepo:
    """Tokens (`v2_tokens`): the assets users buy, sell and price deals in."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        asset: AssetId,
        symbol: str,
        decimals: int,
        kind: TokenKind,
        now: datetime,
        sale_id: str | uuid.UUID | None = None,
        min_purchase_quantity: int = 1,
        max_purchase_quantity: int | None = None,
        kyc_required: bool = False,
        token_id: str | None = None,
    ) -> Token:
        """A new token record. StoreError for inconsistent terms; DuplicateRecordError when the
        id or the asset already has a record; StoreError when `sale_id` is not a stored sale."""
        now = check_aware("now", now)
        key = new_object_id(now.timestamp()) if token_id is None else _require_id("token", token_id)
        kind = TokenKind(kind)
        policy, name = asset
        if not (len(policy) == 28 or (policy == b"" and name == b"")) or len(name) > 32:
            raise StoreError(f"token {key}: {asset!r} is not a Cardano asset id")
        if not isinstance(symbol, str) or not 0 < len(symbol) <= SYMBOL_CHARS:
            raise StoreError(f"token {key}: symbol must be 1..{SYMBOL_CHARS} characters")
        if isinstance(decimals, bool) or not isinstance(decimals, int):
            raise StoreError(f"token {key}: decimals must be an integer")
        if not 0 <= decimals <= MAX_DECIMALS:
            raise StoreError(f"token {key}: decimals must be 0..{MAX_DECIMALS}, got {decimals}")
        if sale_id is not None and kind is not TokenKind.PRIMARY_OFFERING:
            raise StoreError(f"token {key}: only a primary offering is sold from a sale")
        check_exact_int("min purchase quantity", min_purchase_quantity)
        if min_purchase_quantity < 1:
            raise StoreError(f"token {key}: min purchase quantity must be at least 1")
        if max_purchase_quantity is not None:
            check_exact_int("max purchase quantity", max_purchase_quantity)
            if max_purchase_quantity < min_purchase_quantity:
                raise StoreError(
                    f"token {key}: max purchase quantity ({max_purchase_quantity}) is below the "
                    f"minimum ({min_purchase_quantity})"
                )
        row = V2TokenRow(
            id=key,
            policy_id=policy.hex(),
            asset_name=name.hex(),
            symbol=symbol,
            decimals=decimals,
            kind=kind.value,
            sale_id=None if sale_id is None else _require_uuid("sale id", sale_id),
            min_purchase_quantity=min_purchase_quantity,
            max_purchase_quantity=max_purchase_quantity,
            kyc_required=bool(kyc_required),
            created_at=now,
            updated_at=now,
        )
        _add(
            self._session,
            row,
            f"token {key} cannot be stored: the id or asset {policy.hex()}.{name.hex()} already "
            f"has a record, or sale {sale_id} is not in the database",
        )
        return _token(row)

    def get(self, token_id: str) -> Token | None:
        key = parse_object_id(token_id)
        if key is None:
            return None
        stmt = select(V2TokenRow).where(V2TokenRow.id == key)
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _token(row)

    def get_by_asset(self, asset: AssetId) -> Token | None:
        stmt = select(V2TokenRow).where(
            V2TokenRow.policy_id == asset[0].hex(), V2TokenRow.asset_name == asset[1].hex()
        )
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _token(row)

    def list(
        self, kind: TokenKind | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[Token]:
        stmt = select(V2TokenRow)
        if kind is not None:
            stmt = stmt.where(V2TokenRow.kind == TokenKind(kind).value)
        stmt = _page(stmt.order_by(V2TokenRow.id), offset, limit)
        return [_token(row) for row in self._session.scalars(_fresh(stmt))]


class CustodialWalletRepo:
    """Platform-managed wallets (`v2_custodial_wallets`). Signing keys go in sealed by the
    `KeyStore` and come out only through `signing_key`: no record carries them."""

    def __init__(self, session: Session, keystore: KeyStore) -> None:
        self._session = session
        self._keystore = keystore

    def create(
        self, user_id: str, *, address: bytes, signing_key: bytes, now: datetime
    ) -> CustodialWallet:
        """Store `user_id`'s wallet, its signing key encrypted. DuplicateRecordError when the
        user already has one (or the address is taken), StoreError for an unknown user."""
        now = check_aware("now", now)
        key = _require_id("user", user_id)
        if not isinstance(address, bytes) or not address:
            raise StoreError(f"wallet of user {key}: address must be non-empty bytes")
        blob = self._keystore.encrypt_signing_key(key, signing_key)
        row = V2CustodialWalletRow(
            user_id=key,
            address=address.hex(),
            encrypted_signing_key=blob,
            key_id=self._keystore.current_key_id.hex(),
            created_at=now,
            updated_at=now,
        )
        _add(
            self._session,
            row,
            f"wallet of user {key} cannot be stored: the user already has one, the address is "
            "taken, or the user does not exist",
        )
        return _wallet(row)

    def get(self, user_id: str) -> CustodialWallet | None:
        row = self._row(user_id)
        return None if row is None else _wallet(row)

    def get_by_address(self, address: bytes) -> CustodialWallet | None:
        stmt = select(V2CustodialWalletRow).where(V2CustodialWalletRow.address == address.hex())
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _wallet(row)

    def signing_key(self, user_id: str) -> bytes:
        """The decrypted signing key, for the signer only: never log or return it.

        UnknownRecordError when the user has no wallet; KeystoreError when it cannot be opened.
        """
        row = self._row(user_id)
        if row is None:
            raise UnknownRecordError(f"user {user_id} has no custodial wallet")
        return self._keystore.decrypt_signing_key(row.user_id, bytes(row.encrypted_signing_key))

    def rotate(self, *, now: datetime, limit: int = 100) -> int:
        """Re-seal up to `limit` keys sealed by a retired key under the current one; returns
        how many (call until 0 after configuring a new key with the old one retired).

        Each row's blob and key id change together, and only after the new blob was opened
        again and gave back the same key; a batch is one database transaction (the caller's
        session), so a crash loses nothing: a wallet is sealed either way, both keys open it.
        KeystoreError when a blob cannot be opened (nothing of the batch is written)."""
        now = check_aware("now", now)
        current = self._keystore.current_key_id.hex()
        stmt = (
            select(V2CustodialWalletRow)
            .where(V2CustodialWalletRow.key_id != current)
            .order_by(V2CustodialWalletRow.user_id)
            .limit(limit)
            .with_for_update()
        )
        rows = list(self._session.scalars(_fresh(stmt)))
        for row in rows:
            old = bytes(row.encrypted_signing_key)
            plain = self._keystore.decrypt_signing_key(row.user_id, old)
            sealed = self._keystore.encrypt_signing_key(row.user_id, plain)
            if self._keystore.decrypt_signing_key(row.user_id, sealed) != plain:
                from ..security.keystore import KeystoreError

                raise KeystoreError(f"re-sealing the key of user {row.user_id} did not round-trip")
            row.encrypted_signing_key = sealed
            row.key_id = current
            row.updated_at = now
        self._session.flush()
        return len(rows)

    def key_ids(self) -> dict[str, int]:
        """Key id (hex) -> how many wallets it sealed."""
        stmt = select(V2CustodialWalletRow.key_id, func.count()).group_by(
            V2CustodialWalletRow.key_id
        )
        return {key_id: int(count) for key_id, count in self._session.execute(stmt)}

    def _row(self, user_id: str) -> V2CustodialWalletRow | None:
        key = parse_object_id(user_id)
        if key is None:
            return None
        stmt = select(V2CustodialWalletRow).where(V2CustodialWalletRow.user_id == key)
        return self._session.scalars(_fresh(stmt)).first()


class DealRepo:
    """Deals (`v2_deals`): sell orders on the secondary market, with integer ids."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        seller_id: str,
        token_id: str,
        quantity: int,
        price_token_id: str,
        unit_price: int,
        now: datetime,
    ) -> Deal:
        """A pending deal (its escrow transaction is not on chain yet), all of it remaining."""
        now = check_aware("now", now)
        check_exact_int("deal quantity", quantity)
        check_exact_int("unit price", unit_price)
        if quantity < 1:
            raise StoreError(f"deal quantity must be at least 1, got {quantity}")
        row = V2DealRow(
            seller_id=_require_id("seller", seller_id),
            token_id=_require_id("token", token_id),
            quantity=quantity,
            remaining=quantity,
            price_token_id=_require_id("price token", price_token_id),
            unit_price=unit_price,
            status=DealStatus.PENDING.value,
            escrow_tx_hash=None,
            escrow_output_index=None,
            version=1,
            created_at=now,
            updated_at=now,
            closed_at=None,
        )
        _add(self._session, row, "deal cannot be stored: unknown seller, token or price token")
        return _deal(row)

    def get(self, deal_id: int) -> Deal | None:
        if isinstance(deal_id, bool) or not isinstance(deal_id, int):
            return None
        stmt = select(V2DealRow).where(V2DealRow.id == deal_id)
        row = self._session.scalars(_fresh(stmt)).first()
        return None if row is None else _deal(row)

    def list_by_seller(
        self,
        seller_id: str,
        *,
        statuses: Iterable[DealStatus] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Deal]:
        """The seller's deals, newest first."""
        stmt = select(V2DealRow).where(V2DealRow.seller_id == (parse_object_id(seller_id) or ""))
        return self._list(stmt, statuses, offset, limit)

    def list_by_token(
        self,
        token_id: str,
        *,
        statuses: Iterable[DealStatus] | None = (DealStatus.ACTIVE,),
        offset: int = 0,
        limit: int = 100,
    ) -> list[Deal]:
        """Deals selling `token_id` (by default the active ones), newest first."""
        stmt = select(V2DealRow).where(V2DealRow.token_id == (parse_object_id(token_id) or ""))
        return self._list(stmt, statuses, offset, limit)

    def activate(self, deal_id: int, *, escrow: EscrowRef, now: datetime) -> Deal:
        """pending -> active, once the escrow output is on chain."""
        return self._move(
            deal_id,
            DealStatus.ACTIVE,
            now,
            escrow_tx_hash=_require_tx_hash(escrow.tx_hash),
            escrow_output_index=_require_index(escrow.index),
        )

    def move_escrow(self, deal_id: int, *, escrow: EscrowRef, now: datetime) -> Deal:
        """Record the output now holding an active deal's tokens (after a partial fill)."""
        return self._change(
            deal_id,
            now,
            (DealStatus.ACTIVE,),
            escrow_tx_hash=_require_tx_hash(escrow.tx_hash),
            escrow_output_index=_require_index(escrow.index),
        )

    def cancel(self, deal_id: int, *, now: datetime, expected_version: int | None = None) -> Deal:
        """pending|active -> cancelled (delisted, or its escrow transaction failed).

        With `expected_version`, IllegalTransitionError if the deal changed since it was read.
        """
        return self._move(
            deal_id, DealStatus.CANCELLED, now, expected_version=expected_version, closed_at=now
        )

    def complete(self, deal_id: int, *, now: datetime) -> Deal:
        """active -> completed, when nothing remains (every purchase settled)."""
        deal = self._require(deal_id)
        if deal.remaining != 0:
            raise IllegalTransitionError(
                f"deal {deal_id} still has {deal.remaining} for sale: it cannot complete"
            )
        return self._move(
            deal_id, DealStatus.COMPLETED, now, expected_version=deal.version, closed_at=now
        )

    def reserve(self, deal_id: int, quantity: int, *, now: datetime) -> Deal:
        """Take `quantity` from an active deal's remaining, atomically: concurrent reservations
        never sum to more than the deal had. DealUnavailableError if it is not active,
        InsufficientQuantityError if less than `quantity` remains, UnknownRecordError if absent.
        """
        now = check_aware("now", now)
        check_exact_int("quantity", quantity)
        if quantity < 1:
            raise StoreError(f"a reservation must be at least 1, got {quantity}")
        if self._session.get_bind().dialect.name == "postgresql":
            stmt = (
                update(V2DealRow)
                .where(
                    V2DealRow.id == deal_id,
                    V2DealRow.status == DealStatus.ACTIVE.value,
                    V2DealRow.remaining >= quantity,
                )
                .values(
                    remaining=V2DealRow.remaining - quantity,
                    version=V2DealRow.version + 1,
                    updated_at=now,
                )
                .returning(V2DealRow)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            row = self._session.scalars(stmt).first()
            if row is not None:
                return _deal(row)
            deal = self._require(deal_id)
            raise _unreservable(deal, quantity)
        while True:  # SQLite: compare-and-set; a lost race means another write won, so retry
            deal = self._require(deal_id)
            if deal.status is not DealStatus.ACTIVE or deal.remaining < quantity:
                raise _unreservable(deal, quantity)
            swapped = self._swap(deal, now, remaining=deal.remaining - quantity)
            if swapped is not None:
                return swapped

    def release(self, deal_id: int, quantity: int, *, now: datetime) -> Deal:
        """Give back a reservation whose purchase failed (the deal may have been cancelled
        meanwhile: the quantity still returns, so the record stays true)."""
        now = check_aware("now", now)
        check_exact_int("quantity", quantity)
        while True:
            deal = self._require(deal_id)
            if deal.remaining + quantity > deal.quantity:
                raise StoreError(
                    f"deal {deal_id}: releasing {quantity} would exceed its quantity "
                    f"({deal.remaining} of {deal.quantity} remain)"
                )
            swapped = self._swap(deal, now, remaining=deal.remaining + quantity)
            if swapped is not None:
                return swapped

    # -- internals --

    def _list(
        self,
        stmt: Any,
        statuses: Iterable[DealStatus] | None,
        offset: int,
        limit: int,
    ) -> list[Deal]:
        if statuses is not None:
            stmt = stmt.where(V2DealRow.status.in_([DealStatus(s).value for s in statuses]))
        stmt = _page(stmt.order_by(V2DealRow.id.desc()), offset, limit)
        return [_deal(row) for row in self._session.scalars(_fresh(stmt))]

    def _require(self, deal_id: int) -> Deal:
        deal = self.get(deal_id)
        if deal is None:
            raise UnknownRecordError(f"deal {deal_id} not found")
        return deal

    def _swap(self, deal: Deal, now: datetime, **values: Any) -> Deal | None:
        """Write `values` if the deal is still at `deal.version`; None if it moved on."""
        stmt = (
            update(V2DealRow)
            .where(V2DealRow.id == deal.id, V2DealRow.version == deal.version)
            .values(version=deal.version + 1, updated_at=now, **values)
            .returning(V2DealRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else _deal(row)

    def _move(
        self,
        deal_id: int,
        to: DealStatus,
        now: datetime,
        *,
        expected_version: int | None = None,
        **values: Any,
    ) -> Deal:
        sources = tuple(s for s, targets in DEAL_TRANSITIONS.items() if to in targets)
        return self._change(
            deal_id, now, sources, expected_version=expected_version, status=to.value, **values
        )

    def _change(
        self,
        deal_id: int,
        now: datetime,
        sources: tuple[DealStatus, ...],
        *,
        expected_version: int | None = None,
        **values: Any,
    ) -> Deal:
        now = check_aware("now", now)
        conditions = [V2DealRow.id == deal_id, V2DealRow.status.in_([s.value for s in sources])]
        if expected_version is not None:
            conditions.append(V2DealRow.version == expected_version)
        stmt = (
            update(V2DealRow)
            .where(*conditions)
            .values(version=V2DealRow.version + 1, updated_at=now, **values)
            .returning(V2DealRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is not None:
            return _deal(row)
        deal = self._require(deal_id)
        if deal.status not in sources:
            target = values.get("status", "changed")
            raise IllegalTransitionError(f"deal {deal_id} is {deal.status}: it cannot be {target}")
        raise IllegalTransitionError(
            f"deal {deal_id} changed since it was read (version {deal.version}, "
            f"expected {expected_version})"
        )


class V2TransactionRepo:
    """Custodial transactions (`v2_transactions`) and the worker's leases on them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        user_id: str,
        token_id: str,
        type: V2TxType,
        payload: dict[str, Any],
        now: datetime,
        deal_id: int | None = None,
        tx_id: str | None = None,
    ) -> V2Transaction:
        """A pending transaction for the worker to build (a fresh 24-hex id unless given)."""
        now = check_aware("now", now)
        key = new_object_id(now.timestamp()) if tx_id is None else _require_id("transaction", tx_id)
        if not isinstance(payload, dict):
            raise StoreError(f"transaction {key}: payload must be a JSON object")
        row = V2TransactionRow(
            id=key,
            user_id=_require_id("user", user_id),
            token_id=_require_id("token", token_id),
            type=V2TxType(type).value,
            status=V2TxStatus.PENDING.value,
            deal_id=deal_id,
            payload=payload,
            tx_hash=None,
            unsigned_cbor=None,
            signed_cbor=None,
            failure_reason=None,
            attempts=0,
            claimed_by=None,
            claimed_until=None,
            created_at=now,
            updated_at=now,
            submitted_at=None,
            finished_at=None,
        )
        _add(
            self._session,
            row,
            f"transaction {key} cannot be stored: the id is taken, or the user, token or deal "
            "does not exist",
        )
        return _transaction(row)

    def get(self, tx_id: str) -> V2Transaction | None:
        row = self._row(tx_id)
        return None if row is None else _transaction(row)

    def list_by_user(
        self, user_id: str, *, offset: int = 0, limit: int = 50
    ) -> list[V2Transaction]:
        """The user's transactions, newest first."""
        column = V2TransactionRow.user_id
        return self._list(column == (parse_object_id(user_id) or ""), offset, limit)

    def list_by_token(
        self, token_id: str, *, offset: int = 0, limit: int = 50
    ) -> list[V2Transaction]:
        """Transactions about `token_id`, newest first."""
        column = V2TransactionRow.token_id
        return self._list(column == (parse_object_id(token_id) or ""), offset, limit)

    def claim_next(
        self,
        worker_id: str,
        *,
        lease_seconds: int,
        now: datetime,
        statuses: Sequence[V2TxStatus] = WORKABLE,
    ) -> V2Transaction | None:
        """Lease the oldest transaction in `statuses` that nobody holds (no lease, or an
        expired one) to `worker_id` until `now + lease_seconds`, counting the attempt.

        None when there is nothing to do. Concurrent workers never get the same transaction.
        """
        now = check_aware("now", now)
        worker = _require_worker(worker_id)
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int):
            raise StoreError(f"lease must be a whole number of seconds, got {lease_seconds!r}")
        if lease_seconds <= 0:
            raise StoreError(f"lease must be positive, got {lease_seconds}")
        wanted = [V2TxStatus(s).value for s in statuses]
        if any(V2TxStatus(s).is_final for s in wanted):
            raise StoreError("completed and failed transactions are never claimed")
        free = (V2TransactionRow.claimed_until.is_(None)) | (V2TransactionRow.claimed_until <= now)
        candidate = (
            select(V2TransactionRow.id)
            .where(V2TransactionRow.status.in_(wanted), free)
            .order_by(V2TransactionRow.created_at, V2TransactionRow.id)
            .limit(1)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        stmt = (
            update(V2TransactionRow)
            .where(
                V2TransactionRow.id == candidate.scalar_subquery(),
                V2TransactionRow.status.in_(wanted),
                free,
            )
            .values(
                claimed_by=worker,
                claimed_until=now + timedelta(seconds=lease_seconds),
                attempts=V2TransactionRow.attempts + 1,
                updated_at=now,
            )
            .returning(V2TransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else _transaction(row)

    def renew_lease(
        self, tx_id: str, worker_id: str, *, lease_seconds: int, now: datetime
    ) -> V2Transaction:
        """Extend `worker_id`'s lease (long steps); LeaseLostError if another worker took it."""
        now = check_aware("now", now)
        return self._leased_update(
            tx_id,
            worker_id,
            claimed_until=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )

    def release(
        self, tx_id: str, worker_id: str, *, now: datetime, retry_after_seconds: int = 0
    ) -> V2Transaction:
        """Give the transaction back, claimable again after `retry_after_seconds` (a backoff
        after a transient error). LeaseLostError if another worker holds it."""
        now = check_aware("now", now)
        return self._leased_update(
            tx_id,
            worker_id,
            claimed_until=now + timedelta(seconds=max(0, retry_after_seconds)),
            updated_at=now,
        )

    def store_signed(
        self,
        tx_id: str,
        worker_id: str,
        *,
        unsigned_cbor: bytes,
        signed_cbor: bytes,
        tx_hash: str,
        now: datetime,
    ) -> V2Transaction:
        """Keep the signed bytes before they are submitted: from here on a worker resubmits
        these, never builds another transaction. Storing the same bytes again is a no-op;
        other bytes are refused (IllegalTransitionError), as is a transaction not pending."""
        now = check_aware("now", now)
        key = _require_id("transaction", tx_id)
        worker = _require_worker(worker_id)
        tx_hash = _require_tx_hash(tx_hash)
        if not unsigned_cbor or not signed_cbor:
            raise StoreError(f"transaction {key}: the transaction bytes must not be empty")
        stmt = (
            update(V2TransactionRow)
            .where(
                V2TransactionRow.id == key,
                V2TransactionRow.status == V2TxStatus.PENDING.value,
                V2TransactionRow.signed_cbor.is_(None),
                V2TransactionRow.claimed_by == worker,
            )
            .values(
                unsigned_cbor=bytes(unsigned_cbor),
                signed_cbor=bytes(signed_cbor),
                tx_hash=tx_hash,
                updated_at=now,
            )
            .returning(V2TransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is not None:
            return _transaction(row)
        current = self._require(key)
        if current.signed_cbor is not None:
            if current.signed_cbor == signed_cbor and current.tx_hash == tx_hash:
                return current
            raise IllegalTransitionError(
                f"transaction {key} already has signed bytes ({current.tx_hash}): resubmit them, "
                "never build a second transaction"
            )
        if current.status is not V2TxStatus.PENDING:
            raise IllegalTransitionError(f"transaction {key} is {current.status}, not pending")
        raise LeaseLostError(f"transaction {key} is held by {current.claimed_by}, not {worker}")

    def transition(
        self,
        tx_id: str,
        to: V2TxStatus,
        *,
        now: datetime,
        worker_id: str | None = None,
        failure_reason: str | None = None,
    ) -> V2Transaction:
        """Move along the state machine (`v2_records.TX_TRANSITIONS`); already being in `to`
        is a no-op, so a worker repeating a step after a crash is harmless.

        IllegalTransitionError for a forbidden move (or one raced by another writer), submitted
        without stored signed bytes, or failed without a reason; LeaseLostError when
        `worker_id` no longer holds the lease. A final state drops the lease.
        """
        now = check_aware("now", now)
        to = V2TxStatus(to)
        key = _require_id("transaction", tx_id)
        worker = None if worker_id is None else _require_worker(worker_id)
        current = self._require(key)
        if current.status is to:
            return current
        if to not in TX_TRANSITIONS[current.status]:
            raise IllegalTransitionError(
                f"transaction {key} cannot move from {current.status} to {to}"
            )
        if to is V2TxStatus.SUBMITTED and current.signed_cbor is None:
            raise IllegalTransitionError(f"transaction {key} has no stored signed bytes to submit")
        if to is V2TxStatus.FAILED and not failure_reason:
            raise IllegalTransitionError(f"transaction {key}: a failure needs a reason")
        values: dict[str, Any] = {"status": to.value, "updated_at": now}
        if to is V2TxStatus.SUBMITTED:
            values["submitted_at"] = now
        if to is V2TxStatus.FAILED:
            values["failure_reason"] = failure_reason
        if to.is_final:
            values.update(finished_at=now, claimed_by=None, claimed_until=None)
        conditions = [V2TransactionRow.id == key, V2TransactionRow.status == current.status.value]
        if worker is not None:
            conditions.append(V2TransactionRow.claimed_by == worker)
        stmt = (
            update(V2TransactionRow)
            .where(*conditions)
            .values(**values)
            .returning(V2TransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is not None:
            return _transaction(row)
        latest = self._require(key)
        if worker is not None and latest.claimed_by != worker:
            raise LeaseLostError(f"transaction {key} is held by {latest.claimed_by}, not {worker}")
        raise IllegalTransitionError(
            f"transaction {key} moved from {current.status} to {latest.status} meanwhile"
        )

    # -- internals --

    def _row(self, tx_id: str) -> V2TransactionRow | None:
        key = parse_object_id(tx_id)
        if key is None:
            return None
        stmt = select(V2TransactionRow).where(V2TransactionRow.id == key)
        return self._session.scalars(_fresh(stmt)).first()

    def _require(self, key: str) -> V2Transaction:
        row = self._row(key)
        if row is None:
            raise UnknownRecordError(f"transaction {key} not found")
        return _transaction(row)

    def _list(self, condition: Any, offset: int, limit: int) -> list[V2Transaction]:
        stmt = select(V2TransactionRow).where(condition)
        stmt = stmt.order_by(V2TransactionRow.created_at.desc(), V2TransactionRow.id.desc())
        return [
            _transaction(row) for row in self._session.scalars(_fresh(_page(stmt, offset, limit)))
        ]

    def _leased_update(self, tx_id: str, worker_id: str, **values: Any) -> V2Transaction:
        key = _require_id("transaction", tx_id)
        worker = _require_worker(worker_id)
        stmt = (
            update(V2TransactionRow)
            .where(V2TransactionRow.id == key, V2TransactionRow.claimed_by == worker)
            .values(**values)
            .returning(V2TransactionRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is not None:
            return _transaction(row)
        latest = self._require(key)
        raise LeaseLostError(f"transaction {key} is held by {latest.claimed_by}, not {worker}")


class AuditLogRepo:
    """The audit log (`v2_audit_log`): append and read, never change."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        *,
        actor: str,
        action: AuditAction,
        now: datetime,
        deal_id: int | None = None,
        token_id: str | None = None,
        quantity: int | None = None,
        price_token_id: str | None = None,
        amount: int | None = None,
        transaction_id: str | None = None,
        tx_hash: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        now = check_aware("now", now)
        if not isinstance(actor, str) or not 0 < len(actor) <= WORKER_ID_CHARS:
            raise StoreError(f"audit actor must be 1..{WORKER_ID_CHARS} characters")
        for field, value in (("quantity", quantity), ("amount", amount)):
            if value is not None:
                check_exact_int(f"audit {field}", value)
        row = V2AuditLogRow(
            at=now,
            actor=actor,
            action=AuditAction(action).value,
            deal_id=deal_id,
            token_id=token_id,
            quantity=quantity,
            price_token_id=price_token_id,
            amount=amount,
            transaction_id=transaction_id,
            tx_hash=None if tx_hash is None else _require_tx_hash(tx_hash),
            details=details,
        )
        self._session.add(row)
        self._session.flush()
        return _audit(row)

    def list(
        self,
        *,
        deal_id: int | None = None,
        actor: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries oldest first, optionally only one deal's or one actor's."""
        stmt = select(V2AuditLogRow)
        if deal_id is not None:
            stmt = stmt.where(V2AuditLogRow.deal_id == deal_id)
        if actor is not None:
            stmt = stmt.where(V2AuditLogRow.actor == actor)
        stmt = _page(stmt.order_by(V2AuditLogRow.id), offset, limit)
        return [_audit(row) for row in self._session.scalars(_fresh(stmt))]


class IdempotencyRepo:
    """`Idempotency-Key`s (`v2_idempotency_keys`): one answer per user and key, forever the same.

    A POST calls `begin`; None means "first time: do the work, then `store_response`" (in the
    same unit of work, so the key and its transaction commit together or not at all); a
    `StoredResponse` is the first request's answer, to send again unchanged.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        """What identifies a request for a key: SHA-256 of method, path and body."""
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.encode(), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def begin(
        self, user_id: str, key: str, *, request_hash: str, now: datetime
    ) -> StoredResponse | None:
        """Take `key` for this request, or find what it answered.

        IdempotencyKeyReusedError when the key was used for another request,
        IdempotencyInProgressError when the first request has not stored its answer yet.
        """
        now = check_aware("now", now)
        user = _require_id("user", user_id)
        idem = _require_idempotency_key(key)
        stmt = (
            _insert(self._session, V2IdempotencyKeyRow)
            .values(
                user_id=user,
                key=idem,
                request_hash=request_hash,
                response_status=None,
                response_body=None,
                transaction_id=None,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(V2IdempotencyKeyRow.key)
        )
        try:
            inserted = self._session.execute(stmt).first()
        except IntegrityError as exc:
            raise UnknownRecordError(f"user {user} not found") from exc
        if inserted is not None:
            return None
        row = self._row(user, idem)
        if row is None:  # pragma: no cover - a key is never deleted inside its retention
            raise StoreError(f"idempotency key {idem!r} vanished")
        if row.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"idempotency key {idem!r} was already used for a different request"
            )
        if row.response_status is None:
            raise IdempotencyInProgressError(
                f"the request with idempotency key {idem!r} is running"
            )
        return _response(row)

    def store_response(
        self,
        user_id: str,
        key: str,
        *,
        status_code: int,
        body: Any,
        now: datetime,
        transaction_id: str | None = None,
    ) -> StoredResponse:
        """Record the answer of the request that `begin` let through (once)."""
        check_aware("now", now)
        user = _require_id("user", user_id)
        idem = _require_idempotency_key(key)
        stmt = (
            update(V2IdempotencyKeyRow)
            .where(
                V2IdempotencyKeyRow.user_id == user,
                V2IdempotencyKeyRow.key == idem,
                V2IdempotencyKeyRow.response_status.is_(None),
            )
            .values(
                response_status=status_code,
                response_body=body,
                transaction_id=transaction_id,
            )
            .returning(V2IdempotencyKeyRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        row = self._session.scalars(stmt).first()
        if row is None:
            raise IllegalTransitionError(
                f"idempotency key {idem!r} is unknown or already has its response"
            )
        return _response(row)

    def release(self, user_id: str, key: str) -> bool:
        """Free a key whose request was refused before it did anything (no answer stored);
        True when it was released."""
        user = _require_id("user", user_id)
        idem = _require_idempotency_key(key)
        stmt = delete(V2IdempotencyKeyRow).where(
            V2IdempotencyKeyRow.user_id == user,
            V2IdempotencyKeyRow.key == idem,
            V2IdempotencyKeyRow.response_status.is_(None),
        )
        return bool(self._session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def purge(self, created_before: datetime) -> int:
        """Forget keys older than the retention; returns how many."""
        before = check_aware("created_before", created_before)
        result = self._session.execute(
            delete(V2IdempotencyKeyRow)
            .where(V2IdempotencyKeyRow.created_at < before)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    def _row(self, user: str, key: str) -> V2IdempotencyKeyRow | None:
        stmt = select(V2IdempotencyKeyRow).where(
            V2IdempotencyKeyRow.user_id == user, V2IdempotencyKeyRow.key == key
        )
        return self._session.scalars(_fresh(stmt)).first()


# -- row <-> record -----------------------------------------------------------------------------


def _user(row: V2UserRow) -> User:
    return User(
        id=row.id,
        role=UserRole(row.role),
        kyc_verified=row.kyc_verified,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _token(row: V2TokenRow) -> Token:
    return Token(
        id=row.id,
        asset=(bytes.fromhex(row.policy_id), bytes.fromhex(row.asset_name)),
        symbol=row.symbol,
        decimals=row.decimals,
        kind=TokenKind(row.kind),
        sale_id=None if row.sale_id is None else str(row.sale_id),
        min_purchase_quantity=row.min_purchase_quantity,
        max_purchase_quantity=row.max_purchase_quantity,
        kyc_required=row.kyc_required,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _wallet(row: V2CustodialWalletRow) -> CustodialWallet:
    return CustodialWallet(
        user_id=row.user_id,
        address=bytes.fromhex(row.address),
        key_id=bytes.fromhex(row.key_id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _deal(row: V2DealRow) -> Deal:
    escrow = None
    if row.escrow_tx_hash is not None and row.escrow_output_index is not None:
        escrow = EscrowRef(tx_hash=row.escrow_tx_hash, index=row.escrow_output_index)
    return Deal(
        id=row.id,
        seller_id=row.seller_id,
        token_id=row.token_id,
        quantity=row.quantity,
        remaining=row.remaining,
        price_token_id=row.price_token_id,
        unit_price=row.unit_price,
        status=DealStatus(row.status),
        escrow=escrow,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
    )


def _transaction(row: V2TransactionRow) -> V2Transaction:
    return V2Transaction(
        id=row.id,
        user_id=row.user_id,
        token_id=row.token_id,
        type=V2TxType(row.type),
        status=V2TxStatus(row.status),
        deal_id=row.deal_id,
        payload=dict(row.payload),
        tx_hash=row.tx_hash,
        unsigned_cbor=None if row.unsigned_cbor is None else bytes(row.unsigned_cbor),
        signed_cbor=None if row.signed_cbor is None else bytes(row.signed_cbor),
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submitted_at=row.submitted_at,
        finished_at=row.finished_at,
    )


def _audit(row: V2AuditLogRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=AuditAction(row.action),
        deal_id=row.deal_id,
        token_id=row.token_id,
        quantity=row.quantity,
        price_token_id=row.price_token_id,
        amount=row.amount,
        transaction_id=row.transaction_id,
        tx_hash=row.tx_hash,
        details=row.details,
    )


def _response(row: V2IdempotencyKeyRow) -> StoredResponse:
    if row.response_status is None:  # pragma: no cover - callers check first
        raise StoreError(f"idempotency key {row.key!r} has no response yet")
    return StoredResponse(
        status_code=row.response_status,
        body=row.response_body,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
    )


# -- helpers ------------------------------------------------------------------------------------


def _add(session: Session, row: Any, conflict: str) -> None:
    """Insert `row` now, so ids and constraint failures surface here, not at commit (after a
    failure the unit of work must be rolled back, as `Database.session` does)."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateRecordError(conflict) from exc


def _unreservable(deal: Deal, quantity: int) -> StoreError:
    if deal.status is not DealStatus.ACTIVE:
        return DealUnavailableError(f"deal {deal.id} is {deal.status}, not active")
    return InsufficientQuantityError(
        f"deal {deal.id} has {deal.remaining} left, {quantity} asked",
        requested=quantity,
        remaining=deal.remaining,
    )


def _page(stmt: Any, offset: int, limit: int) -> Any:
    if offset < 0 or limit < 0:
        raise StoreError(f"offset ({offset}) and limit ({limit}) must not be negative")
    return stmt.offset(offset).limit(limit)


def _require_id(kind: str, value: str) -> str:
    key = parse_object_id(value)
    if key is None:
        raise StoreError(f"{kind} id {value!r} is not 24 hex digits")
    return key


def _require_uuid(field: str, value: str | uuid.UUID) -> uuid.UUID:
    key = _parse_uuid(value)
    if key is None:
        raise StoreError(f"{field} {value!r} is not a UUID")
    return key


def _require_tx_hash(value: str) -> str:
    key = value.lower() if isinstance(value, str) else ""
    if not _TX_HASH.fullmatch(key):
        raise StoreError(f"transaction hash {value!r} is not 64 hex digits")
    return key


def _require_index(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise StoreError(f"output index {value!r} is not a non-negative integer")
    return value


def _require_worker(worker_id: str) -> str:
    if not isinstance(worker_id, str) or not 0 < len(worker_id) <= WORKER_ID_CHARS:
        raise StoreError(f"worker id must be 1..{WORKER_ID_CHARS} characters")
    return worker_id


def _require_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise StoreError(
            f"an Idempotency-Key must be 1..{IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )
    return key


__all__: Sequence[str] = (
    "WORKABLE",
    "AuditLogRepo",
    "CustodialWalletRepo",
    "DealRepo",
    "IdempotencyRepo",
    "TokenRepo",
    "UserRepo",
    "V2TransactionRepo",
)
