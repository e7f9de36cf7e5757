"""The custodial transaction worker's loop: claim a transaction, take it as far as it goes, wait
when there is nothing to do. What each step does (build, sign, store the signed bytes, submit,
confirm, and the crash-safety rules) is `app.custodial_processing`'s."""

from __future__ import annotations

import logging
import threading

from ..app.custodial_processing import CustodialProcessor

log = logging.getLogger("cardano_market.worker")


class TransactionProcessor(CustodialProcessor):
    """Advances custodial transactions; `run_once` for one step, `run` until told to stop."""

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, waiting `poll_seconds` whenever there is nothing to do."""
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database or the chain is down: keep the worker alive
                log.exception("worker %s: step failed", self.worker_id)
                worked = None
            if worked is None:
                stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.worker_id)
