"""POST /v1/cardano/submitTx: submit a signed transaction, or splice a wallet's witness set into a
transaction this service issued, and submit that. Idempotent for the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.errors import CborError
from ..ledger.parse import transaction_id
from ..ledger.witness import splice_witnesses
from ..store.transactions import IssuedTransaction, IssuedTransactionRepo, TxKind, TxStatus
from .context import Context
from .errors import BadRequestError, ChainUnavailableError, NotFoundError, UnprocessableError
from .signing import Mandate

MandateSource = Callable[[IssuedTransaction], Mandate]
"""What the operator's keys may sign for an issued transaction of a co-signed kind
(`SaleDesk.mandate_for`); the signing gate checks the transaction against it before signing."""

CO_SIGNED_KINDS = frozenset({TxKind.SALE_START, TxKind.SALE_END})
"""The issued kinds the operator co-signs at submitTx (orders and cancels: the wallet alone)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    tx_id: str
    resubmitted: bool
    """False when this exact transaction had been submitted before (nothing was sent again)."""


class TransactionSubmitter:
    def __init__(self, market: Context, mandates: MandateSource | None = None) -> None:
        self._market = market
        self._mandates = mandates

    def issued_cbor(self, tx_id: str) -> bytes | None:
        """The bytes of the transaction this service issued as `tx_id` (None: not ours)."""
        with self._market.database.session() as session:
            issued = IssuedTransactionRepo(session).get(tx_id)
        return None if issued is None else bytes(issued.cbor)

    def submit_signed(self, cbor_hex: str) -> Submitted:
        """Submit a whole signed transaction (ours or not)."""
        tx = hex_field("cborHex", cbor_hex)
        try:
            tx_id = transaction_id(tx).hex()
        except CborError as exc:
            raise BadRequestError(f"cborHex: {exc}") from None
        with self._market.database.session() as session:
            issued = IssuedTransactionRepo(session).get(tx_id)
        if issued is not None:
            # A wallet that returned the whole transaction: keep our exact body, take its
            # witnesses (splicing verifies each signature and refuses another body).
            tx = splice_witnesses(issued.cbor, tx)
        return self._submit(tx_id, tx, issued)

    def submit_witnesses(self, tx_id: str, witness_set_cbor_hex: str) -> Submitted:
        """Splice a CIP-30 `signTx` result into the transaction issued as `tx_id`, then submit."""
        witnesses = hex_field("witnessSetCborHex", witness_set_cbor_hex)
        with self._market.database.session() as session:
            issued = IssuedTransactionRepo(session).get(tx_id)
        if issued is None:
            raise NotFoundError(f"Transaction {tx_id} was not issued by this service")
        return self._submit(issued.tx_id, splice_witnesses(issued.cbor, witnesses), issued)

    def _submit(self, tx_id: str, tx: bytes, issued: IssuedTransaction | None) -> Submitted:
        market = self._market
        if issued is None:
            market.backend.submit(tx)  # not ours (SUBMIT_RELAY=true): relayed, never co-signed
            return Submitted(tx_id, resubmitted=True)
        if issued.status in (TxStatus.SUBMITTED, TxStatus.CONFIRMED):
            return Submitted(tx_id, resubmitted=False)  # nothing signed or sent again
        mandate = self._co_sign_mandate(issued)
        with market.database.session() as session:
            repo = IssuedTransactionRepo(session)
            # Held until the end of the block: concurrent submits of one transaction queue here,
            # so the operator co-signs it once, for the one request that submits it.
            current = repo.lock(tx_id)
            if current is None:  # pragma: no cover - issued transactions are never deleted
                raise NotFoundError(f"Transaction {tx_id} was not issued by this service")
            if current.status in (TxStatus.SUBMITTED, TxStatus.CONFIRMED):
                return Submitted(tx_id, resubmitted=False)
            if current.status is not TxStatus.ISSUED:
                raise UnprocessableError(f"Transaction {tx_id} is {current.status}: not submitted")
            if mandate is not None:
                tx = market.gate.sign(tx, mandate)  # inputs read from the chain again, now
            market.backend.submit(tx)
            repo.mark_submitted(tx_id, signed_cbor=tx, now=market.clock())
        return Submitted(tx_id, resubmitted=True)

    def _co_sign_mandate(self, issued: IssuedTransaction) -> Mandate | None:
        """What the operator's keys may sign for `issued`; None for kinds it never co-signs."""
        if issued.kind not in CO_SIGNED_KINDS:
            return None
        if self._mandates is None:
            raise ChainUnavailableError(
                f"Transaction {issued.tx_id} needs the operator's signature, and the operator's "
                "keys are not configured"
            )
        return self._mandates(issued)


def hex_field(field: str, text: str) -> bytes:
    """The bytes of a hex request field; BadRequestError (400) naming it when not hex or empty."""
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise BadRequestError(f"{field} is not hexadecimal") from None
    if not data:
        raise BadRequestError(f"{field} is empty")
    return data
