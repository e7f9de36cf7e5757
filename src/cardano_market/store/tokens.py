"""Tokens (`v2_tokens`): the Cardano assets users buy, sell and price deals in, with their
symbol, decimals and purchase limits; a primary offering names the marketplace sale it is sold
from. Record and repository.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.errors import StoreError
from ..domain.values import AssetId
from ._sql import add_row, fresh, page, require_uuid
from .columns import ExactInt, UtcDateTime, check_aware, check_exact_int
from .ids import new_object_id, parse_object_id, require_object_id
from .schema import ENUM_TEXT, NAME_HEX, OBJECT_ID_HEX, POLICY_HEX, Base, one_of

SYMBOL_CHARS = 32
MAX_DECIMALS = 38


class TokenKind(enum.StrEnum):
    """What a token record is for."""

    PRIMARY_OFFERING = "primary_offering"
    """Sold from a marketplace sale (`Token.sale_id`) at its offering price."""
    CURRENCY = "currency"
    """Prices deals: a stablecoin, the marketplace currency, ADA."""
    OTHER = "other"


class TokenRow(Base):
    __tablename__ = "v2_tokens"

    id: Mapped[str] = mapped_column(String(OBJECT_ID_HEX), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(POLICY_HEX))
    asset_name: Mapped[str] = mapped_column(String(NAME_HEX))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_CHARS))
    decimals: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(ENUM_TEXT))
    sale_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("marketplace_sales.id", ondelete="RESTRICT")
    )
    min_purchase_quantity: Mapped[int] = mapped_column(ExactInt)
    max_purchase_quantity: Mapped[int | None] = mapped_column(ExactInt)
    kyc_required: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("policy_id", "asset_name"),
        Index(None, "sale_id"),
        CheckConstraint(one_of("kind", (k.value for k in TokenKind)), name="kind"),
        CheckConstraint(f"decimals >= 0 AND decimals <= {MAX_DECIMALS}", name="decimals"),
        CheckConstraint(
            f"sale_id IS NULL OR kind = '{TokenKind.PRIMARY_OFFERING.value}'", name="sale_kind"
        ),
        CheckConstraint(
            "max_purchase_quantity IS NULL OR max_purchase_quantity >= min_purchase_quantity",
            name="purchase_limits",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A token the platform trades: a Cardano asset (ADA is the empty policy and name)."""

    id: str
    asset: AssetId
    symbol: str
    decimals: int
    kind: TokenKind
    sale_id: str | None
    """For a primary offering: the marketplace sale it is sold from."""
    min_purchase_quantity: int
    max_purchase_quantity: int | None
    """None: no upper limit."""
    kyc_required: bool
    created_at: datetime
    updated_at: datetime


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
        key = (
            new_object_id(now.timestamp())
            if token_id is None
            else require_object_id("token", token_id)
        )
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
        row = TokenRow(
            id=key,
            policy_id=policy.hex(),
            asset_name=name.hex(),
            symbol=symbol,
            decimals=decimals,
            kind=kind.value,
            sale_id=None if sale_id is None else require_uuid("sale id", sale_id),
            min_purchase_quantity=min_purchase_quantity,
            max_purchase_quantity=max_purchase_quantity,
            kyc_required=bool(kyc_required),
            created_at=now,
            updated_at=now,
        )
        add_row(
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
        stmt = select(TokenRow).where(TokenRow.id == key)
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _token(row)

    def get_by_asset(self, asset: AssetId) -> Token | None:
        stmt = select(TokenRow).where(
            TokenRow.policy_id == asset[0].hex(), TokenRow.asset_name == asset[1].hex()
        )
        row = self._session.scalars(fresh(stmt)).first()
        return None if row is None else _token(row)

    def list(
        self, kind: TokenKind | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[Token]:
        stmt = select(TokenRow)
        if kind is not None:
            stmt = stmt.where(TokenRow.kind == TokenKind(kind).value)
        stmt = page(stmt.order_by(TokenRow.id), offset, limit)
        return [_token(row) for row in self._session.scalars(fresh(stmt))]


def _token(row: TokenRow) -> Token:
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
