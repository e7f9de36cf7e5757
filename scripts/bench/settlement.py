"""Batcher settlement on the devnet: orders settled per minute for one sale and for many sales,
against plain payments through the same ledger in the same run, and against NEWM's deployed scripts
on the same devnet (ours, NEWM's and the ratio per figure).

    python scripts/bench/settlement.py [--orders 30] [--sales 20] [--payments 40] [--repeat 5]
                                       [--quick] [--no-newm]

Not a test: it prints one line per figure. The devnet is the demo seed plus `--sales` USD sales,
with the project's sale, queue and vault validators deployed and run by the ledger (the devnet's
CEK machine, `chain/devnet/cek.py`). Orders are placed with the order builder (outside the
timing); then one `Batcher.poll_once` serves them all (purchase, then the refund chained on it,
each signed and submitted) and is timed. A second devnet is seeded with NEWM's deployed mainnet
scripts (`fixtures/devnet/newm-mainnet-seed.json`, needs `../shared`). Each set first settles
one order untimed (`warm_up`), as a running batcher has, so neither pays for starting the
evaluator's process or decoding its scripts in a timed round. Then their rounds interleave (see
`measure`): the one-sale orders in six parts, the sets taking turns, then two many-sales
rounds. That is one repeat, on fresh devnets; there are `--repeat` of them, taking turns at going
first. The `compare_*` lines give, per figure, the medians of ours and NEWM's and the median of
each repeat's ratio (fee, ex-units, reference-script bytes, speed), and the rate ratios of each
repeat are printed too.

Figures:
- `payments_per_min` (baseline): build (`tx.balance`), sign and submit a plain payment, on the
  same ledger.
- `one_sale_orders_per_min`: N orders of one sale served in one round.
- `N_sales_orders_per_min`: one order on each of `--sales` sales in one round (interleaved
  sales), two rounds per repeat.
- `ratio`: payments per order settled (how much heavier settling an order is).
- `purchase`/`refund`: fee (median, max) against the reference datum's bound, ex-units (median
  mem/steps) against the per-transaction limit, size.
- `evaluation`: median `ChainBackend.evaluate` time per purchase and per refund, and the share of
  the round spent evaluating; `evaluations_per_tx`: evaluate calls per batcher transaction (the
  builder's; 2 when the units are not known yet, 1 when the batcher's memo knows them);
  `submit`: median ledger submit time (it reuses the builder's run on the same bytes).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cardano_market.app.settlement.report import BatchReport
from cardano_market.chain.devnet import DevnetBackend, Ledger
from cardano_market.chain.devnet.seed import DEFAULT_SEED, SeedResult, apply_seed, parse_seed
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.pricing import order_amount
from cardano_market.domain.sale import Sale
from cardano_market.domain.values import Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.tx.balance import balance
from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction
from cardano_market.tx.settle.result import BatchTransaction
from cardano_market.worker.batcher import Batcher

TTL_SLOTS = 600
ONE_SALE_PARTS = 6
"""The one-sale orders of a repeat are served in this many rounds per set, the sets taking turns."""


class TimedBackend(DevnetBackend):
    """The devnet backend, timing every evaluation (by redeemer count) and submit."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self.evaluations: dict[int, list[float]] = {}
        self.submits: list[float] = []

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        start = time.perf_counter()
        units = super().evaluate(tx, additional_utxos)
        self.evaluations.setdefault(len(units), []).append(time.perf_counter() - start)
        return units

    def submit(self, tx: bytes) -> bytes:
        start = time.perf_counter()
        tx_id = super().submit(tx)
        self.submits.append(time.perf_counter() - start)
        return tx_id

    def reset_timings(self) -> None:
        self.evaluations, self.submits = {}, []


NEWM_SEED = Path(__file__).resolve().parents[2] / "fixtures/devnet/newm-mainnet-seed.json"


def seed_data(sales: int, seed: Path = DEFAULT_SEED, bundles: int = 40) -> dict[str, Any]:
    """The seed plus `sales` USD sales of `bundles` bundles each, and alice to buy them."""
    data: dict[str, Any] = json.loads(seed.read_text(), parse_float=str)
    data["wallets"]["alice"] = {"lovelace": 5_000_000_000, "utxos": 20, "assets": {"NEWM": 10**12}}
    for i in range(sales):
        data["sales"].append(
            {
                "id": f"00000000-0000-5000-8000-{i + 1:012d}",
                "owner": "artist",
                "bundleToken": "SONG",
                "bundleAmount": 1_000_000,
                "costUsd": 500_000_000_000,
                "totalBundleQuantity": bundles,
            }
        )
    return data


