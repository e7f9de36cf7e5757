"""Persistent state, one module per concept (SQLite or PostgreSQL).

sales (and pending sales), quotes (pending orders), orders (queue orders, purchases, a wallet's
order list), transactions (issued v1 and custodial v2), users (and custodial wallets), tokens,
deals, audit, idempotency, and the chain monitor's memory (monitor). Open a `Database`
(migrations run at connect), take a unit of work with `Database.session()`, and read or write
through the repositories; they return immutable records, never ORM rows. The store never
encrypts: custodial signing keys go in and come out sealed (`users.SealedKey`).

Importing the package registers every table on `schema.Base.metadata`.
"""

from .audit import AuditAction, AuditEntry, AuditLogRepo
from .db import DEFAULT_DATABASE_URL, Database, create_engine, current_revision, upgrade_database
from .deals import Deal, DealRepo, DealStatus, EscrowRef
from .idempotency import IdempotencyRepo, StoredResponse
from .monitor import MonitorStateRepo
from .orders import ChainPoint, NewOrder, Order, OrderRepo, OrderState, Purchase
from .quotes import PendingOrder, PendingOrderRepo
from .sales import (
    Criteria,
    PendingSale,
    PendingSaleRepo,
    SaleFilter,
    SaleRepo,
    SaleTerms,
    StoredSale,
)
from .tokens import Token, TokenKind, TokenRepo
from .transactions import (
    IssuedTransaction,
    IssuedTransactionRepo,
    TxKind,
    TxStatus,
    V2Transaction,
    V2TransactionRepo,
    V2TxStatus,
    V2TxType,
)
from .users import CustodialWallet, CustodialWalletRepo, SealedKey, User, UserRepo, UserRole

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AuditAction",
    "AuditEntry",
    "AuditLogRepo",
    "ChainPoint",
    "Criteria",
    "CustodialWallet",
    "CustodialWalletRepo",
    "Database",
    "Deal",
    "DealRepo",
    "DealStatus",
    "EscrowRef",
    "IdempotencyRepo",
    "IssuedTransaction",
    "IssuedTransactionRepo",
    "MonitorStateRepo",
    "NewOrder",
    "Order",
    "OrderRepo",
    "OrderState",
    "PendingOrder",
    "PendingOrderRepo",
    "PendingSale",
    "PendingSaleRepo",
    "Purchase",
    "SaleFilter",
    "SaleRepo",
    "SaleTerms",
    "SealedKey",
    "StoredResponse",
    "StoredSale",
    "Token",
    "TokenKind",
    "TokenRepo",
    "TxKind",
    "TxStatus",
    "User",
    "UserRepo",
    "UserRole",
    "V2Transaction",
    "V2TransactionRepo",
    "V2TxStatus",
    "V2TxType",
    "create_engine",
    "current_revision",
    "upgrade_database",
]
