"""Delisting a deal now: cancel the seller's active deal and return its escrowed tokens (and
deposit) in one transaction, submitted before the request answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ...domain.keys import PaymentKey
from ...security.jwt_auth import AccessDeniedError
from ...store.audit import AuditAction, AuditLogRepo
from ...store.deals import Deal, DealRepo, DealStatus
from ...store.errors import IllegalTransitionError
from ...store.tokens import Token, TokenRepo
from ...tx.deal import (
    build_escrow_release,
)
from ..context import Context
from ..custody import signing_key, wallet_of
from ..signing import SigningKind, escrow_mandate
from .errors import (
    MAX_DEAL_ID,
    DealClosedError,
    DealNotFoundError,
)
from .escrow import (
    configured_escrow,
    current_escrow,
    key_hashes,
    submit_settlement,
    token_of,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delisting:
    deal: Deal
    """The cancelled deal (`remaining`: what was still for sale, returned to the seller)."""
    token: Token
    price_token: Token
    tx_hash: str
    delisted_at: datetime


def delist_deal(
    ctx: Context, session: Session, *, user_id: str, token_id: str, deal_id: int
) -> Delisting:
    """Cancel the seller's active deal and return its escrowed tokens (and deposit) now.

    DealNotFoundError (404) for an unknown deal or another token's; AccessDeniedError (403)
    when `user_id` is not the seller; DealClosedError (409) when it is completed, cancelled or
    still pending (its escrow not on chain yet).
    """
    escrow_key = configured_escrow(ctx)
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
    escrow = current_escrow(ctx, session, seen, token, reserved=0, adopt=False)
    seller_key = signing_key(ctx, session, seen.seller_id)
    release = build_escrow_release(
        escrow=escrow,
        deal_id=deal.id,
        asset=token.asset,
        seller_utxos=ctx.backend.utxos_at(seller.address),
        seller_address=seller.address,
        params=ctx.backend.protocol_parameters(),
        ttl=ctx.ttl_slot(),
    )
    mandate = escrow_mandate(
        SigningKind.DELIST,
        escrow=escrow_key.key,
        user=PaymentKey(seller_key),
        escrow_inputs=[escrow.out_ref],
        pay_to_keys=key_hashes(seller.address),
    )
    submit_settlement(ctx, release, mandate)
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
        price_token=token_of(session, deal.price_token_id),
        tx_hash=release.tx_id,
        delisted_at=now,
    )


def _check_delistable(deal: Deal) -> None:
    if deal.status in (DealStatus.COMPLETED, DealStatus.CANCELLED):
        raise DealClosedError(f"Deal is already completed or cancelled (it is {deal.status})")
    if deal.status is DealStatus.PENDING:
        raise DealClosedError("Deal is pending: its tokens are not in escrow yet; retry shortly")
