"""Values, the CBOR scanner and CIP-30 UTxOs: exact arithmetic and byte-for-byte round trips."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardano_market.domain.cbor import item_end, map_entry_count, split_array, split_map
from cardano_market.domain.cip30 import Utxo, parse_utxos
from cardano_market.domain.errors import CborError, InvalidValueError
from cardano_market.domain.values import ADA, Value, asset_from_unit, sum_values, unit_of, value_of

policies = st.binary(min_size=28, max_size=28)
names = st.binary(max_size=32)
quantities = st.integers(1, 2**64 - 1)
values = st.builds(
    Value.of,
    st.integers(0, 2**64 - 1),
    st.dictionaries(st.tuples(policies, names), quantities, max_size=6),
)


@given(values, values)
def test_add_then_subtract_is_identity(a: Value, b: Value) -> None:
    assert (a + b) - b == a
    assert (a + b).covers(a) and (a + b).covers(b)
    assert (a + b).shortfall(a) == {}


@given(values, values)
def test_shortfall_is_exactly_what_is_missing(a: Value, b: Value) -> None:
    short = a.shortfall(b)
    assert a.covers(b) == (short == {})
    topped = a + Value.of(
        short.get("lovelace", 0),
        {asset_from_unit(u): q for u, q in short.items() if u != "lovelace"},
    )
    assert topped.covers(b)


def test_subtract_more_than_held_names_the_missing_asset() -> None:
    p = (b"p" * 28, b"tok")
    with pytest.raises(InvalidValueError, match=unit_of(p)):
        Value.of(5, {p: 1}) - Value.of(1, {p: 2})


@given(values)
def test_cbor_round_trip_and_canonical_order(v: Value) -> None:
    raw = v.to_cbor()
    assert Value.from_cbor(raw) == v
    assert Value.from_cbor(raw.hex()) == v
    decoded = cbor2.loads(raw)
    if v.is_ada_only:
        assert decoded == v.coin  # the bare-uint form
    else:
        policies_in_order = list(decoded[1])
        assert policies_in_order == sorted(policies_in_order, key=lambda k: (len(k), k))
        for assets in decoded[1].values():
            assert list(assets) == sorted(assets, key=lambda k: (len(k), k))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("8201a1581c" + "00" * 28 + "a14100" + "00", r"quantity 0 .* must be in 1\.\.2\^64-1"),
        ("8201a1581c" + "00" * 28 + "a1412040", "must be a uint"),
        ("8201a1581b" + "00" * 27 + "a1410001", "policy id must be 28 bytes"),
        ("8201a1581c" + "00" * 28 + "a15821" + "00" * 33 + "01", "at most 32"),
        ("8201a1581c" + "00" * 28 + "a0", "non-empty asset map"),
        ("20", "lovelace -1"),
        ("ff", "not well-formed|must be a uint|unexpected break"),
        ("8201", "not well-formed"),
        ("0000", "trailing byte"),
        ("8301a000", "uint or a"),
        ("8201a1581c" + "00" * 28 + "a2416101416102", "duplicate map key"),
    ],
)
def test_malformed_values_are_rejected_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(CborError, match=message):
        Value.from_cbor(raw)


def test_constructor_rejects_zero_negative_and_oversize() -> None:
    with pytest.raises(InvalidValueError, match="not positive"):
        Value.of(1, {(b"p" * 28, b"x"): 0})
    with pytest.raises(InvalidValueError, match="negative"):
        Value.of(-1)
    with pytest.raises(InvalidValueError, match="at most 32"):
        Value.of(1, {(b"p" * 28, b"x" * 33): 1})
    with pytest.raises(InvalidValueError, match="28"):
        Value.of(1, {(b"p" * 27, b"x"): 1})


def test_ada_sentinel_and_units() -> None:
    assert value_of(ADA, 7) == Value.of(7)
    assert unit_of(ADA) == "lovelace" and asset_from_unit("lovelace") == ADA
    asset = (b"\x01" * 28, b"NEWM")
    assert asset_from_unit(unit_of(asset)) == asset
    assert sum_values([value_of(asset, 2), value_of(asset, 3), Value.of(4)]) == Value.of(
        4, {asset: 5}
    )


# -- the scanner agrees with cbor2 on arbitrary structures ---------------------------------------

cbor_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.binary(max_size=80)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers(0, 30) | st.binary(max_size=4), inner, max_size=5)
        | st.builds(lambda v: cbor2.CBORTag(121, v), inner)
    ),
    max_leaves=20,
)


@given(cbor_data, st.binary(max_size=5))
def test_item_end_finds_the_end_of_any_item(obj: object, trailer: bytes) -> None:
    raw = cbor2.dumps(obj)
    assert item_end(raw + trailer, 0) == len(raw)


@given(st.lists(cbor_data, max_size=6))
def test_split_array_spans_match_elements(items: list[object]) -> None:
    raw = cbor2.dumps(items)
    spans, end = split_array(raw)
    assert end == len(raw)
    assert [cbor2.loads(raw[a:b]) for a, b in spans] == items


def test_indefinite_containers_and_truncation() -> None:
    raw = bytes.fromhex("9f0102bf0103ff5f4161ff9f80ffff")  # [_ 1, 2, {_ 1: 3}, (_ h'61'), [_ []]]
    assert item_end(raw) == len(raw)
    pairs, end = split_map(bytes.fromhex("bf0102ff"))
    assert pairs == [(b"\x01", b"\x02")] and end == 4
    with pytest.raises(CborError, match=r"ends early|runs past|no break"):
        item_end(raw[:-1])
    assert map_entry_count(bytes.fromhex("a201a1010203a0")) == 3


# -- CIP-30 UTxOs --------------------------------------------------------------------------------

TX = bytes(range(32))
ADDR = bytes([0x60]) + b"\x11" * 28
TOKEN = (b"\x22" * 28, b"NEWM")


def _utxo_bytes(output: object, index: int = 1) -> bytes:
    return cbor2.dumps([[TX, index], output])


@pytest.mark.parametrize(
    "output",
    [
        [ADDR, 2_000_000],
        [ADDR, [2_000_000, {TOKEN[0]: {TOKEN[1]: 5}}]],
        [ADDR, 2_000_000, b"\x33" * 32],
        {0: ADDR, 1: 3_000_000},
        {
            0: ADDR,
            1: [3_000_000, {TOKEN[0]: {TOKEN[1]: 9}}],
            2: [1, cbor2.CBORTag(24, b"\xd8\x79\x80")],
        },
        {0: ADDR, 1: 3_000_000, 2: [0, b"\x44" * 32], 3: cbor2.CBORTag(24, b"\x82\x02\x41\x00")},
    ],
)
def test_utxo_round_trip_is_byte_for_byte(output: object) -> None:
    raw = _utxo_bytes(output)
    utxo = Utxo.from_cbor(raw.hex())
    assert utxo.to_cbor() == raw
    assert utxo.out_ref == (TX, 1)
    assert utxo.address == ADDR


def test_utxo_fields_are_exposed_exactly() -> None:
    datum = bytes.fromhex("9fd8798040ff")  # indefinite-length: must survive untouched
    utxo = Utxo.from_cbor(
        _utxo_bytes(
            {
                0: ADDR,
                1: [1, {TOKEN[0]: {TOKEN[1]: 9}}],
                2: [1, cbor2.CBORTag(24, datum)],
                3: cbor2.CBORTag(24, b"\x82\x03\x41\x00"),
            }
        )
    )
    assert utxo.inline_datum == datum
    assert utxo.script_ref == b"\x82\x03\x41\x00"
    assert utxo.value == Value.of(1, {TOKEN: 9})


def test_non_canonical_output_bytes_are_preserved() -> None:
    # The coin written with an 8-byte head although it fits in 4: re-encoding would change it.
    output = bytes.fromhex("a200581d60" + "11" * 28 + "011b00000000001e8480")
    raw = b"\x82" + cbor2.dumps([TX, 0]) + output
    utxo = Utxo.from_cbor(raw)
    assert utxo.output_cbor == output and utxo.to_cbor() == raw
    assert utxo.value == Value.of(2_000_000)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("zz", "not valid hex"),
        (cbor2.dumps([[TX[:31], 0], [ADDR, 1]]).hex(), "32-byte tx hash"),
        (cbor2.dumps([[TX, 0], {1: 5}]).hex(), "keys 0"),
        (cbor2.dumps([[TX, 0], [ADDR, 1, b"x"]]).hex(), "datum hash"),
        (cbor2.dumps([[TX, 0], {0: ADDR, 1: 1, 2: [1, b"raw"]}]).hex(), "tag 24"),
        (cbor2.dumps([[TX, 0], [ADDR, -1]]).hex(), "lovelace"),
        (
            (
                b"\x82"
                + cbor2.dumps([TX, 0])
                + bytes.fromhex("a300581d60" + "11" * 28 + "01010102")
            ).hex(),
            "duplicate map key",
        ),
    ],
)
def test_malformed_utxos_name_the_problem(raw: str, message: str) -> None:
    with pytest.raises(CborError, match=message):
        Utxo.from_cbor(raw)


def test_parse_utxos_names_the_list_index() -> None:
    good = _utxo_bytes([ADDR, 1]).hex()
    with pytest.raises(CborError, match=r"utxoCborHexList\[1\]"):
        parse_utxos([good, "00"])
