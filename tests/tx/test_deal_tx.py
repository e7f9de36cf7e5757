"""Deal transactions (escrow lock, purchase, release): balanced, exact fee, min-ADA-safe, signed
by exactly the keys they pay for, and accepted by the devnet ledger one after another."""

from __future__ import annotations

from fractions import Fraction

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardano_market.chain.devnet.ledger import Ledger
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.errors import InsufficientFundsError
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import default_parameters
from cardano_market.domain.values import ADA, AssetId, Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.synthetic import SyntheticWallet, wallet
from cardano_market.tx.deal import (
    DealPricing,
    DealPricingError,
    DealTransaction,
    DealTransactionError,
    build_deal_purchase,
    build_escrow_lock,
    build_escrow_release,
    escrow_datum,
    escrow_deal_id,
    find_escrow,
    price_purchase,
)
from txcheck import check_transaction, expected_min_ada, expected_min_fee, outputs_of

PARAMS = default_parameters()
SONG: AssetId = (bytes.fromhex("11" * 28), b"Song")
USDT: AssetId = (bytes.fromhex("22" * 28), b"USDT")
SELLER = wallet("deal-seller")
BUYER = wallet("deal-buyer")
PLATFORM = wallet("deal-platform")
NODE = wallet("deal-node")
ESCROW_KEY = PaymentKey.derive("deal-escrow")
ESCROW_ADDRESS = make_address(Credential.key(ESCROW_KEY.hash), None, 0)
DEAL_ID = 13


# -- pricing ---------------------------------------------------------------------------------------


def test_the_spec_example_prices_exactly() -> None:
    # 10 tokens at 12.5 USDT (6 decimals): 125 + 3.75 (3%) + 2.5 (2%) = 131.25.
    pricing = price_purchase(
        quantity=10_000_000,
        unit_price=12_500_000,
        token_decimals=6,
        platform_fee_percentage=3,
        node_fee_percentage=2,
    )
    assert pricing == DealPricing(total=125_000_000, platform_fee=3_750_000, node_fee=2_500_000)
    assert pricing.net_amount == 131_250_000


@given(
    quantity=st.integers(1, 10**12),
    unit_price=st.integers(1, 10**12),
    platform=st.fractions(0, 100, max_denominator=1000),
    node=st.fractions(0, 100, max_denominator=1000),
)
def test_fees_round_down_never_above_the_exact_percentage(
    quantity: int, unit_price: int, platform: Fraction, node: Fraction
) -> None:
    pricing = price_purchase(
        quantity=quantity,
        unit_price=unit_price,
        token_decimals=0,
        platform_fee_percentage=platform,
        node_fee_percentage=node,
    )
    assert pricing.total == quantity * unit_price
    for fee, pct in ((pricing.platform_fee, platform), (pricing.node_fee, node)):
        exact = pricing.total * pct / 100
        assert fee <= exact < fee + 1


def test_a_total_that_is_not_whole_base_units_is_refused() -> None:
    with pytest.raises(DealPricingError, match="not a whole number"):
        price_purchase(
            quantity=1,
            unit_price=3,
            token_decimals=6,
            platform_fee_percentage=3,
            node_fee_percentage=2,
        )
    with pytest.raises(DealPricingError, match="positive"):
        price_purchase(
            quantity=0,
            unit_price=3,
            token_decimals=0,
            platform_fee_percentage=3,
            node_fee_percentage=2,
        )


# -- on the ledger ---------------------------------------------------------------------------------


def signed(deal_tx: DealTransaction, *keys: PaymentKey) -> bytes:
    """Sign with the keys the transaction asks for (all of them, none more)."""
    by_hash = {k.hash: k for k in keys}
    assert deal_tx.signers <= by_hash.keys(), "a required signer's key is missing"
    seeds = [by_hash[h].seed for h in sorted(deal_tx.signers)]
    return splice_witnesses(deal_tx.cbor, sign_transaction(deal_tx.cbor, seeds))


def produced(ledger: Ledger, tx_id: str) -> list[Utxo]:
    """The outputs a submitted transaction created, from the ledger."""
    count = len(outputs_of(cbor2.loads(ledger.transaction(bytes.fromhex(tx_id)).cbor)[0]))
    return ledger.utxos_by_ref((bytes.fromhex(tx_id), i) for i in range(count))


def holdings(ledger: Ledger, address: bytes, asset: AssetId) -> int:
    return sum(
        u.value.quantity(asset) if asset != ADA else u.value.coin for u in ledger.utxos_at(address)
    )