def place_order(ledger: Ledger, seeded: SeedResult, sale: Sale, bundles: int) -> None:
    assert seeded.marketplace is not None and seeded.oracle is not None
    c, register = seeded.contracts, seeded.cash_register
    assert c is not None and register is not None
    amount = order_amount(sale, bundles, None, seeded.oracle.datum.price, seeded.marketplace)
    alice = seeded.wallets["alice"]
    order = build_order_transaction(
        OrderTransactionRequest(
            amount=amount,
            sale=sale,
            config=seeded.marketplace,
            utxos=ledger.utxos_at(alice.address),
            change_address=alice.address,
            queue_address=c.queue_address,
            cash_register_address=register.address,
            params=ledger.params,
            ttl=ledger.current_slot() + TTL_SLOTS,
        )
    )
    signed = splice_witnesses(
        order.balanced.cbor, sign_transaction(order.balanced.cbor, [alice.payment_key.seed])
    )
    ledger.submit(signed)


def payments_per_minute(ledger: Ledger, seeded: SeedResult, count: int) -> float:
    """The baseline: plain bob -> alice payments, built, signed and submitted one by one."""
    bob, alice = seeded.wallets["bob"], seeded.wallets["alice"]
    start = time.perf_counter()
    for _ in range(count):
        built = balance(
            utxos=ledger.utxos_at(bob.address),
            outputs=[TxOutput(alice.address, Value(2_000_000))],
            change_address=bob.address,
            params=ledger.params,
            ttl=ledger.current_slot() + TTL_SLOTS,
        )
        witnesses = sign_transaction(built.cbor, [bob.payment_key.seed])
        ledger.submit(splice_witnesses(built.cbor, witnesses))
    return count / (time.perf_counter() - start) * 60


def serve(
    backend: TimedBackend, batcher: Batcher, label: str, orders: int
) -> tuple[BatchReport, float]:
    """One timed round serving `orders` orders; the report and orders settled per minute."""
    backend.reset_timings()
    gc.collect()  # the garbage of placing the orders is not the round's to collect
    start = time.perf_counter()
    report = batcher.poll_once()
    elapsed = time.perf_counter() - start
    settled = len(report.settled)
    assert settled == orders and not report.skipped and not report.released, report
    per_min = settled / elapsed * 60
    evaluating = sum(sum(v) for v in backend.evaluations.values())
    print(
        f"{label}_orders_per_min: {per_min:.1f} ({settled} orders, {len(report.transactions)} "
        f"transactions in {elapsed:.1f} s; {evaluating / elapsed:.0%} evaluating, "
        f"{sum(backend.submits) / elapsed:.0%} in ledger submit)"
    )
    return report, per_min


