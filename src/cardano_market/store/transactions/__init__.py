"""Transactions: the ones the v1 API issued unsigned (`issued.py`, table `issued_transactions`)
and the custodial ones the v2 worker builds, signs and submits (`custodial.py`, table
`v2_transactions`). Two tables, one concept; merging them is a later schema step."""

from .custodial import (
    TX_TRANSITIONS,
    WORKABLE,
    CustodialTransactionRow,
    V2Transaction,
    V2TransactionRepo,
    V2TxStatus,
    V2TxType,
)
from .issued import IssuedTransaction, IssuedTransactionRepo, IssuedTransactionRow, TxKind, TxStatus

__all__ = [
    "TX_TRANSITIONS",
    "WORKABLE",
    "CustodialTransactionRow",
    "IssuedTransaction",
    "IssuedTransactionRepo",
    "IssuedTransactionRow",
    "TxKind",
    "TxStatus",
    "V2Transaction",
    "V2TransactionRepo",
    "V2TxStatus",
    "V2TxType",
]
