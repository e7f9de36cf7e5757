"""Protocol parameters, the fee and min-ADA formulas, and output encoding.

Every expected number is worked out by hand in a comment; pycardano and cardano-serialization-lib
(CSL, what CIP-30 dApps use) are the independent cross-checks.
"""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardano_market.domain.cbor import encode_head
from cardano_market.domain.fees import (
    UTXO_ENTRY_OVERHEAD,
    min_ada,
    min_ada_fixed_point,
    min_fee,
    ref_script_fee,
    script_fee,
)
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import (
    MAINNET_PARAMETERS_FILE,
    ParametersError,
    ProtocolParameters,
    default_parameters,
)
from cardano_market.domain.values import MAX_UINT64, AssetId, Value
from interop.csl import CslInspect

P = default_parameters()
# The same parameters with a coin-per-byte price that puts min-ADA right at the 65,536 boundary.
P337 = dataclasses.replace(P, coins_per_utxo_byte=337)

ENTERPRISE = bytes([0x61]) + b"\x11" * 28  # 29 bytes: 58 1d + 29 = 31 bytes encoded
BASE = bytes([0x01]) + b"\x11" * 28 + b"\x22" * 28  # 57 bytes: 58 39 + 57 = 59 bytes encoded
POLICY = bytes(range(28))
DATUM = bytes.fromhex("d8798201427878")  # Constr 0 [1, "xx"], definite: 7 bytes

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
BATCH = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _raw() -> dict[str, Any]:
    """The shipped mainnet file as Blockfrost sends it (a fresh copy per test)."""
    loaded: dict[str, Any] = json.loads(MAINNET_PARAMETERS_FILE.read_text())
    return loaded


# -- ProtocolParameters.from_blockfrost ---------------------------------------------------------


def test_shipped_mainnet_parameters_read_exactly() -> None:
    p = ProtocolParameters.from_file(MAINNET_PARAMETERS_FILE)
    assert p == P
    assert (p.min_fee_a, p.min_fee_b) == (44, 155_381)
    assert p.price_mem == Fraction(577, 10_000)  # JSON 0.0577
    assert p.price_step == Fraction(721, 10**7)  # JSON 0.0000721
    assert p.coins_per_utxo_byte == 4310  # JSON string "4310"
    assert p.min_fee_ref_script_cost_per_byte == 15
    assert (p.max_tx_size, p.max_val_size) == (16_384, 5_000)  # max_val_size is the string "5000"
    assert (p.max_tx_ex_mem, p.max_tx_ex_steps) == (14_000_000, 10_000_000_000)
    assert (p.collateral_percent, p.max_collateral_inputs) == (150, 3)
    assert (p.key_deposit, p.pool_deposit) == (2_000_000, 500_000_000)
    assert (p.epoch, p.protocol_major_ver) == (560, 10)
    assert (p.ref_script_tier_size, p.ref_script_tier_multiplier) == (25_600, Fraction(6, 5))


@pytest.mark.parametrize("given_as", ["44", 44, 44.0])
def test_integer_fields_accept_strings_ints_and_integral_floats(given_as: object) -> None:
    raw = _raw()
    raw["min_fee_a"] = given_as
    raw["coins_per_utxo_size"] = given_as
    raw["key_deposit"] = given_as
    p = ProtocolParameters.from_blockfrost(raw)
    assert (p.min_fee_a, p.coins_per_utxo_byte, p.key_deposit) == (44, 44, 44)
    assert all(type(v) is int for v in (p.min_fee_a, p.coins_per_utxo_byte, p.key_deposit))


def test_coins_per_utxo_word_is_the_fallback_for_coins_per_utxo_size() -> None:
    raw = _raw()
    del raw["coins_per_utxo_size"]
    raw["coins_per_utxo_word"] = "4311"
    assert ProtocolParameters.from_blockfrost(raw).coins_per_utxo_byte == 4311


@pytest.mark.parametrize(
    "key",
    [
        "min_fee_a",
        "min_fee_b",
        "max_tx_size",
        "max_val_size",
        "price_mem",
        "price_step",
        "max_tx_ex_mem",
        "collateral_percent",
        "key_deposit",
    ],
)
def test_a_missing_field_raises_naming_it(key: str) -> None:
    raw = _raw()
    del raw[key]
    with pytest.raises(ParametersError, match=rf"\b{key}\b.*missing"):
        ProtocolParameters.from_blockfrost(raw)


