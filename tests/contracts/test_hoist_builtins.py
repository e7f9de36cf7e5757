"""The forced-builtin hoisting pass (contracts/hoist_builtins.py) keeps what a program does.

Hypothesis draws small closed UPLC terms over polymorphic builtins (each forced 0 to 3 times, so
some are over-forced and fail when reached), constants, lambdas, delays, forces and errors, and
the pass's output must evaluate to the same result, or fail wherever the input fails. Then the
deployed artifacts: each forced builtin appears once, at the top.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

uplc = pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")

from uplc import ast as U  # noqa: E402
from uplc.cost_model import Budget  # noqa: E402
from uplc.machine import Machine  # noqa: E402
from uplc.util import NodeVisitor  # noqa: E402

from cardano_market.contracts import load_script  # noqa: E402
from cardano_market.contracts.hoist_builtins import hoist_forced_builtins  # noqa: E402

BUDGET = Budget(cpu=10**9, memory=10**7)
POLYMORPHIC = [
    U.BuiltInFun.HeadList,
    U.BuiltInFun.TailList,
    U.BuiltInFun.NullList,
    U.BuiltInFun.MkCons,
    U.BuiltInFun.IfThenElse,
    U.BuiltInFun.ChooseList,
    U.BuiltInFun.FstPair,
    U.BuiltInFun.SndPair,
    U.BuiltInFun.Trace,
]
BUILTINS = [*POLYMORPHIC, U.BuiltInFun.AddInteger, U.BuiltInFun.EqualsInteger]


def forced(builtin: Any, forces: int) -> Any:
    term: Any = U.BuiltIn(builtin)
    for _ in range(forces):
        term = U.Force(term)
    return term


def _machine_models() -> tuple[Any, Any]:
    from cardano_market.chain.devnet.plutus import _machine_models

    return _machine_models(None)


def run(program: Any) -> tuple[str, int]:
    """The result (or "fails"/"over budget"; a closure by its kind) and the CPU units spent."""
    machine = Machine(BUDGET, *_machine_models())
    computed = machine.eval(program)
    result = computed.result
    if isinstance(result, Exception):
        text = "over budget" if "Exhausted budget" in str(result) else "fails"
    else:
        text = shown(result)
    return text, computed.cost.cpu


def shown(value: Any) -> str:
    """A value's text, a closure by its kind only: a closure's text shows its environment's
    names, which the pass adds to (also inside a partly applied builtin's arguments)."""
    if isinstance(value, (U.BoundStateLambda, U.BoundStateDelay)):
        return type(value).__name__
    if isinstance(value, U.ForcedBuiltIn):
        arguments = ", ".join(shown(a) for a in value.bound_arguments)
        return f"{value.builtin.name}/{value.applied_forces}({arguments})"
    return str(value.dumps())


CONSTANTS = st.sampled_from(
    [
        U.BuiltinInteger(0),
        U.BuiltinInteger(7),
        U.BuiltinBool(True),
        U.BuiltinBool(False),
        U.BuiltinList([U.BuiltinInteger(1), U.BuiltinInteger(2)]),
        U.BuiltinList([], U.BuiltinInteger(0)),
        U.BuiltinPair(U.BuiltinInteger(3), U.BuiltinInteger(4)),
        U.BuiltinString("s"),
    ]
)
NAMES = ["a", "b", "forced1_HeadList"]  # the last one is a name the pass would pick


def terms(bound: tuple[str, ...] = (), depth: int = 4) -> Any:
    """Closed terms over the `bound` variables, nested at most `depth` deep."""
    leaves = [
        CONSTANTS,
        st.builds(forced, st.sampled_from(BUILTINS), st.integers(0, 3)),
        st.just(U.Error()),
    ]
    if bound:
        leaves.append(st.sampled_from(bound).map(U.Variable))
    leaf = st.one_of(leaves)
    if depth == 0:
        return leaf
    sub = terms(bound, depth - 1)

    def lambda_over(name: str) -> Any:
        return terms((*bound, name), depth - 1).map(lambda body: U.Lambda(name, body))

    return st.one_of(
        leaf,
        st.sampled_from(NAMES).flatmap(lambda_over),
        st.builds(U.Apply, sub, sub),
        st.builds(U.Apply, st.builds(U.Apply, sub, sub), sub),
        sub.map(U.Delay),
        sub.map(U.Force),
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms())
def test_a_hoisted_program_does_what_the_program_did(term: Any) -> None:
    program = U.Program((1, 1, 0), term)
    before, _ = run(program)
    after, _ = run(hoist_forced_builtins(program))
    if "over budget" not in (before, after):
        assert after == before


def test_each_use_costs_one_step_and_the_binding_is_paid_once() -> None:
    """A list walked with headList/tailList/chooseList in a loop: the pass saves the forces of
    every iteration and pays one binding per builtin."""
    # sum of a list: fix (\self xs -> chooseList xs 0 (head xs + self (tail xs)))
    source = """
    (program 1.1.0
      [(lam fix [[fix (lam self (lam xs
         (force [[[(force (force (builtin chooseList))) xs] (delay (con integer 0))]
                 (delay [[(builtin addInteger) [(force (builtin headList)) xs]]
                        [[self self] [(force (builtin tailList)) xs]]])])))]
         (con (list integer) [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])])
       (lam f (lam x [[f f] x]))])
    """
    program = uplc.tools.parse(source)
    hoisted = hoist_forced_builtins(program)
    (before, cost_before), (after, cost_after) = run(program), run(hoisted)
    assert before == after == "(con integer 55)"
    assert cost_after < cost_before
    # 11 chooseList uses save 2 forces each, 10 headList and 10 tailList uses 1 each; the three
    # bindings cost an application, a lambda, the forces and the builtin once
    saved, paid = 11 * 2 + 10 + 10, 5 + 4 + 4
    assert cost_before - cost_after == (saved - paid) * step_cpu()


def step_cpu() -> int:
    """The CPU units of one machine step (V3 charges every kind of step alike)."""
    from uplc.cost_model import CekOp
    from uplc.machine import budget_cost_of_op_on_model

    cek, _ = _machine_models()
    costs = {budget_cost_of_op_on_model(cek, op, 0).cpu for op in (CekOp.Var, CekOp.Force)}
    assert len(costs) == 1
    return costs.pop()


def test_an_over_forced_builtin_stays_where_it_would_fail() -> None:
    """`(force (builtin addInteger))` fails when evaluated: bound at the top it would fail the
    program even where the branch holding it is never taken."""
    source = """
    (program 1.1.0
      (force [[[(force (builtin ifThenElse)) (con bool True)] (delay (con integer 1))]
              (delay (force (builtin addInteger)))]))
    """
    program = uplc.tools.parse(source)
    assert run(hoist_forced_builtins(program))[0] == run(program)[0] == "(con integer 1)"


def test_the_bound_names_are_new_to_the_program() -> None:
    """A program already using the name the pass would give is not captured."""
    source = """
    (program 1.1.0
      [(lam forced1_HeadList [(force (builtin headList)) forced1_HeadList])
       (con (list integer) [4, 5])])
    """
    program = uplc.tools.parse(source)
    assert run(hoist_forced_builtins(program))[0] == run(program)[0] == "(con integer 4)"


class _ForcedBuiltins(NodeVisitor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.found: list[tuple[Any, int]] = []

    def visit_Force(self, node: Any) -> None:
        forces, term = 0, node
        while isinstance(term, U.Force):
            forces, term = forces + 1, term.term
        if isinstance(term, U.BuiltIn):
            self.found.append((term.builtin, forces))
        else:
            self.visit(term)


@pytest.mark.parametrize("name", ["sale", "queue", "vault", "pointer"])
def test_the_deployed_scripts_force_each_builtin_once(name: str) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # uplc's flat decoder recurses once per term
    try:
        program = uplc.tools.unflatten(load_script(name))
        visitor = _ForcedBuiltins()
        visitor.visit(program)
    finally:
        sys.setrecursionlimit(limit)
    assert visitor.found, "the deployed build has no forced builtin at all"
    assert len(visitor.found) == len(set(visitor.found)), sorted(visitor.found, key=str)
