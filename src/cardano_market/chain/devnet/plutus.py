"""Plutus V3 script evaluation for the devnet ledger: each redeemer's script, run on the devnet's
CEK machine (`cek.py`: uplc's decoder, builtins and cost model, a faster machine).

For every redeemer of a transaction this finds the script it runs (witness set or a reference
script among the resolved inputs and reference inputs), the spent output's datum, builds the V3
`ScriptContext` (`script_context.py`) and evaluates the script applied to it, with the cost model
from the protocol parameters. It returns the consumed ex-units, or raises `ScriptFailure` with the
script's trace. `uplc` (and through it pycardano) is imported only when a script runs, so importing
this module stays cheap.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from ...domain.cip30 import OutRef, Utxo
from ...domain.hashes import script_hash
from ...domain.params import ProtocolParameters
from ...domain.slots import SlotConfig
from ...ledger.exunits import ExUnits, RedeemerKey
from ...ledger.scripts import (
    LANGUAGE_NAMES,
    NATIVE,
    PLUTUS_V3,
)
from .plutus_scripts import (
    PlutusEvaluationError,
    ScriptContextError,
    ScriptFailure,
    UnsupportedScriptError,
    ledger_script,
    read_script_ref,
    script_cbor,
)

if TYPE_CHECKING:
    from ...ledger.parse import ParsedTx
    from .script_context import RedeemerEntry

RECURSION_LIMIT = 100_000
"""uplc's flat decoder and AST passes recurse once per term nesting level."""


@functools.lru_cache(maxsize=1)
def _v3_parameter_names() -> tuple[str, ...]:
    """The PlutusV3 cost-model parameter names in the ledger's order (uplc ships them)."""
    newest = max(
        (p for p in resources.files("uplc").joinpath("cost_model_files").iterdir() if p.is_dir()),
        key=lambda p: p.name if p.name[:1].isdigit() else "",
    )
    for file in newest.iterdir():
        if file.name.endswith(".json"):
            names: dict[str, Any] = json.loads(file.read_text())["PlutusV3"]
            return tuple(names)
    raise RuntimeError("uplc ships no cost model file")


def _network_config(params: ProtocolParameters) -> tuple[tuple[str, int], ...] | None:
    """The PlutusV3 cost model of `params` as (name, value) pairs; None for uplc's default.

    Blockfrost's `cost_models_raw` lists values in the ledger's order; `cost_models` names them
    (or numbers them "0", "1", ...). Parameters a short list lacks keep uplc's mainnet values.
    """
    model = params.cost_models.get("PlutusV3")
    if not model:
        return None
    names = _v3_parameter_names()
    if isinstance(model, Mapping):
        if all(str(k).isdigit() for k in model):
            values = [int(model[k]) for k in sorted(model, key=lambda k: int(k))]
            return tuple(zip(names, values, strict=False))
        return tuple((str(k), int(v)) for k, v in model.items())
    if isinstance(model, Sequence):
        return tuple(zip(names, (int(v) for v in model), strict=False))
    raise ScriptContextError(
        f"the PlutusV3 cost model has an unknown shape: {type(model).__name__}"
    )


@functools.lru_cache(maxsize=8)
def _machine_models(config: tuple[tuple[str, int], ...] | None) -> tuple[Any, Any]:
    from uplc import cost_model as cm

    if config is None:
        return (
            cm.default_cek_machine_cost_model_plutus_v3(),
            cm.default_builtin_cost_model_plutus_v3(),
        )
    network = dict(cm.latest_network_config_plutus(cm.PlutusVersion.PlutusV3))
    network.update(config)
    return (
        cm.updated_cek_machine_cost_model_from_network_config(
            cm.default_cek_machine_cost_model_base(), network
        ),
        cm.updated_builtin_cost_model_from_network_config(
            cm.default_builtin_cost_model_base(), network
        ),
    )


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """One script's outcome: consumed units, trace, and the error if it failed."""

    units: ExUnits
    trace: list[str]
    error: str | None = None


def run_script(
    script: bytes, args: Sequence[Any], budget: ExUnits, params: ProtocolParameters | None = None
) -> ScriptRun:
    """Apply a V3 script (any wrapping) to uplc data `args` and run it within `budget`.

    Success means the program ends in the unit constant, as Plutus V3 requires. The devnet's
    CEK machine (`cek`) runs it with uplc's builtins and cost model.
    """
    from uplc.ast import BuiltinUnit

    from . import cek

    try:
        code = _compiled(script_cbor(script))
    except cek.MachineError as exc:
        return ScriptRun(ExUnits(mem=0, steps=0), [], str(exc))
    table = _prices(None if params is None else _network_config(params))
    outcome = cek.run(cek.applied(code, args), budget.steps, budget.mem, table)
    units = ExUnits(mem=outcome.mem, steps=outcome.cpu)
    trace = [line if isinstance(line, str) else type(line).__name__ for line in outcome.logs]
    if isinstance(outcome.error, cek.OverBudget):
        return ScriptRun(
            units,
            trace,
            f"over budget: used at least {units.mem} mem / {units.steps} steps of"
            f" {budget.mem} / {budget.steps}",
        )
    if outcome.error is not None:
        return ScriptRun(units, trace, f"{type(outcome.error).__name__}: {outcome.error}")
    if not isinstance(outcome.value, BuiltinUnit):
        try:
            shown = outcome.value.dumps()
        except Exception:  # uplc's builtins can build values it cannot print (listData of ints)
            shown = type(outcome.value).__name__
        return ScriptRun(
            units, trace, f"a V3 script must return unit, this one returned {shown[:200]}"
        )
    return ScriptRun(units, trace)


