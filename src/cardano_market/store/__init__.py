"""Persistent state: sales, pending orders and sales, issued transactions (SQLite or PostgreSQL).

Open a `Database` (migrations run at connect), take a unit of work with `Database.session()`,
and read or write through the repositories; they return immutable records, never ORM rows.
"""

from .db import DEFAULT_DATABASE_URL, Database, create_engine, current_revision, upgrade_database
from .records import (
    Criteria,
    IssuedTransaction,
    PendingOrder,
    PendingSale,
    SaleFilter,
    SaleTerms,
    StoredSale,
    TxKind,
    TxStatus,
)
from .repos import IssuedTransactionRepo, PendingOrderRepo, PendingSaleRepo, SaleRepo

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Criteria",
    "Database",
    "IssuedTransaction",
    "IssuedTransactionRepo",
    "PendingOrder",
    "PendingOrderRepo",
    "PendingSale",
    "PendingSaleRepo",
    "SaleFilter",
    "SaleRepo",
    "SaleTerms",
    "StoredSale",
    "TxKind",
    "TxStatus",
    "create_engine",
    "current_revision",
    "upgrade_database",
]
