"""The chain monitor worker: keeps the database true to the chain, one poll every interval.

The use case (following the queue and sale addresses, the orders' spends, the sales, the issued
transactions and rollbacks) is `app.chain_sync`; this module is the loop around it.
"""

from __future__ import annotations

import logging
import threading

from ..app.chain_sync.poll import PollReport
from ..app.chain_sync.sync import ChainSync
from ..chain.base import ChainError

log = logging.getLogger("cardano_market.monitor")


class ChainMonitor(ChainSync):
    """Follows the queue and sale addresses on its backend, writing to its database, one poll
    each `interval` (`run`) or once (`poll_once`). Options as `ChainSync`'s."""

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Poll each `interval` seconds until `stop` is set; a failed poll is logged and retried."""
        while not stop.is_set():
            try:
                self.poll_once()
            except ChainError as exc:
                log.warning("monitor poll failed (chain): %s", exc)
            except Exception:  # keep following the chain; the next poll starts afresh
                log.exception("monitor poll failed")
            stop.wait(interval)

    def poll_once(self) -> PollReport:
        """One pass over the chain (`sync_once`); safe to repeat."""
        return self.sync_once()


__all__ = ["ChainMonitor"]
