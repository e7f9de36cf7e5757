"""A sale's life on the devnet: start (seller, hot key and collateral key sign), then end.

The ledger runs the pointer policy and the sale validator with uplc on every submit. Negative
cases are built with the same general builder and a budget large enough for any run, so the
scripts (not the budget) decide: a wrong pointer name, a missing hot-key or owner signature, a
pointer that is not burned, a pointer burned by someone who does not hold it. The hot-key
fallback spends a sale-address UTxO that carries no SaleDatum.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import cbor2
import pytest
from devnet_helpers import traced_demo_seed

from cardano_market.chain.base import EvaluationError, SubmitError
from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.seed import SeedResult, apply_seed
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.errors import InsufficientFundsError
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.pointer import pointer_asset_name
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.synthetic import SyntheticWallet
from cardano_market.tx.sale import (
    BURN_POINTER,
    MINT_POINTER,
    REMOVE_SALE,
    SaleTerms,
    SaleTransaction,
    build_sale_end_transaction,
    build_sale_start_transaction,
)
from cardano_market.tx.script import (
    Mint,
    ScriptInput,
    ScriptTransaction,
    Shape,
    build_script_transaction,
)
from worlds import sale_deployment, seeded_ledger

pytest.importorskip("uplc", reason="the devnet's Plutus evaluator needs uplc")

SALE_LOVELACE = 4_504_110
_TAGS = ("spend", "mint")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Ledger, SeedResult]]:
    with seeded_ledger(tmp_path / "devnet.sqlite", traced_demo_seed()) as world:
        yield world


def operators(seeded: SeedResult) -> tuple[SyntheticWallet, SyntheticWallet]:
    assert seeded.cash_register is not None and seeded.collateral is not None
    return seeded.cash_register, seeded.collateral


def end_sale(
    ledger: Ledger, seeded: SeedResult, sale: Utxo, owner: SyntheticWallet
) -> SaleTransaction:
    """`owner`'s sale-end transaction for `sale`, from all of the owner's UTxOs, with the
    operator's collateral; valid for 300 slots."""
    _hot, collateral = operators(seeded)
    return build_sale_end_transaction(
        sale_utxo=sale,
        utxos=ledger.utxos_at(owner.address),
        change_address=owner.address,
        deployment=sale_deployment(seeded),
        collateral_utxos=ledger.utxos_at(collateral.address),
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + 300,
    )


def submit(ledger: Ledger, tx: ScriptTransaction, signers: Sequence[SyntheticWallet]) -> bytes:
    witnesses = sign_transaction(tx.cbor, [w.payment_key.seed for w in signers])
    signed = splice_witnesses(tx.cbor, witnesses)
    assert len(signed) == tx.signed_size
    return ledger.submit(signed)


