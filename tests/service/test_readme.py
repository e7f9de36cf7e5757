"""The README's examples run as written: the library snippet (in a fresh interpreter), and the
curl walkthrough from amount to settled order status against a real `cardano-market serve` on a
fresh devnet (batcher and monitor in-process)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cardano_market.domain.errors import AddressError
from cardano_market.domain.params import default_parameters
from cardano_market.domain.pricing import MarketplaceConfig, order_amount
from cardano_market.domain.sale import Sale, SaleStatus
from cardano_market.synthetic import wallet, wallet_utxos
from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block_after(heading: str, language: str) -> str:
    """The first ```language block after `heading` in the README."""
    start = README.index(heading)
    found = re.search(rf"```{language}\n(.*?)```", README[start:], re.S)
    assert found, f"no {language} block after {heading!r}"
    return found.group(1)


def test_the_library_snippet_runs_as_written(tmp_path: Path) -> None:
    snippet = block_after("## The library", "python")
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0].startswith("821a")  # cbor<value>: [lovelace, multiasset]
    tx_id, fee, role = lines[1].split()
    assert len(tx_id) == 64 and int(fee) > 150_000 and role == "queue"


def test_a_bech32_string_where_bytes_are_needed_says_what_to_do() -> None:
    config = MarketplaceConfig.from_mapping({"currency": "aa" * 28 + "4e45574d"})
    buyer, artist = wallet("buyer"), wallet("artist")
    sale = Sale(
        id="0b7346aa-137a-5041-9b23-7afaa88573d5",
        status=SaleStatus.STARTED,
        pointer_name=bytes(32),
        owner_address=artist.address,
        bundle=(bytes(28), b"S"),
        bundle_amount=1,
        cost=None,
        cost_amount=500_000_000_000,
        total_bundle_quantity=10,
        available_bundle_quantity=10,
    )
    amount = order_amount(sale, 1, None, 2723, config)
    utxos = wallet_utxos(buyer, 3, tokens={config.currency: 10**10})
    with pytest.raises(AddressError, match="decode_address"):
        build_order_transaction(
            OrderTransactionRequest(
                amount=amount,
                sale=sale,
                config=config,
                utxos=utxos,
                change_address=buyer.bech32,  # type: ignore[arg-type]  # the mistake
                queue_address=bytes.fromhex("31" + "bb" * 56),  # script + stake script
                cash_register_address=buyer.address,
                params=default_parameters(),
                ttl=1,
            )
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`cardano-market serve` on a fresh devnet (its defaults: batcher and monitor in-process)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env["CARDANO_MARKET_SETTLE_INTERVAL_SECONDS"] = "0.5"
    process = subprocess.Popen(
        [sys.executable, "-m", "cardano_market.cli", "serve", "--port", str(port),
         "--text-logs", "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not come up: {process.stderr}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
def test_the_curl_walkthrough_runs_as_written(served: str) -> None:
    script = block_after("### From amount to settled order, with curl", "bash")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "BASE": served},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = done.stdout
    assert '"MsgAcceptTx"' in out
    assert '"state": "Filled"' in out and '"bundlesFilled": 3' in out
    assert '"refundTxId": "' in out and '"amountPaid": {' in out
