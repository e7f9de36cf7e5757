"""The typed payload of each custodial transaction type, and its stored JSON.

A request stores what its handler needs later in the transaction row's `payload` (a JSON
object); these values are that object, read and written in one place with the JSON shape rows
already have: `to_json` writes what the requests have always written, `from_json` reads it back
(also rows stored before a later key existed, with that key's meaning at the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Self

from ..domain.address import decode_address
from ..domain.cip30 import OutRef
from ..domain.values import asset_from_unit, unit_of
from ..store.transactions import V2TxType
from .sale_lifecycle import DeploymentRefs


@dataclass(frozen=True, slots=True, kw_only=True)
class PrimaryPurchasePayload:
    """A `primary_purchase`: `bundles` bundles (`quantity` base units) of sale `sale_id`, quoted
    `quoted_currency_amount` of `currency` and allowed at most `max_currency_amount`."""

    type: ClassVar[V2TxType] = V2TxType.PRIMARY_PURCHASE
    quantity: int
    bundles: int
    sale_id: str
    """The sale's id, as `Sale.id` spells it (a UUID)."""
    quoted_currency_amount: int
    max_currency_amount: int
    """Requests stored before the maximum existed allowed exactly their quote."""
    slippage_percentage: Fraction = Fraction(0)
    currency: str = ""
    """The currency's unit (`policy + name` hex; empty for ADA)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "bundles": self.bundles,
            "sale_id": self.sale_id,
            "quoted_currency_amount": self.quoted_currency_amount,
            "max_currency_amount": self.max_currency_amount,
            "slippage_percentage": fraction_text(self.slippage_percentage),
            "currency": self.currency,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        quoted = int(data["quoted_currency_amount"])
        return cls(
            quantity=int(data["quantity"]),
            bundles=int(data["bundles"]),
            sale_id=str(data["sale_id"]),
            quoted_currency_amount=quoted,
            max_currency_amount=int(data.get("max_currency_amount", quoted)),
            slippage_percentage=Fraction(str(data.get("slippage_percentage", "0"))),
            currency=str(data.get("currency", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SellPayload:
    """A `sell`: lock `quantity` base units in escrow for the transaction's deal, priced
    `unit_price` base units of token `price_token_id` per whole token."""

    type: ClassVar[V2TxType] = V2TxType.SELL
    quantity: int
    price_token_id: str
    unit_price: int

    def to_json(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "price_token_id": self.price_token_id,
            "unit_price": self.unit_price,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            quantity=int(data["quantity"]),
            price_token_id=str(data["price_token_id"]),
            unit_price=int(data["unit_price"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelPayload:
    """An `order_cancel`: take back the queued order at `order` (`bundles` bundles, `quantity`
    base units, of sale `sale_id`), reading the deployment at `deployment` when it builds (the
    worker may run without the service's deployment settings)."""

    type: ClassVar[V2TxType] = V2TxType.ORDER_CANCEL
    order: OutRef
    sale_id: str
    """The sale's id, as `Sale.id` spells it (a UUID)."""
    bundles: int
    quantity: int
    deployment: DeploymentRefs

    def to_json(self) -> dict[str, Any]:
        return {
            "order_tx_hash": self.order[0].hex(),
            "order_output_index": self.order[1],
            "sale_id": self.sale_id,
            "bundles": self.bundles,
            "quantity": self.quantity,
            "deployment": _refs_json(self.deployment),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            order=OutRef(
                bytes.fromhex(str(data["order_tx_hash"])), int(data["order_output_index"])
            ),
            sale_id=str(data["sale_id"]),
            bundles=int(data["bundles"]),
            quantity=int(data["quantity"]),
            deployment=_refs_from(data["deployment"]),
        )


Payload = PrimaryPurchasePayload | SellPayload | OrderCancelPayload
"""Every payload has `quantity`: the base units the transaction moves (what its views show)."""

PAYLOAD_TYPES: dict[V2TxType, type[Payload]] = {
    V2TxType.PRIMARY_PURCHASE: PrimaryPurchasePayload,
    V2TxType.SELL: SellPayload,
    V2TxType.ORDER_CANCEL: OrderCancelPayload,
}


def fraction_text(value: Fraction) -> str:
    """`3`, or `1/2`: how a percentage is written in a payload."""
    return str(value.numerator) if value.denominator == 1 else str(value)


def _refs_json(refs: DeploymentRefs) -> dict[str, Any]:
    def optional(ref: OutRef | None) -> str | None:
        return None if ref is None else str(OutRef.of(ref))

    return {
        "reference_address": refs.reference_address.hex(),
        "starter_nft": unit_of(refs.starter_nft),
        "pointer_script_ref": str(OutRef.of(refs.pointer_script_ref)),
        "sale_script_ref": str(OutRef.of(refs.sale_script_ref)),
        "sale_address": refs.sale_address.hex(),
        "queue_script_ref": optional(refs.queue_script_ref),
        "vault_script_ref": optional(refs.vault_script_ref),
    }


def _refs_from(payload: dict[str, Any]) -> DeploymentRefs:
    def optional(key: str) -> OutRef | None:  # absent from payloads stored before these keys
        text = payload.get(key)
        return None if text is None else OutRef.parse(str(text))

    return DeploymentRefs(
        reference_address=decode_address(str(payload["reference_address"])),
        starter_nft=asset_from_unit(str(payload["starter_nft"])),
        pointer_script_ref=OutRef.parse(str(payload["pointer_script_ref"])),
        sale_script_ref=OutRef.parse(str(payload["sale_script_ref"])),
        sale_address=decode_address(str(payload["sale_address"])),
        queue_script_ref=optional("queue_script_ref"),
        vault_script_ref=optional("vault_script_ref"),
    )
