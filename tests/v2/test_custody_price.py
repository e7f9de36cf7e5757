"""THREATS 6: a price that moved after a quote. The custodial buyer never pays more than quoted
(plus the configured slippage): the oracle price moves between the HTTP request and the worker's
build, on the devnet; the transaction fails with `price moved: quoted X, now Y`, the wallet is
untouched (read from the ledger) and no order reaches the queue. Within the slippage it pays the
new price. KYC, purchase limits and the sale's status are checked again at build time."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from custody_world import ADMIN, ALICE, BOB, SONG, V2Service, buy_on_primary, orders_of, v2_settings
from fastapi.testclient import TestClient
from sqlalchemy import update

from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.app.primary import max_amount
from cardano_market.chain.devnet.backend import DevnetBackend
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.sale import SaleStatus
from cardano_market.domain.values import Value
from cardano_market.runtime import create_service_app, open_service
from cardano_market.store.sales import SaleRepo
from cardano_market.store.tokens import TokenRow
from cardano_market.store.transactions import V2TxStatus

SALE_ID = "0b7346aa-137a-5041-9b23-7afaa88573d5"
"""The demo seed's first sale: SONG in 1-token bundles, USD-priced."""


@pytest.fixture
def slippage_service(tmp_path: Path, clean_env: None) -> Iterator[V2Service]:
    """The service with a 15% slippage allowance (SQLite)."""
    settings = v2_settings(
        f"sqlite:///{tmp_path / 'service.db'}", tmp_path, primary_price_slippage_percentage="15"
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts)) as client:
        yield V2Service(client, parts)


def status(v2: V2Service, tx_id: str, user: str = ALICE) -> dict[str, Any]:
    response = v2.get(f"/v2/admin/tokens/{SONG}/transactions/{tx_id}", user)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wallet(v2: V2Service, user: str) -> Value:
    with v2.ctx.database.session() as session:
        address = wallet_of(v2.ctx, session, user).address
    return wallet_value(v2.ctx, address)


def move_price(v2: V2Service, factor: Fraction) -> int:
    """The oracle's operator publishes the currency's price times `factor`; the service's price
    cache is dropped (as its 5 s lifetime would). Returns the new price."""
    devnet = v2.parts.chain
    assert isinstance(devnet, DevnetBackend)
    market = v2.ctx
    old = devnet.oracle_price(market.addresses.oracle, market.addresses.oracle_feed).price
    new = int(old * factor)
    devnet.publish_oracle_price(market.addresses.oracle, market.addresses.oracle_feed, new)
    market.prices.forget()
    assert market.prices.current().price == new
    return new


def newm(base_units: int) -> str:
    """NEWM (6 decimals) as the failure reason writes it."""
    whole, frac = divmod(base_units, 10**6)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".") + " NEWM"


def test_a_price_rise_after_the_quote_fails_and_pays_nothing(v2: V2Service) -> None:
    before = wallet(v2, ALICE)
    tx_id = buy_on_primary(v2)
    quoted = status(v2, tx_id)
    assert quoted["status"] == "pending"
    move_price(v2, Fraction(9, 10))  # the currency is worth 10% less: the order costs more

    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.FAILED
    payload = done.payload
    assert payload["max_currency_amount"] == payload["quoted_currency_amount"]  # slippage 0
    body = status(v2, tx_id)
    assert body["status"] == "failed" and body["tx_hash"] is None
    reason = body["failure_reason"]
    assert reason.startswith("price moved: quoted "), reason
    now = v2.ctx  # the amount the worker saw, priced again here
    with v2.ctx.database.session() as session:
        stored = SaleRepo(session).get(SALE_ID)
    assert stored is not None
    current = order_amount(stored.sale, 2, None, now.prices.current().price, now.config)
    assert current.currency_amount > payload["quoted_currency_amount"]
    assert reason == (
        f"price moved: quoted {newm(payload['quoted_currency_amount'])}, "
        f"now {newm(current.currency_amount)}"
    )
    assert wallet(v2, ALICE) == before  # nothing paid, read from the ledger
    assert orders_of(v2, ALICE) == []
    assert v2.processor().run_once() is None  # final


