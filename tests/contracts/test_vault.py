"""The project's vault validator, side by side with NEWM's deployed one (as in `test_queue.py`)."""

from __future__ import annotations

import pytest
from settlement_helpers import (
    ADA,
    BATCHER,
    HOT,
    MARKETS,
    NEWM,
    REMOVE_VAULT,
    STRANGER,
    VAULT_MINIMUM,
    Market,
    Spend,
    Tx,
    add_to_vault,
    evaluate,
    key_address,
    plus,
    reference_utxo,
    rejected,
    sub_from_vault,
    utxo,
    vault_utxo,
)

from cardano_market.domain.datums import Token, Wallet
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.values import Value

pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")

PROFIT = 183_621_006
HELD = Value.of(VAULT_MINIMUM + 2 * ADA, {NEWM: 5 * PROFIT})


@pytest.fixture(scope="module", params=["own", "deployed", "newm"])
def market(request: pytest.FixtureRequest) -> Market:
    return MARKETS[request.param]()


def change(
    market: Market,
    redeemer: bytes,
    paid: Value,
    signers: list[bytes],
    *,
    held: Value = HELD,
    datum: bytes | None = None,
) -> tuple[Tx, Spend]:
    """Spend the vault (holding `held`) and put `paid` back under the same datum."""
    vault = vault_utxo(market, value=held)
    spend = Spend(vault, redeemer)
    out_datum = vault.inline_datum if datum is None else datum
    tx = Tx(
        spends=[spend],
        outputs=[
            TxOutput(market.vault_address, paid, inline_datum=out_datum),
            TxOutput(key_address(HOT.hash), Value(2 * ADA)),
        ],
        references=[reference_utxo(market)],
        signers=signers,
        scripts=[market.vault],
    )
    return tx, spend


# -- AddToVault -----------------------------------------------------------------------------------


def test_add_is_accepted(market: Market) -> None:
    tx, _ = change(
        market, add_to_vault([Token.of(NEWM, PROFIT)]), plus(HELD, NEWM, PROFIT), [BATCHER.hash]
    )
    assert list(evaluate(tx)) == [("spend", 0)]


def test_add_one_unit_off(market: Market) -> None:
    for off in (-1, 1):
        paid = plus(HELD, NEWM, PROFIT + off)
        tx, spend = change(market, add_to_vault([Token.of(NEWM, PROFIT)]), paid, [BATCHER.hash])
        rejected(tx, market, spend, "the vault output is not exact")


def test_add_without_the_owners_signature(market: Market) -> None:
    paid = plus(HELD, NEWM, PROFIT)
    for signers in ([], [HOT.hash], [STRANGER.hash]):
        tx, spend = change(market, add_to_vault([Token.of(NEWM, PROFIT)]), paid, signers)
        rejected(tx, market, spend, "the vault owner did not sign")


def test_add_must_keep_the_datum(market: Market) -> None:
    paid = plus(HELD, NEWM, PROFIT)
    other = Wallet(STRANGER.hash).to_cbor()
    tx, spend = change(
        market, add_to_vault([Token.of(NEWM, PROFIT)]), paid, [BATCHER.hash], datum=other
    )
    rejected(tx, market, spend, "the vault output must keep the datum")


def test_two_vaults_cannot_share_one_output(market: Market) -> None:
    """The attack: two vaults holding the same, spent together beside one output that holds one
    vault plus the change. Each vault's run finds that output exact for itself, so the second
    vault's holdings would leave unpaid unless each vault is the only vault input."""
    paid = plus(HELD, NEWM, PROFIT)
    tx, spend = change(market, add_to_vault([Token.of(NEWM, PROFIT)]), paid, [BATCHER.hash])
    twin = Spend(
        utxo(0x06, TxOutput(market.vault_address, HELD, inline_datum=spend.utxo.inline_datum)),
        spend.redeemer,
    )
    first = min(spend, twin, key=lambda s: s.utxo.out_ref)  # the first redeemer run fails
    rejected(tx.replace(spends=[spend, twin]), market, first, "exactly one vault input")


def test_the_vault_output_is_the_only_one_there(market: Market) -> None:
    """A second output at the vault address (here one more vault under the owner's datum): the
    vault's one output must be the only one, so the change cannot be split off."""
    paid = plus(HELD, NEWM, PROFIT)
    tx, spend = change(market, add_to_vault([Token.of(NEWM, PROFIT)]), paid, [BATCHER.hash])
    second = TxOutput(
        market.vault_address, Value(VAULT_MINIMUM), inline_datum=spend.utxo.inline_datum
    )
    split = tx.replace(outputs=[*tx.outputs, second])
    rejected(split, market, spend, "a second output at the address")


def test_add_only_adds(market: Market) -> None:
    paid = plus(HELD, NEWM, -PROFIT)
    tx, spend = change(market, add_to_vault([Token.of(NEWM, -PROFIT)]), paid, [BATCHER.hash])
    rejected(tx, market, spend, "AddToVault only adds")