def cost_lines(kind: str, txs: list[BatchTransaction], ledger: Ledger, bound: int) -> list[str]:
    summaries = [t.summary(ledger.params) for t in txs if t.kind == kind]
    if not summaries:
        return [f"{kind}: none built"]
    fees = [s["fee"] for s in summaries]
    mem = statistics.median(s["mem"] for s in summaries)
    steps = statistics.median(s["steps"] for s in summaries)
    params = ledger.params
    return [
        f"{kind}_fee: median {statistics.median(fees):,.0f} max {max(fees):,} lovelace, bound "
        f"{bound:,} ({max(fees) / bound:.0%} of it, n={len(fees)})",
        f"{kind}_ex_units: median {mem:,.0f} mem ({mem / params.max_tx_ex_mem:.0%} "
        f"of the tx limit) / {steps:,.0f} steps "
        f"({steps / params.max_tx_ex_steps:.0%}); size "
        f"{statistics.median(s['size'] for s in summaries):,.0f} bytes + "
        f"{summaries[0]['referenceScriptBytes']:,} reference-script bytes",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=30, help="orders on the one sale")
    parser.add_argument("--sales", type=int, default=20, help="sales, one order each")
    parser.add_argument("--payments", type=int, default=40, help="baseline payments")
    parser.add_argument("--quick", action="store_true", help="2 orders, 3 sales, 10 payments")
    parser.add_argument("--no-newm", action="store_true", help="skip the NEWM-scripts comparison")
    parser.add_argument(
        "--repeat", type=int, default=5, help="measure both sets this many times (medians)"
    )
    args = parser.parse_args()
    if args.quick:
        args.orders, args.sales, args.payments, args.repeat = 2, 3, 10, 1
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
    newm_dir = NEWM_SEED.parents[3] / "shared/contracts/newm-mainnet"
    if args.no_newm or not newm_dir.is_dir():
        measure(args, [SetBench(args, "", seed_data(args.sales), None, baseline=True)])
        print(f"newm: not compared ({'--no-newm' if args.no_newm else f'{newm_dir} is absent'})")
        return
    # each repeat measures both sets, their rounds side by side, on fresh devnets: a shared
    # machine's speed drifts by tens of percent over seconds
    ours: list[dict[str, float]] = []
    newm: list[dict[str, float]] = []
    for repeat in range(args.repeat):
        first_ours = repeat % 2 == 0
        first = "ours" if first_ours else "NEWM's"
        print(f"-- repeat {repeat + 1} of {args.repeat}: {first} first")
        # every one-sale order (two bundles) is filled: none is a sold-out order's refund alone
        bundles = max(40, 2 * args.orders + 10)
        mine = SetBench(
            args, "", seed_data(args.sales, bundles=bundles), None, baseline=repeat == 0
        )
        theirs = SetBench(
            args,
            "newm_",
            seed_data(args.sales, NEWM_SEED, bundles),
            NEWM_SEED.parent,
            baseline=False,
        )
        pair = [mine, theirs] if first_ours else [theirs, mine]
        results = measure(args, pair)
        ours.append(results[pair.index(mine)])
        newm.append(results[pair.index(theirs)])
    print(
        f"ours vs NEWM's scripts (same orders, same devnet; medians of {args.repeat} repeats, "
        "the ratio the median of each repeat's ratio):"
    )
    for key, label, unit in COMPARED:
        mine = statistics.median(f[key] for f in ours)
        theirs = statistics.median(f[key] for f in newm)
        # a repeat's two sets ran minutes apart at most: their ratio is steadier than the
        # ratio of medians taken over repeats the machine ran at different speeds
        ratios = [o[key] / n[key] for o, n in zip(ours, newm, strict=True) if n[key]]
        ratio = statistics.median(ratios) if ratios else float("nan")
        print(
            f"compare_{key}: ours {_figure(mine)} {unit} | NEWM's {_figure(theirs)} "
            f"{unit} | ours / NEWM's {ratio:.2f}x ({label})"
        )
    for key in ("one_rate", "many_rate"):
        ratios_text = ", ".join(f"{o[key] / n[key]:.2f}x" for o, n in zip(ours, newm, strict=True))
        print(f"{key}_ratio_per_repeat: {ratios_text}")


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


COMPARED = (
    ("purchase_fee", "purchase fee, median", "lovelace"),
    ("purchase_mem", "purchase ex-units, median", "mem"),
    ("purchase_steps", "purchase ex-units, median", "steps"),
    ("purchase_reference_bytes", "purchase reference scripts", "bytes"),
    ("refund_fee", "refund fee, median", "lovelace"),
    ("refund_mem", "refund ex-units, median", "mem"),
    ("refund_steps", "refund ex-units, median", "steps"),
    ("refund_reference_bytes", "refund reference scripts", "bytes"),
    ("fees_per_order", "fees per order (purchase + refund), median", "lovelace"),
    ("one_rate", "orders settled per minute, one sale", "orders/min"),
    ("many_rate", "orders settled per minute, one order on each sale", "orders/min"),
    ("evaluation_purchase_ms", "evaluation per purchase, median", "ms"),
    ("evaluation_refund_ms", "evaluation per refund, median", "ms"),
    ("evaluations_per_tx", "evaluate calls per batcher transaction", "x"),
)
"""The figures compared, with what each one is and its unit."""


