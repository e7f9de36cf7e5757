"""`cardano-market batcher` and `cardano-market settle` as a user runs them: one pass on a devnet
that holds a queued order (placed by the demo wallet, signed, submitted), settled by the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batcher_world import USD_SALE, World
from typer.testing import CliRunner

from cardano_market.chain.devnet import DevnetBackend, Ledger
from cardano_market.chain.devnet.seed import apply_seed, load_seed
from cardano_market.chain.devnet.seed.world import queue_address
from cardano_market.cli import app
from worlds import Clock


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A devnet and database of its own, the in-process extras off."""
    for name in [n for n in os.environ if n.startswith("CARDANO_MARKET_")]:
        if name != "CARDANO_MARKET_REQUIRE_INTEROP":
            monkeypatch.delenv(name)
    values = {
        "CARDANO_MARKET_DEVNET_PATH": str(tmp_path / "devnet.db"),
        "CARDANO_MARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def place_order(env: dict[str, str], bundles: int) -> None:
    """Alice's order, signed and submitted on the devnet the CLI will open (wall clock, the demo
    seed: the service finds it already applied)."""
    with Ledger(env["CARDANO_MARKET_DEVNET_PATH"]) as ledger:
        world = World(ledger, DevnetBackend(ledger), apply_seed(ledger, load_seed()), Clock())
        world.place_order(world.sale(USD_SALE), bundles)


def queue_utxos(env: dict[str, str]) -> int:
    with Ledger(env["CARDANO_MARKET_DEVNET_PATH"]) as ledger:
        return len(ledger.utxos_at(queue_address(ledger.network_id)))


def test_batcher_once_settles_the_queued_order(env: dict[str, str]) -> None:
    place_order(env, 2)
    assert queue_utxos(env) == 1
    result = CliRunner().invoke(app, ["batcher", "--once"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [line] = [x for x in lines if x.startswith("batcher: ")]
    assert line.startswith("batcher: 1 order(s) settled (1 purchase(s), 1 refund(s), ")
    assert not [x for x in lines if x.startswith("monitor: ")]
    assert queue_utxos(env) == 0  # purchased, then refunded


def test_settle_once_runs_the_monitor_and_the_batcher(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["settle", "--once"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [x for x in lines if x.startswith("monitor: ")]
    assert [x for x in lines if x.startswith("batcher: 0 order(s) settled")]