def test_a_price_fall_pays_the_lower_current_amount(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    currency = v2.ctx.config.currency
    before = wallet(v2, ALICE)
    tx_id = buy_on_primary(v2)
    move_price(v2, Fraction(11, 10))  # the currency is worth more: the order costs less
    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.COMPLETED, done
    spent = before - wallet(v2, ALICE)
    assert spent.quantity(currency) < done.payload["quoted_currency_amount"]
    assert len(orders_of(v2, ALICE)) == 1
    assert status(v2, tx_id)["status"] == "completed"


def test_within_the_slippage_it_still_pays(slippage_service: V2Service) -> None:
    v2 = slippage_service
    currency = v2.ctx.config.currency
    before = wallet(v2, ALICE)
    tx_id = buy_on_primary(v2)
    move_price(v2, Fraction(9, 10))  # about 11% more currency: inside 15%
    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.COMPLETED, done.failure_reason
    quoted = done.payload["quoted_currency_amount"]
    assert done.payload["max_currency_amount"] == max_amount(quoted, Fraction(15))
    assert done.payload["slippage_percentage"] == "15"
    spent = before - wallet(v2, ALICE)
    assert quoted < spent.quantity(currency) <= done.payload["max_currency_amount"]
    assert status(v2, tx_id)["status"] == "completed"

    # Beyond it: refused, and the reason names the ceiling too.
    before = wallet(v2, ALICE)
    second = buy_on_primary(v2)
    move_price(v2, Fraction(3, 4))
    failed = v2.processor().run_once()
    assert failed is not None and failed.status is V2TxStatus.FAILED
    reason = status(v2, second)["failure_reason"]
    assert reason.startswith("price moved: quoted ") and "with the slippage" in reason, reason
    assert wallet(v2, ALICE) == before


def test_max_amount_rounds_down() -> None:
    assert max_amount(1000, Fraction(0)) == 1000
    assert max_amount(1000, Fraction(3, 2)) == 1015
    assert max_amount(999, Fraction(1, 10)) == 999  # 999.999 -> 999: never more than agreed
    with pytest.raises(ValueError):
        max_amount(1000, Fraction(-1))


def _set_token(v2: V2Service, **values: Any) -> None:
    """An administrator's change to the token record (no route edits tokens yet)."""
    with v2.ctx.database.session() as session:
        session.execute(update(TokenRow).where(TokenRow.id == SONG).values(**values))


@pytest.mark.parametrize("change", ["kyc", "limit", "sale ended", "sold out"])
def test_the_request_checks_hold_again_at_build_time(v2_sqlite: V2Service, change: str) -> None:
    v2 = v2_sqlite
    before = wallet(v2, BOB)
    tx_id = buy_on_primary(v2, BOB, 2)
    expected = {
        "kyc": "KYC verification is required",
        "limit": "Quantity is above the maximum purchase quantity",
        "sale ended": "Token not available for primary market purchase: its sale is not running",
        "sold out": "Insufficient token supply available",
    }[change]
    if change == "kyc":
        _set_token(v2, kyc_required=True)
    elif change == "limit":
        _set_token(v2, max_purchase_quantity=1_000_000)  # 1 SONG
    else:
        with v2.ctx.database.session() as session:
            repo = SaleRepo(session)
            stored = repo.get(SALE_ID)
            assert stored is not None
            repo.update_state(
                SALE_ID,
                status=SaleStatus.ENDED if change == "sale ended" else SaleStatus.STARTED,
                available_bundle_quantity=0 if change != "sale ended" else 1,
                now=v2.ctx.clock(),
            )
    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.FAILED
    reason = status(v2, tx_id, BOB)["failure_reason"]
    assert reason.startswith(f"the purchase no longer holds: {expected}"), reason
    assert wallet(v2, BOB) == before
    assert orders_of(v2, BOB) == []


def test_kyc_revoked_by_the_admin_route_stops_the_build(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    _set_token(v2, kyc_required=True)
    before = wallet(v2, ALICE)
    tx_id = buy_on_primary(v2, ALICE, 1)  # alice has KYC: accepted
    revoked = v2.client.post(
        f"/v2/admin/users/{ALICE}/kyc",
        json={"kyc_verified": False},
        headers=v2.auth(ADMIN, admin=True),
    )
    assert revoked.status_code == 200, revoked.text
    done = v2.processor().run_once()
    assert done is not None and done.status is V2TxStatus.FAILED
    assert status(v2, tx_id)["failure_reason"] == (
        "the purchase no longer holds: KYC verification is required to purchase this token"
    )
    assert wallet(v2, ALICE) == before


def test_devnet_oracle_update_keeps_the_window(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    devnet = v2.parts.chain
    assert isinstance(devnet, DevnetBackend)
    market = v2.ctx
    old = devnet.oracle_price(market.addresses.oracle, market.addresses.oracle_feed)
    new = move_price(v2, Fraction(1, 2))
    read = devnet.oracle_price(market.addresses.oracle, market.addresses.oracle_feed)
    assert read.price == new and read.valid_from_ms == old.valid_from_ms
    assert read.valid_to_ms == old.valid_to_ms and read.utxo.out_ref != old.utxo.out_ref
    assert devnet.utxos_by_ref([old.utxo.out_ref]) == []


@pytest.mark.parametrize("value", ["-1", "100.5", "abc"])
def test_the_slippage_setting_is_checked(tmp_path: Path, clean_env: None, value: str) -> None:
    with pytest.raises(ConfigError, match="PRIMARY_PRICE_SLIPPAGE_PERCENTAGE"):
        v2_settings(
            f"sqlite:///{tmp_path / 'x.db'}", tmp_path, primary_price_slippage_percentage=value
        )


def test_the_slippage_setting_is_exact(tmp_path: Path, clean_env: None) -> None:
    settings = v2_settings(
        f"sqlite:///{tmp_path / 'x.db'}", tmp_path, primary_price_slippage_percentage="2.5"
    )
    assert Fraction(settings.primary_price_slippage_percentage) == Fraction(5, 2)
