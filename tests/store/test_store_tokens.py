"""TokenRepo: token records round-trip, and inconsistent terms are refused."""

from __future__ import annotations

import uuid

import pytest
from custody_samples import HUGE, SONG, USDT
from store_samples import POINTER_POLICY, T0, make_sale

from cardano_market.domain.errors import DuplicateRecordError, StoreError
from cardano_market.store.db import Database
from cardano_market.store.sales import SaleRepo
from cardano_market.store.tokens import TokenKind, TokenRepo


def test_tokens_round_trip_and_refuse_inconsistent_terms(db: Database) -> None:
    sale = make_sale()
    with db.session() as session:
        SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        repo = TokenRepo(session)
        offering = repo.create(
            asset=(bytes.fromhex("cc" * 28), b"artist"),
            symbol="ART",
            decimals=0,
            kind=TokenKind.PRIMARY_OFFERING,
            now=T0,
            sale_id=sale.id,
            min_purchase_quantity=10,
            max_purchase_quantity=HUGE,
            kyc_required=True,
        )
        ada = repo.create(asset=(b"", b""), symbol="ADA", decimals=6, kind="currency", now=T0)
    with db.session() as session:
        repo = TokenRepo(session)
        assert repo.get(offering.id) == offering
        assert offering.sale_id == sale.id and offering.max_purchase_quantity == HUGE
        assert repo.get_by_asset((b"", b"")) == ada
        assert [t.id for t in repo.list(TokenKind.CURRENCY)] == [ada.id]
        assert len(repo.list()) == 2
    bad_terms = [
        {"asset": (b"\x01" * 27, b"x")},
        {"symbol": ""},
        {"decimals": 39},
        {"decimals": True},
        {"min_purchase_quantity": 0},
        {"min_purchase_quantity": 5, "max_purchase_quantity": 4},
        {"sale_id": sale.id},  # a currency is not sold from a sale
    ]
    for overrides in bad_terms:
        fields = {"asset": USDT, "symbol": "USDT", "decimals": 6, "kind": TokenKind.CURRENCY}
        fields.update(overrides)
        with pytest.raises(StoreError), db.session() as session:
            TokenRepo(session).create(now=T0, **fields)  # type: ignore[arg-type]
    with pytest.raises(DuplicateRecordError, match="already"), db.session() as session:
        TokenRepo(session).create(
            asset=(b"", b""), symbol="ADA2", decimals=6, kind=TokenKind.CURRENCY, now=T0
        )
    with pytest.raises(DuplicateRecordError), db.session() as session:  # unknown sale
        TokenRepo(session).create(
            asset=SONG,
            symbol="S",
            decimals=0,
            kind="primary_offering",
            now=T0,
            sale_id=uuid.uuid4(),
        )
