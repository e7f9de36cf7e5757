"""The devnet's CEK machine (`chain.devnet.cek`) against uplc's `Machine`, the reference.

Hypothesis draws closed and open programs over every kind of term (variables that shadow one
another, lambdas, delays, forces, errors, constr and case) and builtins whose costs are constant,
depend on their arguments' sizes (integers, bytestrings, Data) or trace: both machines must give
the same result or both fail, with the same units and the same trace. Then fixed programs for
what generation reaches rarely: deep recursion, a loop and a doubling without lambdas that must
stop at the budget, a budget met to the unit, a free variable. (`tests/contracts/conftest.py`
runs every contract scenario's scripts on both machines.)
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

uplc = pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")

from uplc import ast as U  # noqa: E402

from cardano_market.chain.devnet import cek  # noqa: E402
from uplc_reference import devnet_eval, reference_eval  # noqa: E402

CPU, MEM = 10**9, 10**7

_DATA = U.PlutusConstr(
    1, [U.PlutusInteger(5), U.PlutusByteString(b"ab"), U.PlutusList([U.PlutusInteger(-3)])]
)
CONSTANTS = st.sampled_from(
    [
        U.BuiltinInteger(0),
        U.BuiltinInteger(7),
        U.BuiltinInteger(2**70),
        U.BuiltinByteString(b""),
        U.BuiltinByteString(b"\x01" * 40),
        U.BuiltinBool(True),
        U.BuiltinBool(False),
        U.BuiltinUnit(),
        U.BuiltinString("s"),
        U.BuiltinList([U.BuiltinInteger(1), U.BuiltinInteger(2)]),
        U.BuiltinList([], U.BuiltinInteger(0)),
        U.BuiltinPair(U.BuiltinInteger(3), U.BuiltinInteger(4)),
        _DATA,
        U.PlutusMap({U.PlutusInteger(1): _DATA}),
        U.PlutusInteger(9),
    ]
)
BUILTINS = [
    # polymorphic: forced 0-3 times, so some are over- or under-forced and fail when applied
    U.BuiltInFun.IfThenElse,
    U.BuiltInFun.ChooseList,
    U.BuiltInFun.HeadList,
    U.BuiltInFun.TailList,
    U.BuiltInFun.MkCons,
    U.BuiltInFun.FstPair,
    U.BuiltInFun.ChooseData,
    U.BuiltInFun.Trace,
    # costed by their arguments' sizes
    U.BuiltInFun.AddInteger,
    U.BuiltInFun.MultiplyInteger,
    U.BuiltInFun.EqualsInteger,
    U.BuiltInFun.AppendByteString,
    U.BuiltInFun.EqualsByteString,
    U.BuiltInFun.EqualsData,
    U.BuiltInFun.SerialiseData,
    # Data
    U.BuiltInFun.UnConstrData,
    U.BuiltInFun.UnIData,
    U.BuiltInFun.IData,
]
NAMES = ["a", "b", "c"]

_INTS = st.sampled_from([U.BuiltinInteger(i) for i in (0, 1, -7, 2**64, 3**50)])
_BYTES = st.sampled_from([U.BuiltinByteString(b) for b in (b"", b"ab", b"\xff" * 33)])
_DATAS = st.sampled_from([_DATA, U.PlutusInteger(9), U.PlutusByteString(b"x"), U.PlutusList([])])
_LISTS = st.sampled_from(
    [
        U.BuiltinList([U.BuiltinInteger(1), U.BuiltinInteger(2)]),
        U.BuiltinList([], U.BuiltinInteger(0)),
    ]
)
_STRINGS = st.sampled_from([U.BuiltinString("t1"), U.BuiltinString("t2")])
_BOOLS = st.sampled_from([U.BuiltinBool(True), U.BuiltinBool(False)])
_PAIRS = st.just(U.BuiltinPair(U.BuiltinInteger(3), U.BuiltinByteString(b"4")))
ANY: Any = None  # an argument of any kind: a generated subterm
SIGNATURES: dict[Any, tuple[Any, ...]] = {
    U.BuiltInFun.AddInteger: (_INTS, _INTS),
    U.BuiltInFun.MultiplyInteger: (_INTS, _INTS),
    U.BuiltInFun.EqualsInteger: (_INTS, _INTS),
    U.BuiltInFun.AppendByteString: (_BYTES, _BYTES),
    U.BuiltInFun.EqualsByteString: (_BYTES, _BYTES),
    U.BuiltInFun.EqualsData: (_DATAS, _DATAS),
    U.BuiltInFun.SerialiseData: (_DATAS,),
    U.BuiltInFun.UnConstrData: (_DATAS,),
    U.BuiltInFun.UnIData: (_DATAS,),
    U.BuiltInFun.IData: (_INTS,),
    U.BuiltInFun.Trace: (_STRINGS, ANY),
    U.BuiltInFun.IfThenElse: (_BOOLS, ANY, ANY),
    U.BuiltInFun.ChooseList: (_LISTS, ANY, ANY),
    U.BuiltInFun.HeadList: (_LISTS,),
    U.BuiltInFun.TailList: (_LISTS,),
    U.BuiltInFun.MkCons: (_INTS, _LISTS),
    U.BuiltInFun.FstPair: (_PAIRS,),
    U.BuiltInFun.ChooseData: (_DATAS, ANY, ANY, ANY, ANY, ANY),
}


def saturated(sub: Any) -> Any:
    """A builtin forced as its type asks and applied to arguments of its kinds: constants, or
    sometimes a subterm (which may evaluate to anything, so the call may still fail)."""

    def call(fun: Any) -> Any:
        arguments = [sub if kind is ANY else st.one_of(kind, kind, sub) for kind in SIGNATURES[fun]]

        def applied(args: list[Any]) -> Any:
            term = forced(fun, U.BuiltInFunForceMap[fun])
            for arg in args:
                term = U.Apply(term, arg)
            return term

        return st.tuples(*arguments).map(lambda args: applied(list(args)))

    return st.sampled_from(list(SIGNATURES)).flatmap(call)


def forced(builtin: Any, forces: int) -> Any:
    term: Any = U.BuiltIn(builtin)
    for _ in range(forces):
        term = U.Force(term)
    return term


def terms(bound: tuple[str, ...] = (), depth: int = 4) -> Any:
    """Terms over `bound` (and sometimes a free variable), nested at most `depth` deep."""
    leaves = [
        CONSTANTS,
        st.builds(forced, st.sampled_from(BUILTINS), st.integers(0, 2)),
        st.just(U.Error()),
        st.sampled_from([*bound, "free"] if bound else ["free"]).map(U.Variable),
    ]
    if bound:  # mostly bound variables where there are some
        leaves += [st.sampled_from(bound).map(U.Variable)] * 3
    leaf = st.one_of(leaves)
    if depth == 0:
        return leaf
    sub = terms(bound, depth - 1)

    def lambda_over(name: str) -> Any:
        return terms((*bound, name), depth - 1).map(lambda body: U.Lambda(name, body))

    return st.one_of(
        leaf,
        saturated(sub),
        saturated(sub),
        st.builds(U.Apply, st.sampled_from(NAMES).flatmap(lambda_over), sub),
        st.sampled_from(NAMES).flatmap(lambda_over),
        st.builds(U.Apply, sub, sub),
        st.builds(U.Apply, st.builds(U.Apply, sub, sub), sub),
        sub.map(U.Delay),
        sub.map(U.Force),
        st.builds(U.Constr, st.integers(0, 2), st.lists(sub, max_size=3)),
        st.builds(U.Case, sub, st.lists(sub, min_size=1, max_size=3)),
    )


def programs() -> Any:
    """Mostly a builtin call or a lambda's application at the top (whose results vary more
    than a top-level delay's, which is a value whatever it holds)."""
    lambdas = st.sampled_from(NAMES).flatmap(
        lambda name: terms((name,), 3).map(lambda body: U.Lambda(name, body))
    )
    return st.one_of(saturated(terms((), 3)), st.builds(U.Apply, lambdas, terms((), 3)), terms())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_the_machine_gives_uplcs_result_units_and_trace(term: Any) -> None:
    program = U.Program((1, 1, 0), term)
    reference = reference_eval(program, CPU, MEM)
    assume(reference.result != "uplc cannot measure")
    ours = devnet_eval(program, CPU, MEM)
    assert ours.result == reference.result
    assert ours.logs == reference.logs
    if reference.result not in ("fails", "over budget"):
        # where a run stops early its units differ: uplc prices steps five at a time, this
        # machine checks the budget every `_FUEL` steps
        assert (ours.cpu, ours.mem) == (reference.cpu, reference.mem)


