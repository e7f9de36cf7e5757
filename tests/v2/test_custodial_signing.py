"""THREATS 3 through HTTP and the worker on the devnet: a custodial user's key never signs a
transaction that spends another user's UTxO, whatever the builder was told. The chain index that
feeds the builder lies here (a buggy or compromised indexer); the signing gate reads every input
from the ledger itself and refuses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from custody_world import ALICE, BOB, SONG, V2Service, buy_on_primary

from cardano_market.app.custody import wallet_of, wallet_value
from cardano_market.chain.base import ChainBackend
from cardano_market.domain.cip30 import Utxo
from cardano_market.worker.processor import TransactionProcessor


class LyingIndex:
    """A chain backend whose address index shows `planted` UTxOs (relabelled) at `address`
    instead of what is there; every other call reaches the real ledger."""

    def __init__(self, inner: ChainBackend, address: bytes, planted: list[Utxo]) -> None:
        self._inner = inner
        self._address = address
        self._planted = [replace(u, address=address) for u in planted]

    def utxos_at(self, address: bytes) -> list[Utxo]:
        if address == self._address:
            return list(self._planted)
        return self._inner.utxos_at(address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_custodial_purchase_never_signs_for_another_users_utxos(v2_sqlite: V2Service) -> None:
    v2 = v2_sqlite
    with v2.ctx.database.session() as session:
        alice = wallet_of(v2.ctx, session, ALICE).address
        bob = wallet_of(v2.ctx, session, BOB).address
    before = {"alice": wallet_value(v2.ctx, alice), "bob": wallet_value(v2.ctx, bob)}
    bobs = v2.ctx.backend.utxos_at(bob)
    assert bobs

    tx_id = buy_on_primary(v2, ALICE, 1)
    lying = v2.with_chain(LyingIndex(v2.ctx.backend, alice, bobs))
    done = TransactionProcessor(lying, "lying-worker").run_once()

    assert done is not None and done.id == tx_id
    status = v2.get(f"/v2/admin/tokens/{SONG}/transactions/{tx_id}", ALICE).json()
    assert status["status"] == "failed", status
    assert "refused to sign" in status["failure_reason"]
    assert "belongs to another wallet" in status["failure_reason"]
    assert {"alice": wallet_value(v2.ctx, alice), "bob": wallet_value(v2.ctx, bob)} == before
