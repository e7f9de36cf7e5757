"""aiken's Plutus evaluator (`@lucid-evolution/uplc`, `eval_phase_two_raw`) over batches of
transactions: a second evaluator beside the devnet's own (the Python `uplc` package).

Tests hand it the transactions they build with every spent and referenced output resolved, and
compare its ex-units with the devnet's. One node process per batch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cbor2
import pytest

from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.params import ProtocolParameters
from cardano_market.domain.slots import SlotConfig
from cardano_market.ledger.exunits import ExUnits, RedeemerKey

from .csl import REQUIRE_ENV, interop_required

INTEROP_DIR = Path(__file__).resolve().parent
SCRIPT = INTEROP_DIR / "uplc_eval.js"
PACKAGE = INTEROP_DIR / "node_modules" / "@lucid-evolution" / "uplc"
SKIP_REASON = "@lucid-evolution/uplc is not installed: run npm ci in tests/interop"
TIMEOUT = 300.0
_TAGS = ("spend", "mint", "cert", "reward", "vote", "propose")
_LANGUAGES = {"PlutusV1": 0, "PlutusV2": 1, "PlutusV3": 2}


class AikenHarnessError(RuntimeError):
    """The harness itself failed (node crashed, timed out or answered garbage)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One transaction for aiken: its bytes and every output it spends or references."""

    tx: bytes
    resolved: Mapping[OutRef, Utxo]
    params: ProtocolParameters
    slot_config: SlotConfig

    def request(self) -> dict[str, object]:
        refs = sorted(self.resolved)
        return {
            "tx": self.tx.hex(),
            "inputs": [cbor2.dumps([r[0], r[1]]).hex() for r in refs],
            "outputs": [self.resolved[r].output_cbor.hex() for r in refs],
            "costModels": cost_models_cbor(self.params).hex(),
            "maxSteps": str(self.params.max_tx_ex_steps),
            "maxMem": str(self.params.max_tx_ex_mem),
            "zeroTime": str(self.slot_config.zero_time_ms),
            "zeroSlot": str(self.slot_config.zero_slot),
            "slotLength": self.slot_config.slot_length_ms,
        }


def cost_models_cbor(params: ProtocolParameters) -> bytes:
    """The protocol parameters' cost models as the ledger encodes them: {language: [values]}."""
    models: dict[int, list[int]] = {}
    for name, model in params.cost_models.items():
        if name not in _LANGUAGES:
            continue
        if isinstance(model, Mapping):
            values = [int(model[k]) for k in sorted(model, key=lambda k: int(k))]
        else:
            values = [int(v) for v in model]
        models[_LANGUAGES[name]] = values
    return cbor2.dumps(models)


def aiken_available() -> bool:
    return shutil.which("node") is not None and (PACKAGE / "package.json").is_file()


