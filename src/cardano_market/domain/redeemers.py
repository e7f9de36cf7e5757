"""The marketplace's redeemers (PROTOCOL section 1): which spend or mint a transaction asks for."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from .datums import Token
from .errors import DatumError
from .plutus_data import constr, constr_of, encode_plutus


class _Redeemer(enum.IntEnum):
    """A redeemer without fields: `Constr index []`."""

    def to_cbor(self) -> bytes:
        return encode_plutus(constr(self.value, []))


class QueueRedeemer(_Redeemer):
    """The queue validator's redeemers: what spent an order."""

    PURCHASE = 0
    """A batcher fills the order from one sale."""
    REFUND = 1
    """A batcher returns an order that can no longer be filled."""
    CANCEL = 2
    """The owner takes the order back."""

    @classmethod
    def of(cls, constructor: int | None) -> QueueRedeemer | None:
        """The queue redeemer a decoded constructor index stands for (None: not a queue one)."""
        if constructor is None:
            return None
        try:
            return cls(constructor)
        except ValueError:
            return None


class SaleRedeemer(_Redeemer):
    """The sale validator's redeemers (constructor indexes)."""

    PURCHASE = 0
    START_SALE = 1
    TRANSFORM_SALE = 2
    REMOVE_SALE = 3


class PointerRedeemer(_Redeemer):
    """The pointer minting policy's redeemers."""

    MINT = 0
    BURN = 1


def redeemer_constructor(data: Any) -> int | None:
    """The constructor index of a decoded redeemer (any tag form), None when it is not a
    constructor: how a spend is told apart (e.g. `QueueRedeemer.of`)."""
    try:
        return constr_of(data, "redeemer")[0]
    except DatumError:
        return None


def add_to_vault(tokens: Sequence[Token]) -> bytes:
    """The vault's AddToVault [tokens] redeemer (constructor 0)."""
    return encode_plutus(constr(0, [[t.to_plutus() for t in tokens]]))
