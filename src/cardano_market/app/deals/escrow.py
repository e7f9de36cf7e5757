"""What every settlement of a deal shares: the escrow key, the deal's escrow output (found on
chain, and recovered when a settlement applied on chain was lost before its commit), and signing
and submitting a settlement through the signing gate."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ...chain.base import ChainError, ChainHistory, SubmitError, TxState
from ...domain.address import payment_key_hash
from ...domain.cip30 import OutRef, Utxo
from ...store.audit import AuditAction, AuditLogRepo
from ...store.deals import Deal, DealRepo, EscrowRef
from ...store.tokens import Token, TokenRepo
from ...tx.deal import (
    DealTransaction,
    find_escrow,
)
from ..context import Context, EscrowKey
from ..errors import NotFoundError
from ..signing import Mandate
from .errors import (
    DealConflictError,
    SellingUnavailableError,
    SubmissionOutcomeUnknownError,
)

log = logging.getLogger("cardano_market.v2.deals")

ESCROW_OUTPUT_INDEX = 0
"""Where `build_escrow_lock` and a partial `build_deal_purchase` put the escrow output."""
SYSTEM_ACTOR = "secondary-market"
"""The audit actor of what no user asked for (a recovered trade)."""


def configured_escrow(ctx: Context) -> EscrowKey:
    if ctx.escrow is None:
        raise SellingUnavailableError("the secondary market has no escrow key configured")
    return ctx.escrow


def token_of(session: Session, token_id: str) -> Token:
    token = TokenRepo(session).get(token_id)
    if token is None:  # pragma: no cover - deals reference tokens by foreign key
        raise NotFoundError(f"Token {token_id} not found")
    return token


def current_escrow(
    ctx: Context,
    session: Session,
    deal: Deal,
    token: Token,
    *,
    reserved: int,
    adopt: bool = True,
) -> Utxo:
    """The locked deal's escrow UTxO, which must hold `remaining` plus what this settlement
    `reserved`. A recorded output that is gone means a settlement applied on chain was lost
    before its commit: the deal's output is found by following the spenders of the recorded one
    (`_successor_escrow`) and, with `adopt`, its reference and quantity are taken over (the trade
    is audited as recovered)."""
    expected = deal.remaining + reserved
    if deal.escrow is not None:
        ref = OutRef(bytes.fromhex(deal.escrow.tx_hash), deal.escrow.index)
        recorded = next(iter(ctx.backend.utxos_by_ref([ref])), None)
        if recorded is not None:
            held = recorded.value.quantity(token.asset)
            if held != expected:
                raise DealConflictError(
                    f"Deal {deal.id}'s escrow holds {held} base units, {expected} expected"
                )
            return recorded
    found = (
        _successor_escrow(ctx, deal.id, ref)
        if deal.escrow is not None
        else find_escrow(ctx.backend.utxos_at(configured_escrow(ctx).address), deal.id)
    )
    if found is None:
        log.error("deal %s: no escrow output on chain (recorded %s)", deal.id, deal.escrow)
        raise DealConflictError(f"Deal {deal.id} has no escrow output on chain")
    if not adopt:
        return found
    held = found.value.quantity(token.asset)
    if not reserved <= held <= expected:
        raise DealConflictError(
            f"Deal {deal.id}'s escrow holds {held} base units, {expected} expected"
        )
    _recover(ctx, session, deal, found, token, sold=expected - held)
    return found


_MAX_LOST_SETTLEMENTS = 16
"""How many unrecorded settlements in a row the escrow recovery follows."""


def _successor_escrow(ctx: Context, deal_id: int, spent: OutRef) -> Utxo | None:
    """The deal's escrow output now on chain, found by following the spenders of the recorded
    (now spent) one: only outputs of those transactions count, never any UTxO at the escrow
    address carrying the deal's datum (anyone can send one there)."""
    chain = ctx.backend
    if not isinstance(chain, ChainHistory):
        raise DealConflictError(
            f"Deal {deal_id}'s escrow was spent by a transaction this service did not record, "
            "and the chain backend cannot tell which"
        )
    escrow_address = configured_escrow(ctx).address
    ref = spent
    for _ in range(_MAX_LOST_SETTLEMENTS):
        spender = chain.spending_transaction(ref)
        if spender is None:
            return None  # spent by a transaction the backend does not show (yet)
        successor = find_escrow(
            (o for o in spender.outputs if o.address == escrow_address), deal_id
        )
        if successor is None:
            return None  # that transaction emptied the deal's escrow
        live = next(iter(ctx.backend.utxos_by_ref([successor.out_ref])), None)
        if live is not None:
            return live
        ref = successor.out_ref
    return None


