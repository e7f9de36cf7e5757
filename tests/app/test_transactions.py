"""The custodial transactions' handler table and typed payloads: every type a request stores
has its handler, and a payload stored in today's JSON shape reads back to the same JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from cardano_market.app import transactions
from cardano_market.app.custodial_cancel import OrderCancelHandler
from cardano_market.app.deals.listing import SellHandler
from cardano_market.app.payloads import (
    PAYLOAD_TYPES,
    OrderCancelPayload,
    PrimaryPurchasePayload,
    SellPayload,
)
from cardano_market.app.primary import PrimaryPurchaseHandler
from cardano_market.store.transactions import V2Transaction, V2TxStatus, V2TxType

SALE_ID = "0b9a6f0e-94f5-4d3b-8f55-1d8f8c1e2a61"
PRIMARY_JSON: dict[str, Any] = {
    "quantity": 2_000_000,
    "bundles": 2,
    "sale_id": SALE_ID,
    "quoted_currency_amount": 131_250_000,
    "max_currency_amount": 135_187_500,
    "slippage_percentage": "3",
    "currency": "ab" * 28 + "4e45574d",
}
SELL_JSON: dict[str, Any] = {
    "quantity": 5_000_000,
    "price_token_id": "65f1a0c0e4b0a1b2c3d4e5f6",
    "unit_price": 1_500_000,
}
CANCEL_JSON: dict[str, Any] = {
    "order_tx_hash": "cd" * 32,
    "order_output_index": 0,
    "sale_id": SALE_ID,
    "bundles": 3,
    "quantity": 3_000_000,
    "deployment": {
        "reference_address": "70" + "11" * 28,
        "starter_nft": "22" * 28 + "4e45574d61726b6574706c616365",
        "pointer_script_ref": "33" * 32 + "#0",
        "sale_script_ref": "33" * 32 + "#1",
        "sale_address": "70" + "44" * 28,
        "queue_script_ref": "33" * 32 + "#2",
        "vault_script_ref": None,
    },
}


def test_every_stored_type_has_its_handler() -> None:
    assert isinstance(transactions.handler_for("primary_purchase"), PrimaryPurchaseHandler)
    assert isinstance(transactions.handler_for("sell"), SellHandler)
    assert isinstance(transactions.handler_for("order_cancel"), OrderCancelHandler)
    assert set(transactions.HANDLERS) == set(PAYLOAD_TYPES)


def test_a_type_without_a_handler_is_refused() -> None:
    with pytest.raises(transactions.UnknownTxTypeError, match="delist"):
        transactions.handler_for("delist")
    with pytest.raises(transactions.UnknownTxTypeError, match="nonsense"):
        transactions.handler_for("nonsense")


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        (PrimaryPurchasePayload, PRIMARY_JSON),
        (SellPayload, SELL_JSON),
        (OrderCancelPayload, CANCEL_JSON),
    ],
)
def test_a_payload_in_todays_shape_reads_back_to_the_same_json(
    kind: type[Any], stored: dict[str, Any]
) -> None:
    assert kind.from_json(stored).to_json() == stored


def test_primary_purchase_payload_values() -> None:
    payload = PrimaryPurchasePayload.from_json(PRIMARY_JSON)
    assert payload.quantity == 2_000_000 and payload.bundles == 2
    assert payload.sale_id == SALE_ID and str(uuid.UUID(payload.sale_id)) == SALE_ID
    assert payload.max_currency_amount == 135_187_500
    assert payload.slippage_percentage == Fraction(3)


def test_a_purchase_stored_before_the_maximum_allowed_exactly_its_quote() -> None:
    later = ("max_currency_amount", "slippage_percentage")
    older = {k: v for k, v in PRIMARY_JSON.items() if k not in later}
    payload = PrimaryPurchasePayload.from_json(older)
    assert payload.max_currency_amount == payload.quoted_currency_amount
    assert payload.slippage_percentage == 0


def test_a_fractional_slippage_is_written_as_before() -> None:
    stored = {**PRIMARY_JSON, "slippage_percentage": "1/2"}
    payload = PrimaryPurchasePayload.from_json(stored)
    assert payload.slippage_percentage == Fraction(1, 2)
    assert payload.to_json()["slippage_percentage"] == "1/2"


def test_an_order_cancel_stored_before_the_queue_and_vault_refs() -> None:
    later = ("queue_script_ref", "vault_script_ref")
    deployment = {k: v for k, v in CANCEL_JSON["deployment"].items() if k not in later}
    payload = OrderCancelPayload.from_json({**CANCEL_JSON, "deployment": deployment})
    assert payload.order == (bytes.fromhex("cd" * 32), 0)
    assert payload.deployment.queue_script_ref is None
    assert payload.deployment.vault_script_ref is None


def test_payload_of_and_quantity_moved_read_a_stored_row() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = V2Transaction(
        id="6913872755654191dede37da",
        user_id="65f1a0c0e4b0a1b2c3d4e501",
        token_id="65f1a0c0e4b0a1b2c3d4e5f7",
        type=V2TxType.PRIMARY_PURCHASE,
        status=V2TxStatus.PENDING,
        payload=dict(PRIMARY_JSON),
        deal_id=None,
        tx_hash=None,
        unsigned_cbor=None,
        signed_cbor=None,
        failure_reason=None,
        attempts=0,
        claimed_by=None,
        claimed_until=None,
        created_at=now,
        updated_at=now,
        submitted_at=None,
        finished_at=None,
    )
    assert transactions.payload_of(row) == PrimaryPurchasePayload.from_json(PRIMARY_JSON)
    assert transactions.quantity_moved(row) == 2_000_000


def test_the_table_imports_its_handlers_and_never_the_reverse() -> None:
    """No self-registration: no app module loads modules by name, and neither a handler's module
    nor what it builds on imports the table."""
    import ast
    from pathlib import Path

    import cardano_market.app as app_package

    root = Path(app_package.__file__).parent
    handler_modules = {"primary.py", "custodial_cancel.py", "listing.py", "custodial_tx.py",
                       "payloads.py"}  # fmt: skip
    for path in root.rglob("*.py"):
        package = ["cardano_market", "app", *path.parent.relative_to(root).parts]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                imported.add(module)
                imported |= {f"{module}.{alias.name}" for alias in node.names}
        assert "importlib" not in imported, path
        if path.name in handler_modules:
            assert "cardano_market.app.transactions" not in imported, path
