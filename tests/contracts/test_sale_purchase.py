"""The project's sale validator (Purchase) side by side with NEWM's deployed one.

Each scenario is one purchase transaction evaluated against two full sets of scripts: ours (our
sale, queue and vault, starter NFT applied) and NEWM's deployed mainnet trio from `../shared`
(skipped when absent). Both must give the same verdict: a valid purchase passes every redeemer,
and each broken one (a payout off by one unit, a changed datum, two orders, the wrong queue
redeemer, a validity interval leaving the oracle window) is refused.

NEWM's sale leaves the payout arithmetic to its queue; ours checks the sale's side itself, so
`sale_alone` runs our sale with our vault and a queue that accepts anything, and shows that our
sale refuses the same transactions by itself, with its trace.
"""

from __future__ import annotations

import cbor2
import pytest
from settlement_helpers import (
    ADA,
    ALWAYS_SUCCEEDS,
    BATCHER,
    BUNDLES,
    CERTIFICATE,
    FEE,
    INCENTIVE,
    MARKETS,
    NEWM,
    NOW,
    PROFIT,
    PURCHASE,
    REFUND,
    SALE_PURCHASE,
    SLOTS,
    SONG,
    STARTER_PARAMETERS,
    Market,
    Spend,
    Tx,
    add_to_vault,
    certificate_utxo,
    evaluate,
    key_address,
    oracle_utxo,
    own_market,
    plus,
    queue_utxo,
    reference_utxo,
    sale_utxo,
    unit_cost,
    vault_utxo,
)

from cardano_market.chain.devnet.plutus_scripts import ScriptFailure
from cardano_market.contracts import apply_parameters, load_script
from cardano_market.domain.datums import SaleDatum, Token, Wallet
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value

pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")


def own_sale(*, traced: bool = True) -> bytes:
    return apply_parameters(load_script("sale", traced=traced), *STARTER_PARAMETERS)


def ours() -> Market:
    base = own_market()
    return Market("own", base.queue, base.vault, own_sale())


def deployed() -> Market:
    """Our trace-free queue, vault and sale, as the devnet deploys them."""
    base = own_market(traced=False)
    return Market("deployed", base.queue, base.vault, own_sale(traced=False))


def sale_alone() -> Market:
    """Our sale and vault behind a queue that accepts anything."""
    base = own_market()
    return Market("sale", cbor2.dumps(ALWAYS_SUCCEEDS[1:]), base.vault, own_sale())


FULL = {"own": ours, "deployed": deployed, "newm": MARKETS["newm"]}


@pytest.fixture(scope="module", params=["own", "deployed", "newm"])
def market(request: pytest.FixtureRequest) -> Market:
    return FULL[request.param]()


@pytest.fixture(scope="module")
def alone() -> Market:
    return sale_alone()


