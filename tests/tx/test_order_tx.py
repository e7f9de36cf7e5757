"""The order transaction builder: balanced, enough fee, min-ADA-safe, deterministic, signable."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum
from cardano_market.domain.errors import AddressError, InsufficientFundsError
from cardano_market.domain.params import default_parameters
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.values import Value, sum_values, unit_of
from cardano_market.scenario import Scenario, load_scenario
from cardano_market.synthetic import tx_hash, utxo, wallet, wallet_utxos
from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction
from txcheck import check_transaction, outputs_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"
PARAMS = default_parameters()


def scenario(name: str = "usd-sale") -> Scenario:
    return load_scenario(FIXTURES / f"{name}.json")


def build(
    sc: Scenario, utxos: list[Utxo], quantity: int | None = None, change: bytes | None = None
):
    amount = order_amount(
        sc.sale, quantity or sc.bundle_quantity, sc.incentive_amount, sc.oracle_price, sc.config
    )
    request = OrderTransactionRequest(
        amount=amount,
        sale=sc.sale,
        config=sc.config,
        utxos=utxos,
        change_address=change or sc.change_address,
        queue_address=sc.queue_address,
        cash_register_address=sc.cash_register_address,
        params=sc.params,
        ttl=sc.ttl,
    )
    return amount, build_order_transaction(request)


def buyer_for(sc: Scenario):
    # The fixture's buyer is the synthetic wallet whose base address is the change address.
    for name in ("usd-sale-buyer", "token-sale-buyer"):
        w = wallet(name)
        if w.address == sc.change_address:
            return w
    raise AssertionError("unknown fixture buyer")


@pytest.mark.parametrize("name", ["usd-sale", "token-sale"])
def test_fixture_orders_are_valid_and_pay_what_was_priced(name: str) -> None:
    sc = scenario(name)
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    amount, tx = build(sc, utxos)
    facts = check_transaction(tx.balanced.cbor, utxos, sc.params, [buyer_for(sc).payment_key])
    outs = outputs_of(facts["body"])
    queue, cash = outs[0], outs[1]
    assert queue[0] == sc.queue_address
    assert Value.from_primitive(queue[1]).tokens() == amount.queue_value(sc.config).tokens()
    assert queue[1][0] >= sc.config.order_lovelace
    datum = QueueDatum.from_cbor(queue[2][1].value)
    assert datum.number_of_bundles == amount.bundle_quantity
    assert datum.pointer_name == sc.sale.pointer_name
    assert datum.incentive.amount == amount.incentive_amount
    assert cash[0] == sc.cash_register_address
    assert Value.from_primitive(cash[1]).quantity(amount.service_fee_asset) == amount.service_fee
    # Tokens the wallet was asked for (the amount) are exactly what the two outputs carry.
    paid = Value.from_primitive(queue[1]).tokens() + Value.from_primitive(cash[1]).tokens()
    assert paid == amount.value.tokens()
    assert facts["fee"] == tx.fee
    assert tx.summary()["txId"] == facts["tx_id"].hex()


def test_fee_is_the_exact_minimum_for_the_signed_size() -> None:
    sc = scenario()
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    _, tx = build(sc, utxos)
    facts = check_transaction(tx.balanced.cbor, utxos, sc.params, [buyer_for(sc).payment_key])
    assert facts["fee"] - facts["min_fee"] < sc.params.min_fee_a * 2  # no more than a byte or two


def test_same_request_gives_same_bytes_whatever_the_utxo_order() -> None:
    sc = scenario("token-sale")
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    _, first = build(sc, utxos)
    shuffled = list(utxos)
    random.Random(7).shuffle(shuffled)
    _, second = build(sc, shuffled)
    assert first.balanced.cbor == second.balanced.cbor


def test_duplicate_utxos_in_the_list_are_spent_once() -> None:
    sc = scenario()
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    _, tx = build(sc, utxos + utxos)
    check_transaction(tx.balanced.cbor, utxos, sc.params, [buyer_for(sc).payment_key])


def test_insufficient_funds_names_the_shortfall_per_asset() -> None:
    sc = scenario("token-sale")
    buyer = buyer_for(sc)
    poor = [utxo(tx_hash("poor"), 0, buyer.address, Value.of(2_000_000))]
    with pytest.raises(InsufficientFundsError) as info:
        build(sc, poor)
    amount = order_amount(sc.sale, sc.bundle_quantity, None, sc.oracle_price, sc.config)
    short = info.value.shortfall
    assert short[unit_of(sc.config.currency)] == amount.currency_amount
    assert short[unit_of(sc.sale.cost)] == amount.cost_total + amount.service_fee
    assert "lovelace" in short
    assert unit_of(sc.config.currency) in str(info.value)


def test_reference_script_utxos_are_kept_unless_needed() -> None:
    sc = scenario()
    buyer = buyer_for(sc)
    newm = sc.config.currency
    script_ref = cbor2.dumps([3, b"\x01" * 40])
    rich_with_script = utxo(
        tx_hash("ref"),
        0,
        buyer.address,
        Value.of(900_000_000, {newm: 10**11}),
        script_ref=script_ref,
    )
    plain = wallet_utxos(buyer, 6, tokens={newm: 10**11}, lovelace=8_000_000)
    _, tx = build(sc, [rich_with_script, *plain])
    assert rich_with_script.out_ref not in {u.out_ref for u in tx.balanced.inputs}
    # When nothing else can pay, the script-carrying UTxO is spent rather than failing.
    _, tx = build(sc, [rich_with_script])
    assert [u.out_ref for u in tx.balanced.inputs] == [rich_with_script.out_ref]
    check_transaction(tx.balanced.cbor, [rich_with_script], sc.params, [buyer.payment_key])


def test_script_address_utxos_are_never_selected() -> None:
    sc = scenario()
    at_script = utxo(
        tx_hash("script"), 0, sc.queue_address, Value.of(10**9, {sc.config.currency: 10**11})
    )
    with pytest.raises(InsufficientFundsError):
        build(sc, [at_script])


def test_change_is_split_when_it_would_exceed_max_value_size() -> None:
    sc = scenario()
    buyer = buyer_for(sc)
    junk = {
        (hashlib.blake2b(f"p{i}".encode(), digest_size=28).digest(), b"NFT%03d" % i): 1
        for i in range(150)
    }
    junk[sc.config.currency] = 10**11  # the only UTxO holding the currency: it must be spent
    utxos = [utxo(tx_hash("many"), 0, buyer.address, Value.of(300_000_000, junk))]
    _, tx = build(sc, utxos)
    assert tx.balanced.change_count >= 2
    facts = check_transaction(tx.balanced.cbor, utxos, sc.params, [buyer.payment_key])
    change_tokens = sum(
        len(Value.from_primitive(o[1]).assets) for o in outputs_of(facts["body"])[2:]
    )
    assert change_tokens == 151  # every junk NFT plus the currency's remainder


def test_dust_too_small_for_change_goes_to_the_fee_when_nothing_is_left() -> None:
    sc = scenario()
    buyer = buyer_for(sc)
    amount = order_amount(sc.sale, 1, None, sc.oracle_price, sc.config)
    _, probe = build(
        sc,
        [
            utxo(
                tx_hash("probe"), 0, buyer.address, Value.of(100_000_000, dict(amount.value.assets))
            )
        ],
        quantity=1,
    )
    # Exactly enough lovelace for the fixed outputs and the fee, plus 5,000 lovelace of dust.
    needed = sum(o.value.coin for o in probe.balanced.outputs[:2])
    exact = [
        utxo(
            tx_hash("exact"),
            0,
            buyer.address,
            Value.of(needed + probe.fee + 5_000, dict(amount.value.assets)),
        )
    ]
    _, tx = build(sc, exact, quantity=1)
    assert tx.balanced.change_count == 0
    facts = check_transaction(tx.balanced.cbor, exact, sc.params, [buyer.payment_key])
    assert facts["fee"] >= facts["min_fee"]


def test_several_signing_addresses_pay_for_every_witness() -> None:
    sc = scenario()
    a, b = wallet("multi-a"), wallet("multi-b")
    newm = sc.config.currency
    utxos = [
        utxo(tx_hash("multi"), 0, a.address, Value.of(3_000_000, {newm: 10**10})),
        utxo(tx_hash("multi"), 1, b.address, Value.of(6_000_000)),
        utxo(tx_hash("multi"), 2, b.address, Value.of(5_000_000)),
    ]
    _, tx = build(sc, utxos, change=a.address)
    assert tx.balanced.vkey_witnesses == 2
    check_transaction(tx.balanced.cbor, utxos, sc.params, [a.payment_key, b.payment_key])


def test_script_change_address_is_rejected_with_a_reason() -> None:
    sc = scenario()
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    with pytest.raises(AddressError, match="script"):
        build(sc, utxos, change=sc.queue_address)


def test_queue_address_without_stake_part_is_rejected() -> None:
    sc = scenario()
    no_stake = bytes([0x70]) + sc.queue_address[1:29]
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    with pytest.raises(AddressError, match="stake"):
        build(replace(sc, queue_address=no_stake), utxos)


def test_max_tx_size_is_enforced() -> None:
    sc = scenario()
    buyer = buyer_for(sc)
    tiny = replace(sc, params=replace(PARAMS, max_tx_size=600))
    utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
    from cardano_market.tx.balance import TransactionTooLargeError

    with pytest.raises(TransactionTooLargeError, match="limit is 600"):
        build(tiny, utxos)
    del buyer


# -- properties over random wallets -----------------------------------------------------------


@st.composite
def wallets(draw: st.DrawFn) -> tuple[list[Utxo], list]:
    sc = scenario(draw(st.sampled_from(["usd-sale", "token-sale"])))
    owners = [wallet(f"prop-{i}") for i in range(draw(st.integers(1, 3)))]
    currency = sc.config.currency
    extra_assets = [
        (hashlib.blake2b(f"x{i}".encode(), digest_size=28).digest(), b"X") for i in range(4)
    ]
    assets_pool = [currency, *extra_assets] + ([sc.sale.cost] if sc.sale.cost else [])
    utxos = []
    for i in range(draw(st.integers(1, 30))):
        owner = draw(st.sampled_from(owners))
        coin = draw(st.integers(1_000_000, 60_000_000))
        assets = {
            a: draw(st.integers(1, 3 * 10**9))
            for a in draw(st.lists(st.sampled_from(assets_pool), max_size=3, unique=True))
        }
        utxos.append(
            utxo(
                tx_hash(f"prop/{i}"),
                draw(st.integers(0, 3)),
                owner.address,
                Value.of(coin, assets),
                legacy=draw(st.booleans()) and not assets,
            )
        )
    return sc, utxos, owners, draw(st.integers(1, 5))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wallets())
def test_any_wallet_either_builds_a_valid_transaction_or_names_the_shortfall(case) -> None:
    sc, utxos, owners, quantity = case
    amount = order_amount(sc.sale, quantity, None, sc.oracle_price, sc.config)
    try:
        _, tx = build(sc, utxos, quantity=quantity, change=owners[0].address)
    except InsufficientFundsError as exc:
        available = Value(0)
        for u in {u.out_ref: u for u in utxos}.values():
            available = available + u.value
        # A genuine shortage: the wallet lacks a token outright, or its lovelace is tight.
        assert exc.shortfall
        for unit, missing in exc.shortfall.items():
            assert missing > 0
            if unit != "lovelace":
                have = sum(q for a, q in available.assets.items() if unit_of(a) == unit)
                need = sum(q for a, q in amount.value.assets.items() if unit_of(a) == unit)
                assert have < need
            else:
                assert available.coin < amount.value.coin + 3_000_000
        return
    facts = check_transaction(tx.balanced.cbor, utxos, sc.params, [o.payment_key for o in owners])
    assert facts["fee"] >= facts["min_fee"]
    paid = sum_values(
        o.value.tokens() for o in tx.balanced.outputs[: 2 if tx.pays_service_fee else 1]
    )
    assert paid == amount.value.tokens()  # exactly the tokens the amount asked the wallet for


def test_a_spent_utxo_with_a_duplicate_map_key_is_refused() -> None:
    sc = scenario()
    buyer = buyer_for(sc)
    newm = sc.config.currency
    good = utxo(tx_hash("dup"), 0, buyer.address, Value.of(50_000_000, {newm: 10**11}))
    # The same output with key 1 (amount) written twice: cbor2 keeps the last, the ledger refuses.
    amount = cbor2.dumps(good.value.to_primitive())
    dup_output = b"\xa3\x00" + cbor2.dumps(buyer.address) + b"\x01\x1a\x00\x0f\x42\x40\x01" + amount
    raw = b"\x82" + cbor2.dumps([good.tx_hash, 0]) + dup_output
    from cardano_market.domain.cip30 import parse_utxos
    from cardano_market.domain.errors import CborError

    (parsed,) = parse_utxos([raw.hex()])  # the fast parse defers the check...
    with pytest.raises(CborError, match="duplicate map key"):
        build(sc, [parsed])  # ...to the inputs the builder spends


def test_scenarios_reproduce_the_golden_transactions() -> None:
    """fixtures/vectors/order_transactions.json: regenerate with scripts/make_fixtures.py."""
    import json

    from cardano_market.scenario import run_order

    golden = json.loads((FIXTURES.parent / "vectors" / "order_transactions.json").read_text())
    for name, expected in golden.items():
        report = run_order(scenario(name))
        assert report["amount"]["amountCborHex"] == expected["amountCborHex"]
        assert report["transaction"]["txId"] == expected["txId"]
        assert report["transaction"]["fee"] == expected["fee"]
        assert report["txCborHex"] == expected["txCborHex"]