def test_missing_coins_per_utxo_size_and_word_raises_naming_the_field() -> None:
    raw = _raw()
    del raw["coins_per_utxo_size"], raw["coins_per_utxo_word"]
    with pytest.raises(ParametersError, match="coins_per_utxo_size"):
        ProtocolParameters.from_blockfrost(raw)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("min_fee_a", 44.5),
        ("min_fee_a", True),
        ("min_fee_a", [44]),
        ("min_fee_b", "155381.5"),
        ("max_tx_size", "sixteen"),
        ("max_val_size", float("nan")),
        ("key_deposit", float("inf")),
        ("coins_per_utxo_size", "4310 lovelace"),
        ("price_mem", "abc"),
        ("price_mem", float("inf")),
        ("price_step", True),
        ("price_step", [0.0000721]),
        ("min_fee_ref_script_cost_per_byte", "fifteen"),
    ],
)
def test_a_value_of_the_wrong_kind_raises_naming_the_field(key: str, bad: object) -> None:
    raw = _raw()
    raw[key] = bad
    with pytest.raises(ParametersError, match=rf"\b{key}\b must be"):
        ProtocolParameters.from_blockfrost(raw)


def test_a_non_object_raises() -> None:
    with pytest.raises(ParametersError, match="JSON object"):
        ProtocolParameters.from_blockfrost([])  # type: ignore[arg-type]


def test_a_float_price_never_becomes_an_inexact_fraction() -> None:
    # Fraction(0.0577) is the binary double 0.05769999999999999...; str() first reads 0.0577.
    assert Fraction(0.0577) != Fraction(577, 10_000)  # the trap this guards against
    p = ProtocolParameters.from_blockfrost(json.loads(json.dumps(_raw())))
    assert p.price_mem == Fraction(577, 10_000) and p.price_mem.denominator == 10_000
    assert p.price_step == Fraction(721, 10**7) and p.price_step.denominator == 10**7
    raw = _raw()
    raw["price_mem"], raw["price_step"] = 0.1, 3e-05
    p = ProtocolParameters.from_blockfrost(raw)
    assert (p.price_mem, p.price_step) == (Fraction(1, 10), Fraction(3, 100_000))
    raw["price_mem"], raw["price_step"] = "0.0577", "721/10000000"
    p = ProtocolParameters.from_blockfrost(raw)
    assert (p.price_mem, p.price_step) == (Fraction(577, 10_000), Fraction(721, 10**7))


def test_mainnet_round_trips_through_to_blockfrost_and_json() -> None:
    out = P.to_blockfrost()
    assert out["price_mem"] == 0.0577 and out["price_step"] == 0.0000721
    assert out["coins_per_utxo_size"] == "4310"
    again = ProtocolParameters.from_blockfrost(json.loads(json.dumps(out)))
    assert again == P
    assert again.price_mem.denominator == 10_000


_UINTS = st.integers(0, 2**63)
# Short decimals like the ledger's prices: k / 10^d has at most 9 significant digits, so the float
# Blockfrost sends reads back (through str) as exactly that decimal.
_DECIMALS = st.builds(
    lambda k, d: Fraction(k, 10**d), st.integers(0, 10**9 - 1), st.integers(0, 12)
)


@SLOW
@given(
    ints=st.lists(_UINTS, min_size=13, max_size=13),
    prices=st.lists(_DECIMALS, min_size=3, max_size=3),
)
def test_to_blockfrost_from_blockfrost_round_trips(ints: list[int], prices: list[Fraction]) -> None:
    p = ProtocolParameters(
        min_fee_a=ints[0],
        min_fee_b=ints[1],
        max_tx_size=ints[2],
        max_val_size=ints[3],
        coins_per_utxo_byte=ints[4],
        price_mem=prices[0],
        price_step=prices[1],
        max_tx_ex_mem=ints[5],
        max_tx_ex_steps=ints[6],
        collateral_percent=ints[7],
        max_collateral_inputs=ints[8],
        key_deposit=ints[9],
        pool_deposit=ints[10],
        min_fee_ref_script_cost_per_byte=prices[2],
        epoch=ints[11],
        protocol_major_ver=ints[12],
    )
    again = ProtocolParameters.from_blockfrost(json.loads(json.dumps(p.to_blockfrost())))
    assert again == p