def purchase(
    market: Market,
    *,
    songs: int = 10,
    sale_off: int = 0,
    songs_off: int = 0,
    sale_datum: bytes | None = None,
    queue_redeemer: bytes = PURCHASE,
    oracle_end_slot: int = NOW + 3_600,
) -> tuple[Tx, Spend]:
    """The batcher fills a 3-bundle USD order from a sale of `songs` song tokens.

    `sale_off` NEWM units move from the sale's payout to the batcher; `songs_off` song tokens
    stay in the sale instead of going to the order.
    """
    sale, queue, vault = sale_utxo(market, songs=songs), queue_utxo(market), vault_utxo(market)
    bundles = min(BUNDLES, songs // 2)
    cost = unit_cost() * bundles
    sold = 2 * bundles
    sale_spend = Spend(sale, SALE_PURCHASE)
    vault_out = plus(vault.value, NEWM, PROFIT)
    sale_out = plus(plus(sale.value, NEWM, cost - sale_off), SONG, -sold + songs_off)
    queue_out = plus(queue.value, NEWM, -cost - INCENTIVE - PROFIT)
    queue_out = plus(plus(queue_out, SONG, sold - songs_off), (b"", b""), -FEE)
    batcher_out = plus(Value.of(5 * ADA, {CERTIFICATE: 1}), NEWM, INCENTIVE + sale_off)
    tx = Tx(
        spends=[
            Spend(certificate_utxo()),
            sale_spend,
            Spend(queue, queue_redeemer),
            Spend(vault, add_to_vault([Token.of(NEWM, PROFIT)])),
        ],
        outputs=[
            TxOutput(market.vault_address, vault_out, inline_datum=vault.inline_datum),
            TxOutput(market.sale_address, sale_out, inline_datum=sale_datum or sale.inline_datum),
            TxOutput(market.queue_address, queue_out, inline_datum=queue.inline_datum),
            TxOutput(key_address(BATCHER.hash), batcher_out),
        ],
        references=[
            reference_utxo(market),
            oracle_utxo(end_ms=SLOTS.slot_to_posix_ms(oracle_end_slot)),
        ],
        signers=[BATCHER.hash],
        fee=FEE,
        scripts=[market.queue, market.vault, market.sale],
    )
    return tx, sale_spend


def refused(tx: Tx) -> ScriptFailure:
    with pytest.raises(ScriptFailure) as failure:
        evaluate(tx)
    return failure.value


def refused_by_sale(tx: Tx, sale: Spend, says: str) -> None:
    """Our sale (with a queue that accepts anything) refuses `tx` at its own redeemer."""
    failure = refused(tx)
    assert failure.key == ("spend", tx.spend_index(sale.utxo.out_ref)), str(failure)
    assert any(says in line for line in failure.trace), failure.trace


# -- accepted -------------------------------------------------------------------------------------


def test_purchase_is_accepted(market: Market, alone: Market) -> None:
    tx, sale = purchase(market)
    used = evaluate(tx)
    assert len(used) == 3 and ("spend", tx.spend_index(sale.utxo.out_ref)) in used
    tx, sale = purchase(alone)
    assert ("spend", tx.spend_index(sale.utxo.out_ref)) in evaluate(tx)


def test_partial_fill_of_the_last_bundles_is_accepted(market: Market, alone: Market) -> None:
    """Three bundles asked, two left (4 songs): n = 2, the sale is emptied of songs."""
    tx, _ = purchase(market, songs=4)
    assert len(evaluate(tx)) == 3
    tx, sale = purchase(alone, songs=5)  # 5 songs: 2 whole bundles, one song stays
    assert ("spend", tx.spend_index(sale.utxo.out_ref)) in evaluate(tx)


# -- refused, by both -----------------------------------------------------------------------------


def test_sale_payout_one_unit_short(market: Market, alone: Market) -> None:
    refused(purchase(market, sale_off=1)[0])
    refused_by_sale(*purchase(alone, sale_off=1), "the sale output does not hold exactly")


def test_sale_payout_one_unit_over(market: Market, alone: Market) -> None:
    refused(purchase(market, sale_off=-1)[0])
    refused_by_sale(*purchase(alone, sale_off=-1), "the sale output does not hold exactly")


def test_one_bundle_token_too_few_leaves_the_sale(market: Market, alone: Market) -> None:
    refused(purchase(market, songs_off=1)[0])
    refused_by_sale(*purchase(alone, songs_off=1), "the sale output does not hold exactly")


def test_one_bundle_token_too_many_leaves_the_sale(market: Market, alone: Market) -> None:
    refused(purchase(market, songs_off=-1)[0])
    refused_by_sale(*purchase(alone, songs_off=-1), "the sale output does not hold exactly")


def test_sale_datum_must_be_kept(market: Market, alone: Market) -> None:
    changed = SaleDatum.from_cbor(sale_utxo(market).inline_datum or b"")
    other = SaleDatum(Wallet(BATCHER.hash), changed.bundle, changed.cost).to_cbor()
    refused(purchase(market, sale_datum=other)[0])
    refused_by_sale(*purchase(alone, sale_datum=other), "the sale output must keep the datum")


def test_order_must_be_spent_with_queue_purchase(market: Market, alone: Market) -> None:
    refused(purchase(market, queue_redeemer=REFUND)[0])
    refused_by_sale(*purchase(alone, queue_redeemer=REFUND), "spent with QueuePurchase")


def test_validity_interval_must_stay_in_the_oracle_window(market: Market, alone: Market) -> None:
    refused(purchase(market, oracle_end_slot=NOW + 59)[0])  # the interval ends at NOW + 60
    refused_by_sale(*purchase(alone, oracle_end_slot=NOW + 59), "leaves the oracle window")


def test_two_orders_on_one_sale(market: Market, alone: Market) -> None:
    """A second order spent in the same purchase: the sale refuses (one queue input)."""
    for scripts in (market, alone):
        tx, sale = purchase(scripts)
        second = queue_utxo(scripts, tag=0x07)
        extra = TxOutput(key_address(BATCHER.hash), second.value)
        two = tx.replace(spends=[*tx.spends, Spend(second, PURCHASE)], outputs=[*tx.outputs, extra])
        if scripts is alone:
            refused_by_sale(two, sale, "exactly one queue input")
        else:
            refused(two)


def test_a_sale_with_no_whole_bundle_cannot_be_bought(alone: Market) -> None:
    """One song left, bundles of 2: nothing to sell (the queue refuses this too)."""
    sale = sale_utxo(alone, songs=1)
    tx, spend = purchase(alone)
    refused_by_sale(
        tx.replace(spends=[Spend(sale, SALE_PURCHASE) if s is spend else s for s in tx.spends]),
        Spend(sale, SALE_PURCHASE),
        "no whole bundle",
    )