@functools.lru_cache(maxsize=64)
def _compiled(script: bytes) -> tuple[Any, ...]:
    """The script decoded and compiled for the CEK machine once (a run only applies it)."""
    from uplc.tools import unflatten

    from . import cek

    try:
        program = unflatten(script)
    except Exception as exc:  # the flat decoder raises several types on bad input
        digest = script_hash(PLUTUS_V3, script_cbor(script)).hex()
        raise ScriptContextError(
            f"script {digest} does not decode as a flat program: {exc}",
            rule="MalformedScriptWitnesses",
        ) from exc
    if tuple(program.version) not in ((1, 0, 0), (1, 1, 0)):
        raise ScriptContextError(
            f"a Plutus V3 script must be a UPLC 1.0.0 or 1.1.0 program, got {program.version}",
            rule="MalformedScriptWitnesses",
        )
    return cek.compile_program(program)


@functools.lru_cache(maxsize=8)
def _prices(config: tuple[tuple[str, int], ...] | None) -> Any:
    from . import cek

    return cek.prices(*_machine_models(config))


def evaluate_scripts(
    tx: bytes | ParsedTx,
    resolved: Mapping[OutRef, Utxo],
    params: ProtocolParameters,
    slot_config: SlotConfig,
    *,
    enforce_budget: bool = True,
) -> dict[RedeemerKey, ExUnits]:
    """Run every redeemer's script of `tx`; the ex-units each consumed, by (tag, index).

    `resolved` must hold every input and reference input. With `enforce_budget` (the ledger's
    check) each script runs within its declared ex-units; without it (the `evaluate` endpoint,
    where declared units are placeholders) within the transaction limit of `params`. Raises
    `ScriptFailure` (with the trace) when a script fails or runs over, `ScriptContextError` when
    the transaction cannot be translated, `UnsupportedScriptError` for Plutus V1/V2.
    """
    from ...ledger.parse import ParsedTx, parse_transaction
    from .script_context import ContextBuilder, plutus_redeemers

    parsed = tx if isinstance(tx, ParsedTx) else parse_transaction(tx)
    redeemers = plutus_redeemers(parsed.redeemers)
    if not redeemers:
        return {}
    scripts = _available_scripts(parsed, resolved)
    builder = ContextBuilder(
        parsed, resolved, slot_config, redeemers, protocol_major=params.protocol_major_ver
    )
    limit = ExUnits(mem=params.max_tx_ex_mem, steps=params.max_tx_ex_steps)
    results: dict[RedeemerKey, ExUnits] = {}
    for redeemer in redeemers:
        results[redeemer.key] = _evaluate_one(
            builder,
            scripts,
            redeemer,
            params,
            redeemer_budget(redeemer) if enforce_budget else limit,
        )
    return results


def redeemer_budget(redeemer: RedeemerEntry) -> ExUnits:
    return ExUnits(mem=redeemer.mem, steps=redeemer.steps)


def _evaluate_one(
    builder: Any,
    scripts: Mapping[bytes, tuple[int, bytes]],
    redeemer: RedeemerEntry,
    params: ProtocolParameters,
    budget: ExUnits,
) -> ExUnits:
    key = redeemer.key
    where = f"redeemer {key[0]} {key[1]}"
    try:
        wanted = builder.script_hash(*key)
        found = scripts.get(wanted)
        if found is None:
            raise ScriptContextError(
                f"{where} runs script {wanted.hex()}, which is neither in the witness set nor a"
                " reference script of an input or reference input",
                rule="MissingScriptWitnessesUTXOW",
            )
        version, script = found
        if version == NATIVE:
            raise ScriptContextError(
                f"{where} points at native script {wanted.hex()}, which takes no redeemer",
                rule="ExtraRedeemers",
            )
        if version != PLUTUS_V3:
            raise UnsupportedScriptError(
                f"{where} runs {LANGUAGE_NAMES[version]} script {wanted.hex()}: the devnet"
                " evaluates Plutus V3 scripts only"
            )
        datum = builder.spending_datum(key[1]) if key[0] == "spend" else None
        context = builder.context(redeemer, datum)
    except PlutusEvaluationError as exc:
        exc.key = exc.key or key
        raise
    run = run_script(script, [context], budget, params)
    if run.error is not None:
        raise ScriptFailure(
            f"{where} (script {wanted.hex()}) failed: {run.error}", run.trace, key=key
        )
    return run.units


def _available_scripts(
    tx: ParsedTx, resolved: Mapping[OutRef, Utxo]
) -> dict[bytes, tuple[int, bytes]]:
    """Script hash -> (language, script) for witness-set scripts and reference scripts."""
    scripts: dict[bytes, tuple[int, bytes]] = {}
    for raw in tx.native_scripts:
        scripts[script_hash(NATIVE, raw)] = (NATIVE, raw)
    for version, raw in tx.plutus_scripts:
        script = ledger_script(raw, f"a {LANGUAGE_NAMES[version]} witness script")
        scripts[script_hash(version, script)] = (version, script)
    for ref in (*tx.inputs, *tx.reference_inputs):
        utxo = resolved.get(ref)
        if utxo is not None and utxo.script_ref is not None:
            kind, script = read_script_ref(utxo.script_ref)
            scripts.setdefault(script_hash(kind, script), (kind, script))
    return scripts


# uplc logs every builtin failure with a traceback at ERROR level; the failure reaches the caller
# as ScriptFailure with the script's trace, so its log line would only be noise.
logging.getLogger("uplc.machine").setLevel(logging.CRITICAL)
