"""`GET /health`: can the service reach its database and its chain, and how fast?

Both checks run at once, each in its own daemon thread with a deadline, so a hung database or
backend turns health into a prompt 503 instead of hanging it (or the process's shutdown). While a
check is still running, later health requests wait on that same run rather than starting another:
a hung backend holds at most one thread per check however often health is polled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..chain.base import ChainBackend

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0

_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_PASSWORD_SETTING = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Run:
    """One finished check: its value or its error, and how long it took."""

    value: Any
    error: BaseException | None
    seconds: float


class _SingleFlight:
    """Runs a blocking check in a daemon thread, at most one run at a time."""

    def __init__(self, name: str, check: Callable[[], Any]) -> None:
        self.name = name
        self._check = check
        self._lock = threading.Lock()
        self._running: concurrent.futures.Future[_Run] | None = None

    def start(self) -> concurrent.futures.Future[_Run]:
        """The run in progress, or a new one."""
        with self._lock:
            if self._running is None or self._running.done():
                future: concurrent.futures.Future[_Run] = concurrent.futures.Future()
                future.set_running_or_notify_cancel()  # a caller's timeout must not cancel it
                thread = threading.Thread(
                    target=self._run, args=(future,), name=f"health-{self.name}", daemon=True
                )
                thread.start()
                self._running = future
            return self._running

    def _run(self, future: concurrent.futures.Future[_Run]) -> None:
        start = time.perf_counter()
        try:
            value = self._check()
        except BaseException as exc:  # reported as the check's error, never raised in a thread
            future.set_result(_Run(None, exc, time.perf_counter() - start))
        else:
            future.set_result(_Run(value, None, time.perf_counter() - start))


def describe_error(exc: BaseException) -> str:
    """The error's type and first message line, credentials masked: safe to show a prober.

    SQLAlchemy wraps the driver's exception; the driver's own (`OperationalError: connection
    failed: ...`) says more, so it is preferred.
    """
    original = getattr(exc, "orig", None)
    if isinstance(original, BaseException):
        exc = original
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    text = _PASSWORD_SETTING.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", text))
    return text[:300]


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


async def _outcome(check: _SingleFlight, timeout: float) -> tuple[_Run | None, float]:
    """The finished run, or None when it did not finish within `timeout`; and the wait."""
    start = time.perf_counter()
    try:
        run = await asyncio.wait_for(asyncio.wrap_future(check.start()), timeout)
    except TimeoutError:
        return None, time.perf_counter() - start
    return run, run.seconds


def _failure(run: _Run | None, timeout: float) -> str | None:
    """Why a check failed (None when it passed)."""
    if run is None:
        return f"no answer within {timeout:g} s"
    if run.error is not None:
        return describe_error(run.error)
    return None


def _part(name: str, failure: str | None, waited: float, **found: Any) -> dict[str, Any]:
    """`{"ok": true, **found, "latencyMs": N}` or `{"ok": false, "latencyMs": N, "error": ...}`."""
    if failure is None:
        return {"ok": True, **found, "latencyMs": _milliseconds(waited)}
    log.warning("health: %s check failed: %s", name, failure)
    return {"ok": False, "latencyMs": _milliseconds(waited), "error": failure}


def health_router(
    *,
    ping_database: Callable[[], None],
    backend: ChainBackend,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> APIRouter:
    """A router with `GET /health`: 200 when the database answers `ping_database` and the chain
    its tip within `timeout` seconds each, else 503 with `"status": "degraded"` and the error."""
    if timeout <= 0:
        raise ValueError(f"the health check timeout must be positive, got {timeout}")
    database_check = _SingleFlight("database", ping_database)
    chain_check = _SingleFlight("chain", lambda: backend.tip().slot)
    router = APIRouter()

    @router.get(
        "/health",
        summary="Database and chain reachability",
        responses={503: {"description": "The database or the chain did not answer"}},
    )
    async def health() -> JSONResponse:
        (db_run, db_waited), (chain_run, chain_waited) = await asyncio.gather(
            _outcome(database_check, timeout), _outcome(chain_check, timeout)
        )
        database = _part("database", _failure(db_run, timeout), db_waited)
        chain_failure = _failure(chain_run, timeout)
        tip = {"tipSlot": chain_run.value} if chain_run is not None and not chain_failure else {}
        chain = _part("chain", chain_failure, chain_waited, **tip)
        healthy = database["ok"] and chain["ok"]
        body = {"status": "ok" if healthy else "degraded", "database": database, "chain": chain}
        return JSONResponse(
            body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"}
        )

    return router


__all__ = ["DEFAULT_TIMEOUT_SECONDS", "describe_error", "health_router"]
