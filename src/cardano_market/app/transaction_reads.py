"""Reading custodial transactions: one by id under its token (for its owner or an
administrator), and a user's, newest first, with the tokens they move."""

from __future__ import annotations

from ..security.jwt_auth import AccessDeniedError
from ..store.ids import parse_object_id
from ..store.tokens import Token, TokenRepo
from ..store.transactions import V2Transaction, V2TransactionRepo
from ..store.users import User
from .context import Context
from .errors import NotFoundError
from .users import user_of


def transaction_of_token(
    ctx: Context, token_id: str, transaction_id: str, *, reader_id: str, admin: bool
) -> tuple[V2Transaction, Token | None]:
    """The transaction and its token. NotFoundError (404) unless it exists under `token_id`;
    AccessDeniedError (403) unless `reader_id` is its user or `admin`."""
    with ctx.database.session() as session:
        tx = V2TransactionRepo(session).get(transaction_id)
        if tx is None or tx.token_id != parse_object_id(token_id):
            raise NotFoundError("Transaction not found for this token")
        if not admin and tx.user_id != reader_id:
            raise AccessDeniedError("Only its owner or an administrator may read it")
        return tx, TokenRepo(session).get(tx.token_id)


def transactions_of_user(
    ctx: Context, user_id: str, *, offset: int, limit: int
) -> tuple[User, list[V2Transaction], dict[str, Token]]:
    """The user, a page of its transactions (newest first) and every token by id;
    NotFoundError (404) for an unknown user."""
    with ctx.database.session() as session:
        user = user_of(session, user_id)
        txs = V2TransactionRepo(session).list_by_user(user.id, offset=offset, limit=limit)
        tokens = {t.id: t for t in TokenRepo(session).list(limit=10_000)}
    return user, txs, tokens
