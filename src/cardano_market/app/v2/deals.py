"""The secondary market for custodial users: list tokens (sell), buy from a deal, delist, and the
order book. Escrow and pricing are `tx.deal`'s; this module decides who may do what, when.

- Sell is asynchronous: `request_sell` checks the request, stores a pending deal and a `sell`
  transaction; the worker builds the escrow lock with `SellHandler`, and the deal turns active
  (with its escrow output) once that transaction is on chain, or cancelled if it fails.
- Buy and delist are synchronous and run in the caller's unit of work.

Serialising a deal. Every purchase spends the deal's one escrow output, so two purchases of a
deal must never be built from the same output. The deal row is the lock: a purchase starts with
`DealRepo.reserve` (PostgreSQL: a conditional UPDATE, which row-locks the deal until commit;
SQLite: the database write lock), and keeps it while it reads the escrow reference, builds,
signs and submits, moves the reference to the new escrow output and commits. A second buyer's
reserve waits on that lock, then sees the new remaining quantity and the new escrow output: it
either proceeds from there or, when the first took what it wanted, gets `DealConflictError`
(409). Delist takes the same lock by cancelling with the version it read (a purchase in between
bumps the version, so the delist re-reads). Reservations therefore never outlive a settlement:
while a deal is active and unlocked, its escrow output holds exactly `remaining` tokens.

Crash recovery. If the process dies after the ledger accepted a purchase but before the commit,
the database still names the spent escrow output. The next settlement of the deal finds the
deal's current escrow output on chain by its datum (`tx.deal.find_escrow`), takes the quantity
sold meanwhile off `remaining` and records a recovered trade in the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from ...chain.base import ChainError, ChainHistory, SubmitError, TxState
from ...domain.address import payment_key_hash
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import InsufficientFundsError, MarketError
from ...domain.keys import PaymentKey
from ...domain.values import ADA
from ...security.jwt_auth import AccessDeniedError
from ...store.audit import AuditAction, AuditLogRepo
from ...store.deals import Deal, DealRepo, DealStatus, EscrowRef
from ...store.errors import DealUnavailableError, IllegalTransitionError, InsufficientQuantityError
from ...store.ids import new_object_id
from ...store.tokens import Token, TokenKind, TokenRepo
from ...store.transactions import V2Transaction, V2TransactionRepo, V2TxType
from ...store.users import UserRepo
from ...tx.deal import (
    DealPricing,
    DealPricingError,
    DealTransaction,
    build_deal_purchase,
    build_escrow_lock,
    build_escrow_release,
    find_escrow,
    price_purchase,
)
from ..errors import BadRequestError, NotFoundError, UnprocessableError
from ..signing import Mandate, SigningKind, custodial_mandate, escrow_mandate
from .context import EscrowKey, V2Context
from .custody import quantity_of, signing_key, wallet_of, wallet_value
from .money import AmountError, format_amount, parse_amount
from .processing import BuiltTx, register

log = logging.getLogger("cardano_market.v2.deals")

ESCROW_OUTPUT_INDEX = 0
"""Where `build_escrow_lock` and a partial `build_deal_purchase` put the escrow output."""
DELIVERY_ESTIMATE = timedelta(minutes=5)
"""When a purchase only reached the mempool: the usual time to its confirmation."""
SYSTEM_ACTOR = "secondary-market"
"""The audit actor of what no user asked for (a recovered trade)."""
MAX_DEAL_ID = 2**31 - 1
"""Deal ids are 32-bit integers: anything larger names no deal (and must not reach SQL)."""


class DealNotFoundError(NotFoundError):
    """No such deal for this token, or it is no longer for sale (404)."""


class DealConflictError(MarketError):
    """A concurrent purchase (or delisting) got there first (409)."""


class SubmissionOutcomeUnknownError(ChainError):
    """The ledger refused a copy of a settlement that may have landed all the same (503; the
    request's Idempotency-Key stays taken, so a retry never pays twice)."""


class DealClosedError(MarketError):
    """Delisting a deal that is completed, cancelled, or not yet active (409)."""


class InsufficientBalanceError(UnprocessableError):
    """The seller's wallet holds fewer tokens than the sell order, after pending listings (422)."""


class InsufficientDealQuantityError(UnprocessableError):
    """More asked than the deal has left (422)."""


class SellingUnavailableError(MarketError):
    """No escrow key is configured: nothing can be listed or settled (503)."""


# -- sell -----------------------------------------------------------------------------------------


def request_sell(
    ctx: V2Context,
    session: Session,
    *,
    user_id: str,
    token_id: str,
    quantity: Decimal | int,
    price_id: str,
    price_amount: Decimal | int,
) -> V2Transaction:
    """Check a sell order of `quantity` whole tokens at `price_amount` whole price tokens each,
    store a pending deal and its `sell` transaction (which the worker builds and submits).

    BadRequestError (400) for amounts that are not positive or finer than the tokens' decimals;
    NotFoundError (404) for an unknown user, token or price token; InsufficientBalanceError
    (422) when the wallet, less what pending listings will take from it, holds too little.
    Tokens of active deals already sit in escrow, so the wallet's balance no longer counts them.
    """
    _escrow(ctx)
    if quantity <= 0:
        raise BadRequestError("Quantity must be greater than 0")
    if price_amount <= 0:
        raise BadRequestError("Price amount must be greater than 0")
    tokens = TokenRepo(session)
    user = UserRepo(session).get(user_id)
    token = tokens.get(token_id)
    if user is None or token is None:
        raise NotFoundError("User or token not found")
    price_token = tokens.get(price_id)
    if price_token is None:
        raise NotFoundError(f"Price token {price_id} not found")
    if token.asset == ADA:
        raise BadRequestError("ADA cannot be listed: deals sell native tokens")
    if price_token.kind is not TokenKind.CURRENCY:
        raise BadRequestError(f"price_id: token {price_token.id} is not a currency")
    if price_token.id == token.id:
        raise BadRequestError("price_id: a token cannot be priced in itself")
    try:
        base_units = parse_amount(quantity, token.decimals)
        unit_price = parse_amount(price_amount, price_token.decimals, field="price_amount")
    except AmountError as exc:
        raise BadRequestError(str(exc)) from None
    wallet = wallet_of(ctx, session, user.id)
    held = quantity_of(wallet_value(ctx, wallet.address), token.asset)
    pending = sum(
        d.remaining
        for d in DealRepo(session).list_by_seller(
            user.id, statuses=(DealStatus.PENDING,), limit=10_000
        )
        if d.token_id == token.id
    )
    if held - pending < base_units:
        raise InsufficientBalanceError(
            "User does not have enough tokens to sell: the wallet holds "
            f"{format_amount(held, token.decimals)} {token.symbol}, "
            f"{format_amount(pending, token.decimals)} of them in pending listings; "
            f"{format_amount(base_units, token.decimals)} asked"
        )
    now = ctx.clock()
    deal = DealRepo(session).create(
        seller_id=user.id,
        token_id=token.id,
        quantity=base_units,
        price_token_id=price_token.id,
        unit_price=unit_price,
        now=now,
    )
    return V2TransactionRepo(session).create(
        user_id=user.id,
        token_id=token.id,
        type=V2TxType.SELL,
        deal_id=deal.id,
        payload={
            "quantity": base_units,
            "price_token_id": price_token.id,
            "unit_price": unit_price,
        },
        now=now,
    )


class SellHandler:
    """Builds a `sell` transaction's escrow lock from the seller's wallet; activates or cancels
    the deal once the worker knows the outcome."""

    def build(self, ctx: V2Context, tx: V2Transaction) -> BuiltTx:
        escrow = _escrow(ctx)
        with ctx.database.session() as session:
            deal = _deal_of(session, tx)
            if deal.status is not DealStatus.PENDING:
                raise DealClosedError(f"deal {deal.id} is {deal.status}: nothing to lock")
            token = _token(session, deal.token_id)
            wallet = wallet_of(ctx, session, deal.seller_id)
            key = signing_key(ctx, session, deal.seller_id)
        lock = build_escrow_lock(
            seller_utxos=ctx.chain.utxos_at(wallet.address),
            seller_address=wallet.address,
            escrow_address=escrow.address,
            asset=token.asset,
            quantity=deal.quantity,
            deal_id=deal.id,
            params=ctx.chain.protocol_parameters(),
            ttl=ctx.market.ttl_slot(),
        )
        return BuiltTx(lock.cbor, custodial_mandate(SigningKind.ESCROW_LOCK, user=PaymentKey(key)))

    def on_confirmed(self, ctx: V2Context, session: Session, tx: V2Transaction) -> None:
        deal = _deal_of(session, tx)
        if tx.tx_hash is None:  # pragma: no cover - a confirmed transaction has its hash
            raise MarketError(f"transaction {tx.id} is confirmed without a hash")
        escrow = EscrowRef(tx_hash=tx.tx_hash, index=ESCROW_OUTPUT_INDEX)
        deal = DealRepo(session).activate(deal.id, escrow=escrow, now=ctx.clock())
        AuditLogRepo(session).record(
            actor=deal.seller_id,
            action=AuditAction.LIST,
            now=ctx.clock(),
            deal_id=deal.id,
            token_id=deal.token_id,
            quantity=deal.quantity,
            price_token_id=deal.price_token_id,
            transaction_id=tx.id,
            tx_hash=tx.tx_hash,
            details={"unit_price": deal.unit_price},
        )

    def on_failed(self, ctx: V2Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """The tokens never left the wallet: the deal is cancelled, never sold from."""
        deal = _deal_of(session, tx)
        if deal.status is DealStatus.PENDING:
            DealRepo(session).cancel(deal.id, now=ctx.clock())


# -- buy ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondaryPurchase:
    """A settled purchase from a deal (what the buy route answers)."""

    purchase_id: str
    buyer_id: str
    deal: Deal
    """The deal after the purchase."""
    token: Token
    price_token: Token
    quantity: int
    """Base units bought."""
    pricing: DealPricing
    tx_hash: str
    confirmed: bool
    """On chain already (devnet), or only accepted into the mempool (a public network)."""
    purchased_at: datetime

    @property
    def estimated_delivery(self) -> datetime:
        return self.purchased_at if self.confirmed else self.purchased_at + DELIVERY_ESTIMATE


def buy_from_deal(
    ctx: V2Context,
    session: Session,
    *,
    user_id: str,
    token_id: str,
    deal_id: int,
    quantity: Decimal | int,
) -> SecondaryPurchase:
    """Buy `quantity` whole tokens from deal `deal_id` now: one transaction pays the seller and
    the fees from the buyer's wallet and delivers the tokens; it is submitted before this
    returns. Runs in `session`, which the caller commits (the purchase is recorded then).

    BadRequestError (400) for a quantity that is not positive or too fine; DealNotFoundError
    (404) for an unknown, other token's, pending or cancelled deal; DealConflictError (409)
    when a concurrent purchase took the quantity (or completed the deal) first;
    InsufficientDealQuantityError or UnprocessableError (422) when more is asked than the deal
    has, the buyer is the seller, or the buyer's wallet cannot pay.
    """
    escrow_key = _escrow(ctx)
    if quantity <= 0:
        raise BadRequestError("Quantity must be greater than 0")
    token = TokenRepo(session).get(token_id)
    deals = DealRepo(session)
    seen = deals.get(deal_id) if 0 < deal_id <= MAX_DEAL_ID else None
    if token is None or seen is None or seen.token_id != token.id:
        raise DealNotFoundError("The specified deal is no longer available")
    if seen.status is not DealStatus.ACTIVE:
        if seen.status is DealStatus.COMPLETED:
            raise DealNotFoundError("The specified deal is no longer available: it sold out")
        raise DealNotFoundError(f"The specified deal is no longer available: it is {seen.status}")
    try:
        base_units = parse_amount(quantity, token.decimals)
    except AmountError as exc:
        raise BadRequestError(str(exc)) from None
    if seen.seller_id == user_id.lower():
        raise UnprocessableError("A seller cannot buy from their own deal")
    if base_units > seen.remaining:
        raise InsufficientDealQuantityError(
            "Insufficient quantity available in the deal: "
            f"{format_amount(seen.remaining, token.decimals)} {token.symbol} left, "
            f"{format_amount(base_units, token.decimals)} asked"
        )
    price_token = _token(session, seen.price_token_id)
    pricing = _price(ctx, token, seen, base_units)
    buyer = wallet_of(ctx, session, user_id)
    buyer_key = signing_key(ctx, session, user_id)
    seller = wallet_of(ctx, session, seen.seller_id)

    deal = _reserve(ctx, session, seen, base_units, token)  # the deal's lock, held until commit
    escrow = _current_escrow(ctx, session, deal, token, reserved=base_units)
    params = ctx.chain.protocol_parameters()
    try:
        purchase = build_deal_purchase(
            escrow=escrow,
            deal_id=deal.id,
            asset=token.asset,
            quantity=base_units,
            price_asset=price_token.asset,
            pricing=pricing,
            buyer_utxos=ctx.chain.utxos_at(buyer.address),
            buyer_address=buyer.address,
            seller_address=seller.address,
            platform_fee_address=ctx.fees.platform_fee_address,
            node_fee_address=ctx.fees.node_fee_address,
            params=params,
            ttl=ctx.market.ttl_slot(),
        )
    except InsufficientFundsError as exc:
        raise UnprocessableError(f"The buyer's wallet cannot pay: {exc}") from None
    mandate = escrow_mandate(
        SigningKind.DEAL_BUY,
        escrow=escrow_key.key,
        user=PaymentKey(buyer_key),
        escrow_inputs=[escrow.out_ref],
        pay_to_keys=_key_hashes(
            buyer.address,
            seller.address,
            escrow_key.address,
            ctx.fees.platform_fee_address,
            ctx.fees.node_fee_address,
        ),
    )
    confirmed = _submit(ctx, purchase, mandate)
    now = ctx.clock()
    if purchase.escrow_index is not None:
        ref = EscrowRef(tx_hash=purchase.tx_id, index=purchase.escrow_index)
        deal = deals.move_escrow(deal.id, escrow=ref, now=now)
    else:
        deal = deals.complete(deal.id, now=now)
    purchase_id = new_object_id(now.timestamp())
    AuditLogRepo(session).record(
        actor=user_id.lower(),
        action=AuditAction.TRADE,
        now=now,
        deal_id=deal.id,
        token_id=token.id,
        quantity=base_units,
        price_token_id=price_token.id,
        amount=pricing.total,
        tx_hash=purchase.tx_id,
        details={
            "purchase_id": purchase_id,
            "buyer_id": user_id.lower(),
            "seller_id": deal.seller_id,
            "unit_price": deal.unit_price,
            "platform_fee": pricing.platform_fee,
            "node_fee": pricing.node_fee,
            "net_amount": pricing.net_amount,
            "network_fee": purchase.fee,
            "confirmed": confirmed,
        },
    )
    return SecondaryPurchase(
        purchase_id=purchase_id,
        buyer_id=user_id.lower(),
        deal=deal,
        token=token,
        price_token=price_token,
        quantity=base_units,
        pricing=pricing,
        tx_hash=purchase.tx_id,
        confirmed=confirmed,
        purchased_at=now,
    )


def _price(ctx: V2Context, token: Token, deal: Deal, base_units: int) -> DealPricing:
    try:
        return price_purchase(
            quantity=base_units,
            unit_price=deal.unit_price,
            token_decimals=token.decimals,
            platform_fee_percentage=ctx.fees.platform_fee_percentage,
            node_fee_percentage=ctx.fees.node_fee_percentage,
        )
    except DealPricingError as exc:
        raise UnprocessableError(f"The quantity cannot be priced exactly: {exc}") from None


def _reserve(ctx: V2Context, session: Session, seen: Deal, base_units: int, token: Token) -> Deal:
    """Take `base_units` off the deal, locking it; the errors say who got there first."""
    try:
        return DealRepo(session).reserve(seen.id, base_units, now=ctx.clock())
    except InsufficientQuantityError as exc:
        raise DealConflictError(
            "Another user has already purchased this quantity: "
            f"{format_amount(exc.remaining, token.decimals)} {token.symbol} left"
        ) from None
    except DealUnavailableError:
        latest = DealRepo(session).get(seen.id)
        if latest is not None and latest.status is DealStatus.COMPLETED:
            raise DealConflictError("Another user has already purchased this quantity") from None
        raise DealNotFoundError("The specified deal is no longer available") from None


# -- delist ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delisting:
    deal: Deal
    """The cancelled deal (`remaining`: what was still for sale, returned to the seller)."""
    token: Token
    price_token: Token
    tx_hash: str
    delisted_at: datetime


def delist_deal(
    ctx: V2Context, session: Session, *, user_id: str, token_id: str, deal_id: int
) -> Delisting:
    """Cancel the seller's active deal and return its escrowed tokens (and deposit) now.

    DealNotFoundError (404) for an unknown deal or another token's; AccessDeniedError (403)
    when `user_id` is not the seller; DealClosedError (409) when it is completed, cancelled or
    still pending (its escrow not on chain yet).
    """
    escrow_key = _escrow(ctx)
    token = TokenRepo(session).get(token_id)
    deals = DealRepo(session)
    seen = deals.get(deal_id) if 0 < deal_id <= MAX_DEAL_ID else None
    if token is None or seen is None or seen.token_id != token.id:
        raise DealNotFoundError("The specified deal does not exist")
    if seen.seller_id != user_id.lower():
        raise AccessDeniedError("You can only delist your own deals")
    seller = wallet_of(ctx, session, seen.seller_id)
    while True:
        _check_delistable(seen)
        try:  # the lock: only if no purchase moved the deal since it was read
            deal = deals.cancel(seen.id, now=ctx.clock(), expected_version=seen.version)
            break
        except IllegalTransitionError:
            latest = deals.get(seen.id)
            assert latest is not None  # deals are never deleted
            seen = latest
    escrow = _current_escrow(ctx, session, seen, token, reserved=0, adopt=False)
    seller_key = signing_key(ctx, session, seen.seller_id)
    release = build_escrow_release(
        escrow=escrow,
        deal_id=deal.id,
        asset=token.asset,
        seller_utxos=ctx.chain.utxos_at(seller.address),
        seller_address=seller.address,
        params=ctx.chain.protocol_parameters(),
        ttl=ctx.market.ttl_slot(),
    )
    mandate = escrow_mandate(
        SigningKind.DELIST,
        escrow=escrow_key.key,
        user=PaymentKey(seller_key),
        escrow_inputs=[escrow.out_ref],
        pay_to_keys=_key_hashes(seller.address),
    )
    _submit(ctx, release, mandate)
    now = ctx.clock()
    AuditLogRepo(session).record(
        actor=user_id.lower(),
        action=AuditAction.DELIST,
        now=now,
        deal_id=deal.id,
        token_id=token.id,
        quantity=seen.remaining,
        price_token_id=deal.price_token_id,
        tx_hash=release.tx_id,
        details={"returned": escrow.value.quantity(token.asset), "network_fee": release.fee},
    )
    return Delisting(
        deal=deal,
        token=token,
        price_token=_token(session, deal.price_token_id),
        tx_hash=release.tx_id,
        delisted_at=now,
    )


def _check_delistable(deal: Deal) -> None:
    if deal.status in (DealStatus.COMPLETED, DealStatus.CANCELLED):
        raise DealClosedError(f"Deal is already completed or cancelled (it is {deal.status})")
    if deal.status is DealStatus.PENDING:
        raise DealClosedError("Deal is pending: its tokens are not in escrow yet; retry shortly")


# -- order book -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    deal: Deal
    price_token: Token


def order_book(
    session: Session, token_id: str, *, offset: int = 0, limit: int = 100
) -> tuple[Token, list[Listing]]:
    """The token's active deals, cheapest first (then oldest). NotFoundError for a token."""
    token = TokenRepo(session).get(token_id)
    if token is None:
        raise NotFoundError(f"Token {token_id} not found")
    deals = DealRepo(session).list_by_token(token.id, offset=offset, limit=limit)
    prices: dict[str, Token] = {}
    listings = []
    for deal in deals:
        if deal.price_token_id not in prices:
            prices[deal.price_token_id] = _token(session, deal.price_token_id)
        listings.append(Listing(deal, prices[deal.price_token_id]))
    listings.sort(key=lambda item: (item.price_token.id, item.deal.unit_price, item.deal.id))
    return token, listings


# -- shared ---------------------------------------------------------------------------------------


def _escrow(ctx: V2Context) -> EscrowKey:
    if ctx.escrow is None:
        raise SellingUnavailableError("the secondary market has no escrow key configured")
    return ctx.escrow


def _token(session: Session, token_id: str) -> Token:
    token = TokenRepo(session).get(token_id)
    if token is None:  # pragma: no cover - deals reference tokens by foreign key
        raise NotFoundError(f"Token {token_id} not found")
    return token


def _deal_of(session: Session, tx: V2Transaction) -> Deal:
    deal = None if tx.deal_id is None else DealRepo(session).get(tx.deal_id)
    if deal is None:
        raise DealNotFoundError(f"transaction {tx.id} names no stored deal")
    return deal


def _current_escrow(
    ctx: V2Context,
    session: Session,
    deal: Deal,
    token: Token,
    *,
    reserved: int,
    adopt: bool = True,
) -> Utxo:
    """The locked deal's escrow UTxO, which must hold `remaining` plus what this settlement
    `reserved`. A recorded output that is gone means a settlement applied on chain was lost
    before its commit: the deal's output is found by following the spenders of the recorded one
    (`_successor_escrow`) and, with `adopt`, its reference and quantity are taken over (the trade
    is audited as recovered)."""
    expected = deal.remaining + reserved
    if deal.escrow is not None:
        ref = OutRef(bytes.fromhex(deal.escrow.tx_hash), deal.escrow.index)
        recorded = next(iter(ctx.chain.utxos_by_ref([ref])), None)
        if recorded is not None:
            held = recorded.value.quantity(token.asset)
            if held != expected:
                raise DealConflictError(
                    f"Deal {deal.id}'s escrow holds {held} base units, {expected} expected"
                )
            return recorded
    found = (
        _successor_escrow(ctx, deal.id, ref)
        if deal.escrow is not None
        else find_escrow(ctx.chain.utxos_at(_escrow(ctx).address), deal.id)
    )
    if found is None:
        log.error("deal %s: no escrow output on chain (recorded %s)", deal.id, deal.escrow)
        raise DealConflictError(f"Deal {deal.id} has no escrow output on chain")
    if not adopt:
        return found
    held = found.value.quantity(token.asset)
    if not reserved <= held <= expected:
        raise DealConflictError(
            f"Deal {deal.id}'s escrow holds {held} base units, {expected} expected"
        )
    _recover(ctx, session, deal, found, token, sold=expected - held)
    return found


_MAX_LOST_SETTLEMENTS = 16
"""How many unrecorded settlements in a row the escrow recovery follows."""


def _successor_escrow(ctx: V2Context, deal_id: int, spent: OutRef) -> Utxo | None:
    """The deal's escrow output now on chain, found by following the spenders of the recorded
    (now spent) one: only outputs of those transactions count, never any UTxO at the escrow
    address carrying the deal's datum (anyone can send one there)."""
    chain = ctx.chain
    if not isinstance(chain, ChainHistory):
        raise DealConflictError(
            f"Deal {deal_id}'s escrow was spent by a transaction this service did not record, "
            "and the chain backend cannot tell which"
        )
    escrow_address = _escrow(ctx).address
    ref = spent
    for _ in range(_MAX_LOST_SETTLEMENTS):
        spender = chain.spending_transaction(ref)
        if spender is None:
            return None  # spent by a transaction the backend does not show (yet)
        successor = find_escrow(
            (o for o in spender.outputs if o.address == escrow_address), deal_id
        )
        if successor is None:
            return None  # that transaction emptied the deal's escrow
        live = next(iter(ctx.chain.utxos_by_ref([successor.out_ref])), None)
        if live is not None:
            return live
        ref = successor.out_ref
    return None


def _recover(
    ctx: V2Context, session: Session, deal: Deal, found: Utxo, token: Token, *, sold: int
) -> None:
    """Adopt the escrow output found on chain; `sold` base units left it unrecorded."""
    log.warning(
        "deal %s: adopting escrow %s#%s (%s sold unrecorded)",
        deal.id,
        found.tx_hash.hex(),
        found.index,
        sold,
    )
    now = ctx.clock()
    repo = DealRepo(session)
    if sold:
        repo.reserve(deal.id, sold, now=now)
        AuditLogRepo(session).record(
            actor=SYSTEM_ACTOR,
            action=AuditAction.TRADE,
            now=now,
            deal_id=deal.id,
            token_id=token.id,
            quantity=sold,
            price_token_id=deal.price_token_id,
            tx_hash=found.tx_hash.hex(),
            details={"recovered": True},
        )
    ref = EscrowRef(tx_hash=found.tx_hash.hex(), index=found.index)
    repo.move_escrow(deal.id, escrow=ref, now=now)


def _key_hashes(*addresses: bytes) -> list[bytes]:
    return [h for h in (payment_key_hash(a) for a in addresses) if h is not None]


def _submit(ctx: V2Context, deal_tx: DealTransaction, mandate: Mandate) -> bool:
    """Sign through the signing gate, submit, and say whether it is on chain yet."""
    signed = ctx.market.gate.sign(deal_tx.cbor, mandate)
    try:
        ctx.chain.submit(signed)
    except SubmitError as exc:
        if exc.rule != "BadInputsUTxO":
            raise
        if _spent_by_another(ctx, deal_tx) is None:
            # The refused copy may have been a second one (an answer lost inside the backend's
            # own retry) and the first may land: never a 409, which frees the request's
            # Idempotency-Key for a second payment.
            if ctx.chain.tx_status(bytes.fromhex(deal_tx.tx_id)).state is TxState.UNKNOWN:
                raise SubmissionOutcomeUnknownError(
                    f"transaction {deal_tx.tx_id} was refused ({exc}) but its inputs are spent "
                    "by a transaction the chain backend does not show yet: it may have landed; "
                    "the deal is reconciled from the chain by its next settlement"
                ) from None
        else:
            raise DealConflictError(
                f"An input was spent meanwhile (a concurrent transaction): {exc}"
            ) from None
    status = ctx.chain.tx_status(bytes.fromhex(deal_tx.tx_id))
    return status.state is TxState.CONFIRMED


def _spent_by_another(ctx: V2Context, deal_tx: DealTransaction) -> bytes | None:
    """The id of another transaction that spent one of `deal_tx`'s inputs, if the chain
    backend tells (None: unspent, spent by `deal_tx` itself, or not shown)."""
    from ...ledger.parse import parse_transaction

    chain = ctx.chain
    if not isinstance(chain, ChainHistory):
        return None
    own = bytes.fromhex(deal_tx.tx_id)
    for ref in parse_transaction(deal_tx.cbor).inputs:
        try:
            spender = chain.spending_transaction(ref)
        except ChainError:
            return None
        if spender is not None and spender.tx_id != own:
            return spender.tx_id
    return None


register(V2TxType.SELL.value, SellHandler())
