"""Token records of the custodial API (the v2 admin routes): create, list and read them.

A token is an asset the platform deals in: a primary offering (sold from a marketplace sale), a
currency (what deals are priced in) or another token.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.orm import Session

from ..domain.amounts import AmountError, parse_amount
from ..domain.errors import DuplicateRecordError, StoreError
from ..domain.values import AssetId, unit_of
from ..store.sales import SaleRepo
from ..store.tokens import Token, TokenKind, TokenRepo
from .context import Context
from .errors import BadRequestError, ConflictError, NotFoundError


def create_token(
    ctx: Context,
    session: Session,
    *,
    token_id: str | None,
    asset: AssetId,
    symbol: str,
    decimals: int,
    kind: TokenKind,
    sale_id: uuid.UUID | None,
    min_purchase_quantity: Decimal | None,
    max_purchase_quantity: Decimal | None,
    kyc_required: bool,
) -> Token:
    """Record a token; the purchase limits are whole tokens (at least one base unit).

    BadRequestError (400) for a sale on a token that is not a primary offering, a sale that
    sells another asset, or a limit finer than the token's decimals; NotFoundError (404) for
    an unknown sale; ConflictError (409) when the id or the asset has a record already.
    """
    if kind is not TokenKind.PRIMARY_OFFERING and sale_id is not None:
        raise BadRequestError("sale_id: only a primary offering is sold from a sale")
    if sale_id is not None:
        stored = SaleRepo(session).get(sale_id)
        if stored is None:
            raise NotFoundError(f"Sale {sale_id} not found")
        if stored.sale.bundle != asset:
            raise BadRequestError(
                f"sale_id: sale {sale_id} sells {unit_of(stored.sale.bundle)}, not this token"
            )
    repo = TokenRepo(session)
    if (token_id is not None and repo.get(token_id) is not None) or (
        repo.get_by_asset(asset) is not None
    ):
        raise ConflictError("A token with this id or asset already exists")
    try:
        return repo.create(
            token_id=token_id,
            asset=asset,
            symbol=symbol,
            decimals=decimals,
            kind=kind,
            sale_id=sale_id,
            min_purchase_quantity=_base_units(min_purchase_quantity, decimals) or 1,
            max_purchase_quantity=_base_units(max_purchase_quantity, decimals),
            kyc_required=kyc_required,
            now=ctx.clock(),
        )
    except DuplicateRecordError as exc:
        raise ConflictError(str(exc)) from None
    except StoreError as exc:
        raise BadRequestError(str(exc)) from None


def list_tokens(ctx: Context, kind: TokenKind | None, *, offset: int, limit: int) -> list[Token]:
    with ctx.database.session() as session:
        return TokenRepo(session).list(kind, offset=offset, limit=limit)


def read_token(ctx: Context, token_id: str) -> Token:
    """The token; NotFoundError (404) when there is none."""
    with ctx.database.session() as session:
        token = TokenRepo(session).get(token_id)
    if token is None:
        raise NotFoundError(f"Token {token_id} not found")
    return token


def _base_units(value: Decimal | None, decimals: int) -> int | None:
    if value is None:
        return None
    try:
        units = parse_amount(value, decimals, field="purchase quantity")
    except AmountError as exc:
        raise BadRequestError(str(exc)) from None
    if units < 1:
        raise BadRequestError("purchase quantities must be positive")
    return units
