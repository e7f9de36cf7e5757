"""The deep-stack child (`cardano_market._deep_stack`): uplc's recursion happens there, under
its own limit; a child that dies is an error for that call only."""

from __future__ import annotations

import os
import sys

import pytest

from cardano_market._deep_stack import CHILD_RECURSION_LIMIT, DeepStackError, deep_call


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
