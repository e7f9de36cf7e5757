"""The v2 secondary-market routes: sell, buy on the secondary market, delist, and the order book.

Bodies are read exactly: JSON numbers become Decimals (never binary floats) before they are
turned into base units, and every amount in an answer is rendered from base units with the
token's decimals. Errors carry each spec's `error` titles. Every POST honours `Idempotency-Key`.
The use cases are `app.deals`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...app.deals.buying import buy_from_deal
from ...app.deals.delisting import delist_deal
from ...app.deals.errors import DealClosedError, DealConflictError, SellingUnavailableError
from ...app.deals.listing import order_book, request_sell
from ...domain.amounts import AmountError, bounded_number, render_amount, render_quantity
from ...security.jwt_auth import Principal
from ...store.errors import IllegalTransitionError
from ...store.tokens import Token
from .auth import Context, CurrentPrincipal, authorize_owner
from .errors import V2Error, translate_errors
from .exact_json import V2JSONResponse, iso_utc
from .idempotency import Outcome, run_idempotent

router = APIRouter(tags=["v2 secondary market"])

BUY_TITLES = {404: "Deal not found", 409: "Deal conflict", 422: "Purchase not possible"}
SELL_TITLES = {404: "Resource not found", 422: "Insufficient token balance"}
DELIST_TITLES = {404: "Deal not found", 409: "Deal cannot be delisted"}
MAX_PAGE = 500


def _number(value: Any) -> Any:
    """A JSON number only: ints and (exactly parsed) decimals; strings, bools and floats are
    refused (a float here would mean the body was not read exactly)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a number")
    try:  # digits and exponent bounded before anything converts the number
        bounded_number(value, field="the number")
    except AmountError as exc:
        raise ValueError(str(exc).removeprefix("the number ")) from None
    return value


MAX_ID = 2**63 - 1
"""Ids are database integers: 1 .. 2^63 - 1."""


def _whole(value: Any) -> Any:
    """A JSON integer id (`13`, or `13.0` written as a decimal) in 1 .. `MAX_ID`."""
    value = _number(value)
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError("must be a whole number")
        if not 1 <= value <= MAX_ID:  # compared before int(): the exponent is bounded anyway
            raise ValueError(f"must be between 1 and {MAX_ID}")
        return int(value)
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"must be between 1 and {MAX_ID}")
    return value


Number = Annotated[Decimal | int, BeforeValidator(_number)]
Whole = Annotated[int, BeforeValidator(_whole)]


class SellBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quantity: Number
    price_id: str
    price_amount: Number


class BuyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quantity: Number
    deal_id: Whole


class DelistBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: Whole


_Body = TypeVar("_Body", bound=BaseModel)


