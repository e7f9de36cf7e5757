"""Custodial users (the v2 admin routes): create one with its wallet, read one, set its KYC flag.

Each use case that changes something runs in the caller's unit of work (`session`), so an
idempotent request commits its answer with what it did.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..domain.values import Value
from ..store.users import CustodialWallet, User, UserRepo, UserRole
from .context import Context
from .custody import TokenBalance, balances, create_wallet, wallet_of
from .errors import ConflictError, NotFoundError


def user_of(session: Session, user_id: str) -> User:
    """The user `user_id`; NotFoundError (404) when there is none."""
    user = UserRepo(session).get(user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} not found")
    return user


def wallet_or_none(ctx: Context, session: Session, user_id: str) -> CustodialWallet | None:
    try:
        return wallet_of(ctx, session, user_id)
    except NotFoundError:
        return None


def create_user(
    ctx: Context,
    session: Session,
    *,
    user_id: str | None,
    role: UserRole,
    kyc_verified: bool,
) -> tuple[User, CustodialWallet]:
    """A new user (a new id unless `user_id` is given) with a new custodial wallet;
    ConflictError (409) when `user_id` exists already."""
    repo = UserRepo(session)
    if user_id is not None and repo.get(user_id) is not None:
        raise ConflictError(f"User {user_id.lower()} already exists")
    user = repo.create(now=ctx.clock(), role=role, kyc_verified=kyc_verified, user_id=user_id)
    return user, create_wallet(ctx, session, user.id)


def read_user(ctx: Context, user_id: str) -> tuple[User, CustodialWallet | None]:
    """The user and its wallet (None when it has none); NotFoundError (404)."""
    with ctx.database.session() as session:
        user = user_of(session, user_id)
        return user, wallet_or_none(ctx, session, user.id)


def set_kyc(
    ctx: Context, session: Session, user_id: str, verified: bool
) -> tuple[User, CustodialWallet | None]:
    """Set the user's KYC flag; the user as updated and its wallet. NotFoundError (404)."""
    user = user_of(session, user_id)
    updated = UserRepo(session).set_kyc(user.id, verified, now=ctx.clock())
    return updated, wallet_or_none(ctx, session, user.id)


def balances_of_user(
    ctx: Context, user_id: str
) -> tuple[User, CustodialWallet, Value, list[TokenBalance]]:
    """The user, its wallet, the wallet's whole value and one balance per token record;
    NotFoundError (404) for an unknown user or one without a wallet."""
    with ctx.database.session() as session:
        user = user_of(session, user_id)
        wallet, held, rows = balances(ctx, session, user.id)
    return user, wallet, held, rows
