"""Exact amounts at the v2 edge: base units <-> whole tokens, and JSON numbers without floats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardano_market.domain.amounts import (
    AmountError,
    format_amount,
    parse_amount,
    render_amount,
    render_quantity,
)
from cardano_market.service.v2.exact_json import dumps_exact


def test_the_specs_fee_example_renders_exactly() -> None:
    # 125 USDT -> 3.75 + 2.5 in fees -> 131.25, in base units of a 6-decimal token.
    assert dumps_exact(
        {
            "total_cost": render_amount(125_000_000, 6),
            "platform_fee": render_amount(3_750_000, 6),
            "node_fee": render_amount(2_500_000, 6),
            "net_amount": render_amount(131_250_000, 6),
            "unit_price": render_amount(12_500_000, 6),
        }
    ) == (
        '{"total_cost":125.0,"platform_fee":3.75,"node_fee":2.5,'
        '"net_amount":131.25,"unit_price":12.5}'
    )


def test_quantities_render_as_counts() -> None:
    assert render_quantity(10_000_000, 6) == Decimal(10)
    assert dumps_exact({"quantity": render_quantity(10_000_000, 6)}) == '{"quantity":10}'
    assert dumps_exact({"quantity": render_quantity(2_500_000, 6)}) == '{"quantity":2.5}'
    assert format_amount(1, 6) == "0.000001"
    assert render_amount(0, 0) == Decimal("0.0")


def test_parse_refuses_what_is_not_a_whole_base_unit() -> None:
    assert parse_amount(Decimal("2.5"), 6) == 2_500_000
    assert parse_amount(7, 0) == 7
    with pytest.raises(AmountError, match="more than 0 decimal places"):
        parse_amount(Decimal("1.5"), 0)
    with pytest.raises(AmountError, match="finite"):
        parse_amount(Decimal("NaN"), 6)
    with pytest.raises(AmountError, match="too large"):
        parse_amount(Decimal("1e60"), 6)
    with pytest.raises(AmountError, match="must be a number"):
        parse_amount(True, 6)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=0, max_value=18))
def test_render_then_parse_is_the_identity(base_units: int, decimals: int) -> None:
    rendered = render_amount(base_units, decimals)
    assert parse_amount(rendered, decimals) == base_units
    # What a client reads back from the JSON text is the same exact number.
    text = dumps_exact({"amount": rendered})
    assert parse_amount(json.loads(text, parse_float=Decimal)["amount"], decimals) == base_units


def test_dumps_exact_writes_times_strings_and_nesting() -> None:
    moment = datetime(2024, 1, 15, 16, 30, tzinfo=UTC)
    text = dumps_exact({"at": moment, "s": 'a"b', "n": None, "l": [1, True, Decimal("0.1")]})
    assert text == '{"at":"2024-01-15T16:30:00Z","s":"a\\"b","n":null,"l":[1,true,0.1]}'
    with pytest.raises(TypeError):
        dumps_exact({"x": 0.1})