# -- script_fee ---------------------------------------------------------------------------------


def test_script_fee_of_zero_units_is_zero() -> None:
    assert script_fee(P, 0, 0) == 0


@pytest.mark.parametrize(
    ("mem", "steps", "expected"),
    [
        # 1 * 0.0577 + 1 * 0.0000721 = 0.0577721 -> 1 (per-term ceilings: 1 + 1 = 2)
        (1, 1, 1),
        # 10,001 * 577/10^4 = 577.0577; 10,000,001 * 721/10^7 = 721.0000721;
        # sum 1,298.0577721 -> 1,299 (per-term ceilings: 578 + 722 = 1,300)
        (10_001, 10_000_001, 1_299),
        # 500,000 * 0.0577 = 28,850 and 200,000,000 * 0.0000721 = 14,420, both exact: 43,270
        (500_000, 200_000_000, 43_270),
        # 1,234,567 * 577 = 712,345,159 -> 71,234.5159; 98,765,432 * 721 = 71,209,876,472
        # -> 7,120.9876472; sum 78,355.5035472 -> 78,356
        (1_234_567, 98_765_432, 78_356),
        (1, 0, 1),  # 0.0577 -> 1
        (0, 1, 1),  # 0.0000721 -> 1
        # The mainnet per-transaction maximum: 14,000,000 * 0.0577 = 807,800 and
        # 10,000,000,000 * 0.0000721 = 721,000: 1,528,800
        (14_000_000, 10_000_000_000, 1_528_800),
    ],
)
def test_script_fee_rounds_up_once_over_the_sum(mem: int, steps: int, expected: int) -> None:
    assert script_fee(P, mem, steps) == expected


@given(st.integers(0, 10**9), st.integers(0, 10**12))
def test_script_fee_equals_the_integer_ceiling(mem: int, steps: int) -> None:
    # 577/10^4 * mem + 721/10^7 * steps = (577,000 * mem + 721 * steps) / 10^7, rounded up in ints.
    assert script_fee(P, mem, steps) == -(-(577_000 * mem + 721 * steps) // 10**7)


# -- ref_script_fee -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, 0),
        (1, 15),
        (100, 1_500),
        (25_599, 383_985),  # 25,599 * 15
        (25_600, 384_000),  # a whole first tier: 25,600 * 15
        (25_601, 384_018),  # + 1 byte at 15 * 1.2 = 18
        (51_200, 844_800),  # 384,000 + 25,600 * 18 = 460,800
        (51_201, 844_821),  # + 1 byte at 18 * 1.2 = 21.6, floored
        (51_202, 844_843),  # + 43.2, floored
        (51_300, 846_960),  # 384,000 + 460,800 + 100 * 21.6 = 2,160
        # Five whole tiers: 384,000 + 460,800 + 552,960 + 663,552 + 796,262.4 = 2,857,574.4; then
        # 2 bytes at 31.104 * 1.2 = 37.3248: 74.6496. Once: floor(2,857,649.0496) = 2,857,649;
        # flooring per tier would give 2,857,574 + 74 = 2,857,648.
        (128_002, 2_857_649),
    ],
)
def test_ref_script_fee_conway_tiers(size: int, expected: int) -> None:
    assert ref_script_fee(P, size) == expected


def _reference_ref_script_fee(size: int, base: Fraction = Fraction(15)) -> int:
    """Closed form: k whole tiers are a geometric series, then the rest at the (k+1)-th price."""
    tier, ratio = 25_600, Fraction(6, 5)
    k, rest = divmod(size, tier)
    whole = tier * base * (ratio**k - 1) / (ratio - 1)
    return math.floor(whole + rest * base * ratio**k)


def test_reference_implementation_agrees_with_the_hand_values() -> None:
    assert _reference_ref_script_fee(51_300) == 846_960
    assert _reference_ref_script_fee(128_002) == 2_857_649


