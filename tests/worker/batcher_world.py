"""A seeded demo devnet for the batcher: the project's sale, queue and vault validators deployed
by the seed, orders placed with the order builder as a wallet would, and the value every party
holds (to check that lovelace and tokens add up after settlement)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cardano_market.app.settlement.report import BatchReport
from cardano_market.chain.devnet import DevnetBackend, Ledger
from cardano_market.chain.devnet.seed import DEFAULT_SEED, SeedResult, parse_seed
from cardano_market.config import Settings, load_settings
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.sale import Sale
from cardano_market.domain.values import Value, sum_values
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.store.db import Database
from cardano_market.store.orders import OrderRepo, OrderState
from cardano_market.store.sales import SaleRepo
from cardano_market.tx.order import build_order_transaction
from cardano_market.worker.batcher import Batcher
from cardano_market.worker.monitor import ChainMonitor
from env_support import REQUIRE_INTEROP, clear_market_env
from txcheck import ledger_ref_script_size, script_min_fee
from worlds import Clock, order_request, seeded_ledger

TTL_SLOTS = 300
USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
NEWM_SALE = "4fda0b09-87c2-553e-a358-4490842a0f29"  # demo seed: 50 bundles at 150 NEWM


def extra_sale_id(i: int) -> str:
    """The id of the `i`th sale `demo_seed_data` adds."""
    return f"00000000-0000-5000-8000-{i + 1:012d}"


NEWM_MAINNET_SEED = Path(__file__).resolve().parents[2] / "fixtures/devnet/newm-mainnet-seed.json"
"""The demo world behind NEWM's deployed mainnet sale, queue and vault (read from ../shared)."""
NEWM_MAINNET_SCRIPTS = Path(__file__).resolve().parents[3] / "shared/contracts/newm-mainnet"


def demo_seed_data(*bundles: int, seed: Path = DEFAULT_SEED) -> dict[str, Any]:
    """The demo seed's JSON (or `seed`'s) plus one USD sale ($0.50 a bundle) of each of `bundles`
    bundles."""
    data: dict[str, Any] = json.loads(seed.read_text(), parse_float=str)
    for i, total in enumerate(bundles):
        data["sales"].append(
            {
                "id": extra_sale_id(i),
                "owner": "artist",
                "bundleToken": "SONG",
                "bundleAmount": 1_000_000,
                "costUsd": 500_000_000_000,
                "totalBundleQuantity": total,
            }
        )
    return data


