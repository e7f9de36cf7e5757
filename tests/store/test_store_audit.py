"""AuditLogRepo: append-only entries with who did what and what moved."""

from __future__ import annotations

import pytest
from custody_samples import HUGE, TX_HASH, pending_transactions
from store_samples import T0, later

from cardano_market.domain.errors import StoreError
from cardano_market.store.audit import AuditAction, AuditLogRepo
from cardano_market.store.db import Database
from cardano_market.store.transactions import V2TransactionRepo


def test_audit_log_records_who_did_what(db: Database) -> None:
    (tx_id,) = pending_transactions(db)
    with db.session() as session:
        tx = V2TransactionRepo(session).get(tx_id)
        assert tx is not None and tx.deal_id is not None
        log = AuditLogRepo(session)
        trade = log.record(
            actor=tx.user_id,
            action=AuditAction.TRADE,
            now=later(1),
            deal_id=tx.deal_id,
            token_id=tx.token_id,
            quantity=10,
            amount=HUGE * 10,
            transaction_id=tx.id,
            tx_hash=TX_HASH,
            details={"seller": "x"},
        )
        log.record(actor="worker-a", action=AuditAction.DELIST, now=later(2), deal_id=tx.deal_id)
        log.record(actor="worker-a", action=AuditAction.LIST, now=later(3), deal_id=None)
    with db.session() as session:
        log = AuditLogRepo(session)
        entries = log.list(deal_id=tx.deal_id)
        assert [e.action for e in entries] == [AuditAction.TRADE, AuditAction.DELIST]
        assert entries[0] == trade and trade.amount == HUGE * 10
        assert [e.action for e in log.list(actor="worker-a")] == [
            AuditAction.DELIST,
            AuditAction.LIST,
        ]
        with pytest.raises(StoreError, match="actor"):
            log.record(actor="", action=AuditAction.LIST, now=T0)