def exact_fee(deal_tx: DealTransaction, signed_tx: bytes) -> None:
    """The fee is the ledger's minimum for the signed size (plus at most sub-min-ADA dust), by
    the independent checker's formula."""
    minimum = expected_min_fee(PARAMS, len(signed_tx))
    assert minimum <= deal_tx.fee < minimum + PARAMS.coins_per_utxo_byte * 200


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger(":memory:", params=PARAMS)
    ledger.genesis(
        [
            TxOutput(SELLER.address, Value.of(20_000_000, {SONG: 100})),
            TxOutput(SELLER.address, Value.of(5_000_000)),
            TxOutput(BUYER.address, Value.of(30_000_000, {USDT: 10_000_000_000})),
            TxOutput(BUYER.address, Value.of(40_000_000)),
        ]
    )
    return ledger


def lock(ledger: Ledger, quantity: int = 100) -> tuple[DealTransaction, Utxo]:
    deal_tx = build_escrow_lock(
        seller_utxos=ledger.utxos_at(SELLER.address),
        seller_address=SELLER.address,
        escrow_address=ESCROW_ADDRESS,
        asset=SONG,
        quantity=quantity,
        deal_id=DEAL_ID,
        params=PARAMS,
    )
    facts = check_transaction(
        deal_tx.cbor, ledger.utxos_at(SELLER.address), PARAMS, [SELLER.payment_key]
    )
    ledger.submit(facts["signed"])
    escrow = produced(ledger, deal_tx.tx_id)[0]
    return deal_tx, escrow


def buy(
    ledger: Ledger,
    escrow: Utxo,
    quantity: int,
    price: AssetId = USDT,
    buyer: SyntheticWallet = BUYER,
) -> DealTransaction:
    pricing = price_purchase(
        quantity=quantity,
        unit_price=1_250_000,
        token_decimals=0,
        platform_fee_percentage=3,
        node_fee_percentage=2,
    )
    return build_deal_purchase(
        escrow=escrow,
        deal_id=DEAL_ID,
        asset=SONG,
        quantity=quantity,
        price_asset=price,
        pricing=pricing,
        buyer_utxos=ledger.utxos_at(buyer.address),
        buyer_address=buyer.address,
        seller_address=SELLER.address,
        platform_fee_address=PLATFORM.address,
        node_fee_address=NODE.address,
        params=PARAMS,
    )


def test_lock_puts_the_tokens_in_a_datum_tagged_escrow_output(ledger: Ledger) -> None:
    deal_tx, escrow = lock(ledger)
    assert deal_tx.escrow_index == 0
    assert deal_tx.signers == {SELLER.payment_key.hash}
    assert escrow.address == ESCROW_ADDRESS
    assert escrow.value.assets == {SONG: 100}
    assert escrow.inline_datum == escrow_datum(DEAL_ID) == bytes.fromhex("d879810d")
    assert escrow_deal_id(escrow) == DEAL_ID
    assert escrow.value.coin == expected_min_ada(escrow.output_cbor, PARAMS), (
        "the deposit is exactly the escrow output's min-ADA"
    )
    assert find_escrow(ledger.utxos_at(ESCROW_ADDRESS), DEAL_ID) == escrow
    assert find_escrow(ledger.utxos_at(ESCROW_ADDRESS), DEAL_ID + 1) is None
    assert holdings(ledger, SELLER.address, SONG) == 0


def test_partial_then_full_purchase_on_the_ledger(ledger: Ledger) -> None:
    _lock_tx, escrow = lock(ledger)
    deposit = escrow.value.coin
    keys = (ESCROW_KEY, BUYER.payment_key)

    first = buy(ledger, escrow, 40)
    assert first.signers == {ESCROW_KEY.hash, BUYER.payment_key.hash}
    assert first.escrow_index == 0
    utxos = [escrow, *ledger.utxos_at(BUYER.address)]
    facts = check_transaction(first.cbor, utxos, PARAMS, [ESCROW_KEY, BUYER.payment_key])
    tx = signed(first, *keys)
    assert len(tx) == facts["size"]
    exact_fee(first, tx)
    ledger.submit(tx)
    outs = produced(ledger, first.tx_id)
    remainder = outs[0]
    assert remainder.address == ESCROW_ADDRESS and remainder.value == Value.of(deposit, {SONG: 60})
    assert remainder.inline_datum == escrow.inline_datum
    assert outs[1].address == BUYER.address and outs[1].value.assets == {SONG: 40}
    assert outs[2].address == SELLER.address and outs[2].value.assets == {USDT: 50_000_000}
    assert outs[3].address == PLATFORM.address and outs[3].value.assets == {USDT: 1_500_000}
    assert outs[4].address == NODE.address and outs[4].value.assets == {USDT: 1_000_000}
    assert holdings(ledger, BUYER.address, USDT) == 10_000_000_000 - 52_500_000

    seller_lovelace = holdings(ledger, SELLER.address, ADA)
    second = buy(ledger, remainder, 60)
    assert second.escrow_index is None
    tx = signed(second, *keys)
    exact_fee(second, tx)
    ledger.submit(tx)
    outs = produced(ledger, second.tx_id)
    assert outs[0].address == BUYER.address and outs[0].value.assets == {SONG: 60}
    assert outs[1].address == SELLER.address and outs[1].value.assets == {USDT: 75_000_000}
    assert holdings(ledger, SELLER.address, ADA) - seller_lovelace == outs[1].value.coin
    assert outs[1].value.coin >= deposit, "the emptied escrow's deposit goes back to the seller"
    assert ledger.utxos_at(ESCROW_ADDRESS) == []
    assert holdings(ledger, BUYER.address, SONG) == 100
    assert holdings(ledger, SELLER.address, USDT) == 125_000_000


