"""Run deeply recursive work (uplc's flat codec and AST passes) away from the serving process.

uplc recurses once per term nesting level, so evaluating or applying a script can need tens of
thousands of Python frames. Raising `sys.setrecursionlimit` in the server would let every other
recursive parser (json, cbor2, pydantic) overflow a thread's C stack on hostile input and kill
the process (SIGSEGV) instead of raising RecursionError. So nothing in the server raises it:
`deep_call` runs the function in a child process (one, started on first use) whose own limit is
high and whose work runs in a thread with a large stack. If the child dies anyway, the call
raises `DeepStackError` and the next call starts a fresh child; the server lives on.

Arguments and results cross the process boundary by pickle: pass bytes and plain dataclasses,
and return the same (exceptions with extra constructor arguments do not survive unpickling;
return them as data).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

CHILD_RECURSION_LIMIT = 100_000
"""Python frames the child allows (uplc's flat decoder recurses once per term)."""
CHILD_STACK_BYTES = 512 * 1024 * 1024
"""The child's worker thread stack: virtual memory, touched only as deep as the work goes;
100,000 frames of uplc's visitors need well under this, so the child raises RecursionError
rather than overflowing."""


class DeepStackError(RuntimeError):
    """The child process died (or could not start) while running the call."""


PROCESS_NAME = b"cm-deep-stack"
"""The child's name in /proc/PID/comm (`top`, `ps -o comm`), on Linux."""


def _child_init(parent: int) -> None:
    _name_process(PROCESS_NAME)
    sys.setrecursionlimit(CHILD_RECURSION_LIMIT)  # only in the child process
    threading.stack_size(CHILD_STACK_BYTES)
    watchdog = threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True)
    watchdog.start()


def _name_process(name: bytes) -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):  # not Linux: the name is only a convenience
        pass


def _exit_with(parent: int) -> None:
    """The child ends when the serving process is gone, however it went (SIGKILL included)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _run_on_big_stack(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """In the child: `fn(*args)` on a fresh thread with `CHILD_STACK_BYTES` of stack."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed back to the parent through the future
            box["error"] = exc

    thread = threading.Thread(target=target, name="deep-stack")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["value"]
    return result


class _Runner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._exit_hook = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fresh interpreter (no copy of the server's threads or locks) whose
                # parent is this process, so the watchdog sees it go.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=_child_init,
                    initargs=(os.getpid(),),
                )
                if not self._exit_hook:
                    atexit.register(self.shutdown)
                    self._exit_hook = True
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        pool = self._executor()
        try:
            future: Future[T] = pool.submit(_run_on_big_stack, fn, args)
            return future.result()
        except BrokenProcessPool as exc:
            self._discard(pool)
            raise DeepStackError(
                "the script process died while running a Plutus script or codec (a script"
                " nested too deeply?); it restarts on the next call"
            ) from exc

    def warm(self) -> None:
        """Start the child now (at server start) so the first script does not wait for it."""
        self.call(_noop)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _noop() -> None:
    return None


_RUNNER = _Runner()


def deep_call(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the deep-stack child process (see the module docstring). `fn` must be a
    module-level function; exceptions it raises are re-raised here when they pickle."""
    return _RUNNER.call(fn, *args)


def warm() -> None:
    _RUNNER.warm()


def shutdown() -> None:
    _RUNNER.shutdown()
