"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.csl import CslInspect, require_csl
from pg_support import require_postgres_url


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
    return None if cache is None else Path(cache.mkdir("contract-builds"))
