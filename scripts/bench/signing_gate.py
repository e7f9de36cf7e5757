"""What the signing gate costs per signature, against signing without it, in the same run.

    python scripts/bench/signing_gate.py [--rounds 500] [--inputs 2]

Not a test: it prints one line per figure. The transaction is a sale start's shape (the seller's
inputs, one pointer minted, the operator's collateral returned) on a fresh devnet ledger in a
temporary directory, so the gate's chain reads are the devnet's (SQLite); on Blockfrost add one
HTTP round trip per call (`utxos_by_ref` resolves every input in one batch per transaction).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cbor2

from cardano_market.app.signing import ServiceKeys, SigningGate, sale_start_mandate
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.tx.body import encode_body

HOT = PaymentKey.derive("bench/hot")
COLLATERAL = PaymentKey.derive("bench/collateral")
SELLER = PaymentKey.derive("bench/seller")
POLICY = b"\x70" * 28


def _address(key: PaymentKey) -> bytes:
    return make_address(Credential.key(key.hash), None, 0)


def _transaction(chain: DevnetBackend, inputs: int) -> bytes:
    seller = chain.ledger.genesis([TxOutput(_address(SELLER), Value.of(10_000_000))] * inputs)
    [collateral] = chain.ledger.genesis([TxOutput(_address(COLLATERAL), Value.of(5_000_000))])
    fee = 300_000
    total = -(-fee * chain.protocol_parameters().collateral_percent // 100)
    outputs = [TxOutput(_address(SELLER), Value.of(10_000_000 * inputs - fee)).to_cbor()]
    extra = [
        (9, cbor2.dumps({POLICY: {b"\xca\x11\xab\x1e" + b"\x00" * 28: 1}})),
        (13, cbor2.dumps([list(collateral.out_ref)])),
        (14, cbor2.dumps([HOT.hash, COLLATERAL.hash])),
        (16, TxOutput(collateral.address, Value.of(5_000_000 - total)).to_cbor()),
        (17, cbor2.dumps(total)),
    ]
    body = encode_body(sorted(u.out_ref for u in seller), outputs, fee, None, extra)
    return b"\x84" + body + b"\xa0\xf5\xf6"


def _median_us(run: Callable[[], object], rounds: int) -> float:
    for _ in range(min(20, rounds)):
        run()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--inputs", type=int, default=2, help="the seller's inputs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        chain = DevnetBackend.open(Path(tmp) / "devnet.db")
        try:
            tx = _transaction(chain, args.inputs)
            keys = ServiceKeys({HOT.hash: "the operator", COLLATERAL.hash: "collateral"})
            gate = SigningGate(chain, keys)
            mandate = sale_start_mandate(
                hot=HOT, collateral=COLLATERAL, seller_key=SELLER.hash, pointer_policy=POLICY
            )
            seeds = [HOT.seed, COLLATERAL.seed]
            bare = _median_us(
                lambda: splice_witnesses(tx, sign_transaction(tx, seeds)), args.rounds
            )
            gated = _median_us(lambda: gate.sign(tx, mandate), args.rounds)
            check = _median_us(lambda: gate.check(tx, mandate), args.rounds)
        finally:
            chain.close()
    print(f"sign_without_gate_p50_us {bare:.0f}")
    print(f"sign_through_gate_p50_us {gated:.0f}")
    print(f"gate_check_p50_us {check:.0f}")
    print(f"gate_cost_per_signature_us {gated - bare:.0f}")
    print(f"ratio_gated_vs_bare {gated / bare:.2f}")


if __name__ == "__main__":
    main()
