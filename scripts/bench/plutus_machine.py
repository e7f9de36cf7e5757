"""The devnet's CEK machine against uplc's `Machine`, on the settlement's own script runs.

    python scripts/bench/plutus_machine.py [--count 20]

Not a test: it prints one line per figure. A devnet seeded as `settlement.py` seeds it settles one
order (a purchase, then its refund) with the project's validators, and another with NEWM's
deployed mainnet scripts (needs `../shared`); every script run of those four transactions is
recorded (script, ScriptContext, budget). Each is then timed, `--count` times each after warm-up,
on the devnet's machine (`plutus.run_script`: `chain/devnet/cek.py`) and on the baseline, uplc
1.3's `Machine` as the devnet ran it before (decoded and renamed once per script, then
`Machine.eval`). Both must count the same units; the figures are the medians and the ratio.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import settlement

from cardano_market.chain.devnet import Ledger, plutus
from cardano_market.chain.devnet.plutus_scripts import script_cbor
from cardano_market.chain.devnet.seed import apply_seed, parse_seed
from cardano_market.ledger.exunits import ExUnits

Run = tuple[bytes, list[Any], ExUnits, Any]


def recorded_runs(data: dict[str, Any], base_dir: Path | None) -> list[Run]:
    """Every script run of one settled order (purchase and refund), evaluated in this process."""
    runs: list[Run] = []
    devnet_run = plutus.run_script

    def recording(script: bytes, args: Any, budget: ExUnits, params: Any = None) -> Any:
        runs.append((script, list(args), budget, params))
        return devnet_run(script, args, budget, params)

    def in_process(tx: bytes, resolved: Any, params: Any, slots: Any, **kwargs: Any) -> Any:
        return plutus.evaluate_scripts(tx, resolved, params, slots, **kwargs)

    plutus.run_script = recording  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(Path(tmp) / "bench.sqlite", evaluator=in_process)
            backend = settlement.TimedBackend(ledger)
            seeded = apply_seed(ledger, parse_seed(data, base_dir=base_dir))
            batcher = settlement.Batcher.for_devnet(
                seeded, backend, validity_slots=settlement.TTL_SLOTS
            )
            settlement.place_order(ledger, seeded, seeded.sales[2].sale, 2)
            runs.clear()
            report = batcher.poll_once()
            assert len(report.settled) == 1, report
            ledger.close()
    finally:
        plutus.run_script = devnet_run  # type: ignore[assignment]
    return _distinct(runs)


def _distinct(runs: list[Run]) -> list[Run]:
    """One of each (script, context) pair, in the order first run (the builder and the ledger
    run the same script on the same context)."""
    from uplc.ast import plutus_cbor_dumps

    seen: set[tuple[bytes, bytes]] = set()
    kept = []
    for run in runs:
        key = (run[0], plutus_cbor_dumps(run[1][0]))
        if key not in seen:
            seen.add(key)
            kept.append(run)
    return kept


def uplc_baseline(script: bytes, args: list[Any], budget: ExUnits, params: Any) -> ExUnits:
    """What the devnet ran before `cek`: uplc's `Machine.eval` on the program renamed once."""
    from uplc.ast import Apply, Program
    from uplc.cost_model import Budget
    from uplc.machine import Machine

    program = _renamed(script_cbor(script))
    term = program.term
    for arg in args:
        term = Apply(term, arg)
    applied = Program(program.version, term)
    applied._already_unique = True
    config = None if params is None else plutus._network_config(params)
    machine = Machine(Budget(cpu=budget.steps, memory=budget.mem), *plutus._machine_models(config))
    result = machine.eval(applied)
    assert not isinstance(result.result, Exception), result.result
    return ExUnits(mem=result.cost.memory, steps=result.cost.cpu)


_RENAMED: dict[bytes, Any] = {}


def _renamed(script: bytes) -> Any:
    from uplc import machine
    from uplc.tools import unflatten
    from uplc.transformer.unique_variables import UniqueVariableTransformer

    if script not in _RENAMED:

        class SkipMarked(UniqueVariableTransformer):  # type: ignore[misc]
            def visit(self, node: Any) -> Any:
                return node if getattr(node, "_already_unique", False) else super().visit(node)

        machine.UniqueVariableTransformer = SkipMarked
        _RENAMED[script] = UniqueVariableTransformer().visit(unflatten(script))
    return _RENAMED[script]


def median_ms(fn: Any, count: int) -> float:
    fn()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="timed runs per script")
    args = parser.parse_args()
    sets = [("ours", settlement.seed_data(3), None)]
    if settlement.NEWM_SEED.exists() and (settlement.NEWM_SEED.parents[3] / "shared").is_dir():
        sets.append(
            ("newm", settlement.seed_data(3, settlement.NEWM_SEED), settlement.NEWM_SEED.parent)
        )
    totals = {"cek": 0.0, "uplc": 0.0}
    for name, data, base_dir in sets:
        for i, run in enumerate(recorded_runs(data, base_dir)):
            ours = plutus.run_script(*run)
            assert ours.error is None, ours.error
            reference = uplc_baseline(*run)
            assert reference == ours.units, (reference, ours.units)
            cek_ms = median_ms(functools.partial(plutus.run_script, *run), args.count)
            uplc_ms = median_ms(functools.partial(uplc_baseline, *run), args.count)
            totals["cek"] += cek_ms
            totals["uplc"] += uplc_ms
            print(
                f"{name}_run_{i}: cek {cek_ms:.2f} ms | uplc {uplc_ms:.1f} ms | "
                f"{uplc_ms / cek_ms:.1f}x faster; {ours.units.mem:,} mem / {ours.units.steps:,} "
                "steps, equal in both"
            )
    print(
        f"all_runs: cek {totals['cek']:.1f} ms | uplc {totals['uplc']:.1f} ms | "
        f"{totals['uplc'] / totals['cek']:.1f}x faster (medians of {args.count}, summed)"
    )


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), plutus.RECURSION_LIMIT))
    threading.stack_size(512 * 1024 * 1024)  # uplc's decoder recurses once per nesting level
    worker = threading.Thread(target=main)
    worker.start()
    worker.join()
