"""The pointer policy and the sale validator: artifacts up to date, parameters applied."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest

from cardano_market.contracts import (
    SOURCES_DIR,
    apply_parameters,
    contract_names,
    load_applied,
    load_script,
)
from cardano_market.contracts.build import build, parameter_count
from cardano_market.domain.hashes import script_hash

pytest.importorskip("uplc", reason="applying parameters needs uplc")


def test_pointer_and_sale_artifacts_are_up_to_date(contract_cache: Path | None) -> None:
    """`python -m cardano_market.contracts.build --check` for the two scripts of this module."""
    assert {"pointer", "sale"} <= set(contract_names())
    assert build(["pointer", "sale"], check=True, cache_dir=contract_cache) == []


def test_both_take_the_starter_nft_as_two_parameters() -> None:
    for name in ("pointer", "sale"):
        assert parameter_count(SOURCES_DIR / f"{name}.py") == 2
    assert parameter_count(SOURCES_DIR / "datum_echo.py") == 0


def test_applying_parameters_changes_the_hash_deterministically() -> None:
    starter = (b"\x11" * 28, b"NEWMarketplace")
    params = [cbor2.dumps(part) for part in starter]
    raw = load_script("sale")
    applied = apply_parameters(raw, *params)
    assert applied == load_applied("sale", *params)  # same bytes every time
    assert isinstance(cbor2.loads(applied), bytes)  # the ledger's form: one byte string
    other = apply_parameters(raw, cbor2.dumps(b"\x12" * 28), params[1])
    hashes = {script_hash(3, s) for s in (raw, applied, other)}
    assert len(hashes) == 3
