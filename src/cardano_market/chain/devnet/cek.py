"""A CEK machine for the devnet's Plutus evaluation: uplc's semantics and costs, faster.

uplc's own `Machine` is a faithful but slow reference: each step finds its cost by scanning a
table, every fifth step re-prices all ten step kinds as `Budget` objects, every builtin call
measures the memory of each argument (walking a whole ScriptContext for a `headList`), and every
closure copies the whole environment as a dictionary. A purchase spent over half its evaluation
time on that bookkeeping, and more of it the more names a script kept in scope, which is a cost
of uplc, not of the script: the ledger's machine does none of it.

This machine computes the same thing from the same parts:
- `compile_program` turns a decoded uplc program into nested tuples once (cached per script).
  Variables are resolved to slots at compile time: a lambda or delay captures only the free
  variables its body reads (flat closures), so making a closure costs what it captures.
- Steps are counted per kind and priced once at the end (and every `_FUEL` steps, so a looping
  script stops at its budget). The machine costs are constants, so the total is
  exactly uplc's (and the ledger's).
- Builtins are uplc's own (`BuiltInFunEvalMap`) with uplc's cost model. An argument's memory is
  measured only for a builtin whose cost depends on it, and each Data value once per run.

`tests/chain/devnet/test_cek.py` checks result, failure and units against uplc's `Machine` on
generated programs and on every validator the project deploys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uplc.ast import (
    AST,
    Apply,
    BoundStateDelay,
    BoundStateLambda,
    BuiltInFun,
    BuiltInFunEvalMap,
    BuiltInFunForceMap,
    Case,
    Constant,
    Constr,
    Error,
    Force,
    ForcedBuiltIn,
    PlutusData,
    Program,
    Variable,
)
from uplc.cost_model import BuiltinCostModel, CekMachineCostModel, CekOp, ConstantCost

# compiled term tags; each but `_ERROR` (uplc charges no step for it) indexes the step counts
_VAR, _LAM, _APPLY, _FORCE, _DELAY, _CONST, _BUILTIN, _CONSTR, _CASE, _ERROR = range(10)
_STEP_OPS = (
    CekOp.Var,
    CekOp.Lam,
    CekOp.Apply,
    CekOp.Force,
    CekOp.Delay,
    CekOp.Const,
    CekOp.Builtin,
    CekOp.Constr,
    CekOp.Case,
)

# continuation frame kinds
_ARG, _FUN, _FORCED, _FIELDS, _BRANCH, _APPLY_TO = range(6)
_FORCE_FRAME = (_FORCED,)

_FUEL = 1_000
"""Steps between budget checks: a script stops within that many steps past its budget (the
ledger's own machine checks every 200)."""


class MachineError(Exception):
    """The script failed: an `error` term, a builtin refusing its arguments, a malformed term."""


class OverBudget(MachineError):
    """The script ran past its budget (it may have looped forever)."""


# The machine's values subclass uplc's `AST`: uplc's polymorphic builtins (ifThenElse, trace,
# chooseList, ...) check that each argument is one.


class Lam(AST):  # type: ignore[misc]
    """A lambda value: its compiled body and the values of the free variables it reads."""

    __slots__ = ("body", "env", "name")

    def __init__(self, body: tuple[Any, ...], env: tuple[Any, ...], name: str) -> None:
        self.body, self.env, self.name = body, env, name

    def ex_mem(self) -> int:
        return 1

    def dumps(self, dialect: Any = None) -> str:
        return f"(lam {self.name} ...)"


class Delayed(AST):  # type: ignore[misc]
    """A delayed term's value: its compiled body and the free variables it reads."""

    __slots__ = ("body", "env")

    def __init__(self, body: tuple[Any, ...], env: tuple[Any, ...]) -> None:
        self.body, self.env = body, env

    def ex_mem(self) -> int:
        return 1

    def dumps(self, dialect: Any = None) -> str:
        return "(delay ...)"


@dataclass(frozen=True, slots=True)
class Builtin:
    """What the machine's loop reads of a builtin, found once (hashing an enum member is slow):
    uplc's implementation, the forces and arguments it takes, its row in `Prices.builtins`."""

    fun: BuiltInFun
    impl: Any
    forces: int
    arity: int
    row: int


_BUILTINS = {
    fun: Builtin(
        fun,
        BuiltInFunEvalMap.get(fun),
        BuiltInFunForceMap[fun],
        # 0 for a builtin uplc does not implement: applying it fails
        BuiltInFunEvalMap[fun].__code__.co_argcount if fun in BuiltInFunEvalMap else 0,
        row,
    )
    for row, fun in enumerate(BuiltInFun)
}


class Partial(AST):  # type: ignore[misc]
    """A builtin with the forces and arguments it has received so far."""

    __slots__ = ("args", "builtin", "forces")

    def __init__(self, builtin: Builtin, forces: int, args: tuple[Any, ...]) -> None:
        self.builtin, self.forces, self.args = builtin, forces, args

    @property
    def fun(self) -> BuiltInFun:
        return self.builtin.fun

    def ex_mem(self) -> int:
        return 1

    def dumps(self, dialect: Any = None) -> str:
        name = self.fun.name[:1].lower() + self.fun.name[1:]
        return f"(builtin {name}) with {self.forces} force(s) and {len(self.args)} argument(s)"


# -- compiling -------------------------------------------------------------------------------


def compile_program(program: Program) -> tuple[Any, ...]:
    """`program`'s term as the machine's nested tuples. Raises `MachineError` on a free variable.

    Recursive, once per nesting level: call it where uplc's decoder could recurse as deep.
    """
    memo: dict[int, frozenset[str]] = {}
    free = _free_variables(program.term, memo, [0])
    if free:
        raise MachineError(f"free variable(s) in the program: {', '.join(sorted(free))}")
    return _compile(program.term, {}, memo)


MAX_CAPTURES = 1_000_000
"""Free-variable entries over all of a program's nodes (what compiling keeps, and about what its
closures capture). A 14 KB script of 4,000 nested lambdas applied in one body needs 16 million
(1.3 GB to compile); our validators and NEWM's need a few thousand. Past the limit the script
fails: a cost the ledger does not have, so the devnet refuses it rather than freeze."""


def _free_variables(term: AST, memo: dict[int, frozenset[str]], total: list[int]) -> frozenset[str]:
    """The names `term` reads but does not bind, memoised by node identity (the program holds
    every node while it is compiled, so no id is reused); `total` counts the entries kept."""
    found = memo.get(id(term))
    if found is not None:
        return found
    if isinstance(term, Variable):
        found = frozenset((term.name,))
    elif isinstance(term, BoundStateLambda):
        found = _free_variables(term.term, memo, total) - {term.var_name}
    elif isinstance(term, (BoundStateDelay, Force)):
        found = _free_variables(term.term, memo, total)
    elif isinstance(term, Apply):
        found = _free_variables(term.f, memo, total) | _free_variables(term.x, memo, total)
    elif isinstance(term, Constr):
        found = frozenset().union(*(_free_variables(f, memo, total) for f in term.fields))
    elif isinstance(term, Case):
        found = _free_variables(term.scrutinee, memo, total).union(
            *(_free_variables(b, memo, total) for b in term.branches)
        )
    else:  # constants, builtins, error
        found = frozenset()
    total[0] += len(found)
    if total[0] > MAX_CAPTURES:
        raise MachineError(f"the script's closures capture over {MAX_CAPTURES:,} variables")
    memo[id(term)] = found
    return found


def _compile(term: AST, slots: dict[str, int], memo: dict[int, frozenset[str]]) -> tuple[Any, ...]:
    if isinstance(term, Variable):
        return (_VAR, slots[term.name])
    if isinstance(term, BoundStateLambda):
        captured = tuple(sorted(memo[id(term.term)] - {term.var_name}))  # from the first pass
        inner = {name: i for i, name in enumerate(captured)}
        inner[term.var_name] = len(captured)
        body = _compile(term.term, inner, memo)
        return (_LAM, body, tuple(slots[n] for n in captured), term.var_name)
    if isinstance(term, BoundStateDelay):
        captured = tuple(sorted(memo[id(term.term)]))
        body = _compile(term.term, {name: i for i, name in enumerate(captured)}, memo)
        return (_DELAY, body, tuple(slots[n] for n in captured))
    if isinstance(term, Apply):
        return (_APPLY, _compile(term.f, slots, memo), _compile(term.x, slots, memo))
    if isinstance(term, Force):
        return (_FORCE, _compile(term.term, slots, memo))
    if isinstance(term, Constant):
        return (_CONST, term)
    if isinstance(term, ForcedBuiltIn):
        if term.bound_arguments:
            raise MachineError("a decoded program cannot hold a builtin with arguments")
        return (_BUILTIN, Partial(_BUILTINS[term.builtin], term.applied_forces, ()))
    if isinstance(term, Error):
        return (_ERROR,)
    if isinstance(term, Constr):
        return (_CONSTR, term.tag, tuple(_compile(f, slots, memo) for f in term.fields))
    if isinstance(term, Case):
        return (
            _CASE,
            _compile(term.scrutinee, slots, memo),
            tuple(_compile(b, slots, memo) for b in term.branches),
        )
    raise MachineError(f"cannot evaluate a {type(term).__name__} term")


def applied(code: tuple[Any, ...], args: Sequence[Constant]) -> tuple[Any, ...]:
    """`code` applied to constant arguments, as uplc's `Apply(Apply(term, a), b)` would be."""
    for arg in args:
        code = (_APPLY, code, (_CONST, arg))
    return code


# -- running ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prices:
    """A cost model, read into what the machine's loop needs."""

    step_cpu: tuple[int, ...]
    step_mem: tuple[int, ...]
    startup: tuple[int, int]
    builtins: tuple[tuple[Any, Any, int | None, int | None], ...]
    """Per builtin (by `Builtin.row`): cpu and memory costing functions, and their constants
    when constant."""


def prices(cek: CekMachineCostModel, builtin_model: BuiltinCostModel) -> Prices:
    def constant(op: Any, model: Any) -> int:
        return model[op].cost(0) if op in model else 0

    table: list[tuple[Any, Any, int | None, int | None]] = []
    for fun in BuiltInFun:  # in `Builtin.row` order
        cpu, mem = builtin_model.cpu.get(fun), builtin_model.memory.get(fun)
        if cpu is None or mem is None:  # uplc charges nothing for a builtin it cannot price
            cpu = mem = ConstantCost(0)
        table.append(
            (
                cpu,
                mem,
                cpu.constant if type(cpu) is ConstantCost else None,
                mem.constant if type(mem) is ConstantCost else None,
            )
        )
    return Prices(
        step_cpu=tuple(constant(op, cek.cpu) for op in _STEP_OPS),
        step_mem=tuple(constant(op, cek.memory) for op in _STEP_OPS),
        startup=(constant(CekOp.Startup, cek.cpu), constant(CekOp.Startup, cek.memory)),
        builtins=tuple(table),
    )


def _kinds(args: tuple[Any, ...]) -> str:
    """The arguments by type only: a value's text can be exponential in its size (shared Data)
    or refused by Python (an integer of more than 32,000 digits, uplc's limit)."""
    return "(" + ", ".join(type(a).__name__ for a in args) + ")"


@dataclass(slots=True)
class Outcome:
    """What a run gave: the value (or the failure), the units spent and the trace."""

    value: Any
    cpu: int
    mem: int
    logs: list[str]
    error: MachineError | None = None


def run(code: tuple[Any, ...], cpu_budget: int, mem_budget: int, table: Prices) -> Outcome:
    """Evaluate compiled `code` within the budget; never raises for a failing script."""
    state = _Run(table, cpu_budget, mem_budget)
    error: MachineError | None = None
    try:
        value = state.evaluate(code)
    except MachineError as exc:
        value, error = None, exc
    cpu, mem = state.spent()
    if (cpu > cpu_budget or mem > mem_budget) and not isinstance(error, OverBudget):
        # past the budget before it failed or ended: uplc (and the ledger) stop at the budget
        error = OverBudget("the budget is exhausted")
    return Outcome(None if error else value, cpu, mem, state.logs, error)


class _Run:
    """One evaluation's counters and loop."""

    def __init__(self, table: Prices, cpu_budget: int, mem_budget: int) -> None:
        self.table = table
        self.cpu_budget, self.mem_budget = cpu_budget, mem_budget
        self.counts = [0] * len(_STEP_OPS)
        self.builtin_cpu, self.builtin_mem = table.startup
        self.logs: list[str] = []
        self.sizes: dict[int, tuple[Any, int]] = {}

    def spent(self) -> tuple[int, int]:
        counts, table = self.counts, self.table
        cpu = self.builtin_cpu + sum(n * c for n, c in zip(counts, table.step_cpu, strict=True))
        mem = self.builtin_mem + sum(n * c for n, c in zip(counts, table.step_mem, strict=True))
        return cpu, mem

    def check_budget(self) -> None:
        cpu, mem = self.spent()
        if cpu > self.cpu_budget or mem > self.mem_budget:
            raise OverBudget(f"the budget is exhausted (at least {mem} mem / {cpu} steps)")

    def size(self, value: Any) -> int:
        """uplc's `ex_mem`, each Data value measured once per run (a context is large)."""
        if not isinstance(value, PlutusData):
            return int(value.ex_mem())
        known = self.sizes.get(id(value))
        if known is None:
            known = self.sizes[id(value)] = (value, value.ex_mem())  # holds value: id stays
        return known[1]

    def call_builtin(self, builtin: Builtin, args: tuple[Any, ...]) -> Any:
        fun = builtin.fun
        cpu_fn, mem_fn, cpu, mem = self.table.builtins[builtin.row]
        if cpu is None or mem is None:
            try:
                sizes = [self.size(a) for a in args]
                values = list(args)
                cpu = cpu_fn.cost(*sizes, values=values) if cpu is None else cpu
                mem = mem_fn.cost(*sizes, values=values) if mem is None else mem
            except Exception as exc:  # e.g. a value uplc cannot measure
                raise MachineError(f"cannot price builtin {fun.name} on {_kinds(args)}") from exc
        self.builtin_cpu += cpu
        self.builtin_mem += mem
        if self.builtin_cpu > self.cpu_budget or self.builtin_mem > self.mem_budget:
            self.check_budget()
        try:
            if fun is BuiltInFun.Trace:  # logged before the call checks its argument, as uplc does
                self.logs.append(args[0].value)
            return builtin.impl(*args)
        except Exception as exc:  # uplc's builtins refuse bad arguments by raising anything
            raise MachineError(f"builtin {fun.name} refused {_kinds(args)}") from exc

    def evaluate(self, code: tuple[Any, ...]) -> Any:
        counts = self.counts
        stack: list[tuple[Any, ...]] = []
        push, pop = stack.append, stack.pop
        term, env = code, ()
        value: Any = None
        fuel = _FUEL
        while True:
            # compute `term` in `env` down to a value
            while True:
                fuel -= 1
                if not fuel:
                    fuel = _FUEL
                    self.check_budget()
                tag = term[0]
                if tag == _APPLY:
                    counts[_APPLY] += 1
                    push((_ARG, term[2], env))
                    term = term[1]
                elif tag == _VAR:
                    counts[_VAR] += 1
                    value = env[term[1]]
                    break
                elif tag == _LAM:
                    counts[_LAM] += 1
                    value = Lam(term[1], tuple([env[i] for i in term[2]]), term[3])
                    break
                elif tag == _FORCE:
                    counts[_FORCE] += 1
                    push(_FORCE_FRAME)
                    term = term[1]
                elif tag == _DELAY:
                    counts[_DELAY] += 1
                    value = Delayed(term[1], tuple([env[i] for i in term[2]]))
                    break
                elif tag == _CONST:
                    counts[_CONST] += 1
                    value = term[1]
                    break
                elif tag == _BUILTIN:
                    counts[_BUILTIN] += 1
                    value = term[1]
                    break
                elif tag == _CONSTR:
                    counts[_CONSTR] += 1
                    fields = term[2]
                    if not fields:
                        value = Constr(term[1], [])
                        break
                    push((_FIELDS, term[1], fields, 1, [], env))
                    term = fields[0]
                elif tag == _CASE:
                    counts[_CASE] += 1
                    push((_BRANCH, term[2], env))
                    term = term[1]
                else:  # _ERROR: uplc charges no step for it
                    raise MachineError("Execution called Error")
            # return `value` to the frames until one has more to compute
            while True:
                if not stack:
                    return value
                frame = pop()
                kind = frame[0]
                if kind == _ARG:
                    push((_FUN, value))
                    term, env = frame[1], frame[2]
                    break
                if kind in (_FUN, _APPLY_TO):
                    fun, arg = (frame[1], value) if kind == _FUN else (value, frame[1])
                    if type(fun) is Lam:
                        term, env = fun.body, (*fun.env, arg)
                        break
                    if type(fun) is Partial and fun.forces == fun.builtin.forces:
                        args = (*fun.args, arg)
                        wanted = fun.builtin.arity
                        if len(args) == wanted:
                            value = self.call_builtin(fun.builtin, args)
                        elif len(args) < wanted:
                            value = Partial(fun.builtin, fun.forces, args)
                        else:
                            raise MachineError(f"the devnet cannot run builtin {fun.fun.name}")
                        continue
                    raise MachineError(f"cannot apply a {type(fun).__name__} to an argument")
                if kind == _FORCED:
                    if type(value) is Delayed:
                        term, env = value.body, value.env
                        break
                    if type(value) is Partial and value.forces < value.builtin.forces:
                        value = Partial(value.builtin, value.forces + 1, value.args)
                        continue
                    raise MachineError(f"cannot force a {type(value).__name__}")
                if kind == _FIELDS:
                    _, constr_tag, fields, index, resolved, frame_env = frame
                    resolved = [*resolved, value]
                    if index < len(fields):
                        push((_FIELDS, constr_tag, fields, index + 1, resolved, frame_env))
                        term, env = fields[index], frame_env
                        break
                    value = Constr(constr_tag, resolved)
                    continue
                # _BRANCH
                if not isinstance(value, Constr):
                    raise MachineError("Scrutinized non-constr in case")
                branches = frame[1]
                if not 0 <= value.tag < len(branches):
                    raise MachineError("No branch provided for constr tag")
                for field in reversed(value.fields):
                    push((_APPLY_TO, field))
                term, env = branches[value.tag], frame[2]
                break