@given(st.integers(0, 1_000_000), st.integers(0, 1_000_000))
def test_ref_script_fee_is_monotone_at_least_15_per_byte_and_matches_the_reference(
    a: int, b: int
) -> None:
    small, large = sorted((a, b))
    assert ref_script_fee(P, small) <= ref_script_fee(P, large)
    assert ref_script_fee(P, small) >= 15 * small
    assert ref_script_fee(P, large) == _reference_ref_script_fee(large)


@given(st.integers(0, 300_000), st.integers(1, 100))
def test_ref_script_fee_follows_the_configured_base_price(size: int, base: int) -> None:
    params = dataclasses.replace(P, min_fee_ref_script_cost_per_byte=Fraction(base))
    assert ref_script_fee(params, size) == _reference_ref_script_fee(size, Fraction(base))


# -- min_fee ------------------------------------------------------------------------------------


def test_min_fee_adds_the_parts() -> None:
    assert min_fee(P, 0) == 155_381
    assert min_fee(P, 300) == 168_581  # 44 * 300 = 13,200 + 155,381
    # 44 * 1,000 + 155,381 = 199,381; + 1,299 script fee (above); + 384,018 for 25,601 bytes of
    # reference scripts: 584,698
    assert min_fee(P, 1_000, mem=10_001, steps=10_000_001, ref_script_size=25_601) == 584_698
    # The largest transaction mainnet allows, with its whole ex-unit budget:
    # 44 * 16,384 = 720,896 + 155,381 + 1,528,800 = 2,405,077
    assert min_fee(P, 16_384, mem=14_000_000, steps=10_000_000_000) == 2_405_077


@pytest.fixture(scope="module")
def py_context() -> Any:
    """A minimal pycardano ChainContext carrying our mainnet parameters (pycardano's own types)."""
    from pycardano.backend.base import ChainContext
    from pycardano.backend.base import ProtocolParameters as PyParameters

    py_params = PyParameters(
        min_fee_constant=P.min_fee_b,
        min_fee_coefficient=P.min_fee_a,
        max_block_size=90_112,
        max_tx_size=P.max_tx_size,
        max_block_header_size=1_100,
        key_deposit=P.key_deposit,
        pool_deposit=P.pool_deposit,
        pool_influence=Fraction(3, 10),
        monetary_expansion=Fraction(3, 1000),
        treasury_expansion=Fraction(1, 5),
        decentralization_param=Fraction(0),
        extra_entropy="",
        protocol_major_version=P.protocol_major_ver,
        protocol_minor_version=0,
        min_utxo=P.coins_per_utxo_byte,
        min_pool_cost=170_000_000,
        price_mem=P.price_mem,
        price_step=P.price_step,
        max_tx_ex_mem=P.max_tx_ex_mem,
        max_tx_ex_steps=P.max_tx_ex_steps,
        max_block_ex_mem=62_000_000,
        max_block_ex_steps=20_000_000_000,
        max_val_size=P.max_val_size,
        collateral_percent=P.collateral_percent,
        max_collateral_inputs=P.max_collateral_inputs,
        coins_per_utxo_word=P.coins_per_utxo_byte,
        coins_per_utxo_byte=P.coins_per_utxo_byte,
        cost_models={},
        maximum_reference_scripts_size={"bytes": 200 * 1024},
        min_fee_reference_scripts={"base": 15, "range": 25_600, "multiplier": 1.2},
    )

    class _Context(ChainContext):  # type: ignore[misc]
        @property
        def protocol_param(self) -> Any:
            return py_params

    return _Context()


@SLOW
@given(st.integers(0, 16_384))
def test_min_fee_by_size_matches_pycardano(py_context: Any, size: int) -> None:
    from pycardano.utils import fee

    assert min_fee(P, size) == fee(py_context, size) == 44 * size + 155_381


@SLOW
@given(st.integers(0, 16_384), st.integers(0, 1_400), st.integers(0, 10**10))
def test_min_fee_with_ex_units_matches_pycardano(
    py_context: Any, size: int, mem_10k: int, steps: int
) -> None:
    # pycardano rounds the memory and the step cost up separately, the ledger once over the sum;
    # with the memory cost a whole number (mem a multiple of 10,000) the two agree.
    from pycardano.utils import fee

    mem = mem_10k * 10_000
    assert min_fee(P, size, mem=mem, steps=steps) == fee(
        py_context, size, exec_steps=steps, max_mem_unit=mem
    )


