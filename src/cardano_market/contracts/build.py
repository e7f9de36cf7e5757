"""Compile the OpShin validators in `onchain/` into artifacts next to this file, two per source:
`<name>.plutus`, the deployed build (traces removed: a third to half smaller, so cheaper to
reference and to run), and `<name>.traced.plutus`, the same source with its failure messages kept
(the tests read why a script refused; use it to debug a transaction).

Rebuild after changing a source: `python -m cardano_market.contracts.build`. With `--check` nothing
is written and the exit status is 1 when an artifact is missing or differs from a fresh build
(the tests run the same check). The compiler version is pinned in pyproject's `dev` extra, since
another OpShin release may compile the same source to other bytes (and another script hash).

`--cache DIR` keeps each compiled script in DIR under a key that covers everything the output
depends on: the source's bytes, the build flags and parameter count, and the versions of Python,
OpShin, pluthon and uplc (`compile_key`). A source, flag or compiler that changed misses the
cache and is compiled; a hit returns the bytes that compiler made of that very source, so the
check still compares every artifact with a fresh build's output and a stale artifact still fails
it. The tests keep their cache in pytest's cache directory (`.pytest_cache`, not in git).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import cbor2

from . import SOURCES_DIR, artifact_path, contract_names
from ._deep_stack import deep_call
from .hoist_builtins import hoist_script

TRACE_FREE_FLAGS = [
    "-O3",
    "-fremove-trace",
    "-fdeduplicate",
    "-fremove-force-delay",
    "-finline-variables",
    "-ffold-apply-lambda-increase",
    "1",
]
"""OpShin flags of the deployed build: OpShin's aggressive optimisation (-O3) and shared subterms
(-fdeduplicate: smaller, and the reference-script fee counts every byte). Measured on a purchase
against OpShin's default (-O1): the queue 9.4 -> 8.8 kB and 3.10 -> 3.06 M mem, 10,100 lovelace
less. OpShin's -O3 leaves three passes of the UPLC optimiser's own -O3 (the `uplc` package) off;
all three keep the semantics: `-fremove-force-delay` (a delayed term forced at once is the term),
`-finline-variables` (a let-bound term used exactly once, where it is always evaluated, is put in
place: a failure still fails, only trace order could move, and this build has none) and
`-ffold-apply-lambda-increase 1` (`(lambda x. body) v` becomes `body[x := v]` only when `v` is
a value, which cannot fail or trace, and the result is no larger). Measured on a purchase: scripts
17.7 -> 12.2 kB (18.9 kB before the first two), fee 906,561 -> 772,386 lovelace (see
docs/settlement.md). The traced build keeps the default optimisation: it only explains
refusals."""


COMPILER_ENVIRONMENT = {"PYTHONHASHSEED": "0"}
"""The optimiser's output depends on Python's per-process hash seed (the deployed queue: 6,122
bytes with seed 0, 6,120 with seed 1; two cold builds with random seeds differed), so the compiler
runs with a fixed seed and a build is reproducible."""

HAND_WRITTEN_MODULE = "cardano_market.contracts.pluthon_terms"
HAND_WRITTEN_SOURCE = Path(__file__).with_name("pluthon_terms.py")
"""The terms written in pluthon that validators call (`@wraps_builtin`): part of every build."""

HOIST_SOURCE = Path(__file__).with_name("hoist_builtins.py")
"""The pass run on the deployed build after OpShin: each forced builtin bound once."""

CACHE_TOOLS = ("opshin", "pluthon", "uplc")
"""The compiler and the libraries it generates code with: their versions are part of a cache key."""


def compile_key(path: Path, *, traced: bool = False) -> str:
    """The cache key of one build: the source's bytes, the hand-written terms, flags, parameter
    count and tool versions."""
    digest = hashlib.sha256()
    parts = [
        b"cardano-market contract build 1",
        path.name.encode(),
        path.read_bytes(),
        HAND_WRITTEN_SOURCE.read_bytes(),  # every build runs through it
        *([] if traced else [HOIST_SOURCE.read_bytes()]),  # the deployed build runs it too
        " ".join(_flags(traced)).encode(),
        " ".join(
            f"{name}={value}" for name, value in sorted(COMPILER_ENVIRONMENT.items())
        ).encode(),
        str(parameter_count(path)).encode(),
        f"python {sys.version_info.major}.{sys.version_info.minor}".encode(),
        *(f"{tool} {metadata.version(tool)}".encode() for tool in CACHE_TOOLS),
    ]
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def cached_compile(path: Path, *, traced: bool = False, cache_dir: Path | None = None) -> bytes:
    """`compile_source`, remembered in `cache_dir` (when given) under `compile_key`."""
    if cache_dir is None:
        return compile_source(path, traced=traced)
    entry = cache_dir / f"{path.stem}-{compile_key(path, traced=traced)}.hex"
    if entry.is_file():
        try:
            return bytes.fromhex(entry.read_text().strip())
        except ValueError:
            pass  # a torn or edited entry: compile again
    script = compile_source(path, traced=traced)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = entry.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(script.hex())
    partial.replace(entry)  # atomic: a parallel run reads a whole entry or none
    return script


def _flags(traced: bool) -> list[str]:
    return [] if traced else TRACE_FREE_FLAGS


def compile_source(path: Path, *, traced: bool = False) -> bytes:
    """The script of one OpShin source, singly CBOR wrapped (the bytes its hash is taken over).

    Runs `opshin build` itself (OpShin's version marker, UPLC 1.1.0; the deployed build with
    `TRACE_FREE_FLAGS`, the traced one with the default optimisation and its traces) in the
    source's directory with a relative file name, so the output does not depend on the checkout.
    The deployed build then goes through `hoist_builtins` (each forced builtin bound once). A
    parameterized validator stays unapplied (see `contracts.apply_parameters`).
    """
    # -P: the sources directory is not put on sys.path (a source named like a stdlib module,
    # e.g. queue.py, would shadow it inside the compiler)
    flags = _flags(traced)
    # through pluthon_terms: OpShin's command line with the hand-written terms registered
    command = [sys.executable, "-P", "-m", HAND_WRITTEN_MODULE, *flags, "build", path.name, "-o"]
    parameters = parameter_count(path)
    with tempfile.TemporaryDirectory(prefix="opshin-build-") as out:
        parameter_flags = ["--parameters", str(parameters)] if parameters else []
        _run([*command, out, *parameter_flags], f"opshin build {path.name}", cwd=path.parent)
        script = bytes.fromhex((Path(out) / "script.cbor").read_text().strip())
    if traced:
        return script
    # uplc's codec recurses once per term: the pass runs in the deep-stack child process
    hoisted: bytes = deep_call(hoist_script, script)
    return hoisted


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    """Run one step of a build with the compiler's fixed environment; raise with its output."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **COMPILER_ENVIRONMENT},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout}{done.stderr}")