def generous(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
    """A stand-in evaluation for transactions whose scripts must fail: every redeemer gets a
    budget no script here comes near, so the ledger's run (not the budget) decides."""
    return {(_TAGS[k[0]], k[1]): ExUnits(3_000_000, 1_500_000_000) for k in cbor2.loads(tx)[1][5]}


def rejected_by_script(ledger: Ledger, tx: ScriptTransaction, signers, says: str) -> None:
    with pytest.raises(EvaluationError) as evaluation:
        ledger.evaluate(tx.cbor)
    assert any(says in line for line in evaluation.value.trace), evaluation.value.trace
    with pytest.raises(SubmitError) as info:
        submit(ledger, tx, signers)
    assert info.value.rule == "ScriptFailure" and any(says in t for t in info.value.trace)


def start_sale(ledger: Ledger, seeded: SeedResult) -> tuple[bytes, Utxo]:
    hot, collateral = operators(seeded)
    artist = seeded.wallets["artist"]
    song = seeded.seed.asset("SONG")
    built = build_sale_start_transaction(
        utxos=ledger.utxos_at(artist.address),
        change_address=artist.address,
        terms=SaleTerms(song, 1_000_000, 25, None, 500_000_000_000),
        sale_lovelace=SALE_LOVELACE,
        deployment=sale_deployment(seeded),
        collateral_utxos=ledger.utxos_at(collateral.address),
        collateral_key_hash=collateral.payment_key.hash,
        hot_key_hash=hot.payment_key.hash,
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + 300,
    )
    tx_id = submit(ledger, built.transaction, [artist, hot, collateral])
    assert tx_id == built.transaction.tx_id
    sale = ledger.utxo((tx_id, 0))
    assert sale is not None
    return built.pointer[1], sale


def test_start_then_end_on_the_devnet(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    c = seeded.contracts
    assert c is not None
    artist = seeded.wallets["artist"]
    song = seeded.seed.asset("SONG")
    before = sum(u.value.quantity(song) for u in ledger.utxos_at(artist.address))
    name, sale = start_sale(ledger, seeded)

    assert sale.address == c.sale_address and sale.inline_datum is not None
    assert sale.value == Value.of(SALE_LOVELACE, {song: 25_000_000, (c.pointer_policy, name): 1})
    record = ledger.transaction(sale.tx_hash)
    assert record is not None and record.is_valid
    assert ledger.utxos_at(c.sale_address).count(sale) == 1
    assert name[:4] == bytes.fromhex("ca11ab1e")

    _hot, collateral = operators(seeded)
    ended = end_sale(ledger, seeded, sale, artist)
    assert submit(ledger, ended.transaction, [artist, collateral]) == ended.transaction.tx_id
    assert ledger.utxo(sale.out_ref) is None
    refund = ledger.utxo((ended.transaction.tx_id, 0))
    assert refund is not None and refund.address == artist.address
    assert refund.value == Value.of(SALE_LOVELACE, {song: 25_000_000})
    after = sum(u.value.quantity(song) for u in ledger.utxos_at(artist.address))
    assert after == before  # every bundle token back; the pointer is gone from the ledger
    everywhere = [u for a in (c.sale_address, artist.address) for u in ledger.utxos_at(a)]
    assert not any(u.value.quantity((c.pointer_policy, name)) for u in everywhere)
    assert ledger.utxo(c.reference_utxo.out_ref) == c.reference_utxo  # referenced, never spent


def test_seeded_sales_can_be_ended_by_their_owner(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    _hot, collateral = operators(seeded)
    artist = seeded.wallets["artist"]
    for entry in seeded.sales:
        assert entry.utxo is not None
        ended = end_sale(ledger, seeded, entry.utxo, artist)
        submit(ledger, ended.transaction, [artist, collateral])
    c = seeded.contracts
    assert c is not None and ledger.utxos_at(c.sale_address) == []
    assert not apply_seed(ledger, traced_demo_seed()).sales[0].utxo  # the seed sees them ended


# -- the pointer policy refuses -------------------------------------------------------------------


def _mint_pointer(
    ledger: Ledger,
    seeded: SeedResult,
    *,
    name_for: object = None,
    signers: Sequence[bytes] | None = None,
    to_sale: bool = True,
) -> ScriptTransaction:
    """A start-like transaction with one thing changed, evaluated with a generous budget."""
    hot, collateral = operators(seeded)
    c = seeded.contracts
    assert c is not None
    artist = seeded.wallets["artist"]
    song = seeded.seed.asset("SONG")

    def shape_for(inputs: Sequence[OutRef]) -> Shape:
        name = pointer_asset_name(inputs) if name_for is None else bytes(name_for)  # type: ignore[call-overload]
        address = c.sale_address if to_sale else artist.address
        value = Value.of(SALE_LOVELACE, {song: 1_000_000, (c.pointer_policy, name): 1})
        datum = cbor2.dumps(cbor2.CBORTag(121, []))
        out = TxOutput(address, value, inline_datum=datum).with_min_ada(ledger.params)
        return Shape([out], [Mint(c.pointer_policy, {name: 1}, MINT_POINTER)])

    return build_script_transaction(
        wallet_utxos=ledger.utxos_at(artist.address),
        change_address=artist.address,
        shape=shape_for,
        params=ledger.params,
        evaluate=generous,
        collateral_utxos=ledger.utxos_at(collateral.address),
        reference_inputs=[c.reference_utxo, c.pointer_script_utxo],
        required_signers=(
            [hot.payment_key.hash, collateral.payment_key.hash] if signers is None else signers
        ),
        ttl=ledger.current_slot() + 300,
    )


def test_pointer_with_a_wrong_name_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    hot, collateral = operators(seeded)
    wrong = bytes.fromhex("ca11ab1e00") + b"\x00" * 27
    tx = _mint_pointer(ledger, seeded, name_for=wrong)
    rejected_by_script(ledger, tx, [seeded.wallets["artist"], hot, collateral], "wrong pointer")


def test_pointer_without_the_hot_key_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    _hot, collateral = operators(seeded)
    tx = _mint_pointer(ledger, seeded, signers=[collateral.payment_key.hash])
    rejected_by_script(
        ledger, tx, [seeded.wallets["artist"], collateral], "the hot key did not sign"
    )


def test_pointer_kept_out_of_the_sale_contract_is_refused(
    world: tuple[Ledger, SeedResult],
) -> None:
    ledger, seeded = world
    hot, collateral = operators(seeded)
    tx = _mint_pointer(ledger, seeded, to_sale=False)
    rejected_by_script(
        ledger, tx, [seeded.wallets["artist"], hot, collateral], "must go to the sale contract"
    )


# -- the sale validator refuses -------------------------------------------------------------------


def _remove(
    ledger: Ledger,
    seeded: SeedResult,
    sale: Utxo,
    *,
    payer: SyntheticWallet,
    signers: Sequence[bytes],
    burn: Mapping[bytes, int],
    keep_pointer: bool = False,
) -> ScriptTransaction:
    _hot, collateral = operators(seeded)
    c = seeded.contracts
    assert c is not None
    assets = {
        a: q for a, q in sale.value.assets.items() if keep_pointer or a[0] != c.pointer_policy
    }
    out = TxOutput(payer.address, Value(sale.value.coin, assets)).with_min_ada(ledger.params)
    mints = [Mint(c.pointer_policy, burn, BURN_POINTER)] if burn else []
    return build_script_transaction(
        wallet_utxos=ledger.utxos_at(payer.address),
        change_address=payer.address,
        shape=Shape([out], mints),
        params=ledger.params,
        evaluate=generous,
        collateral_utxos=ledger.utxos_at(collateral.address),
        script_inputs=[ScriptInput(sale, REMOVE_SALE)],
        reference_inputs=[c.reference_utxo, c.sale_script_utxo, c.pointer_script_utxo],
        required_signers=signers,
        ttl=ledger.current_slot() + 300,
    )


def test_removal_without_the_owner_signature_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    _hot, collateral = operators(seeded)
    sale = seeded.sales[0].utxo
    assert sale is not None
    bob = seeded.wallets["bob"]
    name = seeded.sales[0].sale.pointer_name
    tx = _remove(ledger, seeded, sale, payer=bob, signers=[bob.payment_key.hash], burn={name: -1})
    rejected_by_script(ledger, tx, [bob, collateral], "the sale's owner did not sign")
    assert ledger.utxo(sale.out_ref) == sale


def test_removal_that_keeps_the_pointer_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    _hot, collateral = operators(seeded)
    sale = seeded.sales[0].utxo
    assert sale is not None
    artist = seeded.wallets["artist"]
    tx = _remove(
        ledger,
        seeded,
        sale,
        payer=artist,
        signers=[artist.payment_key.hash],
        burn={},
        keep_pointer=True,
    )
    rejected_by_script(ledger, tx, [artist, collateral], "pointer must be burned")


def test_burning_a_pointer_you_do_not_hold_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    """Ending sale 0 while burning sale 1's pointer (still at the sale address): nothing the
    owner spends holds it, so no balanced transaction exists; the builder names the shortfall.
    (Keeping sale 0's own pointer instead is the script's refusal, tested above.)"""
    ledger, seeded = world
    sale = seeded.sales[0].utxo
    assert sale is not None
    artist = seeded.wallets["artist"]
    c = seeded.contracts
    assert c is not None
    other = seeded.sales[1].sale.pointer_name
    with pytest.raises(InsufficientFundsError) as info:
        _remove(
            ledger,
            seeded,
            sale,
            payer=artist,
            signers=[artist.payment_key.hash],
            burn={other: -1},
        )
    assert info.value.shortfall == {c.pointer_policy.hex() + other.hex(): 1}
    assert ledger.utxo(sale.out_ref) == sale


def test_hot_key_recovers_a_utxo_without_a_sale_datum(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    hot, collateral = operators(seeded)
    c = seeded.contracts
    assert c is not None
    [stray] = ledger.genesis([TxOutput(c.sale_address, Value(7_000_000))])
    for signer, ok in ((seeded.wallets["bob"], False), (hot, True)):
        tx = _remove(
            ledger, seeded, stray, payer=signer, signers=[signer.payment_key.hash], burn={}
        )
        if ok:
            assert submit(ledger, tx, [signer, collateral]) == tx.tx_id
            assert ledger.utxo(stray.out_ref) is None
        else:
            rejected_by_script(ledger, tx, [signer, collateral], "the hot key must sign")
