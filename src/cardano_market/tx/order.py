"""The order transaction (PROTOCOL section 4): pay the queue and the cash register from a wallet.

Output 0 goes to the queue script address (with its stake part, or batchers never see the order)
and carries the order's tokens, `orderLovelace` and an inline QueueDatum naming the buyer; output 1
pays the service fee to the cash register; the rest returns to the buyer as change. No script
runs, so there is no collateral and no redeemer: the wallet's key witnesses are all it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..domain.address import encode_address, parse_address
from ..domain.cip30 import Utxo, parse_utxos
from ..domain.datums import QueueDatum, Token, wallet_from_address
from ..domain.errors import AddressError
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.pricing import MarketplaceConfig, OrderAmount
from ..domain.sale import Sale
from ..domain.values import Value, unit_of
from .balance import BalancedTransaction, balance


@dataclass(frozen=True, slots=True)
class OrderTransactionRequest:
    amount: OrderAmount
    sale: Sale
    config: MarketplaceConfig
    utxos: Sequence[Utxo]
    change_address: bytes
    queue_address: bytes
    cash_register_address: bytes
    params: ProtocolParameters
    ttl: int  # last valid slot

    @classmethod
    def from_cip30(
        cls, *, utxo_cbor_hex_list: Sequence[str], **kwargs: Any
    ) -> OrderTransactionRequest:
        """The same request with the wallet's UTxOs as CIP-30 hex (errors name the list index)."""
        return cls(utxos=parse_utxos(utxo_cbor_hex_list), **kwargs)


@dataclass(frozen=True, slots=True)
class OrderTransaction:
    balanced: BalancedTransaction
    queue_datum: QueueDatum
    pays_service_fee: bool  # False when the fee truncated to zero: no cash-register output

    @property
    def cbor_hex(self) -> str:
        return self.balanced.cbor.hex()

    @property
    def tx_id(self) -> str:
        return self.balanced.tx_id_hex

    @property
    def fee(self) -> int:
        return self.balanced.fee

    def summary(self) -> dict[str, Any]:
        """What the transaction does, for logs, the CLI and API responses."""
        roles = ["queue"] + ["cashRegister"] * self.pays_service_fee
        roles += ["change"] * self.balanced.change_count
        return {
            "txId": self.tx_id,
            "fee": self.fee,
            "inputs": [f"{u.out_ref}" for u in self.balanced.inputs],
            "vkeyWitnesses": self.balanced.vkey_witnesses,
            "outputs": [
                {
                    "role": role,
                    "address": encode_address(out.address),
                    "lovelace": out.value.coin,
                    "assets": {unit_of(a): q for a, q in sorted(out.value.assets.items())},
                    **({"inlineDatum": out.inline_datum.hex()} if out.inline_datum else {}),
                }
                for role, out in zip(roles, self.balanced.outputs, strict=True)
            ],
        }


def check_queue_address(address: bytes) -> None:
    """The queue address must be a script address with a stake part (PROTOCOL section 2)."""
    parsed = parse_address(address)
    if parsed.payment.kind != "script":
        raise AddressError("the queue address must have a script payment credential")
    if parsed.stake is None:
        raise AddressError(
            "the queue address has no stake part: batchers only see orders at the queue address "
            "that carries the marketplace's stake credential"
        )


def queue_datum(
    amount: OrderAmount, sale: Sale, config: MarketplaceConfig, owner: bytes
) -> QueueDatum:
    currency_policy, currency_name = config.currency
    return QueueDatum(
        owner=wallet_from_address(owner),
        number_of_bundles=amount.bundle_quantity,
        incentive=Token(currency_policy, currency_name, amount.incentive_amount),
        pointer_name=sale.pointer_name,
    )


def build_order_transaction(request: OrderTransactionRequest) -> OrderTransaction:
    """Build the unsigned order transaction; deterministic for the same request."""
    check_queue_address(request.queue_address)
    for field in ("change_address", "cash_register_address"):
        try:
            parse_address(getattr(request, field))
        except AddressError as exc:
            raise AddressError(f"{field}: {exc}") from None
    datum = queue_datum(request.amount, request.sale, request.config, request.change_address)
    params = request.params
    queue_value = request.amount.queue_value(request.config)
    outputs = [
        TxOutput(request.queue_address, queue_value, inline_datum=datum.to_cbor()).with_min_ada(
            params
        )
    ]
    fee_tokens = request.amount.cash_register_value()
    pays_service_fee = fee_tokens != Value(0)
    if pays_service_fee:
        outputs.append(TxOutput(request.cash_register_address, fee_tokens).with_min_ada(params))
    balanced = balance(
        utxos=request.utxos,
        outputs=outputs,
        change_address=request.change_address,
        params=params,
        ttl=request.ttl,
    )
    return OrderTransaction(balanced, datum, pays_service_fee)
