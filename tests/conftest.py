"""Fixtures shared by the whole test suite."""

from __future__ import annotations

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
