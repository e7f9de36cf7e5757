"""The deep-stack child (`cardano_market.contracts._deep_stack`): uplc's recursion happens there,
under its own limit; a child that dies is an error for that call only."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cardano_market.contracts._deep_stack import CHILD_RECURSION_LIMIT, DeepStackError, deep_call


def test_the_child_has_the_deep_limit_and_this_process_keeps_its_own() -> None:
    before = sys.getrecursionlimit()
    assert deep_call(sys.getrecursionlimit) == CHILD_RECURSION_LIMIT
    assert sys.getrecursionlimit() == before


def test_a_child_that_dies_fails_the_call_and_the_next_call_gets_a_new_child() -> None:
    with pytest.raises(DeepStackError, match="died"):
        deep_call(os._exit, 3)
    assert deep_call(sys.getrecursionlimit) == CHILD_RECURSION_LIMIT


def test_an_exception_in_the_child_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        deep_call(int, "not a number")


def _running(pid: int) -> bool:
    try:
        status = open(f"/proc/{pid}/status").read()  # noqa: SIM115
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_child_ends_when_its_parent_is_killed() -> None:
    script = (
        "import os; from cardano_market.contracts._deep_stack import deep_call;"
        " print(deep_call(os.getpid), flush=True); os.kill(os.getpid(), 9)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child), f"the child {child} outlived its killed parent"
