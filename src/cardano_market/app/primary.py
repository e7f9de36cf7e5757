"""Buying on the primary market for a custodial user: check the request now, build later.

`request_primary_purchase` checks what can be checked at once (the token is on sale, KYC, a whole
number of bundles, the purchase limits, the sale's supply, the wallet's funds at today's price)
and stores a `primary_purchase` transaction. The worker then builds the order transaction with
the v1 order builder (`tx.order`) from the user's wallet, signs it with the user's key and
submits it; once it is on chain the transaction is `completed`. The order then waits in the
queue until a batcher fills it (tokens to the user) or refunds it: that is the protocol's
settlement, outside this transaction's life.

Never more than agreed: the request stores the currency amount it quoted and the most the worker
may pay (`max_currency_amount`: the quote plus the configured slippage, rounded down). At build
time the worker prices the order again and checks again what the request checked (the user's
KYC, the token still on the primary market, the sale still started with the supply, the
purchase limits); if the price moved beyond the maximum, or any check no longer holds, the
transaction fails with that reason (`price moved: quoted X, now Y`) and nothing is signed or paid.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from ..domain.amounts import AmountError, format_amount, parse_amount
from ..domain.keys import PaymentKey
from ..domain.pricing import OrderAmount, order_amount
from ..domain.sale import Sale, SaleStatus
from ..domain.values import unit_of
from ..security.jwt_auth import AccessDeniedError
from ..store.audit import AuditAction, AuditLogRepo
from ..store.sales import SaleRepo
from ..store.tokens import Token, TokenKind, TokenRepo
from ..store.transactions import V2Transaction, V2TransactionRepo, V2TxType
from ..store.users import User, UserRepo
from ..tx.order import OrderTransactionRequest, build_order_transaction
from .context import Context
from .custodial_tx import BuiltTx, RefusedError
from .custody import signing_key, wallet_of, wallet_value
from .errors import BadRequestError, NotFoundError, UnprocessableError
from .payloads import PrimaryPurchasePayload
from .signing import SigningKind, custodial_mandate

NOT_ON_PRIMARY_MARKET = "Token not available for primary market purchase"


def request_primary_purchase(
    ctx: Context, session: Session, *, user_id: str, token_id: str, quantity: Decimal | int
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
    _check_kyc(token, user)
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
    _check_supply(token, sale, bundles)
    amount = _price(ctx, sale, bundles)
    wallet = wallet_of(ctx, session, user.id)
    short = wallet_value(ctx, wallet.address).shortfall(amount.value)
    if short:
        lacking = ", ".join(f"{qty} {unit}" for unit, qty in sorted(short.items()))
        raise UnprocessableError(f"Insufficient funds: the wallet lacks {lacking}")
    slippage = ctx.price_slippage_percentage
    return V2TransactionRepo(session).create(
        user_id=user.id,
        token_id=token.id,
        type=V2TxType.PRIMARY_PURCHASE,
        payload=PrimaryPurchasePayload(
            quantity=base_units,
            bundles=bundles,
            sale_id=sale.id,
            quoted_currency_amount=amount.currency_amount,
            max_currency_amount=max_amount(amount.currency_amount, slippage),
            slippage_percentage=slippage,
            currency=unit_of(amount.currency),
        ).to_json(),
        now=ctx.clock(),
    )


def max_amount(quoted: int, slippage_percentage: Fraction) -> int:
    """The most a buyer quoted `quoted` pays: `quoted * (100 + slippage) / 100`, rounded down
    (never more than agreed)."""
    if slippage_percentage < 0:
        raise ValueError(f"slippage must not be negative, got {slippage_percentage}")
    scaled = quoted * (100 + slippage_percentage) / 100
    return int(scaled.numerator // scaled.denominator)


class PriceMovedError(RefusedError):
    """The oracle price moved beyond the quote (and its slippage) between request and build."""


class PrimaryPurchaseHandler:
    """Builds the order transaction of a `primary_purchase` from the user's wallet."""

    def build(self, ctx: Context, tx: V2Transaction) -> BuiltTx:
        """The order transaction, if the request's terms still hold: RefusedError (the
        transaction fails with its message, nothing is signed) otherwise."""
        market = ctx
        payload = PrimaryPurchasePayload.from_json(tx.payload)
        with ctx.database.session() as session:
            sale = _terms_still_hold(session, tx, payload)
            wallet = wallet_of(ctx, session, tx.user_id)
            amount = _price(ctx, sale, payload.bundles)
            _check_price(session, payload, amount)
            key = signing_key(ctx, session, tx.user_id)
        order = build_order_transaction(
            OrderTransactionRequest(
                amount=amount,
                sale=sale,
                config=market.config,
                utxos=ctx.backend.utxos_at(wallet.address),
                change_address=wallet.address,
                queue_address=market.addresses.queue,
                cash_register_address=market.addresses.cash_register,
                params=ctx.backend.protocol_parameters(),
                ttl=market.ttl_slot(),
            )
        )
        mandate = custodial_mandate(SigningKind.CUSTODIAL_ORDER, user=PaymentKey(key))
        return BuiltTx(order.balanced.cbor, mandate)

    def on_confirmed(self, ctx: Context, session: Session, tx: V2Transaction) -> None:
        payload = PrimaryPurchasePayload.from_json(tx.payload)
        details: dict[str, Any] = {"bundles": payload.bundles, "sale_id": payload.sale_id}
        AuditLogRepo(session).record(
            actor=tx.user_id,
            action=AuditAction.PRIMARY_PURCHASE,
            now=ctx.clock(),
            token_id=tx.token_id,
            quantity=payload.quantity,
            transaction_id=tx.id,
            tx_hash=tx.tx_hash,
            details=details,
        )

    def on_failed(self, ctx: Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Nothing was reserved: the order never reached the queue."""


def _offered_sale(session: Session, token: Token | None) -> Sale:
    if token is None or token.kind is not TokenKind.PRIMARY_OFFERING or token.sale_id is None:
        raise NotFoundError(NOT_ON_PRIMARY_MARKET)
    stored = SaleRepo(session).get(token.sale_id)
    if stored is None or stored.sale.status is not SaleStatus.STARTED:
        raise NotFoundError(f"{NOT_ON_PRIMARY_MARKET}: its sale is not running")
    return stored.sale


def _check_kyc(token: Token, user: User) -> None:
    if token.kyc_required and not user.kyc_verified:
        raise AccessDeniedError("KYC verification is required to purchase this token")


def _check_supply(token: Token, sale: Sale, bundles: int) -> None:
    if bundles > sale.available_bundle_quantity:
        raise UnprocessableError(
            "Insufficient token supply available: "
            f"{format_amount(sale.available_bundle_quantity * sale.bundle_amount, token.decimals)}"
            f" {token.symbol} left"
        )


def _terms_still_hold(session: Session, tx: V2Transaction, payload: PrimaryPurchasePayload) -> Sale:
    """The request's checks again, at build time (an admin may have revoked the user's KYC,
    moved the token off the primary market or changed its limits; the sale may have ended or
    sold out meanwhile): the sale, or RefusedError naming what no longer holds."""
    user = UserRepo(session).get(tx.user_id)
    token = TokenRepo(session).get(tx.token_id)
    try:
        if user is None:
            raise NotFoundError(f"User {tx.user_id} not found")
        sale = _offered_sale(session, token)
        assert token is not None  # _offered_sale refuses None
        if sale.id != payload.sale_id:
            raise NotFoundError(f"{NOT_ON_PRIMARY_MARKET}: it is now offered by another sale")
        _check_kyc(token, user)
        _check_limits(token, payload.quantity)
        _check_supply(token, sale, payload.bundles)
    except (NotFoundError, AccessDeniedError, UnprocessableError) as exc:
        raise RefusedError(f"the purchase no longer holds: {exc}") from None
    return sale


def _check_price(session: Session, payload: PrimaryPurchasePayload, amount: OrderAmount) -> None:
    """RefusedError when the order now costs more currency than the request allowed."""
    quoted = payload.quoted_currency_amount
    allowed = payload.max_currency_amount
    if amount.currency_amount <= allowed:
        return
    token = TokenRepo(session).get_by_asset(amount.currency)

    def shown(base_units: int) -> str:
        if token is None:
            return f"{base_units} {unit_of(amount.currency) or 'lovelace'}"
        return f"{format_amount(base_units, token.decimals)} {token.symbol}"

    limit = "" if allowed == quoted else f" (at most {shown(allowed)} with the slippage)"
    raise PriceMovedError(
        f"price moved: quoted {shown(quoted)}, now {shown(amount.currency_amount)}{limit}"
    )


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


def _price(ctx: Context, sale: Sale, bundles: int) -> OrderAmount:
    """The order's amount at the oracle's current price (PricingError: 422)."""
    market = ctx
    return order_amount(sale, bundles, None, market.prices.current().price, market.config)

