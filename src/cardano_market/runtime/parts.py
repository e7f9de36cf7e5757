"""The parts a service process holds for its lifetime (`ServiceParts`); `runtime.assembly` opens
them from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..app.context import Context
from ..app.operator import OperatorKeys
from ..app.sale_lifecycle import DeploymentRefs
from ..chain.base import ChainBackend
from ..config import Settings
from ..service.observability import Metrics
from ..store.db import Database


@dataclass
class ServiceParts:
    """Everything a service process holds for its lifetime."""

    settings: Settings
    market: Context
    chain: ChainBackend
    """The backend itself (the market's is wrapped for metrics)."""
    database: Database
    metrics: Metrics
    operator: OperatorKeys | None = None
    """Hot and collateral keys for sale start/end (None: those routes answer 503)."""
    deployment: DeploymentRefs | None = None
    devnet: Any = None
    """On the devnet: the `SeedResult` of the applied seed."""
    wallets: dict[str, Any] = field(default_factory=dict)
    """On the devnet: name -> `DevnetWallet`, served under /devnet."""
    v2: Context | None = None
    """The custodial API's context (JWT verifier, key store, fees, escrow)."""

    def close(self) -> None:
        self.database.dispose()
        close = getattr(self.chain, "close", None)
        if close is not None:
            close()
