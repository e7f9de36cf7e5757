"""The devnet's v2 world, put in the database at every start (idempotently): the seed's tokens
(`tokenIds`; a sale's bundle token is a primary offering sold from the seed's first sale of it,
the marketplace currency and ADA are currency tokens), its users with their KYC flags, each with
a custodial wallet holding the seed wallet's key (so the demo's funds are the user's), and a
devnet administrator.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ..domain.errors import DuplicateRecordError
from ..domain.values import ADA, AssetId
from ..store.tokens import TokenKind, TokenRepo
from ..store.users import CustodialWalletRepo, UserRepo, UserRole
from .context import Context
from .custody import create_wallet

log = logging.getLogger("cardano_market.v2.seeding")

DEVNET_ADMIN_ID = "ad0000000000000000000001"
"""The devnet's administrator (`cardano-market devnet token --admin`)."""
ADA_SYMBOL = "ADA"
ADA_DECIMALS = 6


def derived_id(label: str) -> str:
    """A stable 24-hex id for a devnet record the seed gives no id (ADA, unnamed tokens)."""
    return hashlib.blake2b(f"cardano-market devnet v2/{label}".encode(), digest_size=12).hexdigest()


def seed_v2(ctx: Context, seeded: Any) -> None:
    """Record `seeded` (a `chain.devnet.seed.SeedResult`) as v2 tokens, users and wallets;
    what exists already is left as it is (another process may be doing the same)."""
    seed = seeded.seed
    currency = ctx.config.currency
    offered: dict[AssetId, str] = {}
    for entry in seeded.sales:
        if entry.utxo is not None:
            offered.setdefault(entry.sale.bundle, entry.sale.id)
    _token(ctx, derived_id("token/ADA"), ADA, ADA_SYMBOL, ADA_DECIMALS, TokenKind.CURRENCY, None)
    for name, token in sorted(seed.tokens.items()):
        token_id = seeded.token_ids.get(name) or derived_id(f"token/{name}")
        sale_id = offered.get(token.asset)
        if sale_id is not None:
            kind = TokenKind.PRIMARY_OFFERING
        elif token.asset == currency:
            kind = TokenKind.CURRENCY
        else:
            kind = TokenKind.OTHER
        _token(ctx, token_id, token.asset, name, token.decimals, kind, sale_id)
    _user(ctx, DEVNET_ADMIN_ID, role=UserRole.ADMIN, kyc=True, wallet=None)
    for user in seeded.users:
        _user(ctx, user.id, role=UserRole.USER, kyc=user.kyc, wallet=seeded.wallets[user.wallet])


def _token(
    ctx: Context,
    token_id: str,
    asset: AssetId,
    symbol: str,
    decimals: int,
    kind: TokenKind,
    sale_id: str | None,
) -> None:
    with ctx.database.session() as session:
        repo = TokenRepo(session)
        if repo.get(token_id) is not None or repo.get_by_asset(asset) is not None:
            return
    try:
        with ctx.database.session() as session:
            TokenRepo(session).create(
                token_id=token_id,
                asset=asset,
                symbol=symbol[:32],
                decimals=decimals,
                kind=kind,
                sale_id=sale_id,
                now=ctx.clock(),
            )
    except DuplicateRecordError as exc:  # a concurrent start recorded it first
        log.debug("devnet token %s: %s", token_id, exc)


def _user(ctx: Context, user_id: str, *, role: UserRole, kyc: bool, wallet: Any) -> None:
    try:
        with ctx.database.session() as session:
            if UserRepo(session).get(user_id) is None:
                UserRepo(session).create(
                    now=ctx.clock(), role=role, kyc_verified=kyc, user_id=user_id
                )
        if wallet is None:
            return
        with ctx.database.session() as session:
            if CustodialWalletRepo(session).get(user_id) is None:
                create_wallet(ctx, session, user_id, key=wallet.payment_key, address=wallet.address)
    except DuplicateRecordError as exc:  # a concurrent start recorded it first
        log.debug("devnet user %s: %s", user_id, exc)
