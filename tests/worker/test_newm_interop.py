"""The batcher's transactions against NEWM's deployed mainnet scripts, on the devnet.

The devnet is seeded from `fixtures/devnet/newm-mainnet-seed.json`: NEWM's sale, queue and vault
validators (read from `../shared/contracts/newm-mainnet`, never copied) stand at the marketplace
addresses, with mainnet's starter NFT at mainnet's reference-data address (both baked into those
scripts), mainnet's 1 ADA fee bounds and the project's pointer policy in the reference datum.
The purchases, refunds and cancels below are built by the project's builders (the batcher, the
cancel builder, the sale-end builder) and the ledger accepts each only after running NEWM's
scripts on it. Skipped when `../shared` is absent; CI's CARDANO_MARKET_REQUIRE_INTEROP=1 makes
that a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import cbor2
import pytest
from batcher_world import (
    NEWM_MAINNET_SCRIPTS,
    NEWM_MAINNET_SEED,
    NEWM_SALE,
    USD_SALE,
    World,
    batcher,
    demo_seed_data,
    open_world,
    partial_fill,
    settle,
    song,
)

from cardano_market.chain.base import SubmitError
from cardano_market.chain.devnet.deployment import project_pointer_script
from cardano_market.domain.address import parse_address
from cardano_market.domain.datums import Fees
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.store.db import Database
from cardano_market.tx.sale import SaleDeployment, build_sale_end_transaction
from cardano_market.tx.script import ScriptTransaction
from cardano_market.tx.settle.cancel import build_cancel_transaction
from cardano_market.tx.settle.deployment import BatchDeployment
from interop.csl import interop_required

pytest.importorskip("uplc", reason="the devnet runs the marketplace validators with uplc")

# the NOTICE beside the scripts: their hashes and the parameters baked into them
NEWM_SCRIPT_HASHES = {
    "sale": "bf5ba087d428e870a809c3e88fa8de019e01f5f31582c0e4abcb42bd",
    "queue": "fd4572b20a1d76e7dc0aaa548579bacc2b318a4862a7e12f94b7e76d",
    "vault": "b8193d5acd8a0a6aa1f06ed1835648bc76e458c6c4621c543b769a3e",
}
MAINNET_STARTER = (
    bytes.fromhex("56cc98f6b22b063d71e6fe1af7cf2393dd698b5d84b1ecd33d0b3c08"),
    b"NEWMarketplace",
)
MAINNET_REFERENCE_DATA = bytes.fromhex("7c7487bca5af9814f10b9e8239b9efa46f20f87edd075f78d62abbb7")
ONE_ADA = 1_000_000


@pytest.fixture(autouse=True)
def newm_scripts() -> None:
    if not NEWM_MAINNET_SCRIPTS.is_dir():
        message = f"NEWM's deployed scripts are not at {NEWM_MAINNET_SCRIPTS} (../shared is absent)"
        if interop_required():
            pytest.fail(message)
        pytest.skip(message)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))  # uplc's flat decoder


def newm_world(path: Path, *bundles: int) -> AbstractContextManager[World]:
    data = demo_seed_data(*bundles, seed=NEWM_MAINNET_SEED)
    return open_world(path, data, base_dir=NEWM_MAINNET_SEED.parent)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with newm_world(tmp_path / "newm.sqlite") as w:
        yield w


def submit(world: World, tx: ScriptTransaction, seeds: list[bytes]) -> bytes:
    signed = splice_witnesses(tx.cbor, sign_transaction(tx.cbor, seeds))
    assert len(signed) == tx.signed_size  # the fee paid for exactly these witnesses
    return world.ledger.submit(signed)


def test_the_deployed_scripts_stand_behind_the_marketplace(world: World) -> None:
    c = world.seeded.contracts
    assert c is not None
    assert {
        "sale": c.sale_script_hash.hex(),
        "queue": c.queue_script_hash.hex(),
        "vault": c.vault_script_hash.hex(),
    } == NEWM_SCRIPT_HASHES
    assert c.starter_nft == MAINNET_STARTER
    reference_address = parse_address(c.reference_utxo.address)
    assert reference_address.payment.hash == MAINNET_REFERENCE_DATA
    datum = c.reference_datum
    assert datum.fees == Fees(ONE_ADA, ONE_ADA, ONE_ADA)  # mainnet's bounds, not raised
    # the pointer policy is the project's, applied to mainnet's starter NFT
    pointer = project_pointer_script(c.starter_nft)
    assert datum.pointer == c.pointer_policy == script_hash(3, pointer)
    for holder, expected in (
        (c.sale_script_utxo, "sale"),
        (c.queue_script_utxo, "queue"),
        (c.vault_script_utxo, "vault"),
    ):
        language, script = cbor2.loads(holder.script_ref or b"")
        assert language == 3 and script_hash(3, script).hex() == NEWM_SCRIPT_HASHES[expected]
    for address in (c.sale_address, c.queue_address, c.vault_address):
        assert parse_address(address).payment.hash.hex() in NEWM_SCRIPT_HASHES.values()


def test_three_bundles_ordered_two_left(tmp_path: Path) -> None:
    """The partial fill of the issue against NEWM's scripts: the batcher fills 2 of 3 bundles and
    refunds the rest, the monitor sees SoldOut and partially_filled, a later order on the sold-out
    sale is refunded only; every value adds up and every fee is within mainnet's 1 ADA."""
    with newm_world(tmp_path / "newm.sqlite", 2) as world:
        database = Database.connect(f"sqlite:///{tmp_path / 'monitor.db'}")
        try:
            partial_fill(world, database)
        finally:
            database.dispose()


