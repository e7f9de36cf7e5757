"""Sample custody rows for the store tests: users, tokens, an active deal, pending transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from store_samples import T0, later

from cardano_market.store.db import Database
from cardano_market.store.deals import Deal, DealRepo, EscrowRef
from cardano_market.store.tokens import Token, TokenKind, TokenRepo
from cardano_market.store.transactions import V2TransactionRepo, V2TxType
from cardano_market.store.users import User, UserRepo

SONG = (bytes.fromhex("aa" * 28), b"song-token")
USDT = (bytes.fromhex("bb" * 28), b"USDT")
ESCROW = EscrowRef(tx_hash="cd" * 32, index=0)
KEK = bytes(range(32))
HUGE = 2**64 - 1  # a token quantity beyond BigInteger's range
TX_HASH = "ef" * 32


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


def pending_transactions(db: Database, count: int = 1) -> list[str]:
    """`count` pending secondary purchases of one active deal, by one buyer, oldest first."""
    with db.session() as session:
        buyer = user(session)
        deal = active_deal(session)
        repo = V2TransactionRepo(session)
        return [
            repo.create(
                user_id=buyer.id,
                token_id=deal.token_id,
                type=V2TxType.SECONDARY_PURCHASE,
                payload={"quantity": 10, "deal_id": deal.id, "big": HUGE},
                deal_id=deal.id,
                now=later(n),
            ).id
            for n in range(count)
        ]
