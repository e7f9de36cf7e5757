"""Outside proof: cardano-serialization-lib reads every order transaction we build as we meant it.

Each built transaction is signed (spliced), then CSL decodes it and reports its id, fee, outputs,
min fee and per-output min-ADA. One node process serves the whole batch.
"""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum
from cardano_market.domain.errors import InsufficientFundsError
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.scenario import Scenario, load_scenario
from cardano_market.synthetic import tx_hash, utxo, wallet
from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction
from interop.csl import CslInspect

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"
SCENARIOS = {name: load_scenario(FIXTURES / f"{name}.json") for name in ("usd-sale", "token-sale")}
BUYER_KEYS = {
    w.address: w.payment_key for w in (wallet("usd-sale-buyer"), wallet("token-sale-buyer"))
}


def _request(
    sc: Scenario, utxos: list[Utxo], quantity: int, change: bytes
) -> OrderTransactionRequest:
    return OrderTransactionRequest(
        amount=order_amount(sc.sale, quantity, None, sc.oracle_price, sc.config),
        sale=sc.sale,
        config=sc.config,
        utxos=utxos,
        change_address=change,
        queue_address=sc.queue_address,
        cash_register_address=sc.cash_register_address,
        params=sc.params,
        ttl=sc.ttl,
    )


def _csl_request(tx: bytes, sc: Scenario) -> dict[str, object]:
    return {
        "kind": "tx",
        "hex": tx.hex(),
        "linearFee": {
            "coefficient": str(sc.params.min_fee_a),
            "constant": str(sc.params.min_fee_b),
        },
        "coinsPerUtxoByte": str(sc.params.coins_per_utxo_byte),
    }


def _check_against_csl(csl: CslInspect, cases: list[tuple[Scenario, object, dict]]) -> None:
    """cases: (scenario, built OrderTransaction, keys by address)."""
    signed = []
    for _sc, tx, keys in cases:
        needed = {u.address for u in tx.balanced.inputs}
        witness_set = sign_transaction(tx.balanced.cbor, [keys[a].seed for a in needed])
        signed.append(splice_witnesses(tx.balanced.cbor, witness_set))
    requests = [_csl_request(raw, sc) for raw, (sc, _, _) in zip(signed, cases, strict=True)]
    requests += [_csl_request(tx.balanced.cbor, sc) for sc, tx, _ in cases]
    results = csl(requests)
    signed_results, unsigned_results = results[: len(cases)], results[len(cases) :]
    for (sc, tx, _), raw, seen, unsigned in zip(
        cases, signed, signed_results, unsigned_results, strict=True
    ):
        assert "error" not in seen, seen
        assert "error" not in unsigned, unsigned
        assert seen["txId"] == tx.tx_id == unsigned["txId"]
        assert seen["size"] == seen["reencodedSize"] == len(raw), "CSL prices the bytes we send"
        assert int(seen["fee"]) == tx.fee >= int(seen["minFee"])
        assert int(seen["minFee"]) == sc.params.min_fee_b + sc.params.min_fee_a * len(raw)
        assert seen["vkeyWitnesses"] == tx.balanced.vkey_witnesses
        assert seen["ttl"] == str(sc.ttl)
        assert seen["inputs"] == [f"{u.tx_hash.hex()}#{u.index}" for u in tx.balanced.inputs]
        assert len(seen["outputs"]) == len(tx.balanced.outputs)
        for ours, theirs, min_ada in zip(
            tx.balanced.outputs, seen["outputs"], seen["minAdaPerOutput"], strict=True
        ):
            assert theirs["addressHex"] == ours.address.hex()
            assert int(theirs["coin"]) == ours.value.coin >= int(min_ada)
            assets = {
                (bytes.fromhex(p), bytes.fromhex(n)): int(q)
                for p, names in theirs["multiasset"].items()
                for n, q in names.items()
            }
            assert assets == dict(ours.value.assets)
        datum_hex = seen["outputs"][0].get("inlineDatumHex")
        assert datum_hex is not None and QueueDatum.from_cbor(datum_hex) == tx.queue_datum


@pytest.mark.interop
def test_fixture_orders_read_the_same_in_csl(csl: CslInspect) -> None:
    cases = []
    for sc in SCENARIOS.values():
        utxos = [Utxo.from_cbor(h) for h in sc.utxo_cbor_hex_list]
        for quantity in (1, sc.bundle_quantity):
            tx = build_order_transaction(_request(sc, utxos, quantity, sc.change_address))
            cases.append((sc, tx, BUYER_KEYS))
    _check_against_csl(csl, cases)


@st.composite
def random_orders(draw: st.DrawFn) -> list[tuple[Scenario, list[Utxo], int, list]]:
    orders = []
    for k in range(draw(st.integers(15, 25))):
        sc = SCENARIOS[draw(st.sampled_from(sorted(SCENARIOS)))]
        owners = [wallet(f"csl-{k}-{i}") for i in range(draw(st.integers(1, 2)))]
        tokens = [sc.config.currency] + ([sc.sale.cost] if sc.sale.cost else [])
        utxos = []
        for i in range(draw(st.integers(1, 12))):
            assets = {a: draw(st.integers(10**6, 10**10)) for a in tokens if draw(st.booleans())}
            utxos.append(
                utxo(
                    tx_hash(f"csl/{k}/{i}"),
                    i % 3,
                    draw(st.sampled_from(owners)).address,
                    Value.of(draw(st.integers(1_200_000, 50_000_000)), assets),
                    legacy=not assets and draw(st.booleans()),
                )
            )
        orders.append((sc, utxos, draw(st.integers(1, 4)), owners))
    return orders


@pytest.mark.interop
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_orders())
def test_random_wallet_orders_read_the_same_in_csl(csl: CslInspect, orders) -> None:
    cases = []
    for sc, utxos, quantity, owners in orders:
        try:
            tx = build_order_transaction(_request(sc, utxos, quantity, owners[0].address))
        except InsufficientFundsError:
            continue
        cases.append((sc, tx, {o.address: o.payment_key for o in owners}))
    if cases:
        _check_against_csl(csl, cases)


@pytest.mark.interop
def test_order_amounts_decode_in_csl(csl: CslInspect) -> None:
    amounts = [
        order_amount(sc.sale, q, None, sc.oracle_price, sc.config)
        for sc in SCENARIOS.values()
        for q in (1, 2, 7)
    ]
    results = csl([{"kind": "value", "hex": a.amount_cbor_hex} for a in amounts])
    for amount, seen in zip(amounts, results, strict=True):
        assert seen["hex"] == amount.amount_cbor_hex
        assert int(seen["coin"]) == amount.value.coin
        assert cbor2.loads(bytes.fromhex(seen["hex"])) == amount.value.to_primitive()
