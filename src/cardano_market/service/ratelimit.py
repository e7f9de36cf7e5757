"""Rate limits per client IP and per authenticated user, per route class, with `limits`.

The algorithm is `limits`' sliding window counter; its storage is memory (one process) or Redis
(`redis://host:port/db`, shared by every replica, so a limit holds across them). A storage that
fails (Redis down) lets requests through and logs once per minute: the limiter protects the
service, it must never become the reason it is down.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("cardano_market.ratelimit")


class RouteClass(enum.StrEnum):
    BUILD = "build"
    """Routes that price, build or record: POST under /v1/marketplace and /v2."""
    SUBMIT = "submit"
    """POST /v1/cardano/submitTx: each costs a chain call."""
    READ = "read"
    """GET under /v1 and /v2."""


DEFAULT_LIMITS = {
    RouteClass.BUILD: "120/minute",
    RouteClass.SUBMIT: "60/minute",
    RouteClass.READ: "600/minute",
}
"""Public networks, per client IP and per user."""
DEVNET_LIMITS = {
    RouteClass.BUILD: "100000/minute",
    RouteClass.SUBMIT: "20000/minute",
    RouteClass.READ: "100000/minute",
}
"""The devnet: generous (load tests and demos run from one address), but still on."""


def route_class(method: str, path: str) -> RouteClass | None:
    """The class of a request; None for what is never limited (health, metrics, docs, devnet)."""
    if not path.startswith(("/v1/", "/v2/")):
        return None
    if method == "POST":
        return RouteClass.SUBMIT if path == "/v1/cardano/submitTx" else RouteClass.BUILD
    if method in ("GET", "HEAD"):
        return RouteClass.READ
    if method == "OPTIONS":
        return None
    return RouteClass.BUILD


@dataclass(frozen=True, slots=True)
class RateLimits:
    build: str
    submit: str
    read: str

    def item(self, kind: RouteClass) -> RateLimitItem:
        return parse(getattr(self, kind.value))

    @classmethod
    def defaults(cls, devnet: bool) -> RateLimits:
        table = DEVNET_LIMITS if devnet else DEFAULT_LIMITS
        return cls(table[RouteClass.BUILD], table[RouteClass.SUBMIT], table[RouteClass.READ])


class RateLimiter:
    """`hit_ip` / `hit_user`: None when the request may go on, else the seconds to wait."""

    def __init__(self, limits: RateLimits, storage_url: str = "memory://") -> None:
        storage = storage_from_string(storage_url)
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_url!r} is an asyncio storage; use memory:// or redis://")
        self._storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)
        self._items = {kind: limits.item(kind) for kind in RouteClass}
        self._failed_at = 0.0

    def hit_ip(self, kind: RouteClass, ip: str) -> int | None:
        return self._hit(kind, "ip", ip)

    def hit_user(self, kind: RouteClass, user: str) -> int | None:
        return self._hit(kind, "user", user)

    def _hit(self, kind: RouteClass, who: str, key: str) -> int | None:
        item = self._items[kind]
        try:
            if self._strategy.hit(item, kind.value, who, key):
                return None
            reset = self._strategy.get_window_stats(item, kind.value, who, key).reset_time
        except Exception as exc:  # storage down: fail open, say so
            now = time.monotonic()
            if now - self._failed_at > 60:
                self._failed_at = now
                log.error("rate limiter storage failed, letting requests through: %s", exc)
            return None
        return max(1, math.ceil(reset - time.time()))

    def reset(self) -> None:
        self._storage.reset()
