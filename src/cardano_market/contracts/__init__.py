"""The project's own Plutus V3 validators, compiled: OpShin sources in `onchain/`, artifacts here.

Each `<name>.plutus` is a cardano-cli style JSON envelope (`cborHex` = the script doubly CBOR
wrapped, as a witness set holds it) built by `python -m cardano_market.contracts.build`: the
deployed build, traces removed. `<name>.traced.plutus` is the same source with its failure
messages kept (`traced=True`), for tests and debugging. A parameterized validator is compiled
unapplied; `apply_parameters` bakes its parameters in.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cbor2

CONTRACTS_DIR = Path(__file__).parent
SOURCES_DIR = CONTRACTS_DIR / "onchain"


def artifact_path(name: str, *, traced: bool = False) -> Path:
    return CONTRACTS_DIR / f"{name}{'.traced' if traced else ''}.plutus"


def load_script(name: str, *, traced: bool = False) -> bytes:
    """The compiled script `name` in the ledger's form: one CBOR byte string around flat bytes
    (the deployed build, or with `traced` the build that keeps its failure messages)."""
    envelope = json.loads(artifact_path(name, traced=traced).read_text())
    if envelope.get("type") != "PlutusScriptV3":
        raise ValueError(f"{name}.plutus is not a PlutusScriptV3 envelope")
    script = cbor2.loads(bytes.fromhex(envelope["cborHex"]))
    if not isinstance(script, bytes):
        raise ValueError(f"{name}.plutus cborHex is not a CBOR byte string")
    return script


def contract_names() -> list[str]:
    """Names of the validators with a source in `onchain/`."""
    return sorted(p.stem for p in SOURCES_DIR.glob("*.py"))


RECURSION_LIMIT = 100_000
"""Python frames uplc's flat codec may need (it recurses once per term)."""


def apply_parameters(script: bytes, *parameters: bytes) -> bytes:
    """`script` (ledger form) applied to `parameters`, each the CBOR of a Plutus data value.

    OpShin validators take their parameters as data, in the order of `validator`'s arguments.
    The result is in the ledger's form too; its hash is the applied script's hash. `uplc` (and
    through it pycardano) is imported here only, so importing this package stays cheap.
    """
    from ._deep_stack import deep_call

    # uplc's flat codec recurses once per term: a 16 kB script goes deeper than Python's default,
    # so the work runs in the deep-stack child process, never under a raised limit here.
    parameter_bytes = tuple(bytes(p) for p in parameters)
    applied: bytes = deep_call(_apply_parameters, bytes(script), parameter_bytes)
    return applied


def _apply_parameters(script: bytes, parameters: tuple[bytes, ...]) -> bytes:
    from uplc.ast import data_from_cbor
    from uplc.tools import apply, flatten, unflatten

    program = apply(unflatten(script), *(data_from_cbor(p) for p in parameters))
    applied: bytes = flatten(program)
    return applied


@functools.lru_cache(maxsize=32)
def load_applied(name: str, *parameters: bytes, traced: bool = False) -> bytes:
    """The compiled script `name` with its parameters applied (see `apply_parameters`)."""
    return apply_parameters(load_script(name, traced=traced), *parameters)