@pytest.mark.parametrize("ref_size", [0, 1, 100, 25_600, 25_601])
def test_min_fee_with_reference_scripts_matches_pycardano(py_context: Any, ref_size: int) -> None:
    # pycardano sums tiers in floats and rounds up; at these sizes the exact fee is whole, so both
    # agree (where it is not, e.g. 51,201 bytes, pycardano charges 1 lovelace more than the ledger).
    from pycardano.utils import fee

    assert min_fee(P, 500, ref_script_size=ref_size) == fee(
        py_context, 500, ref_script_size=ref_size
    )


def test_min_fee_ex_units_differs_from_pycardano_per_term_rounding(py_context: Any) -> None:
    # The case from test_script_fee_rounds_up_once_over_the_sum: 44 * 500 + 155,381 = 177,381;
    # + ceil(1,298.0577721) = 1,299 -> 178,680. pycardano's ceil(577.0577) + ceil(721.0000721)
    # = 1,300 over-charges by one lovelace; the ledger (and we) round once.
    from pycardano.utils import fee

    ours = min_fee(P, 500, mem=10_001, steps=10_000_001)
    assert ours == 178_680
    assert fee(py_context, 500, exec_steps=10_000_001, max_mem_unit=10_001) == ours + 1


# -- min_ada and the fixed point ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, 689_600), (37, 849_070), (65, 969_750), (80, 1_034_400), (5_000, 22_239_600)],
)
def test_min_ada_is_160_plus_size_times_coins_per_byte(size: int, expected: int) -> None:
    # (160 + 0) * 4310 = 689,600; 197 * 4310 = 849,070; 225 * 4310 = 969,750;
    # 240 * 4310 = 1,034,400; 5,160 * 4310 = 22,239,600
    assert UTXO_ENTRY_OVERHEAD == 160
    assert min_ada(P, size) == expected == (160 + size) * 4310


def test_enterprise_ada_only_output_bytes_and_min_ada() -> None:
    out = TxOutput(ENTERPRISE, Value.of(1_000_000))
    # 82 | 58 1d <29 bytes> | 1a 000f4240: 1 + 31 + 5 = 37 bytes
    assert out.to_cbor() == b"\x82\x58\x1d" + ENTERPRISE + bytes.fromhex("1a000f4240")
    assert len(out.to_cbor()) == 37
    # 197 * 4310 = 849,070: coin 1,000,000 covers it, and so does the smallest coin, also 5 bytes
    assert out.min_ada(P) == 849_070
    assert out.with_min_ada(P) is out


def test_min_ada_counts_the_coins_own_final_width() -> None:
    out = TxOutput(ENTERPRISE, Value.of(0))
    # Coin 0 is 1 byte (33-byte output): 193 * 4310 = 831,830 - but 831,830 takes 5 bytes, so the
    # output is 37 bytes and needs 197 * 4310 = 849,070, which is still 5 bytes: the fixed point.
    assert min_ada(P, len(out.to_cbor())) == 831_830
    assert out.min_ada(P) == 849_070
    assert out.with_min_ada(P).value.coin == 849_070
    assert min_ada(P, len(out.with_coin(849_070).to_cbor())) == 849_070


def test_min_ada_fixed_point_across_the_65536_boundary() -> None:
    # 337 lovelace per byte, enterprise ADA-only output of 32 bytes + the coin:
    # coin 0 (1 byte) -> 193 * 337 = 65,041; that is 3 bytes -> 195 * 337 = 65,715 >= 65,536,
    # i.e. 5 bytes -> 197 * 337 = 66,389, still 5 bytes: the answer.
    out = TxOutput(ENTERPRISE, Value.of(0))
    assert out.min_ada(P337) == 66_389
    # Just below the boundary the coin is 3 bytes and needs 65,715: 65,535 is short.
    assert min_ada(P337, len(out.with_coin(65_535).to_cbor())) == 65_715
    # Just above it the coin is 5 bytes and needs 66,389: 65,536 is short too.
    assert min_ada(P337, len(out.with_coin(65_536).to_cbor())) == 66_389
    for short in (0, 65_000, 65_535, 65_536, 65_715, 66_388):
        assert out.with_coin(short).with_min_ada(P337).value.coin == 66_389
    for enough in (66_389, 70_000, MAX_UINT64):
        assert out.with_coin(enough).with_min_ada(P337).value.coin == enough


