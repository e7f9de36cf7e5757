"""Listing tokens on the secondary market (sell) and reading its order book.

Sell is asynchronous: `request_sell` checks the request, stores a pending deal and a `sell`
transaction; the worker builds the escrow lock with `SellHandler`, and the deal turns active
(with its escrow output) once that transaction is on chain, or cancelled if it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ...domain.amounts import AmountError, format_amount, parse_amount
from ...domain.errors import MarketError
from ...domain.keys import PaymentKey
from ...domain.values import ADA
from ...store.audit import AuditAction, AuditLogRepo
from ...store.deals import Deal, DealRepo, DealStatus, EscrowRef
from ...store.tokens import Token, TokenKind, TokenRepo
from ...store.transactions import V2Transaction, V2TransactionRepo, V2TxType
from ...store.users import UserRepo
from ...tx.deal import (
    build_escrow_lock,
)
from ..context import Context
from ..custodial_tx import BuiltTx
from ..custody import quantity_of, signing_key, wallet_of, wallet_value
from ..errors import BadRequestError, NotFoundError
from ..payloads import SellPayload
from ..signing import SigningKind, custodial_mandate
from .errors import (
    DealClosedError,
    DealNotFoundError,
    InsufficientBalanceError,
)
from .escrow import (
    ESCROW_OUTPUT_INDEX,
    configured_escrow,
    token_of,
)


def request_sell(
    ctx: Context,
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
    configured_escrow(ctx)
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
        payload=SellPayload(
            quantity=base_units, price_token_id=price_token.id, unit_price=unit_price
        ).to_json(),
        now=now,
    )


class SellHandler:
    """Builds a `sell` transaction's escrow lock from the seller's wallet; activates or cancels
    the deal once the worker knows the outcome."""

    def build(self, ctx: Context, tx: V2Transaction) -> BuiltTx:
        escrow = configured_escrow(ctx)
        with ctx.database.session() as session:
            deal = _deal_of(session, tx)
            if deal.status is not DealStatus.PENDING:
                raise DealClosedError(f"deal {deal.id} is {deal.status}: nothing to lock")
            token = token_of(session, deal.token_id)
            wallet = wallet_of(ctx, session, deal.seller_id)
            key = signing_key(ctx, session, deal.seller_id)
        lock = build_escrow_lock(
            seller_utxos=ctx.backend.utxos_at(wallet.address),
            seller_address=wallet.address,
            escrow_address=escrow.address,
            asset=token.asset,
            quantity=deal.quantity,
            deal_id=deal.id,
            params=ctx.backend.protocol_parameters(),
            ttl=ctx.ttl_slot(),
        )
        return BuiltTx(lock.cbor, custodial_mandate(SigningKind.ESCROW_LOCK, user=PaymentKey(key)))

    def on_confirmed(self, ctx: Context, session: Session, tx: V2Transaction) -> None:
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

    def on_failed(self, ctx: Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """The tokens never left the wallet: the deal is cancelled, never sold from."""
        deal = _deal_of(session, tx)
        if deal.status is DealStatus.PENDING:
            DealRepo(session).cancel(deal.id, now=ctx.clock())


def _deal_of(session: Session, tx: V2Transaction) -> Deal:
    deal = None if tx.deal_id is None else DealRepo(session).get(tx.deal_id)
    if deal is None:
        raise DealNotFoundError(f"transaction {tx.id} names no stored deal")
    return deal


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
            prices[deal.price_token_id] = token_of(session, deal.price_token_id)
        listings.append(Listing(deal, prices[deal.price_token_id]))
    listings.sort(key=lambda item: (item.price_token.id, item.deal.unit_price, item.deal.id))
    return token, listings