def test_add_to_a_vault_below_its_minimum(market: Market) -> None:
    """The attack: a batcher creates its own vault below 10 ADA (no script runs when a UTxO is
    created), a purchase's lovelace profit tops it up to exactly 10 ADA, and RemoveVault hands
    it all back to the batcher: the profit never stays. Ours refuses to add to a vault that held
    less than its minimum; NEWM's accepts (and then lets the owner remove it)."""
    below = Value(VAULT_MINIMUM - 2 * ADA)
    tx, spend = change(
        market,
        add_to_vault([Token.of((b"", b""), 2 * ADA)]),
        Value(VAULT_MINIMUM),
        [BATCHER.hash],
        held=below,
    )
    if market.name == "newm":
        assert list(evaluate(tx)) == [("spend", 0)]
        return
    rejected(tx, market, spend, "the vault held less than its minimum lovelace")


# -- SubFromVault: the hot key collects ------------------------------------------------------------


def test_sub_by_the_hot_key_is_accepted(market: Market) -> None:
    taken = [Token.of(NEWM, -5 * PROFIT), Token(b"", b"", -2 * ADA)]
    tx, _ = change(market, sub_from_vault(taken), Value(VAULT_MINIMUM), [HOT.hash])
    assert list(evaluate(tx)) == [("spend", 0)]


def test_sub_by_the_vault_owner_is_refused(market: Market) -> None:
    """The profit is the marketplace's: the batcher owning the vault cannot take it out."""
    taken = [Token.of(NEWM, -PROFIT)]
    paid = plus(HELD, NEWM, -PROFIT)
    for signers in ([BATCHER.hash], []):
        tx, spend = change(market, sub_from_vault(taken), paid, signers)
        rejected(tx, market, spend, "the hot key did not sign")


def test_sub_one_unit_off(market: Market) -> None:
    taken = [Token.of(NEWM, -PROFIT)]
    for off in (-1, 1):
        paid = plus(HELD, NEWM, -PROFIT + off)
        tx, spend = change(market, sub_from_vault(taken), paid, [HOT.hash])
        rejected(tx, market, spend, "the vault output is not exact")


def test_sub_keeps_the_minimum(market: Market) -> None:
    taken = [Token(b"", b"", -2 * ADA - 1)]
    paid = plus(HELD, (b"", b""), -2 * ADA - 1)
    tx, spend = change(market, sub_from_vault(taken), paid, [HOT.hash])
    rejected(tx, market, spend, "the vault must keep its minimum lovelace")


# -- RemoveVault ----------------------------------------------------------------------------------


def remove(market: Market, held: Value, signers: list[bytes]) -> tuple[Tx, Spend]:
    vault = vault_utxo(market, value=held)
    spend = Spend(vault, REMOVE_VAULT)
    tx = Tx(
        spends=[spend],
        outputs=[TxOutput(key_address(BATCHER.hash), held)],
        signers=signers,
        scripts=[market.vault],
    )
    return tx, spend


def test_remove_by_the_owner_is_accepted(market: Market) -> None:
    tx, _ = remove(market, Value(VAULT_MINIMUM), [BATCHER.hash])
    assert list(evaluate(tx)) == [("spend", 0)]


def test_remove_without_the_owners_signature(market: Market) -> None:
    for signers in ([], [HOT.hash]):
        tx, spend = remove(market, Value(VAULT_MINIMUM), signers)
        rejected(tx, market, spend, "the vault owner did not sign")


def test_remove_a_vault_holding_more_than_the_minimum(market: Market) -> None:
    tx, spend = remove(market, HELD, [BATCHER.hash])
    rejected(tx, market, spend, "a vault holding tokens cannot be removed")
    tx, spend = remove(market, Value(VAULT_MINIMUM + 1), [BATCHER.hash])
    rejected(tx, market, spend, "a vault is removed holding exactly its minimum")


# -- a UTxO without a Wallet datum: the hot key recovers it ---------------------------------------


@pytest.mark.parametrize(
    "datum",
    [
        encode_plutus(constr(0, [BATCHER.hash])),
        encode_plutus(constr(0, [BATCHER.hash, b"", b""])),
        encode_plutus(constr(0, [BATCHER.hash, 0])),
        encode_plutus(constr(1, [BATCHER.hash, b""])),
        encode_plutus(42),
    ],
    ids=["one field", "three fields", "int stake", "constructor 1", "int"],
)
def test_malformed_datum_is_recovered_by_the_hot_key(market: Market, datum: bytes) -> None:
    vault = vault_utxo(market, value=HELD, datum=datum)
    spend = Spend(vault, REMOVE_VAULT)
    tx = Tx(
        spends=[spend],
        outputs=[TxOutput(key_address(HOT.hash), HELD)],
        references=[reference_utxo(market)],
        signers=[HOT.hash],
        scripts=[market.vault],
    )
    assert list(evaluate(tx)) == [("spend", 0)]
    rejected(tx.replace(signers=[BATCHER.hash]), market, spend, "the hot key must sign")
