"""The committed queue and vault artifacts are fresh, and apply to the starter NFT as deployed."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from settlement_helpers import STARTER_PARAMETERS, deployed_market

from cardano_market.contracts import apply_parameters, load_script
from cardano_market.contracts.build import build
from cardano_market.domain.hashes import script_hash


def test_queue_and_vault_artifacts_are_up_to_date(
    monkeypatch: pytest.MonkeyPatch, contract_cache: Path | None
) -> None:
    """What `python -m cardano_market.contracts.build queue vault` writes is what is committed.

    PYTHONSAFEPATH keeps the compiler's interpreter from importing `onchain/queue.py` as the
    standard library's `queue` module (the build runs in that directory).
    """
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    assert build(["queue", "vault"], check=True, cache_dir=contract_cache) == []


def test_each_starter_nft_gives_its_own_scripts() -> None:
    """The artifacts are unapplied; the starter NFT applied decides the queue and vault hashes."""
    other = (cbor2.dumps(b"\x01" * 28), cbor2.dumps(b"preprod starter"))
    market = deployed_market()
    for name, applied in (("queue", market.queue), ("vault", market.vault)):
        hashes = {
            script_hash(3, load_script(name)),
            script_hash(3, applied),
            script_hash(3, apply_parameters(load_script(name), *other)),
        }
        assert len(hashes) == 3
        assert script_hash(3, apply_parameters(load_script(name), *STARTER_PARAMETERS)) == (
            script_hash(3, applied)
        )
