"""Users (`v2_users`: id, role, KYC status) and their platform-managed wallets
(`v2_custodial_wallets`): records and repositories.

A wallet's signing key is stored only sealed: the repository keeps and returns the sealed blob
and the id of the key-encryption key that sealed it (`SealedKey`), never a plain key. Sealing
and opening happen above the store (`security.keystore`, called by `app.custody`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError, UnknownRecordError
from ._sql import add_row, fresh, update_returning
from .columns import UtcDateTime, check_aware
from .ids import new_object_id, parse_object_id, require_object_id
from .schema import ADDRESS_HEX, ENUM_TEXT, OBJECT_ID_HEX, Base, one_of

KEY_ID_HEX = 8


class UserRole(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


# -- tables -------------------------------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "v2_users"

    id: Mapped[str] = mapped_column(String(OBJECT_ID_HEX), primary_key=True)
    role: Mapped[str] = mapped_column(String(ENUM_TEXT))
    kyc_verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint(one_of("role", (r.value for r in UserRole)), name="role"),)


class CustodialWalletRow(Base):
    __tablename__ = "v2_custodial_wallets"

    user_id: Mapped[str] = mapped_column(
        String(OBJECT_ID_HEX), ForeignKey("v2_users.id", ondelete="RESTRICT"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(ADDRESS_HEX))
    encrypted_signing_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(KEY_ID_HEX))
    """Which key-encryption key sealed it, so a rotation can find the rows still to re-seal."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("address"), Index(None, "key_id"))


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: str
    role: UserRole
    kyc_verified: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN


@dataclass(frozen=True, slots=True, kw_only=True)
class CustodialWallet:
    """A user's platform-managed wallet. The signing key is not here: it stays sealed in the
    database and only `CustodialWalletRepo.sealed_key` reads it, for the signer."""

    user_id: str
    address: bytes
    key_id: bytes
    """Which key-encryption key sealed the signing key (for rotation)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedKey:
    """A wallet's signing key as stored: sealed for `user_id` under the key `key_id`."""

    user_id: str
    """The stored (canonical) user id the key was sealed for."""
    blob: bytes = field(repr=False)
    key_id: bytes


# -- repositories -------------------------------------------------------------------------------


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
        key = (
            new_object_id(now.timestamp())
            if user_id is None
            else require_object_id("user", user_id)
        )
        row = UserRow(
            id=key,
            role=UserRole(role).value,
            kyc_verified=bool(kyc_verified),
            created_at=now,
            updated_at=now,
        )
        add_row(self._session, row, f"user {key} already exists")
        return _user(row)

    def get(self, user_id: str) -> User | None:
        key = parse_object_id(user_id)
        if key is None:
            return None
        row = self._session.scalars(fresh(select(UserRow).where(UserRow.id == key))).first()
        return None if row is None else _user(row)

    def set_kyc(self, user_id: str, verified: bool, *, now: datetime) -> User:
        now = check_aware("now", now)
        row = update_returning(
            self._session,
            UserRow,
            UserRow.id == require_object_id("user", user_id),
            kyc_verified=bool(verified),
            updated_at=now,
        )
        if row is None:
            raise UnknownRecordError(f"user {user_id} not found")
        return _user(row)


class CustodialWalletRepo:
    """Platform-managed wallets (`v2_custodial_wallets`). Signing keys come in sealed and go out
    sealed (`SealedKey`), only through `sealed_key` and `lock_sealed_elsewhere`: no
    `CustodialWallet` record carries them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self, user_id: str, *, address: bytes, sealed_key: bytes, key_id: bytes, now: datetime
    ) -> CustodialWallet:
        """Store `user_id`'s wallet with its signing key `sealed_key`, sealed (for the canonical
        user id) by the key-encryption key `key_id`. DuplicateRecordError when the user already
        has one (or the address is taken), StoreError for an unknown user."""
        now = check_aware("now", now)
        key = require_object_id("user", user_id)
        if not isinstance(address, bytes) or not address:
            raise StoreError(f"wallet of user {key}: address must be non-empty bytes")
        row = CustodialWalletRow(
            user_id=key,
            address=address.hex(),
            encrypted_signing_key=bytes(sealed_key),
            key_id=bytes(key_id).hex(),
            created_at=now,
            updated_at=now,
        )
        add_row(
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
        stmt = select(CustodialWalletRow).where(CustodialWalletRow.address == address.hex())
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _wallet(row)

    def sealed_key(self, user_id: str) -> SealedKey:
        """The user's signing key, still sealed; UnknownRecordError when there is no wallet."""
        row = self._row(user_id)
        if row is None:
            raise UnknownRecordError(f"user {user_id} has no custodial wallet")
        return _sealed(row)

    def lock_sealed_elsewhere(self, current_key_id: bytes, *, limit: int) -> list[SealedKey]:
        """Up to `limit` keys sealed by a key other than `current_key_id`, by user id, their rows
        locked until the unit of work ends (for a rotation to re-seal them with `reseal`)."""
        stmt = (
            select(CustodialWalletRow)
            .where(CustodialWalletRow.key_id != current_key_id.hex())
            .order_by(CustodialWalletRow.user_id)
            .limit(limit)
            .with_for_update()
        )
        return [_sealed(row) for row in self._session.scalars(fresh(stmt))]

    def reseal(self, sealed: SealedKey, *, now: datetime) -> None:
        """Replace the user's sealed key and its key id together (one rotation step)."""
        now = check_aware("now", now)
        self._session.execute(
            update(CustodialWalletRow)
            .where(CustodialWalletRow.user_id == require_object_id("user", sealed.user_id))
            .values(
                encrypted_signing_key=bytes(sealed.blob),
                key_id=sealed.key_id.hex(),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )

    def key_ids(self) -> dict[str, int]:
        """Key id (hex) -> how many wallets it sealed."""
        stmt = select(CustodialWalletRow.key_id, func.count()).group_by(CustodialWalletRow.key_id)
        return {key_id: int(count) for key_id, count in self._session.execute(stmt)}

    def _row(self, user_id: str) -> CustodialWalletRow | None:
        key = parse_object_id(user_id)
        if key is None:
            return None
        stmt = select(CustodialWalletRow).where(CustodialWalletRow.user_id == key)
        return self._session.scalars(fresh(stmt)).first()


# -- row <-> record -----------------------------------------------------------------------------


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        role=UserRole(row.role),
        kyc_verified=row.kyc_verified,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _wallet(row: CustodialWalletRow) -> CustodialWallet:
    return CustodialWallet(
        user_id=row.user_id,
        address=bytes.fromhex(row.address),
        key_id=bytes.fromhex(row.key_id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _sealed(row: CustodialWalletRow) -> SealedKey:
    return SealedKey(
        user_id=row.user_id,
        blob=bytes(row.encrypted_signing_key),
        key_id=bytes.fromhex(row.key_id),
    )
