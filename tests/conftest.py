"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from interop.aiken_uplc import SecondEvaluator, aiken_available, require_aiken
from interop.csl import CslInspect, interop_required, require_csl
from pg_support import require_postgres_url

COMMITTED_BUILDS = Path(__file__).parent / "contracts" / "compiled"
"""Contract builds keyed by `contracts.build.compile_key`, committed so CI starts warm."""


@pytest.fixture(scope="session")
def csl() -> CslInspect:
    """cardano-serialization-lib's reader (skips, or fails under CI, when it is not installed)."""
    return require_csl()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server URL (no schema); skips, or fails under CI, when unreachable."""
    return require_postgres_url()


@pytest.fixture
def contract_cache(request: pytest.FixtureRequest) -> Path | None:
    """Where the contract freshness checks keep compiled scripts between runs (pytest's cache
    directory, out of git; `contracts.build.compile_key` says when an entry is reused); None when
    pytest's cache is off (`-p no:cacheprovider`): every source is compiled."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return None
    directory = Path(cache.mkdir("contract-builds"))
    # Seed it with the committed builds of today's sources (tests/contracts/compiled): a fresh
    # clone skips ~8 minutes of compiling on a 2-core machine. An entry is found only under the
    # key of the exact source, flags and tool versions, so an edited source still compiles, and
    # every check still compares the build with the committed artifact.
    for entry in COMMITTED_BUILDS.glob("*.hex"):
        if not (directory / entry.name).exists():
            shutil.copyfile(entry, directory / entry.name)
    return directory


@pytest.fixture(scope="module", autouse=True)
def second_evaluator() -> Iterator[SecondEvaluator | None]:
    """Every script transaction the devnet ledger accepts in this module (submit or validate,
    with its own evaluator) is run again, after the module, by aiken's evaluator
    (`interop.aiken_uplc`): the ex-units must be equal. Off when the package is not installed
    (a failure under CARDANO_MARKET_REQUIRE_INTEROP=1, as for CSL)."""
    if not aiken_available():
        if interop_required():
            require_aiken()
        yield None
        return
    recorder = SecondEvaluator()
    with pytest.MonkeyPatch.context() as patch:
        recorder.install(patch)
        yield recorder
    found = recorder.mismatches()
    assert not found, "aiken's evaluator disagrees with the devnet's:\n" + "\n".join(found)


@pytest.fixture(autouse=True)
def _name_runs(second_evaluator: SecondEvaluator | None, request: pytest.FixtureRequest) -> None:
    if second_evaluator is not None:
        second_evaluator.test = request.node.nodeid