def _schema(**properties: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (to keep numbers exact):
    an object with exactly these `name=json_type` properties, all required."""
    schema = {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in properties.items()},
        "required": list(properties),
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _read(request: Request, model: type[_Body], missing: str) -> _Body:
    """The request body as `model`, numbers parsed as Decimals; 400 naming the field."""
    raw = await request.body()  # bounded and nesting-checked at the edge (`service.edge`)
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise V2Error(400, "Invalid parameters", "body: not a JSON object") from None
    if not isinstance(data, dict):
        raise V2Error(400, "Invalid parameters", "body: not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error.get("loc", ())) or "body"
            if error.get("type") == "missing":
                raise V2Error(
                    400, "Invalid parameters", f"{missing} ({field} is missing)"
                ) from None
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{field}: {message}")
        raise V2Error(400, "Invalid parameters", "; ".join(problems)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


@contextmanager
def _deal_errors(titles: Mapping[int, str]) -> Iterator[None]:
    """The deal use cases' own errors, as the route's spec answers them."""
    try:
        yield
    except (DealConflictError, IllegalTransitionError) as exc:
        raise V2Error(409, titles.get(409, "Conflict"), str(exc)) from None
    except DealClosedError as exc:
        raise V2Error(409, titles.get(409, "Conflict"), str(exc)) from None
    except SellingUnavailableError as exc:
        raise V2Error(503, "Service unavailable", str(exc)) from None


def _money(base_units: int, token: Token) -> dict[str, Any]:
    return {
        "amount": render_amount(base_units, token.decimals),
        "decimal": token.decimals,
        "symbol": token.symbol,
    }


def _respond(
    request: Request,
    ctx: Any,
    principal: Principal,
    body: BaseModel,
    work: Any,
    titles: Mapping[int, str],
    *,
    submits_on_chain: bool = False,
) -> Response:
    def guarded(session: Session) -> Outcome:
        with _deal_errors(titles):
            result: Outcome = work(session)
            return result

    return run_idempotent(
        request, ctx, principal, body, guarded, titles=titles, submits_on_chain=submits_on_chain
    )


@router.post(
    "/v2/users/secondary-markets/users/{user_id}/tokens/{token_id}/sell",
    openapi_extra=_schema(quantity="number", price_id="string", price_amount="number"),
    response_class=V2JSONResponse,
)
async def sell(
    request: Request, user_id: str, token_id: str, principal: CurrentPrincipal, ctx: Context
) -> Response:
    """List `quantity` tokens at `price_amount` (per token, in the `price_id` currency); the
    escrow transaction is processed asynchronously: poll the returned `transaction_id`."""
    authorize_owner(principal, user_id, "Insufficient permissions to sell tokens")
    body = await _read(request, SellBody, "Quantity, price_id and price_amount are required")

    def work(session: Session) -> Outcome:
        tx = request_sell(
            ctx,
            session,
            user_id=user_id,
            token_id=token_id,
            quantity=body.quantity,
            price_id=body.price_id,
            price_amount=body.price_amount,
        )
        return Outcome({"transaction_id": tx.id}, transaction_id=tx.id)

    return await run_in_threadpool(_respond, request, ctx, principal, body, work, SELL_TITLES)


@router.post(
    "/v2/users/purchases/users/{user_id}/tokens/{token_id}/buy-on-secondary-market",
    openapi_extra=_schema(quantity="number", deal_id="integer"),
    response_class=V2JSONResponse,
)
async def buy_on_secondary_market(
    request: Request, user_id: str, token_id: str, principal: CurrentPrincipal, ctx: Context
) -> Response:
    """Buy `quantity` tokens from deal `deal_id`, settled on chain before the answer."""
    authorize_owner(principal, user_id, "Insufficient permissions to purchase tokens")
    body = await _read(request, BuyBody, "Quantity and deal_id are required")

    def work(session: Session) -> Outcome:
        bought = buy_from_deal(
            ctx,
            session,
            user_id=user_id,
            token_id=token_id,
            deal_id=body.deal_id,
            quantity=body.quantity,
        )
        deal, price = bought.deal, bought.price_token
        fees = bought.pricing
        data = {
            "purchase_id": bought.purchase_id,
            "user_id": bought.buyer_id,
            "token_id": bought.token.id,
            "deal_id": deal.id,
            "quantity": render_quantity(bought.quantity, bought.token.decimals),
            "unit_price": _money(deal.unit_price, price),
            "total_cost": _money(fees.total, price),
            "fees": {
                "platform_fee": _money(fees.platform_fee, price),
                "node_fee": _money(fees.node_fee, price),
            },
            "net_amount": _money(fees.net_amount, price),
            "seller_id": deal.seller_id,
            "seller_name": deal.seller_id,
            "status": "completed" if bought.confirmed else "submitted",
            "transaction_hash": bought.tx_hash,
            "purchase_date": iso_utc(bought.purchased_at),
            "estimated_delivery": iso_utc(bought.estimated_delivery),
        }
        return Outcome(
            {"success": True, "message": "Secondary market purchase successful", "data": data}
        )

    return await run_in_threadpool(
        _respond, request, ctx, principal, body, work, BUY_TITLES, submits_on_chain=True
    )


@router.post(
    "/v2/users/secondary-markets/users/{user_id}/tokens/{token_id}/delist",
    openapi_extra=_schema(deal_id="integer"),
    response_class=V2JSONResponse,
)
async def delist(
    request: Request, user_id: str, token_id: str, principal: CurrentPrincipal, ctx: Context
) -> Response:
    """Cancel the caller's deal and return its unsold tokens from escrow, on chain now."""
    authorize_owner(principal, user_id, "You can only delist your own deals")
    body = await _read(request, DelistBody, "Deal ID is required")

    def work(session: Session) -> Outcome:
        done = delist_deal(ctx, session, user_id=user_id, token_id=token_id, deal_id=body.deal_id)
        deal = done.deal
        data = {
            "deal_id": deal.id,
            "user_id": deal.seller_id,
            "token_id": deal.token_id,
            "quantity": render_quantity(deal.quantity, done.token.decimals),
            "remaining_quantity": render_quantity(deal.remaining, done.token.decimals),
            "price": _money(deal.unit_price, done.price_token),
            "status": "delisted",
            "transaction_hash": done.tx_hash,
            "delisted_at": iso_utc(done.delisted_at),
            "created_at": iso_utc(deal.created_at),
        }
        return Outcome({"success": True, "message": "Deal delisted successfully", "data": data})

    return await run_in_threadpool(
        _respond, request, ctx, principal, body, work, DELIST_TITLES, submits_on_chain=True
    )


@router.get(
    "/v2/secondary-markets/tokens/{token_id}/deals",
    response_class=V2JSONResponse,
)
def token_order_book(
    token_id: str,
    principal: CurrentPrincipal,
    ctx: Context,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    """The token's active deals, cheapest first per price currency."""
    del principal  # any authenticated user may read the order book
    with translate_errors({404: "Resource not found"}), ctx.database.session() as session:
        token, listings = order_book(session, token_id, offset=offset, limit=limit)
        deals = [
            {
                "deal_id": item.deal.id,
                "seller_id": item.deal.seller_id,
                "quantity": render_quantity(item.deal.quantity, token.decimals),
                "remaining_quantity": render_quantity(item.deal.remaining, token.decimals),
                "price": _money(item.deal.unit_price, item.price_token),
                "status": item.deal.status.value,
                "created_at": iso_utc(item.deal.created_at),
            }
            for item in listings
        ]
    body = {
        "success": True,
        "data": {"token_id": token.id, "symbol": token.symbol, "deals": deals},
    }
    return V2JSONResponse(body)