def test_min_ada_fixed_point_with_a_plain_encoder() -> None:
    def encode(coin: int) -> bytes:
        return b"\x00" * 90 + cbor2.dumps(coin)

    # coins_per_utxo_byte 1: coin 0 -> 251; 251 is 2 bytes -> 252; 252 is 2 bytes: 252.
    params = dataclasses.replace(P, coins_per_utxo_byte=1)
    assert min_ada_fixed_point(params, encode) == 252
    # From 255 (2 bytes, needs 252) nothing changes; 256 is 3 bytes (needs 253): kept.
    assert min_ada_fixed_point(params, encode, at_least=255) == 255
    assert min_ada_fixed_point(params, encode, at_least=256) == 256


def test_inline_datum_takes_the_map_form_and_no_datum_the_legacy_array() -> None:
    value = Value.of(2_000_000)
    legacy = TxOutput(BASE, value)
    inline = TxOutput(BASE, value, inline_datum=DATUM)
    hashed = TxOutput(BASE, value, datum_hash=b"\x03" * 32)
    # 82 | 58 39 <57> | 1a 001e8480: 1 + 59 + 5 = 65 bytes -> 225 * 4310 = 969,750
    assert cbor2.loads(legacy.to_cbor()) == [BASE, 2_000_000]
    assert len(legacy.to_cbor()) == 65 and legacy.min_ada(P) == 969_750
    # a3 | 00 addr | 01 coin | 02 82 01 d8 18 47 <7>: 65 + 2 keys + 1 key + 4 + 8 = 80 bytes
    # -> 240 * 4310 = 1,034,400
    assert cbor2.loads(inline.to_cbor()) == {
        0: BASE,
        1: 2_000_000,
        2: [1, cbor2.CBORTag(24, DATUM)],
    }
    assert inline.to_cbor().endswith(bytes.fromhex("028201d81847") + DATUM)
    assert len(inline.to_cbor()) == 80 and inline.min_ada(P) == 1_034_400
    # 83 | addr | coin | 58 20 <32>: 65 + 34 = 99 bytes -> 259 * 4310 = 1,116,290
    assert cbor2.loads(hashed.to_cbor()) == [BASE, 2_000_000, b"\x03" * 32]
    assert len(hashed.to_cbor()) == 99 and hashed.min_ada(P) == 1_116_290


def test_token_output_min_ada() -> None:
    value = Value.of(2_000_000, {(POLICY, b"ab"): 5, (POLICY, b""): 7})
    out = TxOutput(BASE, value)
    # value: 82 | 1a <4> | a1 | 58 1c <28> | a2 | 40 07 | 42 6162 05  = 1+5+1+30+1+2+4 = 44 bytes
    # output: 1 + 59 + 44 = 104 bytes -> 264 * 4310 = 1,137,840
    assert len(out.to_cbor()) == 104
    assert out.min_ada(P) == 1_137_840
    assert out.with_min_ada(P) is out  # 2,000,000 already covers it
    # The same output holding no lovelace at all is raised to exactly that coin, tokens kept.
    assert out.with_coin(0).with_min_ada(P).value == value.with_coin(1_137_840)


# -- strategies for random outputs --------------------------------------------------------------

_COIN_EDGES = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, MAX_UINT64]
coins = st.integers(0, MAX_UINT64) | st.integers(0, 5_000_000) | st.sampled_from(_COIN_EDGES)


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """Shelley base and enterprise addresses (key or script parts), mainnet or testnet."""
    network = draw(st.sampled_from([0, 1]))
    kind = draw(st.sampled_from([0, 1, 2, 3, 6, 7]))
    payment = draw(st.binary(min_size=28, max_size=28))
    stake = draw(st.binary(min_size=28, max_size=28)) if kind < 4 else b""
    return bytes([(kind << 4) | network]) + payment + stake


@st.composite
def values(draw: st.DrawFn) -> Value:
    policies = draw(st.lists(st.binary(min_size=28, max_size=28), max_size=3, unique=True))
    assets: dict[AssetId, int] = {}
    for policy in policies:
        for name in draw(st.lists(st.binary(max_size=32), min_size=1, max_size=3, unique=True)):
            assets[(policy, name)] = draw(st.integers(1, MAX_UINT64) | st.sampled_from([1, 256]))
    return Value.of(draw(coins), assets)