def aiken_evaluate(
    evaluations: Sequence[Evaluation],
) -> list[dict[RedeemerKey, ExUnits] | str]:
    """aiken's ex-units per redeemer for each transaction, or its error message, in order."""
    node = shutil.which("node")
    if node is None:
        raise AikenHarnessError("node is not on PATH")
    try:
        proc = subprocess.run(
            [node, str(SCRIPT)],
            input=json.dumps([e.request() for e in evaluations]),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=INTEROP_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AikenHarnessError(f"uplc_eval.js took more than {TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise AikenHarnessError(f"uplc_eval.js exited {proc.returncode}: {proc.stderr.strip()}")
    try:
        answers = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AikenHarnessError(f"uplc_eval.js printed non-JSON: {proc.stdout[:200]!r}") from exc
    if not isinstance(answers, list) or len(answers) != len(evaluations):
        raise AikenHarnessError("uplc_eval.js answered the wrong number of results")
    results: list[dict[RedeemerKey, ExUnits] | str] = []
    for answer in answers:
        if "error" in answer:
            results.append(str(answer["error"]))
            continue
        units: dict[RedeemerKey, ExUnits] = {}
        for raw in answer["redeemers"]:
            tag, index, _data, (mem, steps) = cbor2.loads(bytes.fromhex(raw))
            units[(_TAGS[tag], index)] = ExUnits(mem=mem, steps=steps)
        results.append(units)
    return results


def require_aiken() -> None:
    """Skip the test when the package is missing (fail it when CI requires interop)."""
    if aiken_available():
        return
    if interop_required():
        pytest.fail(f"{SKIP_REASON} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(SKIP_REASON)


# -- the second evaluator beside the devnet ledger ------------------------------------------------


def canonical_datums(resolved: Mapping[OutRef, Utxo]) -> dict[OutRef, Utxo]:
    """`resolved` with every inline datum re-encoded as Plutus encodes data (indefinite-length
    lists and constructor fields when non-empty): the same data, so the ledger counts the same.

    Why: the ledger (Haskell) holds a datum as a `Data` value, so `serialiseData` always writes
    Plutus' own encoding; aiken's evaluator keeps the CBOR form it decoded (pallas'
    `MaybeIndefArray`) and `serialiseData` gives back the bytes as written. Our order builder
    writes definite-length arrays, so on those datums aiken's `serialiseData` returns other bytes
    than the ledger's and our validators' datum-shape check (which reads the field count from
    them) takes a shorter path: aiken counts fewer units than the ledger, the devnet the same.
    """
    from uplc.ast import data_from_cbor, plutus_cbor_dumps

    from cardano_market.domain.outputs import TxOutput

    out: dict[OutRef, Utxo] = {}
    for ref, utxo in resolved.items():
        if utxo.inline_datum is None:
            out[ref] = utxo
            continue
        datum = plutus_cbor_dumps(data_from_cbor(utxo.inline_datum))
        output = TxOutput(
            utxo.address,
            utxo.value,
            inline_datum=datum,
            script_ref=utxo.script_ref,
        )
        out[ref] = Utxo.from_cbor(b"\x82" + cbor2.dumps([ref[0], ref[1]]) + output.to_cbor())
    return out


@dataclass(frozen=True, slots=True)
class Run:
    """One successful script run of the devnet ledger, and the test that caused it."""

    test: str
    evaluation: Evaluation
    units: dict[RedeemerKey, ExUnits]


class SecondEvaluator:
    """Records every phase-2 run of the devnet ledger (each script transaction submitted or
    validated, with the ledger's uplc evaluator) so aiken's evaluator can run the same
    transactions afterwards; `mismatches` lists where their ex-units differ. Builders' draft
    evaluations are left out: aiken takes about a second per purchase (its WebAssembly build), and
    the submitted bytes are the ones the ledger's verdict and fee rest on."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._seen: set[tuple[bytes, bytes]] = set()
        self.test = ""

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from cardano_market.chain.devnet import ledger as ledger_module

        original = ledger_module.Ledger._run_once
        recorder = self

        def run_once(
            self: ledger_module.Ledger,
            tx: object,
            resolved: Mapping[OutRef, Utxo],
            *,
            enforce_budget: bool,
        ) -> dict[RedeemerKey, ExUnits]:
            units = original(self, tx, resolved, enforce_budget=enforce_budget)  # type: ignore[arg-type]
            # the ledger's own runs (submit, validate), with its own evaluator: what it accepts
            if enforce_budget and self._evaluator is ledger_module.plutus_evaluator and units:
                recorder.record(self, tx.raw, resolved, units)
            return units

        monkeypatch.setattr(ledger_module.Ledger, "_run_once", run_once)

    def record(
        self,
        ledger: object,
        tx: bytes,
        resolved: Mapping[OutRef, Utxo],
        units: Mapping[RedeemerKey, ExUnits],
    ) -> None:
        key = (
            tx,
            b"".join(
                r[0] + r[1].to_bytes(4, "big") + resolved[r].output_cbor for r in sorted(resolved)
            ),
        )
        if key in self._seen:
            return
        self._seen.add(key)
        params = ledger.params
        slot_config = ledger.slot_config
        evaluation = Evaluation(tx, canonical_datums(resolved), params, slot_config)
        self.runs.append(Run(self.test, evaluation, dict(units)))

    def mismatches(self) -> list[str]:
        """Every run where aiken's ex-units (or verdict) differ from the devnet's; clears runs."""
        runs, self.runs = self.runs, []
        if not runs:
            return []
        found: list[str] = []
        answers = aiken_evaluate([r.evaluation for r in runs])
        for run, theirs in zip(runs, answers, strict=True):
            if isinstance(theirs, str):
                found.append(f"{run.test}: aiken refused a transaction the devnet ran: {theirs}")
            elif theirs != run.units:
                found.append(f"{run.test}: devnet {run.units} but aiken {theirs}")
        return found