def seed_file(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@dataclasses.dataclass
class World:
    ledger: Ledger
    backend: DevnetBackend
    seeded: SeedResult
    clock: Clock

    def sale(self, sale_id: str) -> Sale:
        return next(s.sale for s in self.seeded.sales if s.sale.id == sale_id)

    def sale_utxo(self, sale: Sale) -> Utxo:
        c = self.seeded.contracts
        assert c is not None
        (utxo,) = [
            u
            for u in self.ledger.utxos_at(c.sale_address)
            if u.value.quantity((c.pointer_policy, sale.pointer_name))
        ]
        return utxo

    def place_order(
        self,
        sale: Sale,
        bundles: int,
        *,
        buyer: str = "alice",
        incentive: int | None = None,
        short_by: int = 0,
    ) -> Utxo:
        """`buyer`'s order for `bundles` of `sale` at the oracle's price (`incentive`: one unit,
        default the minimum; `short_by`: currency units fewer than the amount asks)."""
        seeded = self.seeded
        assert seeded.marketplace is not None and seeded.oracle is not None
        c = seeded.contracts
        assert c is not None and seeded.cash_register is not None
        # the pricing refuses more than the record's available bundles: price against a record
        # that still shows enough (a sale emptied since, as a stale database would show it)
        priced = dataclasses.replace(
            sale,
            total_bundle_quantity=max(sale.total_bundle_quantity, bundles),
            available_bundle_quantity=max(sale.available_bundle_quantity, bundles),
        )
        amount = order_amount(
            priced, bundles, incentive, seeded.oracle.datum.price, seeded.marketplace
        )
        if short_by:
            amount = dataclasses.replace(amount, currency_amount=amount.currency_amount - short_by)
        wallet = seeded.wallets[buyer]
        order = build_order_transaction(
            order_request(self.ledger, seeded, wallet, amount, priced, TTL_SLOTS)
        )
        witnesses = sign_transaction(order.balanced.cbor, [wallet.payment_key.seed])
        tx_id = self.ledger.submit(splice_witnesses(order.balanced.cbor, witnesses))
        self.clock.now += 20  # the next transaction lands in a later block
        queued = self.ledger.utxo((tx_id, 0))
        assert queued is not None and queued.address == c.queue_address
        return queued

    def put_at_queue(self, value: Value, datum: bytes | None) -> Utxo:
        """A raw UTxO at the queue address (a malformed order, as anyone may send one)."""
        c = self.seeded.contracts
        assert c is not None
        out = TxOutput(c.queue_address, value, inline_datum=datum).with_min_ada(self.ledger.params)
        (utxo,) = self.ledger.genesis([out])
        return utxo

    def parties(self) -> list[bytes]:
        """Every address value can move between: contracts, operators and all wallets."""
        c = self.seeded.contracts
        assert c is not None
        wallets = [w.address for w in self.seeded.wallets.values()]
        return [c.sale_address, c.queue_address, c.vault_address, *wallets]

    def holdings(self, addresses: Sequence[bytes] | None = None) -> Value:
        chosen = set(addresses if addresses is not None else self.parties())
        return sum_values(u.value for a in chosen for u in self.ledger.utxos_at(a))

    def fees_since(self, height: int) -> int:
        """Fees of the transactions applied at or above block `height`."""
        return sum(r.fee for r in self.ledger.transactions_from(height))


@contextmanager
def open_world(
    path: Path, data: dict[str, Any] | None = None, *, base_dir: Path | None = None
) -> Iterator[World]:
    """A devnet at `path` seeded from `data` (default the demo seed); `base_dir` is where the
    seed's relative paths start (its `contracts.validators`)."""
    clock = Clock()
    seed = parse_seed(data or demo_seed_data(), base_dir=base_dir)
    with seeded_ledger(path, seed, clock) as (ledger, seeded):
        yield World(ledger, DevnetBackend(ledger), seeded, clock)


# -- settlement checks shared by the batcher scenarios ---------------------------------------------


def batcher(world: World, backend: DevnetBackend | None = None) -> Batcher:
    return Batcher.for_devnet(world.seeded, backend or world.backend)


def song(world: World) -> tuple[bytes, bytes]:
    return world.seeded.seed.asset("SONG")


def currency(world: World) -> tuple[bytes, bytes]:
    assert world.seeded.marketplace is not None
    return world.seeded.marketplace.currency


def check_fees(world: World, report: BatchReport, seen: Mapping[OutRef, Utxo]) -> None:
    """Every fee is the ledger's minimum for the evaluated ex-units, within its bound: read from
    the signed transaction the ledger recorded by the independent checker (`txcheck`), not the
    builders' `required_fee`. `seen`: the parties' UTxOs before the round (what it spent)."""
    c = world.seeded.contracts
    assert c is not None
    bounds = c.reference_datum.fees
    ref_script_size = ledger_ref_script_size(world.ledger, seen)
    for tx in report.transactions:
        record = world.ledger.transaction(tx.tx_id)
        assert record is not None, f"{tx.kind} {tx.tx_id.hex()} is not on the ledger"
        assert tx.fee == script_min_fee(record.cbor, world.ledger.params, ref_script_size)
        bound = bounds.purchase_queue_bound if tx.kind == "purchase" else bounds.refund_queue_bound
        assert tx.fee <= bound, (tx.kind, tx.fee, bound)


def settle(world: World, run: Batcher) -> tuple[BatchReport, int]:
    """One round; the fees the ledger recorded for it (checked against what the value lost)."""
    before, height = world.holdings(), world.ledger.tip().block_height
    seen = {(u.tx_hash, u.index): u for a in world.parties() for u in world.ledger.utxos_at(a)}
    report = run.poll_once()
    fees = world.fees_since(height + 1)
    assert fees == sum(t.fee for t in report.transactions)
    assert world.holdings() == before - Value(fees)  # nothing created, nothing lost
    check_fees(world, report, seen)
    return report, fees


# -- serving orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addresses:
    queue: bytes
    sale: bytes


def partial_fill(world: World, database: Database) -> None:
    c = world.seeded.contracts
    assert c is not None
    sale = world.sale(extra_sale_id(0))

    def now() -> datetime:
        return datetime.fromtimestamp(world.clock.now, UTC)

    with database.session() as session:
        SaleRepo(session).add(sale, pointer_policy=c.pointer_policy, now=now())
    addresses = Addresses(queue=c.queue_address, sale=c.sale_address)
    monitor = ChainMonitor(world.backend, database, addresses, c.pointer_policy, clock=now)
    order = world.place_order(sale, 3)
    assert monitor.poll_once().count("order_queued") == 1
    run = batcher(world)

    report, _ = settle(world, run)
    (settled,) = report.settled
    assert settled.bundles == 2 and settled.refund is not None
    events = monitor.poll_once()
    assert events.count("purchase") == 1 and events.count("refund") == 1
    with database.session() as session:
        stored = SaleRepo(session).get(sale.id)
        (recorded,) = OrderRepo(session).find()
    assert stored is not None and stored.sale.status.value == "SoldOut"
    assert stored.sale.available_bundle_quantity == 0
    assert recorded.origin == order.out_ref and recorded.state is OrderState.PARTIALLY_FILLED
    assert recorded.bundles_filled == 2 and not recorded.is_open
    alice = world.seeded.wallets["alice"].address
    assert world.holdings([alice]).quantity(song(world)) == 2_000_000

    late = world.place_order(sale, 1, buyer="bob")
    report, _ = settle(world, run)
    (refunded,) = report.settled
    assert refunded.order == late.out_ref
    assert [t.kind for t in refunded.transactions] == ["refund"]


def devnet_service_settings(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> Settings:
    """The whole service on a fresh devnet in `tmp_path`, without reCAPTCHA, its custodial keys
    sealed at rest (required off SQLite); the machine's CARDANO_MARKET_* variables are cleared."""
    clear_market_env(monkeypatch, keep=(REQUIRE_INTEROP,))
    return load_settings(
        network="devnet",
        database_url=database_url,
        devnet_path=tmp_path / "devnet.db",
        recaptcha_enabled=False,
        key_encryption_key="11" * 32,
        **overrides,
    )