_data_leaves = st.one_of(st.integers(-(2**64), 2**64), st.binary(max_size=64))
_data = st.recursive(
    _data_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(lambda fields: cbor2.CBORTag(121, fields))
    ),
    max_leaves=12,
)


@st.composite
def script_refs(draw: st.DrawFn) -> bytes:
    """`[type, script]` as a script reference carries it: a native signature script or Plutus."""
    kind = draw(st.sampled_from([0, 1, 2, 3]))
    if kind == 0:
        return cbor2.dumps([0, [0, draw(st.binary(min_size=28, max_size=28))]])
    return cbor2.dumps([kind, draw(st.binary(min_size=1, max_size=300))])


@st.composite
def outputs(draw: st.DrawFn) -> TxOutput:
    form = draw(st.sampled_from(["plain", "hash", "inline", "script", "hash+script", "all"]))
    inline = draw(_data.map(cbor2.dumps)) if form in ("inline", "all") else None
    datum_hash = (
        draw(st.binary(min_size=32, max_size=32)) if form in ("hash", "hash+script") else None
    )
    script_ref = draw(script_refs()) if "script" in form or form == "all" else None
    return TxOutput(draw(addresses()), draw(values()), inline, datum_hash, script_ref)


# -- pycardano: the same bytes, the same min-ADA ------------------------------------------------


def _py_output(out: TxOutput) -> Any:
    """pycardano's TransactionOutput for the same content (datum bytes kept as given)."""
    from pycardano import (
        Address,
        DatumHash,
        MultiAsset,
        NativeScript,
        PlutusV1Script,
        PlutusV2Script,
        PlutusV3Script,
        RawCBOR,
        TransactionOutput,
    )
    from pycardano import Value as PyValue

    amount: Any = out.value.coin
    if out.value.assets:
        amount = PyValue(out.value.coin, MultiAsset.from_primitive(out.value.policies()))
    script: Any = None
    if out.script_ref is not None:
        kind, body = cbor2.loads(out.script_ref)
        plutus = {1: PlutusV1Script, 2: PlutusV2Script, 3: PlutusV3Script}
        script = NativeScript.from_primitive(body) if kind == 0 else plutus[kind](body)
    return TransactionOutput(
        Address.from_primitive(out.address),
        amount,
        datum_hash=DatumHash(out.datum_hash) if out.datum_hash is not None else None,
        datum=RawCBOR(out.inline_datum) if out.inline_datum is not None else None,
        script=script,
    )


@SLOW
@given(outputs())
def test_to_cbor_matches_pycardano(out: TxOutput) -> None:
    assert out.to_cbor() == _py_output(out).to_cbor()


@SLOW
@given(outputs().filter(lambda o: o.value.coin > 0))
def test_min_ada_matches_pycardano_min_lovelace_post_alonzo(py_context: Any, out: TxOutput) -> None:
    # pycardano prices every output in the map form; for a legacy array that form is longer:
    # [addr, value] -> {0: addr, 1: value} adds the 2 key bytes (2 * 4310 = 8,620 lovelace);
    # [addr, value, hash] -> {0: addr, 1: value, 2: [0, hash]} adds 3 keys + 82 00 (5 * 4310).
    # (pycardano also swaps a zero coin for 1 ADA in place, hence coin > 0.)
    from pycardano.utils import min_lovelace_post_alonzo

    ours = min_ada(P, len(out.to_cbor()))
    theirs = min_lovelace_post_alonzo(_py_output(out), py_context)
    if out.inline_datum is not None or out.script_ref is not None:
        assert theirs == ours
    elif out.datum_hash is not None:
        assert theirs == ours + 5 * 4310
    else:
        assert theirs == ours + 2 * 4310


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        # the worked examples above, as pycardano prices them (map form for the legacy ones)
        (TxOutput(BASE, Value.of(2_000_000), inline_datum=DATUM), 1_034_400),
        (TxOutput(BASE, Value.of(2_000_000)), 969_750 + 8_620),
        (
            TxOutput(BASE, Value.of(2_000_000, {(POLICY, b"ab"): 5, (POLICY, b""): 7})),
            1_137_840 + 8_620,
        ),
    ],
)
def test_worked_examples_against_pycardano(py_context: Any, out: TxOutput, expected: int) -> None:
    from pycardano.utils import min_lovelace_post_alonzo

    assert min_lovelace_post_alonzo(_py_output(out), py_context) == expected


