"""The batcher on a devnet seeded from the demo seed, the project's sale, queue and vault
validators running on the ledger (uplc) at every evaluation and submit.

Each scenario checks what every party holds before and after: lovelace and tokens across all
wallets and contracts change by exactly the fees the ledger recorded.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from batcher_world import (
    NEWM_SALE,
    USD_SALE,
    World,
    batcher,
    currency,
    demo_seed_data,
    extra_sale_id,
    open_world,
    partial_fill,
    settle,
    song,
)

from cardano_market.chain.base import ChainError
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.config import Settings, load_settings
from cardano_market.domain.address import encode_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum, Token, Wallet
from cardano_market.domain.errors import ConfigError
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.queue import MalformedOrderError, QueuedOrder, read_queued_order
from cardano_market.domain.values import AssetId, Value, unit_of
from cardano_market.runtime.workers import configured_batcher
from cardano_market.store.db import Database
from cardano_market.synthetic import tx_hash, utxo

pytest.importorskip("uplc", reason="the devnet runs the marketplace validators with uplc")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path / "devnet.sqlite") as w:
        yield w


def test_one_order_is_filled_then_refunded(world: World) -> None:
    sale = world.sale(USD_SALE)
    sale_before = world.sale_utxo(sale)
    order = world.place_order(sale, 2)
    alice = world.seeded.wallets["alice"].address
    alice_before = world.holdings([alice])
    run = batcher(world)

    report, fees = settle(world, run)
    (settled,) = report.settled
    assert settled.order == order.out_ref and settled.bundles == 2
    assert [t.kind for t in settled.transactions] == ["purchase", "refund"]
    refund = settled.refund
    assert refund is not None
    # the refund spent the purchase's order output, built before the purchase was on chain
    purchase = settled.purchase
    assert purchase is not None
    assert purchase.queue_utxo.out_ref in {u.out_ref for u in refund.transaction.inputs}
    sold = 2 * 1_000_000
    assert world.sale_utxo(sale).value.quantity(song(world)) == (
        sale_before.value.quantity(song(world)) - sold
    )
    c = world.seeded.contracts
    assert c is not None and world.ledger.utxos_at(c.queue_address) == []
    # alice gets the songs and her order back less the price, profit, two incentives and fees
    assert world.seeded.oracle is not None and world.seeded.marketplace is not None
    price = world.seeded.oracle.datum.price
    unit = profit = 500_000_000_000 // price
    incentive = world.seeded.marketplace.incentive_min_amount
    paid = Value.of(fees, {currency(world): 2 * unit + profit + 2 * incentive})
    assert (
        world.holdings([alice])
        == alice_before + order.value + Value.of(0, {song(world): sold}) - paid
    )

    again = run.poll_once()  # nothing is served twice
    assert again.settled == [] and again.skipped == [] and again.in_flight == 0


def test_three_bundles_ordered_two_left(tmp_path: Path) -> None:
    """The partial fill: 2 of 3 bundles bought, the rest refunded; the monitor sees the sale
    SoldOut and the order partially filled. A later order on the sold-out sale is refunded only."""
    with open_world(tmp_path / "devnet.sqlite", demo_seed_data(2)) as world:
        database = Database.connect(f"sqlite:///{tmp_path / 'monitor.db'}")
        try:
            partial_fill(world, database)
        finally:
            database.dispose()


def test_priority_sold_out_and_short_paid(tmp_path: Path) -> None:
    """Bob's larger incentive takes the last bundle although alice ordered first; alice's order
    on the now sold-out sale and a short-paid order are refunded, never filled."""
    with open_world(tmp_path / "priority.sqlite", demo_seed_data(1)) as world:
        tiny = world.sale(extra_sale_id(0))
        first = world.place_order(tiny, 1)  # minimum incentive, older
        richer = world.place_order(tiny, 1, buyer="bob", incentive=10_000_000)
        short = world.place_order(world.sale(USD_SALE), 1, short_by=20_000_000)

        report, _ = settle(world, batcher(world))
        kinds = {s.order: [t.kind for t in s.transactions] for s in report.settled}
        assert kinds == {
            richer.out_ref: ["purchase", "refund"],
            first.out_ref: ["refund"],
            short.out_ref: ["refund"],
        }
        order = [s.order for s in report.settled]
        assert order.index(richer.out_ref) < order.index(first.out_ref)
        bob = world.seeded.wallets["bob"].address
        assert world.holdings([bob]).quantity(song(world)) == 1_000_000
        assert world.holdings([world.seeded.wallets["alice"].address]).quantity(song(world)) == 0


def test_two_sales_in_one_round_chain_through_the_certificate(world: World) -> None:
    usd = world.place_order(world.sale(USD_SALE), 1)
    newm = world.place_order(world.sale(NEWM_SALE), 2, buyer="bob")

    report, _ = settle(world, batcher(world))
    assert {s.order: s.bundles for s in report.settled} == {usd.out_ref: 1, newm.out_ref: 2}
    txs = report.transactions
    assert [t.kind for t in txs] == ["purchase", "refund", "purchase", "refund"]
    # each transaction spends the certificate output of the one before it (no block between)
    for before, after in itertools.pairwise(txs):
        spent = {u.out_ref for u in after.transaction.inputs}
        certificate = [u for u in before.output_utxos() if u.address == batcher_address(world)]
        assert certificate and certificate[0].out_ref in spent


def batcher_address(world: World) -> bytes:
    assert world.seeded.batcher is not None
    return world.seeded.batcher.address


# -- malformed orders -----------------------------------------------------------------------------


def test_malformed_orders_are_skipped_with_a_reason_logged_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sale = world.sale(USD_SALE)
    owner = Wallet(world.seeded.wallets["alice"].payment_key.hash)
    good = QueueDatum(owner, 1, Token.of(currency(world), 5_000_000), sale.pointer_name)
    fields = good.to_plutus().value  # Constr 0: tag 121 over the field list
    other_token = (bytes(28), b"FAKE")
    bad = {
        "three fields": encode_plutus(constr(0, fields[:3])),
        "zero bundles": QueueDatum(owner, 0, good.incentive, sale.pointer_name).to_cbor(),
        "foreign incentive": QueueDatum(
            owner, 1, Token.of(other_token, 5_000_000), sale.pointer_name
        ).to_cbor(),
        "short pointer": encode_plutus(constr(0, [*fields[:3], sale.pointer_name[:31]])),
        "not CBOR data": cbor2.dumps("hello"),
    }
    refs = {
        world.put_at_queue(Value.of(5_000_000, {currency(world): 10_000_000}), d).out_ref: name
        for name, d in bad.items()
    }
    refs[world.put_at_queue(Value(5_000_000), None).out_ref] = "no datum"
    run = batcher(world)

    with caplog.at_level(logging.WARNING, logger="cardano_market.batcher"):
        report = run.poll_once()
    reasons = {refs[s.out_ref]: s.reason for s in report.skipped}
    assert report.settled == [] and set(reasons) == set(refs.values())
    assert "must have 4 fields" in reasons["three fields"]
    assert "number_of_bundles is 0" in reasons["zero bundles"]
    assert "not allow-listed" in reasons["foreign incentive"]
    assert "32 bytes" in reasons["short pointer"]
    assert "no inline datum" in reasons["no datum"]
    assert len(caplog.records) == len(refs)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cardano_market.batcher"):
        again = run.poll_once()
    assert len(again.skipped) == len(refs) and caplog.records == []  # logged once


def test_serving_order_is_priority_then_incentive_then_age() -> None:
    """(allow-list position, larger incentive first, older first, lower output index first)."""
    newm: AssetId = (bytes(range(28)), b"NEWM")
    ada: AssetId = (b"", b"")
    allow = [newm, ada]
    address = bytes([0x60]) + bytes(28)

    def order(label: str, asset: AssetId, amount: int, slot: int, ix: int = 0) -> QueuedOrder:
        datum = QueueDatum(Wallet(bytes(28)), 1, Token.of(asset, amount), bytes(32))
        held = utxo(tx_hash(label), ix, address, Value(5_000_000), inline_datum=datum.to_cbor())
        return read_queued_order(held, allow, slot=slot)

    orders = {
        "ada big": order("ada big", ada, 50_000_000, 1),
        "newm old": order("newm old", newm, 5_000_000, 10),
        "newm new ix1": order("newm new", newm, 5_000_000, 20, 1),
        "newm new ix0": order("newm new", newm, 5_000_000, 20, 0),
        "newm rich": order("newm rich", newm, 9_000_000, 30),
    }
    served = sorted(orders, key=lambda label: orders[label].sort_key)
    assert served == ["newm rich", "newm old", "newm new ix0", "newm new ix1", "ada big"]
    with pytest.raises(MalformedOrderError, match="not allow-listed"):
        read_queued_order(orders["ada big"].utxo, [newm])


# -- failed submissions ---------------------------------------------------------------------------


class FlakyBackend(DevnetBackend):
    """Fails chosen submit calls: "before" the ledger sees the transaction (a rejection or a
    network error), or "after" it was applied (the answer was lost)."""

    def __init__(self, backend: DevnetBackend, failures: dict[int, str]) -> None:
        super().__init__(backend.ledger)
        self.failures = failures
        self.calls = 0

    def submit(self, tx: bytes) -> bytes:
        self.calls += 1
        how = self.failures.get(self.calls)
        if how == "before":
            raise ChainError("connection reset before the node answered")
        tx_id = super().submit(tx)
        if how == "after":
            raise ChainError("connection reset after the node accepted the transaction")
        return tx_id


@pytest.mark.parametrize(
    "failures",
    [{1: "after"}, {2: "before"}],
    ids=["purchase answer lost", "refund submit fails once"],
)
def test_a_failed_submit_does_not_fill_twice(world: World, failures: dict[int, str]) -> None:
    sale = world.sale(USD_SALE)
    held = world.sale_utxo(sale).value.quantity(song(world))
    order = world.place_order(sale, 2)
    flaky = FlakyBackend(world.backend, failures)

    report, _ = settle(world, batcher(world, flaky))
    (settled,) = report.settled
    assert settled.order == order.out_ref and report.released == []
    assert [t.kind for t in settled.transactions] == ["purchase", "refund"]
    assert world.sale_utxo(sale).value.quantity(song(world)) == held - 2_000_000
    c = world.seeded.contracts
    assert c is not None and world.ledger.utxos_at(c.queue_address) == []


def test_twice_failed_submit_releases_the_order_to_the_next_round(world: World) -> None:
    sale = world.sale(USD_SALE)
    held = world.sale_utxo(sale).value.quantity(song(world))
    order = world.place_order(sale, 1)
    flaky = FlakyBackend(world.backend, {1: "before", 2: "before"})
    run = batcher(world, flaky)

    report, fees = settle(world, run)
    assert report.settled == [] and fees == 0
    assert [r.out_ref for r in report.released] == [order.out_ref]
    assert world.ledger.utxo(order.out_ref) == order  # left for the next round

    report, _ = settle(world, run)
    (settled,) = report.settled
    assert settled.order == order.out_ref and settled.bundles == 1
    assert world.sale_utxo(sale).value.quantity(song(world)) == held - 1_000_000


# -- the oracle window ----------------------------------------------------------------------------


def test_validity_stays_inside_the_oracle_window(world: World) -> None:
    """Near the end of the oracle's window the transactions expire with it; past it, orders wait
    with the reason logged (the scripts would refuse any validity interval)."""
    oracle = world.seeded.oracle
    assert oracle is not None
    end_slot = world.ledger.slot_config.posix_ms_to_slot(oracle.datum.end_ms)
    world.clock.now = world.ledger.slot_config.slot_to_posix_ms(end_slot - 100) / 1000
    order = world.place_order(world.sale(USD_SALE), 1)
    run = batcher(world)

    report, _ = settle(world, run)
    (settled,) = report.settled
    for tx in settled.transactions:
        body = cbor2.loads(tx.cbor)[0]
        assert body[3] <= end_slot and body[8] <= world.ledger.current_slot()  # ttl, start
    assert settled.order == order.out_ref

    world.clock.now = world.ledger.slot_config.slot_to_posix_ms(end_slot + 10) / 1000
    late = world.place_order(world.sale(USD_SALE), 1)
    report = run.poll_once()
    assert report.settled == []
    (skipped,) = report.skipped
    assert skipped.out_ref == late.out_ref and "oracle window" in skipped.reason


# -- a batcher configured from settings (public networks) ------------------------------------------


def batcher_settings(world: World, **changes: Any) -> Settings:
    """What a public network's operator sets, taken from the seeded devnet's deployment."""
    c = world.seeded.contracts
    assert c is not None and world.seeded.batcher is not None
    assert world.seeded.collateral is not None

    def ref(utxo: Utxo) -> str:
        return f"{utxo.tx_hash.hex()}#{utxo.index}"

    values: dict[str, Any] = {
        "network": "devnet",
        "batcher_key": world.seeded.batcher.payment_key.seed.hex(),
        "batcher_address": encode_address(world.seeded.batcher.address),
        "operator_collateral_key": world.seeded.collateral.payment_key.seed.hex(),
        "collateral_address": encode_address(world.seeded.collateral.address),
        "reference_address": encode_address(c.reference_utxo.address),
        "starter_nft_unit": unit_of(c.starter_nft),
        "sale_script_ref": ref(c.sale_script_utxo),
        "queue_script_ref": ref(c.queue_script_utxo),
        "vault_script_ref": ref(c.vault_script_utxo),
    }
    values.update(changes)
    return load_settings(**{k: v for k, v in values.items() if v is not None})


def test_a_configured_batcher_reads_its_deployment_from_the_chain(world: World) -> None:
    order = world.place_order(world.sale(USD_SALE), 1)
    run = configured_batcher(batcher_settings(world), world.backend)
    report, _ = settle(world, run)
    (settled,) = report.settled
    assert settled.order == order.out_ref and settled.bundles == 1


def test_a_configured_batcher_names_what_is_missing_or_wrong(world: World) -> None:
    with pytest.raises(ConfigError, match=r"CARDANO_MARKET_BATCHER_KEY.*QUEUE_SCRIPT_REF"):
        configured_batcher(
            batcher_settings(world, batcher_key=None, queue_script_ref=None), world.backend
        )
    c = world.seeded.contracts
    assert c is not None
    vault_ref = f"{c.vault_script_utxo.tx_hash.hex()}#{c.vault_script_utxo.index}"
    with pytest.raises(ConfigError, match=r"the queue reference-script UTxO .* names the queue"):
        configured_batcher(batcher_settings(world, queue_script_ref=vault_ref), world.backend)
    with pytest.raises(ConfigError, match="BATCHER_ADDRESS is not paid to its key"):
        other = encode_address(world.seeded.wallets["bob"].address)
        configured_batcher(batcher_settings(world, batcher_address=other), world.backend)
    gone = f"{'00' * 32}#0"
    with pytest.raises(ChainError, match=r"sale reference-script UTxO .* is not on chain"):
        configured_batcher(batcher_settings(world, sale_script_ref=gone), world.backend)
    assert world.seeded.batcher is not None
    hot = world.seeded.batcher.payment_key.seed.hex()
    with pytest.raises(ConfigError, match="BATCHER_KEY is the operator's hot key"):
        configured_batcher(batcher_settings(world, operator_hot_key=hot), world.backend)
