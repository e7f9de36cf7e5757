"""Sample v2 rows for the store tests: users, tokens, an active deal."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from store_samples import T0

from cardano_market.store.v2_records import Deal, EscrowRef, Token, TokenKind, User
from cardano_market.store.v2_repos import DealRepo, TokenRepo, UserRepo

SONG = (bytes.fromhex("aa" * 28), b"song-token")
USDT = (bytes.fromhex("bb" * 28), b"USDT")
ESCROW = EscrowRef(tx_hash="cd" * 32, index=0)
KEK = bytes(range(32))


def user(session: Session, **overrides: Any) -> User:
    return UserRepo(session).create(now=T0, **overrides)


def tokens(session: Session) -> tuple[Token, Token]:
    """(a song token sold on the secondary market, the USDT currency that prices it)."""
    repo = TokenRepo(session)
    song = repo.create(asset=SONG, symbol="SONG", decimals=0, kind=TokenKind.OTHER, now=T0)
    usdt = repo.create(asset=USDT, symbol="USDT", decimals=6, kind=TokenKind.CURRENCY, now=T0)
    return song, usdt


def active_deal(session: Session, *, quantity: int = 50, unit_price: int = 12_500_000) -> Deal:
    seller = user(session)
    song, usdt = tokens(session)
    repo = DealRepo(session)
    deal = repo.create(
        seller_id=seller.id,
        token_id=song.id,
        quantity=quantity,
        price_token_id=usdt.id,
        unit_price=unit_price,
        now=T0,
    )
    return repo.activate(deal.id, escrow=ESCROW, now=T0)
