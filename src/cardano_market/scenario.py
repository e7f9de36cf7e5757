"""Order scenarios: a JSON file holding everything one order needs, for the CLI and fixtures.

A scenario names a sale, the marketplace configuration, the oracle price, the wallet's CIP-30
UTxOs, the addresses and a TTL slot. `run_order` prices the order and builds its transaction
exactly as the service will, and returns a JSON-ready report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain.address import decode_address
from .domain.errors import MarketError
from .domain.params import ProtocolParameters, default_parameters
from .domain.pricing import MarketplaceConfig, order_amount
from .domain.sale import Sale, SaleStatus
from .domain.values import asset_from_unit, unit_of
from .tx.order import OrderTransactionRequest, build_order_transaction


class ScenarioError(MarketError):
    """A scenario file that is missing a field or holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Scenario:
    sale: Sale
    config: MarketplaceConfig
    oracle_price: int
    params: ProtocolParameters
    queue_address: bytes
    cash_register_address: bytes
    change_address: bytes
    utxo_cbor_hex_list: list[str]
    ttl: int
    bundle_quantity: int
    incentive_amount: int | None


def sale_from_json(raw: dict[str, Any]) -> Sale:
    cost = raw.get("cost")
    return Sale(
        id=raw["id"],
        status=SaleStatus(raw.get("status", "Started")),
        pointer_name=bytes.fromhex(raw["pointerName"]),
        owner_address=decode_address(raw["ownerAddress"]),
        bundle=asset_from_unit(raw["bundle"]),
        bundle_amount=int(raw["bundleAmount"]),
        cost=None if cost in (None, "USD") else asset_from_unit(cost),
        cost_amount=int(raw["costAmount"]),
        total_bundle_quantity=int(raw["totalBundleQuantity"]),
        available_bundle_quantity=int(raw["availableBundleQuantity"]),
    )


def load_scenario(path: str | Path) -> Scenario:
    raw = json.loads(Path(path).read_text())
    try:
        params_file = raw.get("protocolParameters")
        params = (
            ProtocolParameters.from_file(Path(path).parent / params_file)
            if params_file
            else default_parameters()
        )
        order = raw["order"]
        return Scenario(
            sale=sale_from_json(raw["sale"]),
            config=MarketplaceConfig.from_mapping(raw["marketplace"]),
            oracle_price=int(raw["oraclePrice"]),
            params=params,
            queue_address=decode_address(raw["queueAddress"]),
            cash_register_address=decode_address(raw["cashRegisterAddress"]),
            change_address=decode_address(raw["wallet"]["changeAddress"]),
            utxo_cbor_hex_list=list(raw["wallet"]["utxoCborHexList"]),
            ttl=int(raw["ttl"]),
            bundle_quantity=int(order["bundleQuantity"]),
            incentive_amount=order.get("incentiveAmount"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MarketError):
            raise
        raise ScenarioError(f"scenario {path}: {exc!r}") from exc


def run_order(
    scenario: Scenario, *, bundle_quantity: int | None = None, incentive_amount: int | None = None
) -> dict[str, Any]:
    """Price the order and build its transaction; a JSON-ready report of both."""
    quantity = scenario.bundle_quantity if bundle_quantity is None else bundle_quantity
    incentive = scenario.incentive_amount if incentive_amount is None else incentive_amount
    amount = order_amount(
        scenario.sale, quantity, incentive, scenario.oracle_price, scenario.config
    )
    tx = build_order_transaction(
        OrderTransactionRequest.from_cip30(
            utxo_cbor_hex_list=scenario.utxo_cbor_hex_list,
            amount=amount,
            sale=scenario.sale,
            config=scenario.config,
            change_address=scenario.change_address,
            queue_address=scenario.queue_address,
            cash_register_address=scenario.cash_register_address,
            params=scenario.params,
            ttl=scenario.ttl,
        )
    )
    return {
        "saleId": scenario.sale.id,
        "amount": {
            "bundleQuantity": amount.bundle_quantity,
            "incentiveAmount": amount.incentive_amount,
            "currencyAmount": amount.currency_amount,
            "serviceFee": amount.service_fee,
            "serviceFeeUnit": unit_of(amount.service_fee_asset),
            "amountCborHex": amount.amount_cbor_hex,
        },
        "transaction": tx.summary(),
        "txCborHex": tx.cbor_hex,
    }
