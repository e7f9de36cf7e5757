"""Request and response bodies of the v1 API (camelCase, as the deployed server's), with examples
for /docs. Models live at the edge only: use cases take and return plain values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_UTXOS = 10_000


def _at_most_utxos(value: Any) -> Any:
    """The list's length, checked before any of its items is validated."""
    if isinstance(value, list) and len(value) > MAX_UTXOS:
        raise ValueError(f"List should have at most {MAX_UTXOS} items, not {len(value)}")
    return value


UtxoList = Annotated[list[str], BeforeValidator(_at_most_utxos)]
"""More UTxOs than any wallet sends; a larger list is refused before it is parsed."""

Int64 = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]

EXAMPLE_SALE_ID = "0b7346aa-137a-5041-9b23-7afaa88573d5"
EXAMPLE_ORDER_ID = "662f5460-86f8-21d8-3dd9-c043a7a3845e"
EXAMPLE_ADDRESS = (
    "addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2"
    "xwl2wywfgs68faae"
)


class Camel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": list(examples)},
    )


class OrderFeesResponse(Camel):
    model_config = _examples({"serviceFeePercentage": 10.0, "profitAmountUsd": 0.5})
    service_fee_percentage: float = Field(description="exact decimal, rendered as a JSON number")
    profit_amount_usd: float = Field(description="USD per order, exact decimal")


class OrderAmountRequest(Camel):
    model_config = _examples({"saleId": EXAMPLE_SALE_ID, "bundleQuantity": 3})
    sale_id: str = Field(description="UUID of the sale", max_length=64)
    bundle_quantity: Int64 = Field(description="bundles to buy (>= 1, <= available)")
    incentive_amount: Int64 | None = Field(
        None,
        description="incentive per action in currency base units (doubled in the amount: "
        "purchase and refund); default and minimum: the configured incentiveMinAmount",
    )


class OrderAmountResponse(Camel):
    model_config = _examples(
        {"orderId": EXAMPLE_ORDER_ID, "amountCborHex": "821a007280eea1581c769c4c6e..."}
    )
    order_id: str
    amount_cbor_hex: str = Field(description="CIP-30 cbor<value>: the getUtxos(amount) argument")


class OrderTransactionRequest(Camel):
    model_config = _examples(
        {
            "orderId": EXAMPLE_ORDER_ID,
            "changeAddress": EXAMPLE_ADDRESS,
            "utxoCborHexList": ["828258204e3a...00825839...1a3b9aca00"],
        }
    )
    order_id: str = Field(max_length=64)
    change_address: str = Field(description="bech32; becomes the order's owner", max_length=256)
    utxo_cbor_hex_list: UtxoList = Field(
        description="CIP-30 getUtxos result (TransactionUnspentOutput CBOR hex)",
        max_length=MAX_UTXOS,
    )


class OrderCancelTransactionRequest(Camel):
    """The order to cancel (its out-ref at the queue) and the owner's wallet, which pays the fee
    and backs the collateral."""

    model_config = _examples(
        {
            "orderTxId": "4e3a6e7fdcb0d0efbd6e4f8a3cbd2c9e0f1b9c0f7b1a4a7a0e5e7c3d9b2a1f00",
            "orderOutputIndex": 0,
            "changeAddress": EXAMPLE_ADDRESS,
            "utxoCborHexList": ["828258204e3a...00825839...1a3b9aca00"],
        }
    )
    order_tx_id: str = Field(
        description="the transaction holding the order (64 hex digits)", max_length=64
    )
    order_output_index: int = Field(0, ge=0, lt=2**16, strict=True, description="its output")
    change_address: str = Field(
        description="bech32 or hex; its payment key must be the order's owner", max_length=256
    )
    utxo_cbor_hex_list: UtxoList = Field(
        description="CIP-30 getUtxos result: pays the fee", max_length=MAX_UTXOS
    )
    collateral_utxo_cbor_hex_list: UtxoList | None = Field(
        None,
        description="CIP-30 getCollateral result; default: the ADA-only UTxOs above",
        max_length=MAX_UTXOS,
    )


class TransactionResponse(Camel):
    model_config = _examples(
        {
            "txCborHex": "84a500d90102818258...",
            "txId": "3f1e8c0d5a0b6e1f2c3d4e5f60718293a4b5c6d7e8f90112233445566778899a",
            "fee": 187429,
        }
    )
    tx_cbor_hex: str = Field(description="the unsigned transaction, to sign with CIP-30 signTx")
    tx_id: str = Field(
        description="its id (blake2b-256 of the body bytes exactly as issued; a library that "
        "re-encodes the body gets another): pass it to submitTx with the signTx witness set"
    )
    fee: int = Field(description="the fee the transaction pays, in lovelace")


class CountResponse(Camel):
    model_config = _examples({"count": 2})
    count: int


class SaleResponse(Camel):
    """The deployed server's Sale (plus pointerPolicyId, pointerAssetName, ownerAddress)."""

    model_config = _examples(
        {
            "id": EXAMPLE_SALE_ID,
            "createdAt": "2026-11-23T10:15:30.123456",
            "status": "Started",
            "pointerPolicyId": "8430a7e2...",
            "pointerAssetName": "ca11ab1e00...",
            "ownerAddress": EXAMPLE_ADDRESS,
            "bundlePolicyId": "2a3b...",
            "bundleAssetName": "44656d6f536f6e67",
            "bundleAmount": 1000000,
            "costPolicyId": "555344",
            "costAssetName": "",
            "costAmount": 500000000000,
            "costAmountUsd": "0.5",
            "costAmountNewm": "183.621",
            "maxBundleSize": 9223372036854775807,
            "totalBundleQuantity": 100,
            "availableBundleQuantity": 100,
            "song": None,
        }
    )
    id: str
    created_at: str
    status: str
    pointer_policy_id: str
    pointer_asset_name: str
    owner_address: str
    bundle_policy_id: str
    bundle_asset_name: str
    bundle_amount: int
    cost_policy_id: str
    cost_asset_name: str
    cost_amount: int
    cost_amount_usd: str | None
    cost_amount_newm: str | None
    max_bundle_size: int
    total_bundle_quantity: int
    available_bundle_quantity: int
    song: dict[str, Any] | None = None


