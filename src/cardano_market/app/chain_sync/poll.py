"""One poll of the chain monitor: what it follows (the queue and sale addresses, on a backend that
tells what spent an output), the changes it made (events) and its report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from ...chain.base import ChainBackend, ChainHistory, TxStatus

log = logging.getLogger("cardano_market.monitor")


class MonitoredAddresses(Protocol):
    """The two contract addresses the monitor follows (`app.context.ContractAddresses` fits)."""

    @property
    def queue(self) -> bytes: ...

    @property
    def sale(self) -> bytes: ...


class MonitoredChain(ChainBackend, ChainHistory, Protocol):
    """A backend that also tells what spent an output (the devnet, Blockfrost)."""


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """One change the monitor made: `kind` (e.g. "order_queued", "purchase", "sale_ended",
    "tx_confirmed", "rollback"), what it is about, and a human line."""

    kind: str
    subject: str
    detail: str = ""


@dataclass
class PollReport:
    tip_height: int
    tip_slot: int
    events: list[MonitorEvent] = field(default_factory=list)
    waiting: int = 0
    """Changes seen on chain but not deep enough yet (or whose spender is not visible yet)."""

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)

    def summary(self) -> str:
        """One line for a person (`settle --once`): the events by kind."""
        kinds = sorted({e.kind for e in self.events})
        seen = ", ".join(f"{self.count(k)} {k}" for k in kinds) or "no changes"
        return f"{seen}; {self.waiting} waiting for depth, at block {self.tip_height}"


class Poll:
    """One poll's tip, report and per-poll caches."""

    def __init__(self, backend: ChainBackend, tip_height: int, tip_slot: int) -> None:
        self.backend = backend
        self.report = PollReport(tip_height, tip_slot)
        self._statuses: dict[bytes, TxStatus] = {}

    def status(self, tx_id: bytes) -> TxStatus:
        if tx_id not in self._statuses:
            self._statuses[tx_id] = self.backend.tx_status(tx_id)
        return self._statuses[tx_id]

    def event(self, kind: str, subject: str, detail: str = "") -> None:
        self.report.events.append(MonitorEvent(kind, subject, detail))
        log.info("%s %s %s", kind, subject, detail)
