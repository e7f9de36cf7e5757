"""The batcher worker: settles the queue every interval (PROTOCOL section 6).

The use case (reading the chain, choosing the orders, building, signing and submitting each
round's purchases and refunds) is `app.settlement`; this module is the loop around it and the
two ways to set it up (a devnet seed, or a deployment read from the chain).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..app.settlement.deployment import BatcherKeys, chain_deployment, devnet_deployment
from ..app.settlement.report import BatchReport
from ..app.settlement.settler import QueueSettler
from ..chain.base import ChainBackend, ChainError
from ..domain.cip30 import OutRef
from ..domain.values import AssetId

if TYPE_CHECKING:
    from ..chain.devnet.seed import SeedResult

log = logging.getLogger("cardano_market.batcher")


class Batcher(QueueSettler):
    """Serves the queue of `deployment` on `backend`, signing with `keys`, one round each
    `interval` (`run`) or once (`poll_once`). Options as `QueueSettler`'s."""

    @classmethod
    def for_devnet(cls, seeded: SeedResult, backend: ChainBackend, **options: Any) -> Batcher:
        """The batcher of a seeded devnet: its contracts, batcher and collateral wallets."""
        deployment, keys = devnet_deployment(seeded)
        return cls(backend, deployment, keys, **options)

    @classmethod
    def from_chain(
        cls,
        backend: ChainBackend,
        *,
        reference_address: bytes,
        starter_nft: AssetId,
        script_refs: tuple[OutRef, OutRef, OutRef],
        keys: BatcherKeys,
        **options: Any,
    ) -> Batcher:
        """The batcher of a deployment read from the chain (`app.settlement.deployment.
        chain_deployment`: ChainError when a UTxO is missing, ValueError when a script is not
        the one the ReferenceDatum names)."""
        deployment = chain_deployment(
            backend,
            reference_address=reference_address,
            starter_nft=starter_nft,
            script_refs=script_refs,
        )
        return cls(backend, deployment, keys, **options)

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Serve each `interval` seconds until `stop` is set; a failed round is logged."""
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except ChainError as exc:
                log.warning("batcher round failed (chain): %s", exc)
            except Exception:  # keep serving; the next round reads the chain afresh
                log.exception("batcher round failed")
            stop.wait(interval)

    def poll_once(self, stop: threading.Event | None = None) -> BatchReport:
        """One round over the queue (`settle_round`); a set `stop` ends it after the order
        being served."""
        return self.settle_round(stop)


__all__ = ["Batcher"]