class SubmitTxRequest(Camel):
    """Either `cborHex` (a whole signed transaction) or `txId` + `witnessSetCborHex` (a CIP-30
    signTx result for a transaction this service issued)."""

    model_config = _examples(
        {"cborHex": "84a500d90102818258...a100d90102818258..."},
        {"txId": "3f1e...", "witnessSetCborHex": "a100d90102818258..."},
    )
    cbor_hex: str | None = None
    tx_id: str | None = Field(None, max_length=64)
    witness_set_cbor_hex: str | None = None


class SubmitTxResponse(Camel):
    model_config = _examples({"txId": "3f1e...", "result": "MsgAcceptTx"})
    tx_id: str
    result: str


class SaleStartAmountRequest(Camel):
    """Cost defaults to USD (x 10^12) when both cost fields are absent; `555344` with an empty
    name is USD too; two empty strings are ADA (lovelace)."""

    model_config = _examples(
        {
            "ownerAddress": EXAMPLE_ADDRESS,
            "bundlePolicyId": "0fcbe8620f8c2a9f7f08941af0c8477a9fc578b85f9cbecd99588335",
            "bundleAssetName": "44656d6f536f6e67",
            "bundleAmount": 1000000,
            "costAmount": 500000000000,
            "totalBundleQuantity": 10,
        }
    )
    owner_address: str = Field(max_length=256)
    bundle_policy_id: str = Field(max_length=56)
    bundle_asset_name: str = Field(max_length=64)
    bundle_amount: Int64
    cost_policy_id: str | None = Field(None, max_length=56)
    cost_asset_name: str | None = Field(None, max_length=64)
    cost_amount: Int64
    total_bundle_quantity: Int64


class SaleAmountResponse(Camel):
    model_config = _examples({"saleId": EXAMPLE_SALE_ID, "amountCborHex": "821a0070d9dea1581c..."})
    sale_id: str
    amount_cbor_hex: str


class SaleEndAmountRequest(Camel):
    model_config = _examples({"saleId": EXAMPLE_SALE_ID})
    sale_id: str = Field(max_length=64)


class SaleTransactionRequest(Camel):
    model_config = _examples(
        {
            "saleId": EXAMPLE_SALE_ID,
            "changeAddress": EXAMPLE_ADDRESS,
            "utxoCborHexList": ["828258204e3a...00825839...1a3b9aca00"],
        }
    )
    sale_id: str = Field(max_length=64)
    change_address: str = Field(max_length=256)
    utxo_cbor_hex_list: UtxoList = Field(max_length=MAX_UTXOS)


class OrderStatusResponse(Camel):
    """What became of an order. Amounts map `lovelace` or a token's unit (policy id + asset
    name, hex) to base units, bundle tokens left out; null while not known yet."""

    model_config = _examples(
        {
            "orderId": EXAMPLE_ORDER_ID,
            "state": "PartiallyFilled",
            "settled": True,
            "saleId": EXAMPLE_SALE_ID,
            "ownerAddress": EXAMPLE_ADDRESS,
            "bundlesRequested": 3,
            "bundlesFilled": 2,
            "amountLocked": {"lovelace": 3_000_000, "769c4c6e...744e45574d": 1_530_000_000},
            "amountPaid": {"lovelace": 622_828, "769c4c6e...744e45574d": 1_012_000_000},
            "amountRefunded": {"lovelace": 2_000_000, "769c4c6e...744e45574d": 512_000_000},
            "orderTxId": "4e3a6e7fdcb0d0efbd6e4f8a3cbd2c9e0f1b9c0f7b1a4a7a0e5e7c3d9b2a1f00",
            "purchaseTxIds": ["9b1c..."],
            "refundTxId": "c0d2...",
            "cancelTxId": None,
            "createdAt": "2026-12-07T10:15:30.123456",
            "updatedAt": "2026-12-07T10:15:41.000000",
        }
    )
    order_id: str | None = Field(description="null for a queue order placed elsewhere")
    state: str = Field(
        description="Pending, Issued, Submitted, Queued, Filled, PartiallyFilled, Refunded, "
        "Cancelled or Expired"
    )
    settled: bool = Field(description="nothing more will happen to the order")
    sale_id: str | None
    owner_address: str | None
    bundles_requested: int | None
    bundles_filled: int
    amount_locked: dict[str, int] | None = Field(
        description="what the order transaction locked at the queue"
    )
    amount_paid: dict[str, int] | None = Field(
        description="what purchases took out of the order: cost, profit, batcher incentive, fee"
    )
    amount_refunded: dict[str, int] | None = Field(
        description="what the refund or cancel gave the owner back (bundle tokens aside)"
    )
    order_tx_id: str | None
    purchase_tx_ids: list[str]
    refund_tx_id: str | None
    cancel_tx_id: str | None
    created_at: str
    updated_at: str
