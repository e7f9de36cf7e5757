"""POST /v1/cardano/submitTx: submit a signed transaction, or splice a wallet's witness set into a
transaction this service issued, and submit that. Idempotent for the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.errors import CborError
from ..store.records import IssuedTransaction, TxStatus
from ..store.repos import IssuedTransactionRepo
from ..tx.witness import splice_witnesses, transaction_id
from .errors import BadRequestError, NotFoundError
from .runtime import Marketplace

CoSigner = Callable[[IssuedTransaction, bytes], bytes]
"""Adds the operator's witnesses to a signed transaction of a kind that needs them (sale start,
whose hot key and collateral key must sign); returns the transaction unchanged otherwise."""


@dataclass(frozen=True, slots=True)
class Submitted:
    tx_id: str
    resubmitted: bool
    """False when this exact transaction had been submitted before (nothing was sent again)."""


class TransactionSubmitter:
    def __init__(self, market: Marketplace, co_signer: CoSigner | None = None) -> None:
        self._market = market
        self._co_signer = co_signer

    def submit_signed(self, cbor_hex: str) -> Submitted:
        """Submit a whole signed transaction (ours or not)."""
        tx = _hex("cborHex", cbor_hex)
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
        witnesses = _hex("witnessSetCborHex", witness_set_cbor_hex)
        with self._market.database.session() as session:
            issued = IssuedTransactionRepo(session).get(tx_id)
        if issued is None:
            raise NotFoundError(f"Transaction {tx_id} was not issued by this service")
        return self._submit(issued.tx_id, splice_witnesses(issued.cbor, witnesses), issued)

    def _submit(self, tx_id: str, tx: bytes, issued: IssuedTransaction | None) -> Submitted:
        market = self._market
        if issued is not None and self._co_signer is not None:
            tx = self._co_signer(issued, tx)
        if issued is not None and issued.status in (TxStatus.SUBMITTED, TxStatus.CONFIRMED):
            return Submitted(tx_id, resubmitted=False)
        market.backend.submit(tx)
        if issued is not None:
            with market.database.session() as session:
                IssuedTransactionRepo(session).mark_submitted(
                    tx_id, signed_cbor=tx, now=market.clock()
                )
        return Submitted(tx_id, resubmitted=True)


def _hex(field: str, text: str) -> bytes:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise BadRequestError(f"{field} is not hexadecimal") from None
    if not data:
        raise BadRequestError(f"{field} is empty")
    return data
