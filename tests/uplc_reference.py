"""uplc's own CEK machine, as the reference the devnet's machine (`chain.devnet.cek`) must match.

`reference_run` evaluates a script applied to its arguments exactly as the devnet did before it
had a machine of its own: uplc's `Machine`, uplc's cost model. `shown` writes a result so that
both machines' values compare: a closure by its kind, a partly applied builtin by its name,
forces and arguments, everything else by uplc's text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from uplc import ast as U
from uplc import machine as uplc_machine
from uplc.cost_model import Budget
from uplc.machine import Machine
from uplc.tools import unflatten
from uplc.transformer.unique_variables import UniqueVariableTransformer

from cardano_market.chain.devnet import cek
from cardano_market.chain.devnet.plutus import _machine_models
from cardano_market.chain.devnet.plutus_scripts import script_cbor


@dataclass(frozen=True)
class Reference:
    """uplc's verdict: the result's text (or "fails" / "over budget"), units and trace."""

    result: str
    cpu: int
    mem: int
    logs: tuple[str, ...]


def reference_eval(program: Any, cpu: int, mem: int, config: Any = None) -> Reference:
    """`program` (a uplc `Program`) run by uplc's `Machine` within cpu / mem."""
    machine = Machine(Budget(cpu=cpu, memory=mem), *_machine_models(config))
    computed = machine.eval(program)
    result = computed.result
    if isinstance(result, NotImplementedError):
        # uplc measures every builtin argument, and cannot measure a constr value: the ledger
        # measures only what a builtin's cost depends on, and so does the devnet's machine
        text = "uplc cannot measure"
    elif isinstance(result, Exception):
        text = "over budget" if "Exhausted budget" in str(result) else "fails"
    elif computed.cost.cpu > cpu or computed.cost.memory > mem:
        text = "over budget"
    else:
        text = shown(result)
    logs = tuple(str(line) for line in computed.logs)
    return Reference(text, computed.cost.cpu, computed.cost.memory, logs)


def reference_run(
    script: bytes, args: list[Any], cpu: int, mem: int, config: Any = None
) -> Reference:
    """A serialised script applied to uplc constants `args`, run by uplc's `Machine` with the
    cost model `config` (`plutus._network_config`'s pairs; None for uplc's default)."""
    program = _renamed(script_cbor(script))
    term = program.term
    for arg in args:
        term = U.Apply(term, arg)
    applied = U.Program(program.version, term)
    applied._already_unique = True  # the arguments are constants: the names stay unique
    return reference_eval(applied, cpu, mem, config)


@functools.lru_cache(maxsize=64)
def _renamed(script: bytes) -> Any:
    """The decoded program with uplc's unique names, once per script: `Machine.eval` renames
    every program it runs (most of a run's time), and skips one marked as renamed already."""
    _machine_skips_marked_programs()
    return UniqueVariableTransformer().visit(unflatten(script))


@functools.lru_cache(maxsize=1)
def _machine_skips_marked_programs() -> None:
    class SkipMarked(UniqueVariableTransformer):  # type: ignore[misc]
        def visit(self, node: Any) -> Any:
            if getattr(node, "_already_unique", False):
                return node
            return super().visit(node)

    uplc_machine.UniqueVariableTransformer = SkipMarked


def devnet_eval(program: Any, cpu: int, mem: int) -> Reference:
    """`program` run by the devnet's machine, written as `reference_eval` writes uplc's."""
    try:
        code = cek.compile_program(program)
    except cek.MachineError:
        return Reference("fails", 0, 0, ())
    outcome = cek.run(code, cpu, mem, cek.prices(*_machine_models(None)))
    if isinstance(outcome.error, cek.OverBudget):
        text = "over budget"
    elif outcome.error is not None:
        text = "fails"
    else:
        text = shown(outcome.value)
    return Reference(text, outcome.cpu, outcome.mem, tuple(str(line) for line in outcome.logs))


def shown(value: Any) -> str:
    """A value of either machine as comparable text."""
    if isinstance(value, (U.BoundStateLambda, cek.Lam)):
        return "lambda"
    if isinstance(value, (U.BoundStateDelay, cek.Delayed)):
        return "delay"
    if isinstance(value, U.ForcedBuiltIn):
        return _builtin(value.builtin, value.applied_forces, value.bound_arguments)
    if isinstance(value, cek.Partial):
        return _builtin(value.fun, value.forces, value.args)
    if isinstance(value, U.Constr):
        return f"(constr {value.tag} {' '.join(shown(f) for f in value.fields)})"
    return str(value.dumps())


def _builtin(fun: Any, forces: int, args: Any) -> str:
    return f"{fun.name}/{forces}({', '.join(shown(a) for a in args)})"