def _recover(
    ctx: Context, session: Session, deal: Deal, found: Utxo, token: Token, *, sold: int
) -> None:
    """Adopt the escrow output found on chain; `sold` base units left it unrecorded."""
    log.warning(
        "deal %s: adopting escrow %s#%s (%s sold unrecorded)",
        deal.id,
        found.tx_hash.hex(),
        found.index,
        sold,
    )
    now = ctx.clock()
    repo = DealRepo(session)
    if sold:
        repo.reserve(deal.id, sold, now=now)
        AuditLogRepo(session).record(
            actor=SYSTEM_ACTOR,
            action=AuditAction.TRADE,
            now=now,
            deal_id=deal.id,
            token_id=token.id,
            quantity=sold,
            price_token_id=deal.price_token_id,
            tx_hash=found.tx_hash.hex(),
            details={"recovered": True},
        )
    ref = EscrowRef(tx_hash=found.tx_hash.hex(), index=found.index)
    repo.move_escrow(deal.id, escrow=ref, now=now)


def key_hashes(*addresses: bytes) -> list[bytes]:
    return [h for h in (payment_key_hash(a) for a in addresses) if h is not None]


def submit_settlement(ctx: Context, deal_tx: DealTransaction, mandate: Mandate) -> bool:
    """Sign through the signing gate, submit, and say whether it is on chain yet."""
    signed = ctx.gate.sign(deal_tx.cbor, mandate)
    try:
        ctx.backend.submit(signed)
    except SubmitError as exc:
        if exc.rule != "BadInputsUTxO":
            raise
        if _spent_by_another(ctx, deal_tx) is None:
            # The refused copy may have been a second one (an answer lost inside the backend's
            # own retry) and the first may land: never a 409, which frees the request's
            # Idempotency-Key for a second payment.
            if ctx.backend.tx_status(bytes.fromhex(deal_tx.tx_id)).state is TxState.UNKNOWN:
                raise SubmissionOutcomeUnknownError(
                    f"transaction {deal_tx.tx_id} was refused ({exc}) but its inputs are spent "
                    "by a transaction the chain backend does not show yet: it may have landed; "
                    "the deal is reconciled from the chain by its next settlement"
                ) from None
        else:
            raise DealConflictError(
                f"An input was spent meanwhile (a concurrent transaction): {exc}"
            ) from None
    status = ctx.backend.tx_status(bytes.fromhex(deal_tx.tx_id))
    return status.state is TxState.CONFIRMED


def _spent_by_another(ctx: Context, deal_tx: DealTransaction) -> bytes | None:
    """The id of another transaction that spent one of `deal_tx`'s inputs, if the chain
    backend tells (None: unspent, spent by `deal_tx` itself, or not shown)."""
    from ...ledger.parse import parse_transaction

    chain = ctx.backend
    if not isinstance(chain, ChainHistory):
        return None
    own = bytes.fromhex(deal_tx.tx_id)
    for ref in parse_transaction(deal_tx.cbor).inputs:
        try:
            spender = chain.spending_transaction(ref)
        except ChainError:
            return None
        if spender is not None and spender.tx_id != own:
            return spender.tx_id
    return None
