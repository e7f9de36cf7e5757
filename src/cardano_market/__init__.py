"""cardano-market: order amounts, order transactions and settlement for a Cardano marketplace.

The package root is the public API: what a library user needs (values, order amount and fees, the
order transaction and its request, witness splicing, the transaction id, the chain backends, the
devnet and its wallet), re-exported lazily (PEP 562) so that importing `cardano_market`, and so
`cardano-market --help`, loads none of it. Everything else is importable but not promised.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers read True)
__version__ = "0.1.0"

# Public name -> the module that defines it; read on first use by `__getattr__`. The
# TYPE_CHECKING block below says the same for type checkers (a test keeps the two equal).
_EXPORTS: dict[str, str] = {
    # values and addresses
    "AssetId": "cardano_market.domain.values",
    "Value": "cardano_market.domain.values",
    "asset_from_unit": "cardano_market.domain.values",
    "unit_of": "cardano_market.domain.values",
    "decode_address": "cardano_market.domain.address",
    "encode_address": "cardano_market.domain.address",
    "Utxo": "cardano_market.domain.cip30",
    "parse_utxos": "cardano_market.domain.cip30",
    # the sale, the order amount and its fees
    "Sale": "cardano_market.domain.sale",
    "SaleStatus": "cardano_market.domain.sale",
    "MarketplaceConfig": "cardano_market.domain.pricing",
    "OrderAmount": "cardano_market.domain.pricing",
    "FeesQuote": "cardano_market.domain.pricing",
    "order_amount": "cardano_market.domain.pricing",
    "order_fees": "cardano_market.domain.pricing",
    "ProtocolParameters": "cardano_market.domain.params",
    "default_parameters": "cardano_market.domain.params",
    # errors
    "MarketError": "cardano_market.domain.errors",
    "AddressError": "cardano_market.domain.errors",
    "InsufficientFundsError": "cardano_market.domain.errors",
    # the order transaction
    "OrderTransactionRequest": "cardano_market.tx.order",
    "OrderTransaction": "cardano_market.tx.order",
    "build_order_transaction": "cardano_market.tx.order",
    # witnesses and the transaction id
    "sign_transaction": "cardano_market.ledger.witness",
    "splice_witnesses": "cardano_market.ledger.witness",
    "transaction_id": "cardano_market.ledger.parse",
    # chain backends, the devnet and its wallet
    "ChainBackend": "cardano_market.chain.base",
    "ChainError": "cardano_market.chain.base",
    "SubmitError": "cardano_market.chain.base",
    "BlockfrostBackend": "cardano_market.chain.blockfrost",
    "DevnetBackend": "cardano_market.chain.devnet",
    "DevnetWallet": "cardano_market.chain.devnet",
    # deterministic demo wallets
    "SyntheticWallet": "cardano_market.synthetic",
    "wallet": "cardano_market.synthetic",
    "wallet_utxos": "cardano_market.synthetic",
}

__all__ = [
    "AddressError",
    "AssetId",
    "BlockfrostBackend",
    "ChainBackend",
    "ChainError",
    "DevnetBackend",
    "DevnetWallet",
    "FeesQuote",
    "InsufficientFundsError",
    "MarketError",
    "MarketplaceConfig",
    "OrderAmount",
    "OrderTransaction",
    "OrderTransactionRequest",
    "ProtocolParameters",
    "Sale",
    "SaleStatus",
    "SubmitError",
    "SyntheticWallet",
    "Utxo",
    "Value",
    "asset_from_unit",
    "build_order_transaction",
    "decode_address",
    "default_parameters",
    "encode_address",
    "order_amount",
    "order_fees",
    "parse_utxos",
    "sign_transaction",
    "splice_witnesses",
    "transaction_id",
    "unit_of",
    "wallet",
    "wallet_utxos",
]

if TYPE_CHECKING:
    from cardano_market.chain.base import ChainBackend, ChainError, SubmitError
    from cardano_market.chain.blockfrost import BlockfrostBackend
    from cardano_market.chain.devnet import DevnetBackend, DevnetWallet
    from cardano_market.domain.address import decode_address, encode_address
    from cardano_market.domain.cip30 import Utxo, parse_utxos
    from cardano_market.domain.errors import AddressError, InsufficientFundsError, MarketError
    from cardano_market.domain.params import ProtocolParameters, default_parameters
    from cardano_market.domain.pricing import (
        FeesQuote,
        MarketplaceConfig,
        OrderAmount,
        order_amount,
        order_fees,
    )
    from cardano_market.domain.sale import Sale, SaleStatus
    from cardano_market.domain.values import AssetId, Value, asset_from_unit, unit_of
    from cardano_market.ledger.parse import transaction_id
    from cardano_market.ledger.witness import sign_transaction, splice_witnesses
    from cardano_market.synthetic import SyntheticWallet, wallet, wallet_utxos
    from cardano_market.tx.order import (
        OrderTransaction,
        OrderTransactionRequest,
        build_order_transaction,
    )


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
