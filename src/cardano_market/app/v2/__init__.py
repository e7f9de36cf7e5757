"""Use cases of the v2 (custodial) API: the context they run in, users' wallets, exact amounts,
the primary market, and the worker's handler registry (the secondary market is `deals`)."""

from .context import EscrowKey, SecondaryFees, V2Context
from .processing import HANDLERS, BuiltTx, TxHandler, handler_for, register

__all__ = [
    "HANDLERS",
    "BuiltTx",
    "EscrowKey",
    "SecondaryFees",
    "TxHandler",
    "V2Context",
    "handler_for",
    "register",
]
