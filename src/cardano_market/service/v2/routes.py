"""The v2 custodial API's core routes: buying on the primary market, transaction status, a
user's balances and transactions, and the admin routes for users and tokens.

Every route needs a Bearer JWT (`auth`); a user's routes answer 403 for another user's id;
every POST honours `Idempotency-Key` (`idempotency`). Amounts are JSON numbers rendered
exactly from base units and the token's decimals (`domain.amounts`). The secondary market's
routes live in `secondary`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.orm import Session

from ...app import tokens as tokens_app
from ...app import users as users_app
from ...app.custodial_cancel import request_order_cancel
from ...app.primary import request_primary_purchase
from ...app.transaction_reads import transaction_of_token, transactions_of_user
from ...app.transactions import quantity_moved
from ...app.users import balances_of_user
from ...domain.address import encode_address
from ...domain.amounts import (
    AmountError,
    bounded_number,
    render_amount,
    render_quantity,
)
from ...domain.values import ADA, unit_of
from ...store.tokens import Token, TokenKind
from ...store.transactions import V2Transaction
from ...store.users import CustodialWallet, User, UserRole
from .auth import Context, CurrentAdmin, CurrentPrincipal, authorize_owner, authorize_user
from .errors import V2Error, translate_errors
from .exact_json import V2JSONResponse
from .idempotency import Outcome, run_idempotent
from .secondary import router as secondary_router

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
ERROR_EXAMPLES: dict[int | str, dict[str, Any]] = {
    status: {"description": error, "content": {"application/json": {"example": body}}}
    for status, error, body in (
        (400, "Invalid parameters", {"error": "Invalid parameters",
                                     "details": "Quantity must be greater than 0"}),
        (401, "Authentication required", {"error": "Authentication required"}),
        (403, "Access denied", {"error": "Access denied",
                                "details": "Insufficient permissions to purchase tokens"}),
        (404, "Resource not found", {"error": "Resource not found",
                                     "details": "Token not available for primary market purchase"}),
        (422, "Not possible", {"error": "Purchase not possible",
                               "details": "Insufficient token supply available"}),
    )
}  # fmt: skip


def _json_number(value: object) -> object:
    """A JSON number as an exact Decimal: strings and booleans are refused, floats read from
    their shortest repr (what the client wrote), never widened to binary fractions."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a number")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if len(number.as_tuple().digits) + max(int(number.as_tuple().exponent), 0) > 40:
        raise ValueError("is too large")
    try:
        bounded_number(number, field="the number")
    except AmountError as exc:
        raise ValueError(str(exc).removeprefix("the number ")) from None
    return number


