"""Devnet validation throughput for simple signed payments, against no-rules baselines in one run.

    python scripts/bench/devnet_throughput.py [--count 2000] [--quick] [--profile]

Not a test: it prints one line per figure, ratios against baselines measured in the same process
(these machines are noisy), then one PASS/FAIL line for the target (>= 500 tx/s).

Figures (each over the same N pre-built, pre-signed payments: one key input, two outputs):
- `devnet_submit`: `Ledger.submit` on a file-backed ledger (SQLite WAL): parse, every phase-1
  rule, the signature check, the UTxO update and a block per transaction.
- `store_apply` (baseline): the same state change through the store with no rules at all (read
  the input, delete it, insert the outputs, the transaction row and a block, commit).
- `parse_only`, `verify_only` (baselines): parsing the transaction; one Ed25519 verification.
- `rules_overhead`: submit time / store time; `verify_share`: the part of submit spent verifying.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cardano_market.chain.devnet.ledger import Ledger
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.fees import min_fee
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import ParsedTx, parse_transaction
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.synthetic import wallet
from cardano_market.tx.body import encode_body, encode_transaction

TARGET_TX_PER_S = 500.0
ADA = 1_000_000


def make_payments(ledger: Ledger, count: int) -> tuple[list[bytes], list[Utxo]]:
    """`count` signed payments, each spending its own genesis UTxO (built outside the timing)."""
    alice, bob = wallet("bench-alice"), wallet("bench-bob")
    funds = ledger.genesis([TxOutput(alice.address, Value(10 * ADA)) for _ in range(count)])
    params = ledger.params
    txs: list[bytes] = []
    fee = 200_000
    for utxo in funds:
        for _ in range(3):  # fee fixed point: the fee's own size hardly moves
            outputs = [
                TxOutput(bob.address, Value(2 * ADA)).to_cbor(),
                TxOutput(alice.address, Value(8 * ADA - fee)).to_cbor(),
            ]
            unsigned = encode_transaction(encode_body([utxo.out_ref], outputs, fee))
            signed = splice_witnesses(
                unsigned, sign_transaction(unsigned, [alice.payment_key.seed])
            )
            needed = min_fee(params, len(signed))
            if needed == fee:
                break
            fee = needed
        txs.append(signed)
    return txs, funds


def rate(label: str, count: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    per_s = count / elapsed
    print(f"{label}: {per_s:,.0f} tx/s ({elapsed * 1e6 / count:,.1f} us/tx, n={count})")
    return per_s


def bench(count: int, profile: bool) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "bench.sqlite")
        txs, funds = make_payments(ledger, count)
        parsed = [parse_transaction(tx) for tx in txs]
        baseline_ledger = Ledger(Path(tmp) / "baseline.sqlite")
        baseline_ledger.genesis(funds)  # the same UTxOs: both runs do the same reads and writes

        parse_rate = rate("parse_only", count, lambda: _parse_all(txs))
        verify_rate = rate("verify_only", count, lambda: _verify_all(parsed))
        store_rate = rate("store_apply", count, lambda: _apply_all(baseline_ledger, parsed))

        def submit_all() -> None:
            for tx in txs:
                ledger.submit(tx)

        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            submit_rate = rate("devnet_submit", count, submit_all)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        else:
            submit_rate = rate("devnet_submit", count, submit_all)
        assert ledger.store.utxo_count() == 2 * count, "every payment must have been applied"

        print(f"rules_overhead: {store_rate / submit_rate:.2f}x the no-rules store path")
        print(f"verify_share: {submit_rate / verify_rate:.0%} of submit time is Ed25519 verify")
        print(f"parse_share: {submit_rate / parse_rate:.0%} of submit time is parsing")
        ok = submit_rate >= TARGET_TX_PER_S
        print(
            f"target devnet_submit >= {TARGET_TX_PER_S:.0f} tx/s: "
            f"{submit_rate:,.0f} {'PASS' if ok else 'FAIL'}"
        )
        ledger.close()
        baseline_ledger.close()
        return ok


def _parse_all(txs: list[bytes]) -> None:
    for tx in txs:
        parse_transaction(tx)


def _verify_all(parsed: list[ParsedTx]) -> None:
    from nacl.signing import VerifyKey

    for tx in parsed:
        for vkey, sig in tx.vkey_witnesses:
            VerifyKey(vkey).verify(tx.tx_id, sig)


def _apply_all(ledger: Ledger, parsed: list[ParsedTx]) -> None:
    store = ledger.store
    for tx in parsed:
        with store.write():
            assert store.transaction(tx.tx_id) is None
            assert all(store.utxo(ref) is not None for ref in tx.inputs)
            store.spend(tx.inputs)
            store.add_utxos(tx.outputs)
            store.add_transaction(tx.tx_id, tx.raw, 0, None, is_valid=True, fee=tx.fee)
            store.add_block(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="payments per figure")
    parser.add_argument("--quick", action="store_true", help="300 payments")
    parser.add_argument("--profile", action="store_true", help="cProfile the submit run")
    args = parser.parse_args()
    bench(300 if args.quick else args.count, args.profile)


if __name__ == "__main__":
    main()
