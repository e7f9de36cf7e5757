"""Keeping the machine's CARDANO_MARKET_* variables out of a test's settings."""

from __future__ import annotations

import os

import pytest

REQUIRE_INTEROP = "CARDANO_MARKET_REQUIRE_INTEROP"
"""CI's switch that turns interop skips into failures; not a setting, so suites may keep it."""


def clear_market_env(monkeypatch: pytest.MonkeyPatch, *, keep: tuple[str, ...] = ()) -> None:
    """Unset every CARDANO_MARKET_* variable except those in `keep` (undone after the test)."""
    for name in list(os.environ):
        if name.startswith("CARDANO_MARKET_") and name not in keep:
            monkeypatch.delenv(name)
