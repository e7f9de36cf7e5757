"""Buying on the primary market for a custodial user: check the request now, build later.

`request_primary_purchase` checks what can be checked at once (the token is on sale, KYC, a whole
number of bundles, the purchase limits, the sale's supply, the wallet's funds at today's price)
and stores a `primary_purchase` transaction. The worker then builds the order transaction with
the v1 order builder (`tx.order`) from the user's wallet, signs it with the user's key and
submits it; once it is on chain the transaction is `completed`. The order then waits in the
queue until a batcher fills it (tokens to the user) or refunds it: that is the protocol's
settlement, outside this transaction's life.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ...domain.keys import PaymentKey
from ...domain.pricing import OrderAmount, order_amount
from ...domain.sale import Sale, SaleStatus
from ...domain.values import unit_of
from ...security.jwt_auth import AccessDeniedError
from ...store.repos import SaleRepo
from ...store.v2_records import AuditAction, Token, TokenKind, V2Transaction, V2TxType
from ...store.v2_repos import AuditLogRepo, TokenRepo, UserRepo, V2TransactionRepo
from ...tx.order import OrderTransactionRequest, build_order_transaction
from ..errors import BadRequestError, NotFoundError, UnprocessableError
from ..signing import SigningKind, custodial_mandate
from .context import V2Context
from .custody import signing_key, wallet_of, wallet_value
from .money import AmountError, format_amount, parse_amount
from .processing import BuiltTx, register

NOT_ON_PRIMARY_MARKET = "Token not available for primary market purchase"


def request_primary_purchase(
    ctx: V2Context, session: Session, *, user_id: str, token_id: str, quantity: Decimal | int
) -> V2Transaction:
    """Check a purchase of `quantity` whole tokens and queue it for the worker.

    BadRequestError (400) for a quantity that is not positive or not whole bundles;
    AccessDeniedError (403) when the token needs KYC the user lacks; NotFoundError (404) for an
    unknown user or a token not on the primary market; UnprocessableError or PricingError (422)
    for the limits, the supply, or a wallet that cannot pay.
    """
    if quantity <= 0:
        raise BadRequestError("Quantity must be greater than 0")
    user = UserRepo(session).get(user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} not found")
    token = TokenRepo(session).get(token_id)
    sale = _offered_sale(session, token)
    assert token is not None  # _offered_sale refuses None
    if token.kyc_required and not user.kyc_verified:
        raise AccessDeniedError("KYC verification is required to purchase this token")
    try:
        base_units = parse_amount(quantity, token.decimals)
    except AmountError as exc:
        raise BadRequestError(str(exc)) from None
    bundles, rest = divmod(base_units, sale.bundle_amount)
    if rest or bundles == 0:
        raise BadRequestError(
            "Quantity must be a whole number of bundles of "
            f"{format_amount(sale.bundle_amount, token.decimals)} {token.symbol}"
        )
    _check_limits(token, base_units)
    if bundles > sale.available_bundle_quantity:
        raise UnprocessableError(
            "Insufficient token supply available: "
            f"{format_amount(sale.available_bundle_quantity * sale.bundle_amount, token.decimals)}"
            f" {token.symbol} left"
        )
    amount = _price(ctx, sale, bundles)
    wallet = wallet_of(ctx, session, user.id)
    short = wallet_value(ctx, wallet.address).shortfall(amount.value)
    if short:
        lacking = ", ".join(f"{qty} {unit}" for unit, qty in sorted(short.items()))
        raise UnprocessableError(f"Insufficient funds: the wallet lacks {lacking}")
    return V2TransactionRepo(session).create(
        user_id=user.id,
        token_id=token.id,
        type=V2TxType.PRIMARY_PURCHASE,
        payload={
            "quantity": base_units,
            "bundles": bundles,
            "sale_id": sale.id,
            "quoted_currency_amount": amount.currency_amount,
            "currency": unit_of(amount.currency),
        },
        now=ctx.clock(),
    )


class PrimaryPurchaseHandler:
    """Builds the order transaction of a `primary_purchase` from the user's wallet."""

    def build(self, ctx: V2Context, tx: V2Transaction) -> BuiltTx:
        market = ctx.market
        with ctx.database.session() as session:
            stored = SaleRepo(session).get(uuid.UUID(str(tx.payload["sale_id"])))
            if stored is None:
                raise NotFoundError(f"sale {tx.payload['sale_id']} is no longer recorded")
            wallet = wallet_of(ctx, session, tx.user_id)
            key = signing_key(ctx, session, tx.user_id)
        amount = _price(ctx, stored.sale, int(tx.payload["bundles"]))
        order = build_order_transaction(
            OrderTransactionRequest(
                amount=amount,
                sale=stored.sale,
                config=market.config,
                utxos=ctx.chain.utxos_at(wallet.address),
                change_address=wallet.address,
                queue_address=market.addresses.queue,
                cash_register_address=market.addresses.cash_register,
                params=ctx.chain.protocol_parameters(),
                ttl=market.ttl_slot(),
            )
        )
        mandate = custodial_mandate(SigningKind.CUSTODIAL_ORDER, user=PaymentKey(key))
        return BuiltTx(order.balanced.cbor, mandate)

    def on_confirmed(self, ctx: V2Context, session: Session, tx: V2Transaction) -> None:
        details: dict[str, Any] = {
            "bundles": tx.payload.get("bundles"),
            "sale_id": tx.payload.get("sale_id"),
        }
        AuditLogRepo(session).record(
            actor=tx.user_id,
            action=AuditAction.PRIMARY_PURCHASE,
            now=ctx.clock(),
            token_id=tx.token_id,
            quantity=int(tx.payload["quantity"]),
            transaction_id=tx.id,
            tx_hash=tx.tx_hash,
            details=details,
        )

    def on_failed(self, ctx: V2Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Nothing was reserved: the order never reached the queue."""


def _offered_sale(session: Session, token: Token | None) -> Sale:
    if token is None or token.kind is not TokenKind.PRIMARY_OFFERING or token.sale_id is None:
        raise NotFoundError(NOT_ON_PRIMARY_MARKET)
    stored = SaleRepo(session).get(uuid.UUID(token.sale_id))
    if stored is None or stored.sale.status is not SaleStatus.STARTED:
        raise NotFoundError(f"{NOT_ON_PRIMARY_MARKET}: its sale is not running")
    return stored.sale


def _check_limits(token: Token, base_units: int) -> None:
    if base_units < token.min_purchase_quantity:
        raise UnprocessableError(
            "Quantity is below the minimum purchase quantity of "
            f"{format_amount(token.min_purchase_quantity, token.decimals)} {token.symbol}"
        )
    if token.max_purchase_quantity is not None and base_units > token.max_purchase_quantity:
        raise UnprocessableError(
            "Quantity is above the maximum purchase quantity of "
            f"{format_amount(token.max_purchase_quantity, token.decimals)} {token.symbol}"
        )


def _price(ctx: V2Context, sale: Sale, bundles: int) -> OrderAmount:
    """The order's amount at the oracle's current price (PricingError: 422)."""
    market = ctx.market
    return order_amount(sale, bundles, None, market.prices.current().price, market.config)


register(V2TxType.PRIMARY_PURCHASE.value, PrimaryPurchaseHandler())