def test_usd_and_token_priced_sales_in_one_round(world: World) -> None:
    usd = world.place_order(world.sale(USD_SALE), 1)
    newm = world.place_order(world.sale(NEWM_SALE), 2, buyer="bob")
    short = world.place_order(world.sale(USD_SALE), 1, short_by=20_000_000)

    report, _ = settle(world, batcher(world))
    kinds = {s.order: [t.kind for t in s.transactions] for s in report.settled}
    assert kinds == {
        usd.out_ref: ["purchase", "refund"],
        newm.out_ref: ["purchase", "refund"],
        short.out_ref: ["refund"],  # short-paid: refunded, never filled
    }
    assert {s.order: s.bundles for s in report.settled if s.purchase} == {
        usd.out_ref: 1,
        newm.out_ref: 2,
    }
    bob = world.seeded.wallets["bob"].address
    assert world.holdings([bob]).quantity(song(world)) == 2_000_000
    purchases = [t.fee for t in report.transactions if t.kind == "purchase"]
    assert purchases and max(purchases) < ONE_ADA


def test_cancel_by_the_owner_only(world: World) -> None:
    c = world.seeded.contracts
    assert c is not None
    alice, bob = world.seeded.wallets["alice"], world.seeded.wallets["bob"]
    order = world.place_order(world.sale(USD_SALE), 1)
    deployment = BatchDeployment(
        c.reference_utxo, c.sale_script_utxo, c.queue_script_utxo, c.vault_script_utxo
    )

    def cancel(payer_address: bytes) -> ScriptTransaction:
        payer = world.ledger.utxos_at(payer_address)
        return build_cancel_transaction(
            deployment=deployment,
            queue_utxo=order,
            owner_utxos=payer,
            collateral_utxos=[u for u in payer if u.value.is_ada_only],
            params=world.ledger.params,
            evaluate=world.ledger.evaluate,
            ttl=world.ledger.current_slot() + 300,
            change_address=payer_address,
        ).transaction

    # bob pays and signs; the order's owner (alice) is a required signer he cannot provide
    # (that the queue script itself refuses a cancel alice did not sign: tests/contracts)
    stolen = cancel(bob.address).cbor
    signed_by_bob = splice_witnesses(stolen, sign_transaction(stolen, [bob.payment_key.seed]))
    with pytest.raises(SubmitError) as refused:
        world.ledger.submit(signed_by_bob)
    assert refused.value.rule == "MissingVKeyWitnessesUTXOW", refused.value
    assert world.ledger.utxo(order.out_ref) == order

    tx = cancel(alice.address)
    before = world.holdings([alice.address, c.queue_address])
    submit(world, tx, [alice.payment_key.seed])
    assert world.ledger.utxo(order.out_ref) is None
    assert world.holdings([alice.address, c.queue_address]) == before - Value(tx.fee)


def test_sale_end_runs_the_deployed_sale_script(world: World) -> None:
    c = world.seeded.contracts
    assert c is not None and world.seeded.collateral is not None
    artist = world.seeded.wallets["artist"]
    sale_utxo = world.sale_utxo(world.sale(USD_SALE))
    ended = build_sale_end_transaction(
        sale_utxo=sale_utxo,
        utxos=world.ledger.utxos_at(artist.address),
        change_address=artist.address,
        deployment=SaleDeployment(
            c.reference_utxo, c.pointer_script_utxo, c.sale_script_utxo, c.sale_address
        ),
        collateral_utxos=world.ledger.utxos_at(world.seeded.collateral.address),
        params=world.ledger.params,
        evaluate=world.ledger.evaluate,
        ttl=world.ledger.current_slot() + 300,
    )
    seeds = [artist.payment_key.seed, world.seeded.collateral.payment_key.seed]
    submit(world, ended.transaction, seeds)
    assert world.ledger.utxo(sale_utxo.out_ref) is None
    returned = world.ledger.utxo((ended.transaction.tx_id, 0))
    assert returned is not None and returned.address == artist.address
    assert returned.value.quantity(song(world)) == sale_utxo.value.quantity(song(world))
