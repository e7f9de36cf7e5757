"""What a settlement round did: the orders settled (their purchase and refund), skipped
(malformed or not servable now) and released (two failed submissions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...domain.cip30 import OutRef
from ...domain.params import ProtocolParameters
from ...tx.settle.result import BatchTransaction


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    out_ref: OutRef
    reason: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the batcher submitted for one order this round (purchase and/or refund)."""

    order: OutRef  # the queue UTxO served
    pointer_name: bytes
    transactions: tuple[BatchTransaction, ...]

    @property
    def purchase(self) -> BatchTransaction | None:
        return next((t for t in self.transactions if t.kind == "purchase"), None)

    @property
    def refund(self) -> BatchTransaction | None:
        return next((t for t in self.transactions if t.kind == "refund"), None)

    @property
    def bundles(self) -> int:
        return sum(t.bundles for t in self.transactions)

    @property
    def fees(self) -> int:
        return sum(t.fee for t in self.transactions)

    def summaries(self, params: ProtocolParameters) -> list[dict[str, Any]]:
        return [t.summary(params) for t in self.transactions]


@dataclass
class BatchReport:
    """One round: what was settled, skipped (malformed or not servable now) and released (two
    failed submissions); `in_flight` counts submitted transactions not yet seen on chain."""

    tip_slot: int
    settled: list[Settlement] = field(default_factory=list)
    skipped: list[SkippedOrder] = field(default_factory=list)
    released: list[SkippedOrder] = field(default_factory=list)
    in_flight: int = 0

    @property
    def transactions(self) -> list[BatchTransaction]:
        return [t for s in self.settled for t in s.transactions]

    def count(self, kind: str) -> int:
        return sum(1 for t in self.transactions if t.kind == kind)

    def summary(self) -> str:
        """One line for a person (`settle --once`)."""
        fees = sum(t.fee for t in self.transactions)
        return (
            f"{len(self.settled)} order(s) settled ({self.count('purchase')} purchase(s), "
            f"{self.count('refund')} refund(s), {fees} lovelace in fees), "
            f"{len(self.skipped)} skipped, {len(self.released)} released, "
            f"{self.in_flight} transaction(s) in flight at slot {self.tip_slot}"
        )
