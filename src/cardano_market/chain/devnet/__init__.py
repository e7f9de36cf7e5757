"""The devnet: an in-process Conway ledger on a SQLite file, its ChainBackend and CIP-30 wallets."""

from .backend import DevnetBackend
from .ledger import Ledger, PlutusUnavailableError
from .wallet import DevnetWallet, TxSignError

__all__ = ["DevnetBackend", "DevnetWallet", "Ledger", "PlutusUnavailableError", "TxSignError"]
