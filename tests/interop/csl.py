"""Runs cardano-serialization-lib (CSL, what CIP-30 dApps use) over a batch of CBOR requests.

The outside proof: tests hand CSL the bytes cardano-market produces and compare what it reads with
what we meant. One node process per batch keeps a whole session to a handful of node starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).resolve().parent
SCRIPT = INTEROP_DIR / "csl_inspect.js"
CSL_PACKAGE = INTEROP_DIR / "node_modules" / "@emurgo" / "cardano-serialization-lib-nodejs"
REQUIRE_ENV = "CARDANO_MARKET_REQUIRE_INTEROP"
SKIP_REASON = "cardano-serialization-lib not installed: run npm ci in tests/interop"
DEFAULT_TIMEOUT = 120.0

CslInspect = Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]
"""`csl_inspect`'s shape, as the `csl` fixture hands it to a test."""


class CslHarnessError(RuntimeError):
    """The harness itself failed (node crashed, timed out or answered garbage), not one request."""


def csl_available() -> bool:
    """True when node is on PATH and `npm ci` has installed CSL in tests/interop."""
    return shutil.which("node") is not None and (CSL_PACKAGE / "package.json").is_file()


def interop_required() -> bool:
    """CI sets CARDANO_MARKET_REQUIRE_INTEROP=1 so that a missing CSL fails instead of skipping."""
    return os.environ.get(REQUIRE_ENV) == "1"


def csl_inspect(
    requests: Sequence[Mapping[str, Any]], timeout: float = DEFAULT_TIMEOUT
) -> list[dict[str, Any]]:
    """CSL's reading of each request (see csl_inspect.js), in order; one node process per call.

    A request CSL rejects comes back as `{"error": message}`; a broken harness raises.
    """
    node = shutil.which("node")
    if node is None:
        raise CslHarnessError("node is not on PATH")
    try:
        proc = subprocess.run(
            [node, str(SCRIPT)],
            input=json.dumps(list(requests)),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=INTEROP_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CslHarnessError(f"csl_inspect.js took more than {timeout} s") from exc
    if proc.returncode != 0:
        raise CslHarnessError(f"csl_inspect.js exited {proc.returncode}: {proc.stderr.strip()}")
    try:
        results = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise CslHarnessError(f"csl_inspect.js printed non-JSON: {proc.stdout[:200]!r}") from exc
    if not isinstance(results, list) or len(results) != len(requests):
        raise CslHarnessError(
            f"csl_inspect.js answered {len(results) if isinstance(results, list) else 'no'} "
            f"results for {len(requests)} requests"
        )
    return results


def require_csl() -> CslInspect:
    """`csl_inspect` when CSL is installed, else skip the test (fail it if CI requires interop)."""
    if csl_available():
        return csl_inspect
    if interop_required():
        pytest.fail(f"{SKIP_REASON} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(SKIP_REASON)