def test_purchase_priced_in_ada(ledger: Ledger) -> None:
    _lock_tx, escrow = lock(ledger)
    deal_tx = buy(ledger, escrow, 10, price=ADA)  # 10 x 1.25 ADA: 12.5 ADA, fees 0.375 + 0.25
    before = holdings(ledger, BUYER.address, ADA)
    tx = signed(deal_tx, ESCROW_KEY, BUYER.payment_key)
    exact_fee(deal_tx, tx)
    ledger.submit(tx)
    outs = produced(ledger, deal_tx.tx_id)
    assert outs[2].address == SELLER.address and outs[2].value == Value(12_500_000)
    # Fees below an output's min-ADA are raised to it: the buyer pays the difference.
    for out, fee in ((outs[3], 375_000), (outs[4], 250_000)):
        assert out.value == Value(max(fee, expected_min_ada(out.output_cbor, PARAMS)))
    paid = before - holdings(ledger, BUYER.address, ADA)  # the delivered tokens' output stays
    assert paid == sum(o.value.coin for o in outs[2:5]) + deal_tx.fee


def test_release_returns_tokens_and_deposit_to_the_seller(ledger: Ledger) -> None:
    _lock_tx, escrow = lock(ledger)
    first = buy(ledger, escrow, 30)
    ledger.submit(signed(first, ESCROW_KEY, BUYER.payment_key))
    remainder = produced(ledger, first.tx_id)[0]
    release = build_escrow_release(
        escrow=remainder,
        deal_id=DEAL_ID,
        asset=SONG,
        seller_utxos=ledger.utxos_at(SELLER.address),
        seller_address=SELLER.address,
        params=PARAMS,
    )
    assert release.escrow_index is None
    assert ESCROW_KEY.hash in release.signers
    tx = signed(release, ESCROW_KEY, SELLER.payment_key)
    exact_fee(release, tx)
    ledger.submit(tx)
    assert ledger.utxos_at(ESCROW_ADDRESS) == []
    assert holdings(ledger, SELLER.address, SONG) == 70


def test_release_paid_by_a_large_deposit_needs_only_the_escrow_key(ledger: Ledger) -> None:
    # An escrow output holding more than min-ADA pays its own release: the seller's key is not
    # asked for and none of the seller's UTxOs is spent.
    rich = ledger.genesis(
        [TxOutput(ESCROW_ADDRESS, Value.of(5_000_000, {SONG: 7}), escrow_datum(DEAL_ID))]
    )[0]
    release = build_escrow_release(
        escrow=rich,
        deal_id=DEAL_ID,
        asset=SONG,
        seller_utxos=ledger.utxos_at(SELLER.address),
        seller_address=SELLER.address,
        params=PARAMS,
    )
    assert release.signers == {ESCROW_KEY.hash}
    assert [u.out_ref for u in release.balanced.inputs] == [rich.out_ref]
    ledger.submit(signed(release, ESCROW_KEY))
    assert holdings(ledger, SELLER.address, SONG) == 107


def test_refusals(ledger: Ledger) -> None:
    _lock_tx, escrow = lock(ledger, 50)
    with pytest.raises(DealTransactionError, match="holds 50"):
        buy(ledger, escrow, 51)
    with pytest.raises(DealTransactionError, match="not deal 14's escrow"):
        build_escrow_release(
            escrow=escrow,
            deal_id=14,
            asset=SONG,
            seller_utxos=[],
            seller_address=SELLER.address,
            params=PARAMS,
        )
    poor = wallet("deal-poor-buyer")
    ledger.genesis([TxOutput(poor.address, Value.of(3_000_000, {USDT: 1_000}))])
    with pytest.raises(InsufficientFundsError) as short:
        buy(ledger, escrow, 10, buyer=poor)
    assert short.value.shortfall[USDT[0].hex() + USDT[1].hex()] == 13_125_000 - 1_000
    with pytest.raises(InsufficientFundsError, match="short of 1 "):
        build_escrow_lock(
            seller_utxos=[],
            seller_address=SELLER.address,
            escrow_address=ESCROW_ADDRESS,
            asset=SONG,
            quantity=1,
            deal_id=1,
            params=PARAMS,
        )
