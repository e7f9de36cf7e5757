"""The v2 (custodial API) records repositories return, their states, and the 24-hex ids.

Users, tokens and transactions have 24-hex-digit ids like the v2 specs' examples (a MongoDB
ObjectId's shape: 4 bytes of creation time, then 8 random bytes, so ids sort roughly by age);
deals have integer ids. Amounts are integers in the token's base units.
"""

from __future__ import annotations

import enum
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.values import AssetId

OBJECT_ID_HEX = 24
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def new_object_id(now: float | None = None) -> str:
    """A fresh 24-hex id: creation time (Unix seconds, 4 bytes) then 8 random bytes."""
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    return seconds.to_bytes(4, "big").hex() + secrets.token_hex(8)


def parse_object_id(value: object) -> str | None:
    """`value` as a canonical (lowercase) 24-hex id, or None when it is not one."""
    if not isinstance(value, str):
        return None
    key = value.lower()
    return key if _OBJECT_ID.fullmatch(key) else None


class UserRole(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class TokenKind(enum.StrEnum):
    """What a token record is for."""

    PRIMARY_OFFERING = "primary_offering"
    """Sold from a marketplace sale (`Token.sale_id`) at its offering price."""
    CURRENCY = "currency"
    """Prices deals: a stablecoin, the marketplace currency, ADA."""
    OTHER = "other"


class DealStatus(enum.StrEnum):
    """pending (escrow transaction not yet on chain) -> active -> completed | cancelled."""

    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class V2TxType(enum.StrEnum):
    PRIMARY_PURCHASE = "primary_purchase"
    SECONDARY_PURCHASE = "secondary_purchase"
    SELL = "sell"
    DELIST = "delist"
    ORDER_CANCEL = "order_cancel"
    """The owner takes a queued order back (QueueCancel); `token_id` is the token it buys."""


class V2TxStatus(enum.StrEnum):
    """pending -> submitted -> confirmed -> completed, or failed from pending or submitted.

    pending: not yet on the network (the worker builds, signs and stores the bytes, then submits);
    submitted: the stored signed bytes were sent; confirmed: on chain; completed: the database
    effects (deal quantities, audit) are applied too.
    """

    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (V2TxStatus.COMPLETED, V2TxStatus.FAILED)


TX_TRANSITIONS: dict[V2TxStatus, frozenset[V2TxStatus]] = {
    V2TxStatus.PENDING: frozenset({V2TxStatus.SUBMITTED, V2TxStatus.FAILED}),
    V2TxStatus.SUBMITTED: frozenset({V2TxStatus.CONFIRMED, V2TxStatus.FAILED}),
    V2TxStatus.CONFIRMED: frozenset({V2TxStatus.COMPLETED}),
    V2TxStatus.COMPLETED: frozenset(),
    V2TxStatus.FAILED: frozenset(),
}
"""The legal moves. A confirmed transaction is on chain: it can only be completed, never failed."""

DEAL_TRANSITIONS: dict[DealStatus, frozenset[DealStatus]] = {
    DealStatus.PENDING: frozenset({DealStatus.ACTIVE, DealStatus.CANCELLED}),
    DealStatus.ACTIVE: frozenset({DealStatus.COMPLETED, DealStatus.CANCELLED}),
    DealStatus.COMPLETED: frozenset(),
    DealStatus.CANCELLED: frozenset(),
}


class AuditAction(enum.StrEnum):
    LIST = "list"
    DELIST = "delist"
    TRADE = "trade"
    PRIMARY_PURCHASE = "primary_purchase"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class CustodialWallet:
    """A user's platform-managed wallet. The signing key is not here: it stays sealed in the
    database and only `CustodialWalletRepo.signing_key` opens it, for the signer."""

    user_id: str
    address: bytes
    key_id: bytes
    """Which key-encryption key sealed the signing key (for rotation)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowRef:
    """The output holding a deal's tokens on chain."""

    tx_hash: str
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deal:
    """A sell order on the secondary market: `remaining` of `quantity` still for sale at
    `unit_price` base units of the price token each."""

    id: int
    seller_id: str
    token_id: str
    quantity: int
    remaining: int
    price_token_id: str
    unit_price: int
    status: DealStatus
    escrow: EscrowRef | None
    version: int
    """Bumped by every change: a caller holding an older version can tell it is stale."""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    """When it was completed or cancelled (delisted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class V2Transaction:
    """A custodial transaction the worker advances (`V2TxStatus`)."""

    id: str
    user_id: str
    token_id: str
    type: V2TxType
    status: V2TxStatus
    deal_id: int | None
    payload: dict[str, Any]
    """The request's terms (quantity, prices, ...), as JSON."""
    tx_hash: str | None
    unsigned_cbor: bytes | None = field(repr=False)
    signed_cbor: bytes | None = field(repr=False)
    failure_reason: str | None
    attempts: int
    """How many times a worker claimed it."""
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    """When it became completed or failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    """Who: a user id, or a worker/system name."""
    action: AuditAction
    deal_id: int | None
    token_id: str | None
    quantity: int | None
    price_token_id: str | None
    amount: int | None
    """Total value moved, in base units of the price token."""
    transaction_id: str | None
    tx_hash: str | None
    details: dict[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    """The response an `Idempotency-Key` first produced, to be returned again as it was."""

    status_code: int
    body: Any
    transaction_id: str | None
    created_at: datetime
