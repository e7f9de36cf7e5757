"""The currency's USD price from the oracle UTxO, read through the chain backend and cached briefly.

The amount endpoint is the hot path (hundreds of requests a second) while the oracle datum changes
every few minutes at most: one chain read per `ttl_seconds` is plenty, and keeps Blockfrost's rate
limit for what needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..chain.base import ChainBackend, OraclePrice
from ..domain.values import AssetId


class OraclePrices:
    """A thread-safe, time-limited cache of one oracle feed."""

    def __init__(
        self,
        backend: ChainBackend,
        address: bytes,
        feed: AssetId,
        *,
        ttl_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._address = address
        self._feed = feed
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, OraclePrice] | None = None

    def current(self) -> OraclePrice:
        """The feed's reading, at most `ttl_seconds` old; the backend's error when it has none."""
        now = self._clock()
        cached = self._cached
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            reading = self._backend.oracle_price(self._address, self._feed)
            self._cached = (self._clock(), reading)
            return reading

    def forget(self) -> None:
        """Drop the cached reading (tests that move the oracle; an operator's refresh)."""
        with self._lock:
            self._cached = None
