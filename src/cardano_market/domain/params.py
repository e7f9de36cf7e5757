"""Protocol parameters in Blockfrost's `/epochs/latest/parameters` shape, read exactly.

Blockfrost sends some numbers as strings and the execution prices as JSON floats; prices are read
through `str()` into `Fraction`, so 0.0577 becomes exactly 577/10000 and no float reaches a fee.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import MarketError


class ParametersError(MarketError, ValueError):
    """Protocol parameters that are missing a field or hold a value of the wrong kind."""


def _int(raw: dict[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if value is None:
        raise ParametersError(f"protocol parameter {key} is missing")
    if isinstance(value, bool):
        raise ParametersError(f"protocol parameter {key} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ParametersError(f"protocol parameter {key} must be an integer, got {value!r}")
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ParametersError(
            f"protocol parameter {key} must be an integer, got {value!r}"
        ) from exc


def _fraction(raw: dict[str, Any], key: str, default: str | None = None) -> Fraction:
    value = raw.get(key, default)
    if value is None:
        raise ParametersError(f"protocol parameter {key} is missing")
    if isinstance(value, bool):
        raise ParametersError(f"protocol parameter {key} must be a number, got {value!r}")
    try:
        # str() first: a JSON float is the shortest decimal that round-trips, read it as written.
        number = Fraction(str(value))
    except (TypeError, ValueError) as exc:
        raise ParametersError(f"protocol parameter {key} must be a number, got {value!r}") from exc
    if number < 0:
        raise ParametersError(f"protocol parameter {key} must not be negative, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ProtocolParameters:
    """The parameters the builders and the devnet ledger rules need (Conway era)."""

    min_fee_a: int  # lovelace per byte
    min_fee_b: int  # constant lovelace
    max_tx_size: int
    max_val_size: int
    coins_per_utxo_byte: int
    price_mem: Fraction
    price_step: Fraction
    max_tx_ex_mem: int
    max_tx_ex_steps: int
    collateral_percent: int
    max_collateral_inputs: int
    key_deposit: int
    pool_deposit: int
    min_fee_ref_script_cost_per_byte: Fraction
    epoch: int = 0
    protocol_major_ver: int = 10
    cost_models: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # The Conway ledger's reference-script fee tiers: each 25,600 bytes costs 1.2x the tier before.
    ref_script_tier_size: int = 25_600
    ref_script_tier_multiplier: Fraction = Fraction(6, 5)

    @classmethod
    def from_blockfrost(cls, raw: dict[str, Any]) -> ProtocolParameters:
        if not isinstance(raw, dict):
            raise ParametersError("protocol parameters must be a JSON object")
        return cls(
            min_fee_a=_int(raw, "min_fee_a"),
            min_fee_b=_int(raw, "min_fee_b"),
            max_tx_size=_int(raw, "max_tx_size"),
            max_val_size=_int(raw, "max_val_size"),
            coins_per_utxo_byte=_int(raw, "coins_per_utxo_size", raw.get("coins_per_utxo_word")),
            price_mem=_fraction(raw, "price_mem"),
            price_step=_fraction(raw, "price_step"),
            max_tx_ex_mem=_int(raw, "max_tx_ex_mem"),
            max_tx_ex_steps=_int(raw, "max_tx_ex_steps"),
            collateral_percent=_int(raw, "collateral_percent"),
            max_collateral_inputs=_int(raw, "max_collateral_inputs"),
            key_deposit=_int(raw, "key_deposit"),
            pool_deposit=_int(raw, "pool_deposit"),
            min_fee_ref_script_cost_per_byte=_fraction(
                raw, "min_fee_ref_script_cost_per_byte", "15"
            ),
            epoch=_int(raw, "epoch", 0),
            protocol_major_ver=_int(raw, "protocol_major_ver", 10),
            cost_models=dict(raw.get("cost_models_raw") or raw.get("cost_models") or {}),
            raw=dict(raw),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ProtocolParameters:
        return cls.from_blockfrost(json.loads(Path(path).read_text()))

    def to_blockfrost(self) -> dict[str, Any]:
        """The Blockfrost JSON shape (the raw fields we were given, with ours on top)."""
        out = dict(self.raw)
        out.update(
            epoch=self.epoch,
            min_fee_a=self.min_fee_a,
            min_fee_b=self.min_fee_b,
            max_tx_size=self.max_tx_size,
            max_val_size=str(self.max_val_size),
            coins_per_utxo_size=str(self.coins_per_utxo_byte),
            price_mem=_decimal_number(self.price_mem),
            price_step=_decimal_number(self.price_step),
            max_tx_ex_mem=str(self.max_tx_ex_mem),
            max_tx_ex_steps=str(self.max_tx_ex_steps),
            collateral_percent=self.collateral_percent,
            max_collateral_inputs=self.max_collateral_inputs,
            key_deposit=str(self.key_deposit),
            pool_deposit=str(self.pool_deposit),
            min_fee_ref_script_cost_per_byte=_decimal_number(self.min_fee_ref_script_cost_per_byte),
            protocol_major_ver=self.protocol_major_ver,
        )
        if self.cost_models and all(isinstance(v, list) for v in self.cost_models.values()):
            out["cost_models_raw"] = dict(self.cost_models)  # the raw (list) shape we read
        return out


def _decimal_number(value: Fraction) -> int | float:
    """Render a fraction for JSON as Blockfrost does (it sends floats for prices)."""
    if value.denominator == 1:
        return int(value)
    # Blockfrost's own wire format is a float; parsing back through str() is exact for the
    # short decimals the ledger uses.
    return float(value)


MAINNET_PARAMETERS_FILE = Path(__file__).with_name("mainnet_parameters.json")


def default_parameters() -> ProtocolParameters:
    """Mainnet's Conway-era parameters (epoch 5xx), the devnet's default and the tests' baseline."""
    return ProtocolParameters.from_file(MAINNET_PARAMETERS_FILE)