class SetBench:
    """One set of scripts on its own devnet seeded from `data`: its rounds, then its figures,
    printed with `label` in front."""

    def __init__(
        self,
        args: argparse.Namespace,
        label: str,
        data: dict[str, Any],
        base_dir: Path | None,
        *,
        baseline: bool,
    ) -> None:
        self.args, self.label = args, label
        self._tmp = tempfile.TemporaryDirectory()
        self.ledger = Ledger(Path(self._tmp.name) / "bench.sqlite")
        self.backend = TimedBackend(self.ledger)
        self.seeded = apply_seed(self.ledger, parse_seed(data, base_dir=base_dir))
        self.batcher = Batcher.for_devnet(self.seeded, self.backend, validity_slots=TTL_SLOTS)
        self.extra = [s.sale for s in self.seeded.sales[2:]]
        self.baseline_rate = 0.0
        if baseline:
            self.baseline_rate = payments_per_minute(self.ledger, self.seeded, args.payments)
            print(f"payments_per_min (baseline): {self.baseline_rate:,.0f} (n={args.payments})")
        # untimed: one order settled first, as a running batcher has done, so that neither set
        # of scripts pays in its timed rounds for starting the evaluator's process, importing
        # uplc or decoding its scripts (whichever set ran first paid for the process)
        place_order(self.ledger, self.seeded, self.extra[-1], 1)
        serve(self.backend, self.batcher, f"{label}warm_up", 1)
        self.one: list[tuple[BatchReport, float]] = []
        self.many: list[tuple[BatchReport, float]] = []
        self.evaluations: dict[int, list[float]] = {}
        self.submits: list[float] = []

    def one_sale_round(self, orders: int) -> None:
        for _ in range(orders):
            place_order(self.ledger, self.seeded, self.extra[0], 2)
        self.one.append(self._serve("one_sale", orders))

    def many_sales_round(self) -> None:
        for sale in self.extra[: self.args.sales]:
            place_order(self.ledger, self.seeded, sale, 1)
        self.many.append(self._serve(f"{self.args.sales}_sales", self.args.sales))

    def _serve(self, name: str, orders: int) -> tuple[BatchReport, float]:
        report, rate = serve(self.backend, self.batcher, f"{self.label}{name}", orders)
        for redeemers, times in self.backend.evaluations.items():
            self.evaluations.setdefault(redeemers, []).extend(times)
        self.submits += self.backend.submits
        return report, orders / rate  # the round's minutes

    def figures(self) -> dict[str, float]:
        label, ledger = self.label, self.ledger
        one_rate = sum(len(r.settled) for r, _ in self.one) / sum(m for _, m in self.one)
        many_rate = sum(len(r.settled) for r, _ in self.many) / sum(m for _, m in self.many)
        print(f"{label}sales_ratio: {many_rate / one_rate:.2f}x the one-sale rate")
        if self.baseline_rate:
            print(
                f"ratio: settling one order takes the time of {self.baseline_rate / one_rate:,.0f}"
                " payments"
            )
        assert self.seeded.contracts is not None
        bounds = self.seeded.contracts.reference_datum.fees
        reports = [r for r, _ in self.one + self.many]
        txs = [t for r in reports for t in r.transactions]
        for line in cost_lines("purchase", txs, ledger, bounds.purchase_queue_bound):
            print(label + line)
        for line in cost_lines("refund", txs, ledger, bounds.refund_queue_bound):
            print(label + line)
        figures = {"one_rate": one_rate, "many_rate": many_rate}
        for redeemers, name in ((3, "purchase"), (1, "refund")):
            times = self.evaluations.get(redeemers, [])
            figures[f"evaluation_{name}_ms"] = statistics.median(times) * 1000 if times else 0.0
            if times:
                print(
                    f"{label}evaluation_{name}: median {statistics.median(times) * 1000:,.1f} ms "
                    f"(n={len(times)}, {redeemers} redeemer(s))"
                )
        print(f"{label}submit_batch_tx: median {statistics.median(self.submits) * 1000:,.0f} ms")
        per_order = statistics.median(s.fees for r in reports for s in r.settled)
        print(f"{label}fees_per_order: median {per_order:,.0f} lovelace (purchase + refund)")
        figures["fees_per_order"] = per_order
        for kind in ("purchase", "refund"):
            summaries = [t.summary(ledger.params) for t in txs if t.kind == kind]
            figures[f"{kind}_fee"] = statistics.median(x["fee"] for x in summaries)
            figures[f"{kind}_mem"] = statistics.median(x["mem"] for x in summaries)
            figures[f"{kind}_steps"] = statistics.median(x["steps"] for x in summaries)
            figures[f"{kind}_reference_bytes"] = summaries[0]["referenceScriptBytes"]
        calls = sum(len(v) for v in self.evaluations.values())
        figures["evaluations_per_tx"] = calls / len(txs)
        print(f"{label}evaluations_per_tx: {calls / len(txs):.2f} ({calls} for {len(txs)})")
        self.ledger.close()
        self._tmp.cleanup()
        return figures


def measure(args: argparse.Namespace, sets: list[SetBench]) -> list[dict[str, float]]:
    """The rounds of one repeat, interleaved: the one-sale orders in `ONE_SALE_PARTS` parts, the
    sets taking turns (A B B A A B ...), then two many-sales rounds (B A A B). A shared machine's
    speed drifts by tens of percent over seconds; rounds side by side see the same machine."""
    n = ONE_SALE_PARTS
    parts = [args.orders // n + (1 if i < args.orders % n else 0) for i in range(n)]
    for i, orders in enumerate(p for p in parts if p):
        for bench in sets if i % 2 == 0 else reversed(sets):
            bench.one_sale_round(orders)
    for i in range(2):
        for bench in reversed(sets) if i % 2 == 0 else sets:
            bench.many_sales_round()
    return [bench.figures() for bench in sets]


if __name__ == "__main__":
    main()
