"""Exact multi-asset values in base units, and their CIP-30 `cbor<value>` form.

A `Value` is lovelace plus a flat map from `AssetId` (policy id, asset name) to a positive quantity.
Quantities are Python ints: no floats, no overflow. The CBOR form is the ledger's:
a bare uint when there are no tokens, else `[coin, {policy: {name: qty}}]` with keys in canonical
order (shorter first, then bytewise), which is what CIP-30 `getUtxos(amount)` expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

from .cbor import item_end, reject_duplicate_keys
from .errors import CborError, InvalidValueError

POLICY_ID_SIZE = 28
MAX_ASSET_NAME_SIZE = 32
MAX_UINT64 = 2**64 - 1

AssetId = tuple[bytes, bytes]
"""(policy id, asset name). Inside a Value, ADA is never an AssetId: it is `Value.coin`."""

ADA: AssetId = (b"", b"")
"""Sentinel for lovelace where an asset is named (a Token datum, a sale's cost, a currency)."""


def unit_of(asset: AssetId) -> str:
    """Blockfrost-style unit: policy hex followed by asset name hex ("lovelace" for ADA)."""
    if asset == ADA:
        return "lovelace"
    return asset[0].hex() + asset[1].hex()


def value_of(asset: AssetId, quantity: int) -> Value:
    """A Value holding `quantity` of one asset; `ADA` becomes lovelace."""
    if asset == ADA:
        return Value.of(quantity)
    return Value.of(0, {asset: quantity})


def asset_from_unit(unit: str) -> AssetId:
    """Inverse of `unit_of`; raises InvalidValueError for a malformed unit."""
    if unit == "lovelace":
        return ADA
    try:
        raw = bytes.fromhex(unit)
    except ValueError as exc:
        raise InvalidValueError(f"asset unit {unit!r} is not hex") from exc
    asset = (raw[:POLICY_ID_SIZE], raw[POLICY_ID_SIZE:])
    check_asset_id(asset)
    return asset


def check_asset_id(asset: AssetId) -> None:
    policy, name = asset
    if len(policy) != POLICY_ID_SIZE:
        raise InvalidValueError(
            f"policy id {policy.hex()!r} is {len(policy)} bytes; a policy id is {POLICY_ID_SIZE}"
        )
    if len(name) > MAX_ASSET_NAME_SIZE:
        raise InvalidValueError(
            f"asset name {name.hex()!r} is {len(name)} bytes; at most {MAX_ASSET_NAME_SIZE} allowed"
        )


def canonical_key(key: bytes) -> tuple[int, bytes]:
    """Canonical CBOR map-key order for byte strings: shorter first, then bytewise."""
    return (len(key), key)


@dataclass(frozen=True, slots=True)
class Value:
    """Lovelace plus native tokens. Token quantities are always > 0 (zero entries are dropped)."""

    coin: int = 0
    assets: Mapping[AssetId, int] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def of(cls, coin: int = 0, assets: Mapping[AssetId, int] | None = None) -> Value:
        """Validated constructor: rejects negative coin, non-positive quantities, bad ids."""
        if coin < 0:
            raise InvalidValueError(f"lovelace {coin} is negative")
        clean: dict[AssetId, int] = {}
        for asset, qty in (assets or {}).items():
            check_asset_id(asset)
            if qty <= 0:
                raise InvalidValueError(f"quantity {qty} of {unit_of(asset)} is not positive")
            clean[asset] = qty
        return cls(coin, clean)

    @classmethod
    def lovelace(cls, coin: int) -> Value:
        return cls.of(coin)

    # -- arithmetic -----------------------------------------------------------------------------

    def __add__(self, other: Value) -> Value:
        assets = dict(self.assets)
        for asset, qty in other.assets.items():
            assets[asset] = assets.get(asset, 0) + qty
        return Value(self.coin + other.coin, assets)

    def __sub__(self, other: Value) -> Value:
        """Exact difference; raises InvalidValueError when `other` does not fit in `self`."""
        if not self.covers(other):
            missing = ", ".join(f"{u}: {q}" for u, q in self.shortfall(other).items())
            raise InvalidValueError(f"cannot subtract: short of {missing}")
        assets = dict(self.assets)
        for asset, qty in other.assets.items():
            left = assets[asset] - qty
            if left:
                assets[asset] = left
            else:
                del assets[asset]
        return Value(self.coin - other.coin, assets)

    def covers(self, other: Value) -> bool:
        """True when every lovelace and token of `other` is present in `self`."""
        if self.coin < other.coin:
            return False
        mine = self.assets
        return all(mine.get(asset, 0) >= qty for asset, qty in other.assets.items())

    def shortfall(self, other: Value) -> dict[str, int]:
        """What `self` lacks to cover `other`, per unit ("lovelace" or policy+name hex)."""
        short: dict[str, int] = {}
        if self.coin < other.coin:
            short["lovelace"] = other.coin - self.coin
        for asset, qty in other.assets.items():
            have = self.assets.get(asset, 0)
            if have < qty:
                short[unit_of(asset)] = qty - have
        return short

    def quantity(self, asset: AssetId) -> int:
        return self.assets.get(asset, 0)

    @property
    def is_ada_only(self) -> bool:
        return not self.assets

    def with_coin(self, coin: int) -> Value:
        return Value(coin, self.assets)

    def tokens(self) -> Value:
        """The same tokens with no lovelace."""
        return Value(0, self.assets)

    def policies(self) -> dict[bytes, dict[bytes, int]]:
        """Tokens grouped by policy, both levels in canonical key order."""
        grouped: dict[bytes, dict[bytes, int]] = {}
        for (policy, name), qty in sorted(
            self.assets.items(), key=lambda kv: (canonical_key(kv[0][0]), canonical_key(kv[0][1]))
        ):
            grouped.setdefault(policy, {})[name] = qty
        return grouped

    # -- CBOR -----------------------------------------------------------------------------------

    def to_primitive(self) -> int | list[Any]:
        """The CBOR data model: int, or [coin, multiasset] in canonical key order."""
        if not self.assets:
            return self.coin
        return [self.coin, self.policies()]

    def to_cbor(self) -> bytes:
        return cbor2.dumps(self.to_primitive())

    def to_cbor_hex(self) -> str:
        return self.to_cbor().hex()

    @classmethod
    def from_cbor(cls, data: bytes | str) -> Value:
        """Decode `cbor<value>` in either form (bare uint or [coin, multiasset])."""
        raw = _hex_or_bytes(data, "value")
        try:
            obj = cbor2.loads(raw)
        except Exception as exc:  # cbor2 raises several types for malformed input
            raise CborError(f"value is not well-formed CBOR: {exc}") from exc
        if item_end(raw) != len(raw):
            raise CborError(f"value has {len(raw) - item_end(raw)} trailing byte(s) after the CBOR")
        reject_duplicate_keys(raw, obj, "value")
        return cls.from_primitive(obj)

    @classmethod
    def from_primitive(cls, obj: Any, where: str = "value") -> Value:
        """Decode the CBOR data model of a value, validating every rule the ledger enforces."""
        if isinstance(obj, int) and not isinstance(obj, bool):
            _check_coin(obj, where)
            return cls(obj, {})
        if not isinstance(obj, list) or len(obj) != 2:
            raise CborError(f"{where} must be a uint or a [coin, multiasset] array")
        coin, multiasset = obj
        if not isinstance(coin, int) or isinstance(coin, bool):
            raise CborError(f"{where} coin must be a uint")
        _check_coin(coin, where)
        if not isinstance(multiasset, dict):
            raise CborError(f"{where} multiasset must be a map of policy id to asset map")
        assets: dict[AssetId, int] = {}
        for policy, names in multiasset.items():
            if not isinstance(policy, bytes) or len(policy) != POLICY_ID_SIZE:
                raise CborError(f"{where} policy id must be {POLICY_ID_SIZE} bytes, got {policy!r}")
            if not isinstance(names, dict) or not names:
                raise CborError(f"{where} policy {policy.hex()} must map to a non-empty asset map")
            for name, qty in names.items():
                if not isinstance(name, bytes):
                    raise CborError(f"{where} asset name under {policy.hex()} must be bytes")
                if len(name) > MAX_ASSET_NAME_SIZE:
                    raise CborError(
                        f"{where} asset name {name.hex()} is {len(name)} bytes; "
                        f"at most {MAX_ASSET_NAME_SIZE} allowed"
                    )
                if not isinstance(qty, int) or isinstance(qty, bool):
                    raise CborError(
                        f"{where} quantity of {policy.hex()}{name.hex()} must be a uint"
                    )
                if qty <= 0 or qty > MAX_UINT64:
                    raise CborError(
                        f"{where} quantity {qty} of {policy.hex()}{name.hex()} must be in 1..2^64-1"
                    )
                assets[(policy, name)] = qty
        return cls(coin, assets)


def sum_values(values: Iterable[Value]) -> Value:
    coin = 0
    assets: dict[AssetId, int] = {}
    for value in values:
        coin += value.coin
        for asset, qty in value.assets.items():
            assets[asset] = assets.get(asset, 0) + qty
    return Value(coin, assets)


def _check_coin(coin: int, where: str) -> None:
    if coin < 0 or coin > MAX_UINT64:
        raise CborError(f"{where} lovelace {coin} must be in 0..2^64-1")


def _hex_or_bytes(data: bytes | str, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return bytes.fromhex(data)
    except ValueError as exc:
        raise CborError(f"{what} is not valid hex") from exc
