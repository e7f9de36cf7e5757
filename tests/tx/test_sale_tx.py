"""Sale start and end builders (tx/sale.py over tx/script.py), checked from the decoded CBOR.

Scripts are evaluated by the devnet ledger's real evaluator (uplc) over the demo seed's deployed
contracts; what the ledger then does with the transactions is in
tests/chain/devnet/test_sale_lifecycle.
Here: amounts, balance (mint included), the fee for the signed size with every witness, min-ADA,
collateral, redeemer indices, the script data hash, stable ids, and CSL's reading.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import cbor2
import pytest

from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.seed import SeedResult
from cardano_market.domain.cbor import item_end
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import USD, SaleDatum, Token, Wallet
from cardano_market.domain.errors import InsufficientFundsError, PointerError
from cardano_market.domain.pointer import pointer_asset_name
from cardano_market.domain.values import Value
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
    sale_end_amount,
    sale_start_amount,
)
from cardano_market.tx.script import CollateralError, choose_collateral
from interop.csl import CslInspect
from worlds import sale_deployment, seeded_ledger

pytest.importorskip("uplc", reason="script evaluation needs uplc")

SALE_LOVELACE = 4_504_110


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Ledger, SeedResult]]:
    with seeded_ledger(":memory:") as world:
        yield world


def terms(seeded: SeedResult, bundles: int = 10) -> SaleTerms:
    return SaleTerms(seeded.seed.asset("SONG"), 1_000_000, bundles, None, 500_000_000_000)


def start(
    ledger: Ledger, seeded: SeedResult, utxos: list[Utxo] | None = None, bundles: int = 10
) -> SaleTransaction:
    artist = seeded.wallets["artist"]
    assert seeded.collateral is not None and seeded.cash_register is not None
    return build_sale_start_transaction(
        utxos=ledger.utxos_at(artist.address) if utxos is None else utxos,
        change_address=artist.address,
        terms=terms(seeded, bundles),
        sale_lovelace=SALE_LOVELACE,
        deployment=sale_deployment(seeded),
        collateral_utxos=ledger.utxos_at(seeded.collateral.address),
        collateral_key_hash=seeded.collateral.payment_key.hash,
        hot_key_hash=seeded.cash_register.payment_key.hash,
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + 300,
    )


def end(ledger: Ledger, seeded: SeedResult, sale_utxo: Utxo) -> SaleTransaction:
    artist = seeded.wallets["artist"]
    assert seeded.collateral is not None
    return build_sale_end_transaction(
        sale_utxo=sale_utxo,
        utxos=ledger.utxos_at(artist.address),
        change_address=artist.address,
        deployment=sale_deployment(seeded),
        collateral_utxos=ledger.utxos_at(seeded.collateral.address),
        params=ledger.params,
        evaluate=ledger.evaluate,
        ttl=ledger.current_slot() + 300,
    )


# -- an independent reading of the transaction -----------------------------------------------------


def _amount(raw: Any) -> Counter[tuple[bytes, bytes]]:
    total: Counter[tuple[bytes, bytes]] = Counter()
    coin, assets = (raw, {}) if isinstance(raw, int) else raw
    total[(b"", b"")] += coin
    for policy, names in assets.items():
        for name, qty in names.items():
            total[(policy, name)] += qty
    return total


def _signed(built: SaleTransaction, keys: list[SyntheticWallet]) -> bytes:
    tx = built.transaction.cbor
    return splice_witnesses(tx, sign_transaction(tx, [k.payment_key.seed for k in keys]))


def check(ledger: Ledger, built: SaleTransaction, signers: list[SyntheticWallet]) -> dict[int, Any]:
    """Balance, fee, min-ADA, collateral and script-data facts from the decoded CBOR."""
    params = ledger.params
    tx = built.transaction
    body, witnesses, valid, aux = cbor2.loads(tx.cbor)
    assert valid is True and aux is None and set(witnesses) == {5}
    resolved = {u.out_ref: u for u in ledger.utxos_by_ref(tuple(i) for i in body[0])}
    inputs = sorted(tuple(i) for i in body[0])
    assert [u.out_ref for u in tx.inputs] == inputs and set(resolved) == set(inputs)
    consumed: Counter[tuple[bytes, bytes]] = Counter()
    for ref in inputs:
        consumed.update(_amount(cbor2.loads(resolved[ref].output_cbor)[1]))
    for policy, names in body.get(9, {}).items():
        for name, qty in names.items():
            consumed[(policy, name)] += qty
    produced: Counter[tuple[bytes, bytes]] = Counter()
    for out in body[1]:
        produced.update(_amount(out[1]))
    produced[(b"", b"")] += body[2]
    assert +consumed == +produced and all(v >= 0 for v in consumed.values())

    # every key that will sign: wallet inputs, collateral inputs, required signers
    collateral = {u.out_ref: u for u in ledger.utxos_by_ref(tuple(i) for i in body[13])}
    needed = {u.address[1:29] for u in resolved.values() if u.address[0] >> 4 in (0, 6)}
    needed |= {u.address[1:29] for u in collateral.values()} | set(body.get(14, []))
    assert {k.payment_key.hash for k in signers} == needed
    signed = _signed(built, signers)
    assert len(signed) == tx.signed_size and tx.vkey_witnesses == len(needed)
    body_end = item_end(signed, 1)
    assert signed[1:body_end] == tx.body == tx.cbor[1:body_end]  # splicing kept the body bytes
    assert hashlib.blake2b(tx.body, digest_size=32).digest() == tx.tx_id
    redeemers = cbor2.loads(tx.cbor)[1][5]
    mem = sum(v[1][0] for v in redeemers.values())
    steps = sum(v[1][1] for v in redeemers.values())
    ref_bytes = sum(
        len(cbor2.loads(u.script_ref)[1])
        for u in ledger.utxos_by_ref(tuple(i) for i in body[18])
        if u.script_ref
    )
    minimum = (
        params.min_fee_a * len(signed)
        + params.min_fee_b
        + math.ceil(Fraction(577, 10_000) * mem + Fraction(721, 10_000_000) * steps)
        + math.floor(ref_bytes * 15)  # one tier: under 25,600 bytes
    )
    assert ref_bytes < 25_600 and body[2] >= minimum
    assert body[2] - minimum < 100, "the fee is the minimum (within a dust rounding)"

    for i, out in enumerate(cbor2.loads(tx.cbor)[0][1]):
        raw = cbor2.dumps(out)
        coin = _amount(out[1])[(b"", b"")]
        assert coin >= (160 + len(raw)) * params.coins_per_utxo_byte, f"output {i} below min-ADA"

    # collateral: ADA-only key UTxOs, return + total, total >= fee x 150%
    total_in = sum(u.value.coin for u in collateral.values())
    assert all(u.value.is_ada_only for u in collateral.values())
    returned = body[16][1] if 16 in body else 0
    assert body[17] == total_in - returned
    assert body[17] * 100 >= body[2] * params.collateral_percent
    assert body[17] == -(-body[2] * params.collateral_percent // 100) or 16 not in body
    return body


# -- amounts --------------------------------------------------------------------------------------


def test_start_and_end_amounts_are_protocol_section_5() -> None:
    bundle = (b"\x01" * 28, b"SONG")
    amount = sale_start_amount(
        sale_lovelace=SALE_LOVELACE, bundle=bundle, bundle_amount=1_000_000, total_bundle_quantity=7
    )
    assert cbor2.loads(amount.to_cbor()) == [6_504_110, {b"\x01" * 28: {b"SONG": 7_000_000}}]
    assert sale_end_amount(sale_lovelace=SALE_LOVELACE).to_cbor() == cbor2.dumps(6_504_110)


# -- start ----------------------------------------------------------------------------------------


def test_start_pays_the_sale_address_mints_one_pointer_and_balances(
    world: tuple[Ledger, SeedResult],
) -> None:
    ledger, seeded = world
    assert seeded.collateral is not None and seeded.cash_register is not None
    built = start(ledger, seeded)
    tx = built.transaction
    body = check(ledger, built, [seeded.wallets["artist"], seeded.cash_register, seeded.collateral])
    c = seeded.contracts
    assert c is not None
    policy, name = built.pointer
    assert policy == c.pointer_policy
    assert name == pointer_asset_name([tx.inputs[0].out_ref])  # the first in ledger order
    assert body[9] == {policy: {name: 1}}
    sale = tx.outputs[0]
    assert sale.address == c.sale_address and sale.address[0] == 0x30  # script/script, testnet
    assert sale.value == Value.of(
        SALE_LOVELACE, {seeded.seed.asset("SONG"): 10_000_000, built.pointer: 1}
    )
    artist = seeded.wallets["artist"]
    assert SaleDatum.from_cbor(sale.inline_datum or b"") == SaleDatum(
        Wallet(artist.payment_key.hash, artist.stake_key.hash),
        Token(*seeded.seed.asset("SONG"), 1_000_000),
        Token(*USD, 500_000_000_000),
        2**63 - 1,
    )
    assert sorted(body[14]) == sorted(
        [seeded.cash_register.payment_key.hash, seeded.collateral.payment_key.hash]
    )
    assert sorted(tuple(i) for i in body[18]) == sorted(
        [c.reference_utxo.out_ref, c.pointer_script_utxo.out_ref]
    )
    [(key, value)] = cbor2.loads(tx.cbor)[1][5].items()
    assert key == (1, 0) and cbor2.dumps(value[0]) == MINT_POINTER
    units = tx.ex_units[("mint", 0)]
    assert value[1] == [units.mem, units.steps] and 0 < units.mem < ledger.params.max_tx_ex_mem
    assert ledger.evaluate(tx.cbor) == tx.ex_units  # settled: evaluating again changes nothing


def test_start_is_deterministic_whatever_the_utxo_order(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    utxos = ledger.utxos_at(seeded.wallets["artist"].address)
    assert (
        start(ledger, seeded, utxos).transaction.cbor
        == start(ledger, seeded, utxos[::-1]).transaction.cbor
    )


def test_start_pointer_name_follows_the_selected_inputs(world: tuple[Ledger, SeedResult]) -> None:
    """Another wallet subset: another first input, another pointer name, recomputed."""
    ledger, seeded = world
    utxos = ledger.utxos_at(seeded.wallets["artist"].address)
    full = start(ledger, seeded, utxos)
    tokens_only = [u for u in utxos if u.value.assets]
    other = [u for u in utxos if u not in tokens_only]
    assert tokens_only and other
    again = start(ledger, seeded, [*tokens_only, *other[1:]])
    for built in (full, again):
        refs = [u.out_ref for u in built.transaction.inputs]
        assert built.pointer[1] == pointer_asset_name(refs)


def test_start_without_enough_bundle_tokens_names_the_shortfall(
    world: tuple[Ledger, SeedResult],
) -> None:
    ledger, seeded = world
    with pytest.raises(InsufficientFundsError) as info:
        start(ledger, seeded, bundles=501)  # the artist holds 500 bundles' worth
    policy, name = seeded.seed.asset("SONG")
    assert info.value.shortfall == {policy.hex() + name.hex(): 1_000_000}


def test_a_first_input_index_above_255_is_refused(world: tuple[Ledger, SeedResult]) -> None:
    ledger, seeded = world
    artist = seeded.wallets["artist"]
    song = seeded.seed.asset("SONG")
    far = Utxo(
        b"\x00" * 32,
        300,
        artist.address,
        Value.of(50_000_000, {song: 10_000_000}),
        cbor2.dumps([artist.address, [50_000_000, {song[0]: {song[1]: 10_000_000}}]]),
    )
    with pytest.raises(PointerError, match="above 255"):
        start(ledger, seeded, [far])


# -- end ------------------------------------------------------------------------------------------


def test_end_spends_the_sale_burns_the_pointer_and_refunds_the_owner(
    world: tuple[Ledger, SeedResult],
) -> None:
    ledger, seeded = world
    assert seeded.collateral is not None
    sale_utxo = seeded.sales[1].utxo
    assert sale_utxo is not None
    built = end(ledger, seeded, sale_utxo)
    tx = built.transaction
    artist = seeded.wallets["artist"]
    body = check(ledger, built, [artist, seeded.collateral])
    c = seeded.contracts
    assert c is not None
    assert built.pointer == (c.pointer_policy, seeded.sales[1].sale.pointer_name)
    assert body[9] == {c.pointer_policy: {built.pointer[1]: -1}}
    assert list(body[14]) == [artist.payment_key.hash]
    index = [u.out_ref for u in tx.inputs].index(sale_utxo.out_ref)
    redeemers = cbor2.loads(tx.cbor)[1][5]
    assert cbor2.dumps(redeemers[(0, index)][0]) == REMOVE_SALE
    assert cbor2.dumps(redeemers[(1, 0)][0]) == BURN_POINTER
    assert set(tx.ex_units) == {("spend", index), ("mint", 0)}
    refund = tx.outputs[0]
    assert refund.address == artist.address
    assert refund.value == Value.of(
        sale_utxo.value.coin, {seeded.seed.asset("SONG"): 50 * 1_000_000}
    )


# -- collateral -----------------------------------------------------------------------------------


def test_collateral_takes_150_percent_with_a_return_or_refuses(
    world: tuple[Ledger, SeedResult],
) -> None:
    ledger, seeded = world
    assert seeded.collateral is not None
    pool = sorted(ledger.utxos_at(seeded.collateral.address), key=lambda u: -u.value.coin)
    chosen, returned, total = choose_collateral(pool, 400_001, ledger.params)
    assert total == 600_002 and len(chosen) == 1 and returned is not None
    assert returned.value.coin == chosen[0].value.coin - total
    with pytest.raises(CollateralError, match="needed for a fee"):
        choose_collateral(pool, 25_000_000, ledger.params)
    dust = pool[:1]
    almost = dust[0].value.coin * 100 // 150  # leaves less than min-ADA to return
    chosen, returned, total = choose_collateral(dust, almost, ledger.params)
    assert returned is None and total == dust[0].value.coin


# -- from outside: cardano-serialization-lib ------------------------------------------------------


@pytest.mark.interop
def test_csl_reads_start_and_end_as_we_do(
    world: tuple[Ledger, SeedResult], csl: CslInspect
) -> None:
    ledger, seeded = world
    assert seeded.collateral is not None and seeded.cash_register is not None
    artist = seeded.wallets["artist"]
    sale_utxo = seeded.sales[0].utxo
    assert sale_utxo is not None
    cases = [
        (start(ledger, seeded), [artist, seeded.cash_register, seeded.collateral]),
        (end(ledger, seeded, sale_utxo), [artist, seeded.collateral]),
    ]
    params = ledger.params
    requests = [
        {
            "kind": "tx",
            "hex": raw.hex(),
            "linearFee": {"coefficient": str(params.min_fee_a), "constant": str(params.min_fee_b)},
            "coinsPerUtxoByte": str(params.coins_per_utxo_byte),
        }
        for built, keys in cases
        for raw in (built.transaction.cbor, _signed(built, keys))
    ]
    results = csl(requests)
    for i, (built, keys) in enumerate(cases):
        tx = built.transaction
        unsigned, signed = results[2 * i], results[2 * i + 1]
        assert "error" not in unsigned and "error" not in signed, (unsigned, signed)
        assert unsigned["txId"] == signed["txId"] == tx.tx_id_hex
        assert signed["size"] == signed["reencodedSize"] == tx.signed_size
        assert signed["vkeyWitnesses"] == len(keys) == tx.vkey_witnesses
        assert int(signed["fee"]) == tx.fee >= int(signed["minFee"])  # CSL: size part only
        assert signed["inputs"] == [f"{u.tx_hash.hex()}#{u.index}" for u in tx.inputs]
        assert signed["collateral"] == [f"{u.tx_hash.hex()}#{u.index}" for u in tx.collateral]
        assert sorted(signed["referenceInputs"]) == sorted(
            f"{u.tx_hash.hex()}#{u.index}" for u in tx.reference_inputs
        )
        assert sorted(signed["requiredSigners"]) == sorted(h.hex() for h in tx.required_signers)
        assert signed["mintHex"] is not None and signed["ttl"] is not None
        for ours, min_ada in zip(tx.outputs, signed["minAdaPerOutput"], strict=True):
            assert ours.value.coin >= int(min_ada)
