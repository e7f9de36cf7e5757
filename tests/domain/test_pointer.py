"""Pointer-token names: a hand-computed vector, ledger input order, and the one-byte index limit."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardano_market.domain.errors import MarketError, PointerError
from cardano_market.domain.pointer import POINTER_PREFIX, pointer_asset_name

TX_5F = bytes.fromhex("5f" * 32)
TX_A0 = bytes.fromhex("a0" * 32)
# sha3-256 of 32 bytes 0x5f, computed outside Python with `openssl dgst -sha3-256`.
SHA3_TX_5F = "6bb85068aa4ec5720203d2d2d4d6ffec19cd8fac20f841ff844befea18134b3f"


def test_hand_computed_vector() -> None:
    # Ledger order: 5f..5f#3 < 5f..5f#7 < a0..a0#0; the name commits to 5f..5f#3.
    name = pointer_asset_name([(TX_A0, 0), (TX_5F, 7), (TX_5F, 3)])
    assert name.hex() == "ca11ab1e" + "03" + SHA3_TX_5F[:54]
    assert len(name) == 32


def test_prefix_parameter() -> None:
    assert POINTER_PREFIX.hex() == "ca11ab1e"
    assert pointer_asset_name([(TX_5F, 9)], prefix=b"").hex() == "09" + SHA3_TX_5F[:62]
    long_prefix = bytes(range(20))
    name = pointer_asset_name([(TX_5F, 0)], prefix=long_prefix)
    assert name == long_prefix + b"\x00" + bytes.fromhex(SHA3_TX_5F)[:11]
    with pytest.raises(PointerError, match="shorter than 32 bytes"):
        pointer_asset_name([(TX_5F, 0)], prefix=b"\x00" * 32)


def test_transaction_id_orders_before_index() -> None:
    low, high = bytes.fromhex("aa" + "ff" * 31), bytes.fromhex("ab" + "00" * 31)
    name = pointer_asset_name([(high, 0), (low, 200)])
    assert name[4] == 200
    assert name[5:] == hashlib.sha3_256(low).digest()[:27]


def test_index_must_fit_one_byte_for_the_first_input_only() -> None:
    assert pointer_asset_name([(TX_5F, 255)])[4] == 255
    assert pointer_asset_name([(TX_5F, 0), (TX_A0, 256)])[4] == 0  # a later input may be large
    with pytest.raises(PointerError, match=r"5f+#256\) has an output index above 255") as info:
        pointer_asset_name([(TX_A0, 0), (TX_5F, 256)])
    assert isinstance(info.value, MarketError)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([], "at least one transaction input"),
        ([(TX_5F[:31], 0)], "transaction id must be 32 bytes"),
        ([(TX_5F.hex(), 0)], "transaction id must be 32 bytes"),
        ([(TX_5F, -1)], "non-negative int"),
        ([(TX_5F, True)], "non-negative int"),
    ],
)
def test_bad_inputs(inputs: list[tuple[bytes, int]], message: str) -> None:
    with pytest.raises(PointerError, match=message):
        pointer_asset_name(inputs)


refs = st.tuples(st.binary(min_size=32, max_size=32), st.integers(min_value=0, max_value=255))


@given(st.lists(refs, min_size=1, max_size=12), st.randoms())
def test_input_order_does_not_matter(inputs: list[tuple[bytes, int]], rng: random.Random) -> None:
    shuffled = list(inputs)
    rng.shuffle(shuffled)
    name = pointer_asset_name(shuffled)
    assert name == pointer_asset_name(inputs)
    assert name == pointer_asset_name(reversed(sorted(inputs)))  # any iterable
    first_tx, first_ix = sorted(inputs)[0]
    assert name == POINTER_PREFIX + bytes([first_ix]) + hashlib.sha3_256(first_tx).digest()[:27]
