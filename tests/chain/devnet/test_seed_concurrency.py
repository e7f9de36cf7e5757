"""Two instances (processes, replicas) starting on one fresh devnet file seed it at once: the
slow part of a seed (building the marketplace's scripts) holds no write lock on the file, and the
seed is written once, the other instance finding it applied."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.seed import SeedResult, apply_seed, load_seed
from cardano_market.chain.devnet.seed import schema as seed_schema
from worlds import START_MS, Clock


def test_a_second_instance_seeds_while_the_first_builds_the_contracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "devnet.db"
    seed = load_seed()
    build = seed_schema.project_deployment
    build()  # the real scripts, built once beforehand: only the gate below takes time
    building, release = threading.Event(), threading.Event()

    def slow_build(**options: Any) -> Any:
        """The first instance's build of the scripts lasts until the test releases it (on a
        loaded machine it takes seconds: a child process applies the scripts' parameters)."""
        if threading.current_thread().name == "first" and not building.is_set():
            building.set()
            release.wait(60)
        return build(**options)

    monkeypatch.setattr(seed_schema, "project_deployment", slow_build)
    results: dict[str, SeedResult] = {}
    errors: list[BaseException] = []

    def start(name: str) -> None:
        with Ledger(path, system_start_ms=START_MS, clock=Clock()) as ledger:
            results[name] = apply_seed(ledger, seed)

    def first_instance() -> None:
        try:
            start("first")
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    first = threading.Thread(target=first_instance, name="first")
    first.start()
    try:
        assert building.wait(60), "the first instance never built the contracts"
        probe = sqlite3.connect(path, timeout=1, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            pytest.fail(f"the file is write-locked while the first instance builds scripts: {exc}")
        finally:
            probe.close()
        start("second")
    finally:
        release.set()
        first.join(60)
    assert not errors, errors
    assert results["second"].applied and not results["first"].applied
    first_seen, second_seen = results["first"], results["second"]
    assert first_seen.contracts == second_seen.contracts
    assert first_seen.oracle == second_seen.oracle
    with Ledger(path, system_start_ms=START_MS, clock=Clock()) as ledger:
        assert ledger.store.meta("genesis_counter") == 1, "the seed was written twice"
        with Ledger(":memory:", system_start_ms=START_MS, clock=Clock()) as alone:
            apply_seed(alone, seed)
            assert ledger.store.utxo_count() == alone.store.utxo_count()