JsonNumber = Annotated[Decimal, BeforeValidator(_json_number)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PrimaryPurchaseRequest(_Body):
    quantity: JsonNumber = Field(description="Tokens to buy (whole bundles)", examples=[10])


class OrderCancelRequest(_Body):
    output_index: int = Field(
        0, ge=0, lt=2**16, strict=True, description="The order's output in its transaction"
    )


class DevnetTokenRequest(_Body):
    user_id: str = Field(pattern=OBJECT_ID_PATTERN)
    admin: bool = False
    ttl_seconds: int = Field(3600, ge=1, le=86_400, strict=True)  # the JWT maximum lifetime


class CreateUserRequest(_Body):
    user_id: str | None = Field(None, pattern=OBJECT_ID_PATTERN, description="default: a new id")
    role: Literal["user", "admin"] = "user"
    kyc_verified: bool = False


class KycRequest(_Body):
    kyc_verified: bool


class CreateTokenRequest(_Body):
    token_id: str | None = Field(None, pattern=OBJECT_ID_PATTERN, description="default: a new id")
    policy_id: str = Field(pattern=r"^([0-9a-fA-F]{56})?$", description="hex; empty for ADA")
    asset_name: str = Field("", pattern=r"^([0-9a-fA-F]{2}){0,32}$", description="hex")
    symbol: str = Field(min_length=1, max_length=32)
    decimals: int = Field(ge=0, le=38, strict=True)
    kind: Literal["primary_offering", "currency", "other"]
    sale_id: uuid.UUID | None = Field(None, description="the sale a primary offering sells from")
    min_purchase_quantity: JsonNumber | None = Field(None, description="whole tokens")
    max_purchase_quantity: JsonNumber | None = Field(None, description="whole tokens")
    kyc_required: bool = False


users = APIRouter(prefix="/v2/users", tags=["v2 users"], responses=ERROR_EXAMPLES)
admin = APIRouter(prefix="/v2/admin", tags=["v2 admin"], responses=ERROR_EXAMPLES)


# -- primary market ---------------------------------------------------------------------------


@users.post(
    "/purchases/users/{user_id}/tokens/{token_id}/buy-on-primary-market",
    summary="Buy tokens from their primary offering (asynchronous: poll the transaction)",
    response_class=V2JSONResponse,
    responses={200: {"content": {"application/json": {"example": {
        "transaction_id": "6913872755654191dede37da"}}}}},
)  # fmt: skip
def buy_on_primary_market(
    user_id: Annotated[str, Path()],
    token_id: Annotated[str, Path()],
    body: PrimaryPurchaseRequest,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Context,
) -> Response:
    authorize_owner(principal, user_id, "Insufficient permissions to purchase tokens")

    def work(session: Session) -> Outcome:
        tx = request_primary_purchase(
            ctx, session, user_id=user_id, token_id=token_id, quantity=body.quantity
        )
        return Outcome({"transaction_id": tx.id}, transaction_id=tx.id)

    return run_idempotent(
        request, ctx, principal, body, work, titles={422: "Purchase not possible"}
    )


@users.post(
    "/purchases/users/{user_id}/orders/{order_tx_id}/cancel",
    summary="Cancel a queued order: its whole value back to the wallet (asynchronous: poll the "
    "transaction)",
    description="The order at `order_tx_id#output_index` must sit in the queue (404) and belong "
    "to the user's custodial wallet (403). The worker builds, signs and submits the QueueCancel "
    "transaction; the wallet pays its fee. The transaction is recorded under the token the order "
    "buys and listed with the user's transactions.",
    response_class=V2JSONResponse,
    responses={200: {"content": {"application/json": {"example": {
        "transaction_id": "6913872755654191dede37db"}}}}},
)  # fmt: skip
def cancel_order(
    user_id: Annotated[str, Path()],
    order_tx_id: Annotated[str, Path()],
    request: Request,
    principal: CurrentPrincipal,
    ctx: Context,
    body: OrderCancelRequest | None = None,
) -> Response:
    authorize_owner(principal, user_id, "Insufficient permissions to cancel orders")
    terms = body or OrderCancelRequest(output_index=0)
    v1 = getattr(request.app.state, "v1", None)
    refs = None if v1 is None else v1.cancel_desk().refs

    def work(session: Session) -> Outcome:
        tx = request_order_cancel(
            ctx,
            session,
            refs,
            user_id=user_id,
            order_tx_id=order_tx_id,
            output_index=terms.output_index,
        )
        return Outcome({"transaction_id": tx.id}, transaction_id=tx.id)

    return run_idempotent(
        request, ctx, principal, terms, work, titles={422: "Cancellation not possible"}
    )


# -- transactions -----------------------------------------------------------------------------


@admin.get(
    "/tokens/{token_id}/transactions/{transaction_id}",
    summary="A custodial transaction's status (administrators and the owning user)",
    response_class=V2JSONResponse,
)
def get_transaction(
    token_id: Annotated[str, Path()],
    transaction_id: Annotated[str, Path()],
    principal: CurrentPrincipal,
    ctx: Context,
) -> Response:
    with translate_errors():
        tx, token = transaction_of_token(
            ctx, token_id, transaction_id, reader_id=principal.user_id, admin=principal.is_admin
        )
    return V2JSONResponse(transaction_view(tx, token))


@users.get(
    "/{user_id}/transactions",
    summary="A user's custodial transactions, newest first",
    response_class=V2JSONResponse,
)
def list_user_transactions(
    user_id: Annotated[str, Path()],
    principal: CurrentPrincipal,
    ctx: Context,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    authorize_user(principal, user_id, "You can only read your own transactions")
    with translate_errors():
        user, txs, tokens = transactions_of_user(ctx, user_id, offset=offset, limit=limit)
    return V2JSONResponse(
        {
            "user_id": user.id,
            "offset": offset,
            "limit": limit,
            "transactions": [transaction_view(tx, tokens.get(tx.token_id)) for tx in txs],
        }
    )


@users.get(
    "/{user_id}/balances",
    summary="What a user's custodial wallet holds, per token (base units and whole tokens)",
    response_class=V2JSONResponse,
)
def get_balances(
    user_id: Annotated[str, Path()], principal: CurrentPrincipal, ctx: Context
) -> Response:
    authorize_user(principal, user_id, "You can only read your own balances")
    with translate_errors():
        user, wallet, held, rows = balances_of_user(ctx, user_id)
    return V2JSONResponse(
        {
            "user_id": user.id,
            "wallet_address": encode_address(wallet.address),
            "lovelace": held.coin,
            "balances": [
                {
                    "token_id": row.token.id,
                    "symbol": row.token.symbol,
                    "unit": unit_of(row.token.asset),
                    "decimals": row.token.decimals,
                    "quantity": row.quantity,
                    "amount": render_amount(row.quantity, row.token.decimals),
                    "listed_quantity": row.listed,
                    "listed_amount": render_amount(row.listed, row.token.decimals),
                }
                for row in rows
            ],
        }
    )


# -- admin: users and tokens ------------------------------------------------------------------


@admin.post(
    "/users",
    status_code=201,
    summary="Create a user (with a new custodial wallet)",
    response_class=V2JSONResponse,
)
def create_user(
    body: CreateUserRequest, request: Request, principal: CurrentAdmin, ctx: Context
) -> Response:
    def work(session: Session) -> Outcome:
        user, wallet = users_app.create_user(
            ctx,
            session,
            user_id=body.user_id,
            role=UserRole(body.role),
            kyc_verified=body.kyc_verified,
        )
        return Outcome(user_view(user, wallet), status_code=201)

    return run_idempotent(request, ctx, principal, body, work)


@admin.get("/users/{user_id}", summary="Read a user", response_class=V2JSONResponse)
def get_user(user_id: Annotated[str, Path()], _admin: CurrentAdmin, ctx: Context) -> Response:
    with translate_errors():
        user, wallet = users_app.read_user(ctx, user_id)
    return V2JSONResponse(user_view(user, wallet))


@admin.post("/users/{user_id}/kyc", summary="Set a user's KYC flag", response_class=V2JSONResponse)
def set_kyc(
    user_id: Annotated[str, Path()],
    body: KycRequest,
    request: Request,
    principal: CurrentAdmin,
    ctx: Context,
) -> Response:
    def work(session: Session) -> Outcome:
        user, wallet = users_app.set_kyc(ctx, session, user_id, body.kyc_verified)
        return Outcome(user_view(user, wallet))

    return run_idempotent(request, ctx, principal, body, work)


@admin.post("/tokens", status_code=201, summary="Create a token", response_class=V2JSONResponse)
def create_token(
    body: CreateTokenRequest, request: Request, principal: CurrentAdmin, ctx: Context
) -> Response:
    def work(session: Session) -> Outcome:
        token = tokens_app.create_token(
            ctx,
            session,
            token_id=body.token_id,
            asset=(bytes.fromhex(body.policy_id), bytes.fromhex(body.asset_name)),
            symbol=body.symbol,
            decimals=body.decimals,
            kind=TokenKind(body.kind),
            sale_id=body.sale_id,
            min_purchase_quantity=body.min_purchase_quantity,
            max_purchase_quantity=body.max_purchase_quantity,
            kyc_required=body.kyc_required,
        )
        return Outcome(token_view(token), status_code=201)

    return run_idempotent(request, ctx, principal, body, work)


@admin.get("/tokens", summary="List tokens", response_class=V2JSONResponse)
def list_tokens(
    _admin: CurrentAdmin,
    ctx: Context,
    kind: Literal["primary_offering", "currency", "other"] | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Response:
    with translate_errors():
        tokens = tokens_app.list_tokens(
            ctx, None if kind is None else TokenKind(kind), offset=offset, limit=limit
        )
    return V2JSONResponse({"tokens": [token_view(t) for t in tokens]})


@admin.get("/tokens/{token_id}", summary="Read a token", response_class=V2JSONResponse)
def get_token(token_id: Annotated[str, Path()], _admin: CurrentAdmin, ctx: Context) -> Response:
    with translate_errors():
        token = tokens_app.read_token(ctx, token_id)
    return V2JSONResponse(token_view(token))


# -- views ------------------------------------------------------------------------------------


def user_view(user: User, wallet: CustodialWallet | None) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "role": user.role.value,
        "kyc_verified": user.kyc_verified,
        "wallet_address": None if wallet is None else encode_address(wallet.address),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def token_view(token: Token) -> dict[str, Any]:
    limit = token.max_purchase_quantity
    return {
        "token_id": token.id,
        "policy_id": token.asset[0].hex(),
        "asset_name": token.asset[1].hex(),
        "unit": unit_of(token.asset) if token.asset != ADA else "lovelace",
        "symbol": token.symbol,
        "decimals": token.decimals,
        "kind": token.kind.value,
        "sale_id": token.sale_id,
        "min_purchase_quantity": render_quantity(token.min_purchase_quantity, token.decimals),
        "max_purchase_quantity": None if limit is None else render_quantity(limit, token.decimals),
        "kyc_required": token.kyc_required,
        "created_at": token.created_at,
        "updated_at": token.updated_at,
    }


def transaction_view(tx: V2Transaction, token: Token | None) -> dict[str, Any]:
    """Status, type, hash, failure reason and timestamps (`quantity` in whole tokens)."""
    quantity = quantity_moved(tx)
    rendered = None
    if quantity is not None and token is not None:
        rendered = render_quantity(quantity, token.decimals)
    return {
        "transaction_id": tx.id,
        "type": tx.type.value,
        "status": tx.status.value,
        "user_id": tx.user_id,
        "token_id": tx.token_id,
        "deal_id": tx.deal_id,
        "quantity": rendered,
        "tx_hash": tx.tx_hash,
        "failure_reason": tx.failure_reason,
        "created_at": tx.created_at,
        "updated_at": tx.updated_at,
        "submitted_at": tx.submitted_at,
        "completed_at": tx.finished_at,
    }


def v2_routers() -> list[APIRouter]:
    """The core routers, then the secondary market's."""
    return [users, admin, secondary_router]


def devnet_token_router() -> APIRouter:
    """`POST /devnet/token`: a Bearer token for a devnet user (the demo's login)."""
    router = APIRouter(prefix="/devnet", tags=["devnet"])

    @router.post("/token", summary="A JWT for a devnet user (devnet only)")
    def devnet_token(body: DevnetTokenRequest, ctx: Context) -> dict[str, str]:
        verifier = ctx.verifier
        if verifier is None or not ctx.devnet:  # pragma: no cover - mounted on the devnet only
            raise V2Error(404, "Resource not found")
        token = verifier.issue_token(body.user_id, admin=body.admin, ttl_seconds=body.ttl_seconds)
        return {"token": token, "token_type": "Bearer"}

    return router


__all__ = [
    "admin",
    "devnet_token_router",
    "token_view",
    "transaction_view",
    "user_view",
    "users",
    "v2_routers",
]