# -- the fixed point, as a property -------------------------------------------------------------


@SLOW
@given(outputs(), st.integers(1, 5_000), coins)
def test_with_min_ada_is_the_least_sufficient_coin(
    out: TxOutput, per_byte: int, at_least: int
) -> None:
    params = dataclasses.replace(P, coins_per_utxo_byte=per_byte)

    def enough(coin: int) -> bool:
        return coin >= (160 + len(out.with_coin(coin).to_cbor())) * per_byte

    coin = out.with_coin(at_least).with_min_ada(params).value.coin
    assert coin >= at_least and enough(coin)
    assert coin == at_least or not enough(coin - 1)
    least = out.min_ada(params)
    assert enough(least) and not enough(least - 1)
    assert least <= coin


# -- cardano-serialization-lib ------------------------------------------------------------------


def _tx_with(outs: list[TxOutput]) -> bytes:
    """[{0: [], 1: outputs, 2: 0}, {}, true, null]: just enough transaction for CSL to read."""
    body = (
        b"\xa3\x00\x80\x01"
        + encode_head(4, len(outs))
        + b"".join(o.to_cbor() for o in outs)
        + b"\x02\x00"
    )
    return b"\x84" + body + b"\xa0\xf5\xf6"


def _csl_min_ada(out: TxOutput) -> int:
    """What CSL's min_ada_for_output answers: min-ADA for the output as encoded when its coin
    covers that, else it raises the coin to the fixed point (which we reach the same way)."""
    as_encoded = min_ada(P, len(out.to_cbor()))
    if out.value.coin >= as_encoded:
        return as_encoded
    return out.with_min_ada(P).value.coin


@pytest.mark.interop
@BATCH
@given(st.lists(outputs(), min_size=40, max_size=50))
def test_min_ada_matches_csl(csl: CslInspect, batch: list[TxOutput]) -> None:
    fixed = [
        TxOutput(ENTERPRISE, Value.of(0)),
        TxOutput(BASE, Value.of(2_000_000), inline_datum=DATUM),
        TxOutput(BASE, Value.of(2_000_000, {(POLICY, b"ab"): 5, (POLICY, b""): 7})),
    ]
    batch = fixed + batch
    zeroed = [o.with_coin(0) for o in batch]
    tx_hash = b"\x5a" * 32
    requests: list[dict[str, Any]] = [
        {
            "kind": "tx",
            "hex": _tx_with(batch + zeroed).hex(),
            "linearFee": {"coefficient": "44", "constant": "155381"},
            "coinsPerUtxoByte": "4310",
        }
    ]
    requests += [
        {"kind": "utxo", "hex": (b"\x82" + cbor2.dumps([tx_hash, i]) + o.to_cbor()).hex()}
        for i, o in enumerate(batch)
    ]
    tx_result, *utxo_results = csl(requests)
    assert "error" not in tx_result, tx_result.get("error")
    csl_min = [int(m) for m in tx_result["minAdaPerOutput"]]
    assert csl_min[:3] == [849_070, 1_034_400, 1_137_840]  # the worked examples
    assert csl_min[: len(batch)] == [_csl_min_ada(o) for o in batch]
    # From a zero coin CSL raises the coin to the fixed point: exactly TxOutput.min_ada.
    assert csl_min[len(batch) :] == [o.min_ada(P) for o in batch]
    for i, (out, result) in enumerate(zip(batch, utxo_results, strict=True)):
        assert "error" not in result, result.get("error")
        # CSL re-encodes our output to the very same bytes: legacy array vs map as CSL writes it.
        assert result["hex"] == (b"\x82" + cbor2.dumps([tx_hash, i]) + out.to_cbor()).hex()
        assert int(result["coin"]) == out.value.coin
        assert result["hasInlineDatum"] == (out.inline_datum is not None)
        assert result["hasScriptRef"] == (out.script_ref is not None)
