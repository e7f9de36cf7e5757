"""Token amounts at the v2 edge: base units (integers, stored) <-> exact decimals (JSON).

A client speaks in whole tokens ("quantity": 2.5 of a 6-decimal token); the database and the
chain speak in base units (2500000). Both directions are exact: a decimal that does not land on
a whole base unit is refused, never rounded, and nothing passes through a binary float.
"""

from __future__ import annotations

from decimal import Decimal

MAX_INPUT_DIGITS = 40
"""Longer numbers are refused before any arithmetic (no asset holds 10^40 base units)."""


class AmountError(ValueError):
    """A client amount that is not an exact, sane number of base units; the message says why."""


def render_amount(base_units: int, decimals: int) -> Decimal:
    """`base_units` as whole tokens: 131250000 with 6 decimals -> Decimal("131.25").

    Trailing zeros are dropped, but a whole number keeps one decimal place ("125.0"), as the
    specs' examples print amounts.
    """
    if isinstance(base_units, bool) or not isinstance(base_units, int):
        raise TypeError(f"base units must be an integer, got {type(base_units).__name__}")
    if decimals < 0:
        raise ValueError(f"decimals must not be negative, got {decimals}")
    value = Decimal(base_units).scaleb(-decimals)
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return normal.quantize(Decimal("0.0"))
    return normal


def render_quantity(base_units: int, decimals: int) -> Decimal:
    """Like `render_amount`, but a whole number stays an integer (10, not 10.0): quantities
    of tokens are counted, as in the specs' `"quantity": 10`."""
    value = render_amount(base_units, decimals)
    return value.to_integral_value() if value == value.to_integral_value() else value


MAX_EXPONENT = 60
"""A written exponent beyond +-60 is refused before any arithmetic (`1e-999999999`)."""
MAX_BASE_UNITS = 2**64 - 1
"""The most base units an amount may hold (the ledger's own bound: an output quantity is a
uint64)."""


def bounded_number(value: Decimal | int, *, field: str = "quantity") -> Decimal:
    """`value` as an exact Decimal, refused (AmountError) when it is not finite, has more than
    `MAX_INPUT_DIGITS` digits or an exponent beyond `MAX_EXPONENT`: checked on the written form,
    before any conversion (int() of `1e600000` alone takes seconds)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise AmountError(f"{field} must be a number")
    if isinstance(value, int):
        if value.bit_length() > 4 * MAX_INPUT_DIGITS:
            raise AmountError(f"{field} is too large")
        return Decimal(value)
    if not value.is_finite():
        raise AmountError(f"{field} must be a finite number")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) > MAX_INPUT_DIGITS or not -MAX_EXPONENT <= exponent <= MAX_EXPONENT:
        raise AmountError(f"{field} has too many digits or too large an exponent")
    return value


def parse_amount(value: Decimal | int, decimals: int, *, field: str = "quantity") -> int:
    """Whole tokens (`value`) in base units, in integer arithmetic (no Decimal context can round
    it); AmountError when `value` is not finite, has more decimal places than the token, is
    negative, is below one base unit while not zero, is above `MAX_BASE_UNITS`, or is absurdly
    long."""
    number = bounded_number(value, field=field)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    coefficient: int = int("".join(map(str, digits)) or "0")
    if len(digits) + max(exponent, 0) > MAX_INPUT_DIGITS:
        raise AmountError(f"{field} is too large")
    shift = exponent + decimals
    if shift >= 0:
        units: int = coefficient * 10**shift
    else:
        units, rest = divmod(coefficient, 10**-shift)
        if rest:
            raise AmountError(f"{field} has more than {decimals} decimal places")
    if sign and units:
        raise AmountError(f"{field} must not be negative")
    if units > MAX_BASE_UNITS:
        raise AmountError(f"{field} is too large")
    return units


def format_amount(base_units: int, decimals: int) -> str:
    """A human string for messages: "131.25"."""
    return format(render_quantity(base_units, decimals), "f")
