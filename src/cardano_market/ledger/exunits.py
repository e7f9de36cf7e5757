"""Execution units and the redeemer keys they are declared under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExUnits:
    mem: int
    steps: int


RedeemerKey = tuple[str, int]
"""(purpose tag: "spend" | "mint" | "cert" | "reward" | "vote" | "propose", index)."""
