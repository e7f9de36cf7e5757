"""Every script run in these scenarios is run twice: by the devnet's CEK machine, which gives the
verdict, and by uplc's own machine (`uplc_reference`), which must agree on it, on the trace and,
where the script succeeds, on every unit. So each validator the project deploys, and NEWM's, is
a test of the machine on real script contexts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cardano_market.chain.devnet import plutus
from cardano_market.ledger.exunits import ExUnits
from uplc_reference import reference_run


@pytest.fixture(autouse=True)
def both_machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    devnet_run = plutus.run_script

    def checked(
        script: bytes, args: Sequence[Any], budget: ExUnits, params: Any = None
    ) -> plutus.ScriptRun:
        run = devnet_run(script, args, budget, params)
        config = None if params is None else plutus._network_config(params)
        reference = reference_run(script, list(args), budget.steps, budget.mem, config)
        if run.error is not None and run.error.startswith("over budget"):
            # the machines stop at different steps past the budget (traces may differ too)
            assert reference.result == "over budget"
            return run
        assert tuple(run.trace) == reference.logs
        if run.error is None:
            assert (run.units.steps, run.units.mem) == (reference.cpu, reference.mem)
            assert reference.result == "(con unit ())"
        else:
            assert reference.result == "fails", run.error
        return run

    monkeypatch.setattr(plutus, "run_script", checked)
    yield
