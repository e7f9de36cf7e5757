"""Buying from a deal now: one transaction pays the seller and the fees from the buyer's wallet
and delivers the tokens, submitted before the request answers (see `app.deals` for how a deal is
serialised between concurrent buyers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from ...domain.amounts import AmountError, format_amount, parse_amount
from ...domain.errors import InsufficientFundsError
from ...domain.keys import PaymentKey
from ...store.audit import AuditAction, AuditLogRepo
from ...store.deals import Deal, DealRepo, DealStatus, EscrowRef
from ...store.errors import DealUnavailableError, InsufficientQuantityError
from ...store.ids import new_object_id
from ...store.tokens import Token, TokenRepo
from ...tx.deal import (
    DealPricing,
    DealPricingError,
    build_deal_purchase,
    price_purchase,
)
from ..context import Context
from ..custody import signing_key, wallet_of
from ..errors import BadRequestError, UnprocessableError
from ..signing import SigningKind, escrow_mandate
from .errors import (
    MAX_DEAL_ID,
    DealConflictError,
    DealNotFoundError,
    InsufficientDealQuantityError,
)
from .escrow import (
    configured_escrow,
    current_escrow,
    key_hashes,
    submit_settlement,
    token_of,
)

DELIVERY_ESTIMATE = timedelta(minutes=5)
"""When a purchase only reached the mempool: the usual time to its confirmation."""


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
    ctx: Context,
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
    escrow_key = configured_escrow(ctx)
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
    price_token = token_of(session, seen.price_token_id)
    pricing = _price(ctx, token, seen, base_units)
    buyer = wallet_of(ctx, session, user_id)
    buyer_key = signing_key(ctx, session, user_id)
    seller = wallet_of(ctx, session, seen.seller_id)

    deal = _reserve(ctx, session, seen, base_units, token)  # the deal's lock, held until commit
    escrow = current_escrow(ctx, session, deal, token, reserved=base_units)
    params = ctx.backend.protocol_parameters()
    try:
        purchase = build_deal_purchase(
            escrow=escrow,
            deal_id=deal.id,
            asset=token.asset,
            quantity=base_units,
            price_asset=price_token.asset,
            pricing=pricing,
            buyer_utxos=ctx.backend.utxos_at(buyer.address),
            buyer_address=buyer.address,
            seller_address=seller.address,
            platform_fee_address=ctx.secondary_fees.platform_fee_address,
            node_fee_address=ctx.secondary_fees.node_fee_address,
            params=params,
            ttl=ctx.ttl_slot(),
        )
    except InsufficientFundsError as exc:
        raise UnprocessableError(f"The buyer's wallet cannot pay: {exc}") from None
    mandate = escrow_mandate(
        SigningKind.DEAL_BUY,
        escrow=escrow_key.key,
        user=PaymentKey(buyer_key),
        escrow_inputs=[escrow.out_ref],
        pay_to_keys=key_hashes(
            buyer.address,
            seller.address,
            escrow_key.address,
            ctx.secondary_fees.platform_fee_address,
            ctx.secondary_fees.node_fee_address,
        ),
    )
    confirmed = submit_settlement(ctx, purchase, mandate)
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


def _price(ctx: Context, token: Token, deal: Deal, base_units: int) -> DealPricing:
    try:
        return price_purchase(
            quantity=base_units,
            unit_price=deal.unit_price,
            token_decimals=token.decimals,
            platform_fee_percentage=ctx.secondary_fees.platform_fee_percentage,
            node_fee_percentage=ctx.secondary_fees.node_fee_percentage,
        )
    except DealPricingError as exc:
        raise UnprocessableError(f"The quantity cannot be priced exactly: {exc}") from None


def _reserve(ctx: Context, session: Session, seen: Deal, base_units: int, token: Token) -> Deal:
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