def _call(fun: Any, *args: Any) -> Any:
    term = forced(fun, U.BuiltInFunForceMap[fun])
    for arg in args:
        term = U.Apply(term, arg)
    return term


_ARITHMETIC = [U.BuiltInFun.AddInteger, U.BuiltInFun.SubtractInteger, U.BuiltInFun.MultiplyInteger]
_COMPARISONS = [U.BuiltInFun.EqualsInteger, U.BuiltInFun.LessThanInteger]


def integer_terms(scope: tuple[str, ...], depth: int) -> Any:
    """Integer-valued terms over the integer variables `scope`, which mostly succeed: arithmetic
    on small and multi-word integers, lets and two-argument functions binding names that shadow
    outer ones (so closures capture several variables, in every order), branches, traces, and
    integers passed through Data and bytestrings (costs that depend on sizes)."""
    leaves = [_INTS]
    if scope:
        leaves += [st.sampled_from(scope).map(U.Variable)] * 2
    leaf = st.one_of(leaves)
    if depth == 0:
        return leaf
    sub = integer_terms(scope, depth - 1)

    def let(name: str) -> Any:
        body = integer_terms((*scope, name), depth - 1)
        return st.builds(lambda b, v: U.Apply(U.Lambda(name, b), v), body, sub)

    def function_of_two(names: tuple[str, str]) -> Any:
        body = integer_terms((*scope, *names), depth - 1)
        return st.builds(
            lambda b, x, y: U.Apply(U.Apply(U.Lambda(names[0], U.Lambda(names[1], b)), x), y),
            body,
            sub,
            sub,
        )

    def branch(test: Any, left: Any, right: Any) -> Any:
        chosen = _call(U.BuiltInFun.IfThenElse, test, U.Delay(left), U.Delay(right))
        return U.Force(chosen)

    return st.one_of(
        leaf,
        st.builds(_call, st.sampled_from(_ARITHMETIC), sub, sub),
        st.sampled_from(NAMES).flatmap(let),
        st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)).flatmap(function_of_two),
        st.builds(branch, st.builds(_call, st.sampled_from(_COMPARISONS), sub, sub), sub, sub),
        st.builds(lambda msg, x: _call(U.BuiltInFun.Trace, msg, x), _STRINGS, sub),
        sub.map(lambda x: _call(U.BuiltInFun.UnIData, _call(U.BuiltInFun.IData, x))),
        st.builds(
            lambda x, y: _call(
                U.BuiltInFun.LengthOfByteString,
                _call(
                    U.BuiltInFun.AppendByteString,
                    _call(U.BuiltInFun.SerialiseData, _call(U.BuiltInFun.IData, x)),
                    _call(U.BuiltInFun.SerialiseData, _call(U.BuiltInFun.IData, y)),
                ),
            ),
            sub,
            sub,
        ),
    )


