"""aiken's evaluator (`@lucid-evolution/uplc`) against the devnet's (Python `uplc`) on the batcher's
purchase and refund, with our deployed validators.

Every script run of the devnet ledger in the suite is compared with aiken's by the autouse
`second_evaluator` fixture (tests/conftest.py); this module pins down the one understood
difference: aiken's `serialiseData` returns a datum's bytes as written, the ledger's re-encodes
the data (Plutus' encoding, indefinite-length when non-empty). On our order builder's
definite-length datums aiken therefore counts fewer units than the ledger, never more; with the
same data encoded as Plutus encodes it, both count the same, and the devnet counts the same on
either encoding (as the ledger does: a datum is data, not bytes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_settlement import (
    batcher,
    collateral,
    current_sale,
    place_order,
    purchase,
    refund,
    sale_record,
    submit,
)

from cardano_market.chain.devnet import Ledger
from cardano_market.chain.devnet.plutus import evaluate_scripts
from cardano_market.chain.devnet.seed import apply_seed, load_seed
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.tx.settle.result import BatchTransaction
from interop.aiken_uplc import Evaluation, aiken_evaluate, canonical_datums, require_aiken
from worlds import START_MS, Clock

pytest.importorskip("uplc", reason="the devnet's Plutus evaluator needs uplc")


def resolved_for(ledger: Ledger, built: BatchTransaction) -> dict[OutRef, Utxo]:
    tx = built.transaction
    found: dict[OutRef, Utxo] = {}
    for utxo in (*tx.inputs, *tx.reference_inputs):
        held = ledger.utxo(utxo.out_ref)
        assert held is not None
        found[utxo.out_ref] = held
    return found


def test_aiken_counts_what_the_devnet_counts_on_plutus_encoded_data(tmp_path: Path) -> None:
    require_aiken()
    with Ledger(tmp_path / "aiken.sqlite", system_start_ms=START_MS, clock=Clock()) as ledger:
        seeded = apply_seed(ledger, load_seed())
        order = place_order(ledger, seeded, sale_record(seeded, 0), 1)
        assert order.inline_datum is not None and order.inline_datum[2] == 0x84  # definite
        bought = purchase(ledger, seeded, current_sale(ledger, seeded, 0), order)
        before = resolved_for(ledger, bought)
        submit(ledger, bought.transaction, [batcher(seeded), collateral(seeded)])
        back = refund(ledger, seeded, current_sale(ledger, seeded, 0), bought.queue_utxo)
        cases = [(bought, before), (back, resolved_for(ledger, back))]
        params, slots = ledger.params, ledger.slot_config
        as_written = aiken_evaluate([Evaluation(b.cbor, r, params, slots) for b, r in cases])
        canonical = [canonical_datums(r) for _b, r in cases]
        plutus_encoded = aiken_evaluate(
            [
                Evaluation(b.cbor, r, params, slots)
                for (b, _r), r in zip(cases, canonical, strict=True)
            ]
        )
        for (built, resolved), plain, ours_canonical, theirs_raw, theirs in zip(
            cases,
            [evaluate_scripts(b.cbor, r, params, slots) for b, r in cases],
            [
                evaluate_scripts(b.cbor, r, params, slots)
                for (b, _r), r in zip(cases, canonical, strict=True)
            ],
            as_written,
            plutus_encoded,
            strict=True,
        ):
            assert plain == built.transaction.ex_units  # the declared units are the devnet's
            assert ours_canonical == plain  # the devnet: data is data, whatever its encoding
            assert theirs == plain  # aiken on Plutus-encoded datums: exactly the same
            assert not isinstance(theirs_raw, str)
            assert set(theirs_raw) == set(plain)
            for key, units in plain.items():  # as written: aiken never counts more
                assert theirs_raw[key].mem <= units.mem and theirs_raw[key].steps <= units.steps
            del resolved
