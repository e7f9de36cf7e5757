"""The suite's shared devnet world: one start time, one settable clock, and a ledger seeded from
a seed file, so every devnet test starts from the same place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cardano_market.chain.devnet import Ledger

if TYPE_CHECKING:
    from cardano_market.chain.devnet.seed import Seed, SeedResult

START_MS = 1_700_000_000_000  # the devnet's system start
NOW_SLOT = 1_000  # where the clock starts, in slots after START_MS


class Clock:
    """A settable wall clock (seconds), starting NOW_SLOT slots after START_MS."""

    def __init__(self) -> None:
        self.now = START_MS / 1000 + NOW_SLOT

    def __call__(self) -> float:
        return self.now


@contextmanager
def seeded_ledger(
    path: Path | str, seed: Seed | None = None, clock: Clock | None = None
) -> Iterator[tuple[Ledger, SeedResult]]:
    """A devnet ledger at `path` (":memory:" too) on `clock` (default a fresh `Clock`), seeded
    from `seed` (default: the demo seed)."""
    from cardano_market.chain.devnet.seed import apply_seed, load_seed

    with Ledger(path, system_start_ms=START_MS, clock=clock or Clock()) as ledger:
        yield ledger, apply_seed(ledger, seed if seed is not None else load_seed())
