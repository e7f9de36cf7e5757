"""Background loops a process runs beside (or instead of) the HTTP service: the chain monitor and
the batcher, each in a daemon thread with a stop event, started and stopped as one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("cardano_market.worker")

Loop = Callable[[threading.Event], None]


@dataclass(frozen=True, slots=True)
class NamedLoop:
    name: str
    run: Loop
    once: Callable[[], object]
    """One pass (what `run` repeats), for `--once` and tests; its report has `summary()`."""


class RunningLoops:
    """Loops started in daemon threads; `stop()` signals them all and waits for each."""

    def __init__(self, loops: Sequence[NamedLoop]) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guard, args=(loop,), name=loop.name, daemon=True)
            for loop in loops
        ]
        for thread in self._threads:
            thread.start()

    def _guard(self, loop: NamedLoop) -> None:
        try:
            loop.run(self._stop)
        except Exception:  # a crashed loop must say so, not vanish silently
            log.exception("%s stopped on an error", loop.name)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