_AST_PARSE_LOCK = threading.Lock()
"""`build` compiles on a thread pool, and CPython 3.11.7's `ast.parse` keeps its recursion-depth
check in state shared by threads: two parses at once can fail with "SystemError: AST constructor
recursion depth mismatch" (seen once in the suite; cpython gh-106905)."""


def parameter_count(path: Path) -> int:
    """How many arguments `validator` takes before the script context (its parameters)."""
    source = path.read_text()
    with _AST_PARSE_LOCK:
        module = ast.parse(source)
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "validator":
            return max(len(node.args.args) - 1, 0)
    raise RuntimeError(f"{path.name} defines no validator function")


def envelope(name: str, script: bytes, *, traced: bool = False) -> str:
    """The cardano-cli JSON text envelope of a V3 script (cborHex doubly wrapped)."""
    build_kind = "traces kept" if traced else "traces removed"
    document = {
        "type": "PlutusScriptV3",
        "description": f"{name}, compiled by opshin {metadata.version('opshin')} ({build_kind})",
        "cborHex": cbor2.dumps(script).hex(),
    }
    return json.dumps(document, indent=2) + "\n"


def build(
    names: list[str] | None = None,
    *,
    check: bool = False,
    cache_dir: Path | None = None,
    prune: bool = False,
) -> list[str]:
    """Compile both builds of `names` (default: every source), one compiler per core; returns the
    artifact file names that were (or are) stale. With `cache_dir`, builds of unchanged sources
    by the same tools come from the cache (see `compile_key`); with `prune` too, that cache keeps
    only the builds of today's sources of `names` (how `tests/contracts/compiled` is refreshed)."""
    jobs = [(name, traced) for name in names or contract_names() for traced in (False, True)]

    def compiled(job: tuple[str, bool]) -> str:
        name, traced = job
        source = SOURCES_DIR / f"{name}.py"
        script = cached_compile(source, traced=traced, cache_dir=cache_dir)
        return envelope(name, script, traced=traced)

    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
        texts = list(pool.map(compiled, jobs))
    if prune and cache_dir is not None:
        _prune(cache_dir, [(SOURCES_DIR / f"{name}.py", traced) for name, traced in jobs])
    stale: list[str] = []
    for (name, traced), text in zip(jobs, texts, strict=True):
        path = artifact_path(name, traced=traced)
        if not path.exists() or path.read_text() != text:
            stale.append(path.name)
            if not check:
                path.write_text(text)
    return stale


def _prune(cache_dir: Path, builds: list[tuple[Path, bool]]) -> None:
    """Delete the cached builds of these sources other than today's (older sources or tools)."""
    current = {
        f"{source.stem}-{compile_key(source, traced=traced)}.hex" for source, traced in builds
    }
    for source in {source for source, _ in builds}:
        for entry in cache_dir.glob(f"{source.stem}-*.hex"):
            if entry.name not in current:
                entry.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="validators to build (default: all)")
    parser.add_argument("--check", action="store_true", help="fail if an artifact is stale")
    parser.add_argument(
        "--cache", type=Path, metavar="DIR", help="reuse builds of unchanged sources kept in DIR"
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="with --cache: delete the cached builds of older sources of the validators built",
    )
    args = parser.parse_args(argv)
    if args.prune and args.cache is None:
        parser.error("--prune needs --cache DIR")
    stale = build(args.names or None, check=args.check, cache_dir=args.cache, prune=args.prune)
    for file_name in stale:
        verb = "is stale" if args.check else "rebuilt"
        print(f"{file_name} {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
