"""Time to evaluate one NEWM mainnet queue spend through `Ledger.evaluate`, against datum_echo.

    python scripts/bench/newm_queue_eval.py [--count 50] [--quick]

Not a test: it prints one line per figure and a ratio against a baseline measured in the same
process (these machines are noisy). Both transactions spend a devnet UTxO by a reference script:
- `newm_queue_cancel`: NEWM's deployed queue script (`../shared/contracts/newm-mainnet/
  queue.plutus`, read here) on a QueueCancel (redeemer constructor 2) by the datum's owner, who is
  a required signer; the UTxO holds NEWM tokens and an inline QueueDatum.
- `datum_echo` (baseline): the project's own OpShin validator, redeemer equal to the datum.
Each figure is the median of `--count` `Ledger.evaluate` calls after warm-up (uplc imported, the
flat program decoded and cached), with the ex-units the script used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cbor2

from cardano_market.chain.devnet.ledger import Ledger
from cardano_market.contracts import load_script
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.datums import QueueDatum, Token, Wallet
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits
from cardano_market.tx.body import encode_body, encode_transaction

ROOT = Path(__file__).resolve().parents[2]
QUEUE_PLUTUS = ROOT.parent / "shared" / "contracts" / "newm-mainnet" / "queue.plutus"
NEWM_STAKE_SCRIPT = bytes.fromhex("db7245ff4fe23633e2c10ef62374ca6b64efd80d31fc3f7c431386e0")
NEWM_TOKEN = (bytes.fromhex("682fe60c9918842b3323c43b5144bc3d52a23bd2fb81345560d73f63"), b"NEWM")
OWNER, OWNER_STAKE = b"\x0e" * 28, b"\x0d" * 28
BUDGET = [14_000_000, 10_000_000_000]  # placeholders: evaluate runs within the tx limit
ADA = 1_000_000


def read_queue_script() -> bytes:
    envelope = json.loads(QUEUE_PLUTUS.read_text())
    script = cbor2.loads(bytes.fromhex(envelope["cborHex"]))
    assert isinstance(script, bytes)
    return script


def spend_by_reference(
    ledger: Ledger,
    script: bytes,
    locked: TxOutput,
    redeemer: bytes,
    refund: TxOutput,
    signers: list[bytes],
) -> bytes:
    """Genesis the locked UTxO and a reference-script holder; the spending transaction."""
    holder_address = make_address(Credential.key(OWNER), None, 0)
    holder = TxOutput(holder_address, Value(0), script_ref=cbor2.dumps([3, script]))
    spent, held = ledger.genesis([locked, holder.with_min_ada(ledger.params)])
    extra = [(18, cbor2.dumps([list(held.out_ref)]))]
    if signers:
        extra.append((14, cbor2.dumps(signers)))
    body = encode_body([spent.out_ref], [refund.to_cbor()], 400_000, None, extra)
    redeemers = b"\xa1" + cbor2.dumps([0, 0]) + b"\x82" + redeemer + cbor2.dumps(BUDGET)
    return encode_transaction(body, b"\xa1\x05" + redeemers)


def median_ms(ledger: Ledger, tx: bytes, count: int) -> tuple[float, ExUnits]:
    for _ in range(3):
        ledger._script_runs.clear()  # the ledger remembers a run: time the script, not the memo
        units = ledger.evaluate(tx)  # warm-up
    samples = []
    for _ in range(count):
        ledger._script_runs.clear()
        started = time.perf_counter()
        units = ledger.evaluate(tx)
        samples.append(time.perf_counter() - started)
    [used] = units.values()
    return statistics.median(samples) * 1000, used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10 repetitions")
    args = parser.parse_args()
    count = 10 if args.quick else args.count
    if not QUEUE_PLUTUS.exists():
        print(f"newm_queue_cancel: skipped ({QUEUE_PLUTUS} is absent)")
        return 1
    queue = read_queue_script()
    echo = load_script("datum_echo")
    owner_address = make_address(Credential.key(OWNER), Credential.key(OWNER_STAKE), 0)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "bench.sqlite")
        queue_address = make_address(
            Credential.script(script_hash(3, queue)), Credential.script(NEWM_STAKE_SCRIPT), 0
        )
        order_value = Value.of(5 * ADA, {NEWM_TOKEN: 90_000_000})
        datum = QueueDatum(
            Wallet(OWNER, OWNER_STAKE),
            3,
            Token(NEWM_TOKEN[0], NEWM_TOKEN[1], 5_000_000),
            bytes.fromhex("ca11ab1e") + b"\x07" * 28,
        ).to_cbor()
        queue_tx = spend_by_reference(
            ledger,
            queue,
            TxOutput(queue_address, order_value, inline_datum=datum),
            cbor2.dumps(cbor2.CBORTag(123, [])),  # QueueCancel
            TxOutput(owner_address, order_value.with_coin(5 * ADA - 400_000)),
            [OWNER],
        )
        echo_datum = cbor2.dumps(cbor2.CBORTag(121, [b"cardano-market", [1, 2, 3]]))
        echo_tx = spend_by_reference(
            ledger,
            echo,
            TxOutput(
                make_address(Credential.script(script_hash(3, echo)), None, 0),
                Value(5 * ADA),
                inline_datum=echo_datum,
            ),
            echo_datum,
            TxOutput(owner_address, Value(5 * ADA - 400_000)),
            [],
        )
        base_ms, base_units = median_ms(ledger, echo_tx, count)
        queue_ms, queue_units = median_ms(ledger, queue_tx, count)
        ledger.close()
    print(
        f"datum_echo (baseline): {base_ms:.2f} ms median (n={count}), "
        f"{base_units.mem} mem / {base_units.steps} steps, {len(echo)} script bytes"
    )
    print(
        f"newm_queue_cancel: {queue_ms:.2f} ms median (n={count}), "
        f"{queue_units.mem} mem / {queue_units.steps} steps, {len(queue)} script bytes"
    )
    print(
        f"ratio newm_queue_cancel / datum_echo: time {queue_ms / base_ms:.1f}x, "
        f"steps {queue_units.steps / base_units.steps:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