def let_chains() -> Any:
    """`let x1 = v1 in ... let xk = vk in x1 - x2 - ... - xk - body`, the body an integer term
    over x1..xk: each let's lambda captures every name bound before it (a generated term alone
    rarely nests deep enough for a closure to capture two), and the subtractions tell every
    variable apart. Names repeat, so lets shadow."""

    def chain(names: list[str]) -> Any:
        def build(values: list[int], body: Any) -> Any:
            for name in reversed(names):
                body = _call(U.BuiltInFun.SubtractInteger, U.Variable(name), body)
            for name, value in reversed(list(zip(names, values, strict=True))):
                body = U.Apply(U.Lambda(name, body), U.BuiltinInteger(value))
            return body

        values = st.lists(st.integers(-(2**70), 2**70), min_size=len(names), max_size=len(names))
        return st.builds(build, values, integer_terms(tuple(names), 3))

    return st.lists(st.sampled_from([*NAMES, "d"]), min_size=2, max_size=4).flatmap(chain)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(integer_terms((), 5), let_chains()))
def test_computations_that_succeed_cost_what_uplc_counts(term: Any) -> None:
    """Programs that mostly compute an integer: a wrong capture, a wrong size or a wrong price
    changes the result or the units."""
    program = U.Program((1, 1, 0), term)
    reference = reference_eval(program, CPU, MEM)
    ours = devnet_eval(program, CPU, MEM)
    assert ours == reference


# fix (\self n -> ifThenElse (n == 0) 0 (n + self (n - 1))) applied to N
_SUM_TO = """
(program 1.1.0
  [[(lam fix [fix (lam self (lam n
     (force [[[(force (builtin ifThenElse)) [[(builtin equalsInteger) n] (con integer 0)]]
              (delay (con integer 0))]
             (delay [[(builtin addInteger) n]
                    [[self self] [[(builtin subtractInteger) n] (con integer 1)]]])])))])
    (lam f (lam x [[f f] x]))]
   (con integer N)])
"""


def test_a_deep_recursion_costs_what_uplc_counts() -> None:
    """Two thousand nested calls (a continuation stack two thousand frames deep)."""
    program = uplc.tools.parse(_SUM_TO.replace("N", "2000"))
    reference = reference_eval(program, 10**10, 10**8)
    ours = devnet_eval(program, 10**10, 10**8)
    assert ours == reference
    assert ours.result == f"(con integer {2000 * 2001 // 2})"


def test_a_loop_stops_at_its_budget() -> None:
    """(\\x -> x x)(\\x -> x x) never ends: the machine stops it once the budget is spent."""
    program = uplc.tools.parse("(program 1.1.0 [(lam x [x x]) (lam x [x x])])")
    ours = devnet_eval(program, 10**8, 10**6)
    assert ours.result == "over budget"
    assert 10**8 < ours.cpu <= 10**8 + cek._FUEL * 16_000


def test_a_doubling_without_lambdas_stops_at_its_budget() -> None:
    """Forty delays, each forcing the one before twice into a constr's fields, made by forty
    applications: forcing the last takes 2**40 steps with no lambda applied and no builtin
    called in between, so a machine that checked its budget only there would never stop. This
    one stops within `_FUEL` steps of it."""
    term: Any = U.Force(U.Variable("d40"))
    for i in range(40, 0, -1):
        twice = U.Constr(0, [U.Force(U.Variable(f"d{i - 1}")), U.Force(U.Variable(f"d{i - 1}"))])
        term = U.Apply(U.Lambda(f"d{i}", term), U.Delay(twice))
    term = U.Apply(U.Lambda("d0", term), U.Delay(U.BuiltinInteger(1)))
    start = time.perf_counter()
    ours = devnet_eval(U.Program((1, 1, 0), term), 10**10, 14 * 10**6)
    assert ours.result == "over budget"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("over", [0, 1])
def test_a_budget_is_met_exactly_or_missed(over: int) -> None:
    """A run within its budget to the unit succeeds; one unit less is over budget."""
    program = uplc.tools.parse(_SUM_TO.replace("N", "20"))
    full = devnet_eval(program, CPU, MEM)
    ours = devnet_eval(program, full.cpu - over, full.mem)
    assert ours.result == ("over budget" if over else full.result)


def test_a_run_past_its_budget_before_it_fails_is_over_budget() -> None:
    """The error comes a few steps after the budget ran out, between two of the machine's budget
    checks: uplc (and the ledger) stop at the budget, so the run is over budget, not failed."""
    program = uplc.tools.parse(_SUM_TO.replace("N", "20"))
    failing = U.Program((1, 1, 0), U.Apply(U.Lambda("x", U.Error()), program.term))
    full = devnet_eval(program, CPU, MEM)
    short = full.cpu - 10 * 16_000
    assert reference_eval(failing, short, MEM).result == "over budget"
    assert devnet_eval(failing, short, MEM).result == "over budget"


def test_a_free_variable_fails_before_running() -> None:
    program = U.Program((1, 0, 0), U.Apply(U.Lambda("x", U.Variable("x")), U.Variable("y")))
    with pytest.raises(cek.MachineError, match="free variable"):
        cek.compile_program(program)
    assert reference_eval(program, CPU, MEM).result == "fails"


def test_a_script_ending_in_a_value_uplc_cannot_print_fails_without_raising() -> None:
    """uplc's `listData` takes a list of integers and builds Data it cannot print: a script
    ending in it must fail as not returning unit, not raise out of the evaluator."""
    from uplc.tools import flatten

    from cardano_market.chain.devnet.plutus import run_script
    from cardano_market.ledger.exunits import ExUnits

    program = uplc.tools.parse(
        "(program 1.1.0 (lam ctx [(builtin listData) (con (list integer) [1])]))"
    )
    run = run_script(flatten(program), [U.PlutusInteger(0)], ExUnits(mem=MEM, steps=CPU))
    assert run.error is not None and "must return unit" in run.error


def test_a_failure_on_a_huge_integer_is_a_failure() -> None:
    """2**131072 (over Python's 32,000-digit text limit) forced: the error message must not
    print it, or the machine raises ValueError instead of failing the script."""
    big: Any = U.BuiltinInteger(2)
    for _ in range(17):
        square = _call(U.BuiltInFun.MultiplyInteger, U.Variable("v"), U.Variable("v"))
        big = U.Apply(U.Lambda("v", square), big)
    for term in (U.Force(big), U.Apply(big, U.BuiltinInteger(0)), _call(U.BuiltInFun.UnIData, big)):
        assert devnet_eval(U.Program((1, 1, 0), term), 10**10, 10**8).result == "fails"


def test_a_script_whose_closures_capture_too_much_fails_to_compile_quickly() -> None:
    """4,000 nested lambdas applied together in one body: a 14 KB script whose compiled closures
    would hold 16 million captured variables (1.3 GB). It fails, in well under a second."""
    names = [f"x{i}" for i in range(4000)]
    body: Any = U.Variable(names[0])
    for name in names[1:]:
        body = U.Apply(body, U.Variable(name))
    for name in reversed(names):
        body = U.Lambda(name, body)
    start = time.perf_counter()
    with pytest.raises(cek.MachineError, match="capture over"):
        cek.compile_program(U.Program((1, 1, 0), body))
    assert time.perf_counter() - start < 5
