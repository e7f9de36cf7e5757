"""The v1 service under load over loopback, with reCAPTCHA verified against a slow local server.

    python scripts/bench/v1_service_load.py [--database sqlite|postgresql|both] [--duration 10]
        [--warmup 3] [--connections 64[,128]] [--workers 1[,2]] [--delay-ms 50] [--orders 200]
        [--tx-concurrency 1] [--utxos 100] [--no-order-tx] [--client auto|wrk|python]

Not a test: it prints one line per figure, ratios against a baseline measured in the same run
(these machines are shared and noisy), then one `target ... PASS/FAIL` line per goal. Three kinds
of process, each its own: the reCAPTCHA assessment server (`--delay-ms` per answer), the service
(`cardano-market serve` on a temporary devnet, with a SQLite file or a throw-away PostgreSQL
schema), and the load generator (`wrk` when it is on PATH, else this script's own asyncio + httpx
client, `loadgen` below). Per database:

- `fees` (baseline): `GET /v1/marketplace/orders/fees`, the same reCAPTCHA check and routing but
  no database work; `amount`: `POST /v1/marketplace/orders/amount` (price an order, insert it).
  Each is `--connections` keep-alive clients for `--warmup` then `--duration` seconds.
- `order_tx`: `POST /v1/marketplace/orders/transaction` for a synthetic wallet of `--utxos` UTxOs,
  each request with its own order id (created first through the amount route), `--tx-concurrency`
  at a time; against `fees` sent the same way (`fees_seq`): the difference is the build.
- `service_cpu` / `loadgen_cpu`: CPU time of each process over the window, in cores (1.0 = one
  core busy); the service's counts its worker processes too (`serve --workers N`).
- `--workers 1,2` and `--connections 64,128`: every combination, each on a fresh service (labels
  `<database> w<workers> c<connections>`).

Targets (issue 4): amount >= 800 requests/s with p99 <= 150 ms, on both databases; (issue 14)
with 2 workers: amount >= 1,000 requests/s with p99 <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TARGET_RPS = 800.0
TARGET_P99_MS = 150.0
TARGET_RPS_2_WORKERS = 1000.0
USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"  # demo seed: 100 bundles at $0.50
API_KEY = "bench-api-key"
SITE_KEY = "bench-web-site-key"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 240.0  # a cold service imports pycardano and seeds the devnet; slow when busy
FEES = "/v1/marketplace/orders/fees"
AMOUNT = "/v1/marketplace/orders/amount"
TRANSACTION = "/v1/marketplace/orders/transaction"


class StartError(Exception):
    """A process did not start: the benchmark cannot run."""


@dataclass(frozen=True)
class Target:
    """One route under load: the same request again and again, or each of `bodies` once."""

    method: str
    path: str
    action: str
    body: Any = None
    bodies: list[Any] | None = None

    def headers(self) -> dict[str, str]:
        headers = {"g-recaptcha-platform": "Web", "g-recaptcha-token": f"valid:{self.action}:0.9"}
        if self.body is not None or self.bodies is not None:
            headers["content-type"] = "application/json"
        return headers


@dataclass
class Result:
    """What the load generator measured over the window."""

    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    loadgen_cpu: float = math.nan
    service_cpu_seconds: float = math.nan
    """The service's CPU time over the window."""

    @property
    def service_cpu(self) -> float:
        """Cores the service kept busy (1.0 = one core)."""
        return self.service_cpu_seconds / self.seconds if self.seconds > 0 else math.nan

    @property
    def service_cpu_ms_per_request(self) -> float:
        return self.service_cpu_seconds * 1000 / self.requests if self.requests else math.nan

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def with_percentiles(self) -> Result:
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            self.p50_ms, self.p90_ms, self.p99_ms = (
                _percentile(ordered, q) for q in (0.50, 0.90, 0.99)
            )
        return self


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _process(
    name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` as its own process group; stop it (TERM, then KILL) on the way out."""
    log = (logs / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _wait_ready(name: str, proc: subprocess.Popen[bytes], url: str, logs: Path) -> None:
    """Poll `url` until it answers 200; StartError (with the log's tail) if the process dies."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(
                f"{name} exited with {proc.returncode}:\n{_tail(logs / f'{name}.log')}"
            )
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StartError(f"{name} did not answer {url} in {START_TIMEOUT_S:.0f} s")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants so far (Linux /proc: the
    worker processes of `serve --workers N`), NaN elsewhere."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        stats[int(entry.name)] = (int(fields[1]), ticks)
    if pid not in stats:
        return math.nan
    total, family = 0.0, {pid}
    changed = True
    while changed:  # the descendants: parents first, whatever the /proc order
        changed = False
        for child, (parent, _) in stats.items():
            if parent in family and child not in family:
                family.add(child)
                changed = True
    for member in family:
        total += stats[member][1]
    return total


@contextlib.contextmanager
def _database(kind: str, scratch: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'service.db'}"
    else:
        # the test suite's throw-away schema (tests/pg_support.py), as v2_secondary.py uses it
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
        from pg_support import postgres_schema

        with postgres_schema(postgres_url) as url:
            yield url


@contextlib.contextmanager
def _service(
    kind: str, scratch: Path, assessment_url: str, postgres_url: str, workers: int = 1
) -> Iterator[tuple[str, int]]:
    """`cardano-market serve` on a fresh devnet and database; yields its base URL and pid."""
    port = _free_port()
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("CARDANO_MARKET_")
    }
    env |= {
        "CARDANO_MARKET_RECAPTCHA_ENABLED": "true",
        "CARDANO_MARKET_RECAPTCHA_ASSESSMENT_URL": assessment_url,
        "CARDANO_MARKET_RECAPTCHA_API_KEY": API_KEY,
        "CARDANO_MARKET_RECAPTCHA_WEB_SITE_KEY": SITE_KEY,
        # A devnet on PostgreSQL has no file beside which to keep a generated one.
        "CARDANO_MARKET_KEY_ENCRYPTION_KEY": secrets.token_hex(32),
    }
    serve = shutil.which("cardano-market") or str(Path(sys.executable).parent / "cardano-market")
    with _database(kind, scratch, postgres_url) as database_url:
        argv = [
            serve,
            "serve",
            "--network",
            "devnet",
            "--database-url",
            database_url,
            "--devnet-path",
            str(scratch / "devnet.db"),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ]
        name = f"service-{kind}-w{workers}"
        with _process(name, argv, scratch, env) as proc:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(name, proc, f"{base}/health", scratch)
            yield base, proc.pid
            if proc.poll() is not None:
                raise StartError(f"{name} died during the run:\n{_tail(scratch / f'{name}.log')}")


# -- the load generator (its own process) -----------------------------------------------------


def _loadgen_python(spec: dict[str, Any]) -> Result:
    """Run this script's `loadgen` in a child process and read its JSON answer."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
    try:
        argv = [sys.executable, __file__, "loadgen", file.name]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    finally:
        os.unlink(file.name)
    if done.returncode != 0:
        raise StartError(f"the load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return Result(**json.loads(done.stdout.splitlines()[-1])).with_percentiles()


WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK %%d %%d %%d %%d %%d %%d\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def _loadgen_wrk(
    wrk: str,
    base: str,
    target: Target,
    connections: int,
    warmup: float,
    duration: float,
    service_pid: int,
) -> Result:
    """`wrk` with a Lua script for the body and headers; a first run warms up."""
    assert target.bodies is None, "wrk sends one body: use the python client for distinct ones"
    headers = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in target.headers().items())
    body = json.dumps(target.body) if target.body is not None else None
    script = WRK_SCRIPT % {
        "method": _lua(target.method),
        "body": "nil" if body is None else _lua(body),
        "headers": headers,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        threads = str(min(2, connections))
        url = base + target.path
        common = [wrk, "-t", threads, "-c", str(connections), "-s", lua.name, "--timeout", "10s"]
        if warmup > 0:
            subprocess.run([*common, "-d", f"{max(1, round(warmup))}s", url], capture_output=True)
        cpu_before = _cpu_seconds(service_pid)
        done = subprocess.run(
            [*common, "-d", f"{max(1, round(duration))}s", url], capture_output=True, text=True
        )
        service_cpu_seconds = _cpu_seconds(service_pid) - cpu_before
    finally:
        os.unlink(lua.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise StartError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    # requests, duration (us), errors (socket, timeout and non-2xx/3xx), p50, p90, p99 (us)
    requests, micros, errors, p50, p90, p99 = (int(x) for x in line.split()[1:])
    return Result(
        requests=requests,
        seconds=micros / 1e6,
        p50_ms=p50 / 1000,
        p90_ms=p90 / 1000,
        p99_ms=p99 / 1000,
        errors=errors,
        service_cpu_seconds=service_cpu_seconds,
    )


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for this text


_END = object()


class _Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams.

    Not httpx: at 64 concurrent requests httpx's connection pool spends ~10 ms of CPU per
    request (anyio locks and a scan of every connection per request; encode/httpx#3215), so on
    two cores it would take the CPU the service needs: measured here, 58 req/s against a server
    that a plain asyncio client drives at 2,400 req/s. This client does only what is needed.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> int:
        """Send one request; its status. Reconnects when the server closed the connection."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, close = _response_head(head)
            await reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def _response_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server closes the connection."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not supported")
    return status, length, close


def _request_bytes(target: Target, host: str, body: Any) -> bytes:
    content = b"" if body is None else json.dumps(body).encode()
    lines = [f"{target.method} {target.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in target.headers().items()]
    if target.method != "GET" or content:
        lines.append(f"Content-Length: {len(content)}")
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + content


async def _load(spec: dict[str, Any]) -> Result:
    """`connections` keep-alive clients: the same request for warm-up + duration, or each of
    `bodies` once. Counts requests that started after the warm-up and ended in the window."""
    target = Target(**spec["target"])
    connections: int = spec["connections"]
    url = httpx.URL(spec["base"])
    host, port = url.host, url.port or 80
    single = _request_bytes(target, f"{host}:{port}", target.body)
    queue = iter(target.bodies) if target.bodies is not None else None
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors = 0
    start = time.perf_counter()
    window_start = start + (spec["warmup"] if queue is None else 0.0)
    window_end = window_start + spec["duration"] if queue is None else math.inf
    cpu_start: float | None = None
    service_pid: int = spec["service_pid"]
    service_cpu: list[float] = []

    async def watch_service() -> None:
        """The service's CPU time at the window's start and end (read from /proc)."""
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        service_cpu.append(_cpu_seconds(service_pid))
        if window_end < math.inf:
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            service_cpu.append(_cpu_seconds(service_pid))

    async def client_loop() -> None:
        nonlocal errors, cpu_start
        connection = _Connection(host, port)
        while (began := time.perf_counter()) < window_end:
            request = single
            if queue is not None:
                body = next(queue, _END)
                if body is _END:
                    break
                request = _request_bytes(target, f"{host}:{port}", body)
            if cpu_start is None and began >= window_start:
                cpu_start = time.process_time()
            try:
                code = await asyncio.wait_for(connection.send(request), timeout=30.0)
                status, failed = str(code), not 200 <= code < 300
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
                status, failed = type(exc).__name__, True
            ended = time.perf_counter()
            if began >= window_start and ended <= window_end:
                latencies.append((ended - began) * 1000)
                statuses[status] += 1
                errors += failed
        connection.close()

    watcher = asyncio.create_task(watch_service())
    await asyncio.gather(*(client_loop() for _ in range(connections)))
    finished = time.perf_counter()
    await watcher
    if len(service_cpu) == 1:
        service_cpu.append(_cpu_seconds(service_pid))
    seconds = (window_end if queue is None else finished) - window_start
    cpu = time.process_time() - (cpu_start or 0.0)
    return Result(
        requests=len(latencies),
        seconds=seconds,
        latencies_ms=latencies,
        errors=errors,
        statuses=dict(statuses),
        loadgen_cpu=cpu / seconds if seconds > 0 else math.nan,
        service_cpu_seconds=service_cpu[1] - service_cpu[0],
    )


def loadgen_main(spec_path: str) -> None:
    result = asyncio.run(_load(json.loads(Path(spec_path).read_text())))
    print(json.dumps(result.__dict__))


# -- the benchmark ----------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    wrk: str | None
    lines: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)

    def load(
        self, base: str, pid: int, target: Target, *, connections: int, timed: bool = True
    ) -> Result:
        """One load generator run against the service at `base` (pid for its CPU time)."""
        args = self.args
        if self.wrk is not None and target.bodies is None:
            return _loadgen_wrk(
                self.wrk, base, target, connections, args.warmup, args.duration, pid
            )
        spec = {
            "base": base,
            "service_pid": pid,
            "target": target.__dict__,
            "connections": connections,
            "warmup": args.warmup if timed else 0.0,
            "duration": args.duration if timed else 1.0,
        }
        return _loadgen_python(spec)

    def report(self, prefix: str, name: str, result: Result) -> None:
        figures = [
            (f"{name}_rps", f"{result.rps:,.1f} req/s (n={result.requests})"),
            (f"{name}_p50_ms", f"{result.p50_ms:.1f}"),
            (f"{name}_p90_ms", f"{result.p90_ms:.1f}"),
            (f"{name}_p99_ms", f"{result.p99_ms:.1f}"),
            (f"{name}_errors", f"{result.errors}" + _statuses(result)),
            (f"{name}_service_cpu", f"{result.service_cpu:.2f} cores"),
            (f"{name}_service_cpu_per_request", f"{result.service_cpu_ms_per_request:.2f} ms"),
        ]
        if not math.isnan(result.loadgen_cpu):
            figures.append((f"{name}_loadgen_cpu", f"{result.loadgen_cpu:.2f} cores"))
        for label, value in figures:
            self.emit(f"{prefix} {label}: {value}")

    def emit(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def verdict(self, label: str, ok: bool) -> None:
        self.verdicts.append(f"target {label} {'PASS' if ok else 'FAIL'}")


def _statuses(result: Result) -> str:
    odd = {k: v for k, v in result.statuses.items() if not k.startswith("2")}
    return f" {odd}" if odd else ""


def run_database(
    bench: Bench, kind: str, scratch: Path, assessment_url: str, workers: int, connections: int
) -> None:
    args = bench.args
    label = f"{kind} w{workers} c{connections}"
    where = scratch / f"{kind}-w{workers}-c{connections}"
    where.mkdir()
    with _service(kind, where, assessment_url, args.postgres_url, workers) as (base, pid):
        fees = Target("GET", FEES, "get_order_fees")
        amount = Target(
            "POST", AMOUNT, "generate_order_amount", {"saleId": USD_SALE, "bundleQuantity": 1}
        )
        # Untimed: the first requests pay for lazy imports and pool connections (each worker's).
        bench.load(base, pid, fees, connections=4 * workers, timed=False)
        bench.load(base, pid, amount, connections=4 * workers, timed=False)
        baseline = bench.load(base, pid, fees, connections=connections)
        bench.report(label, "fees", baseline)
        loaded = bench.load(base, pid, amount, connections=connections)
        bench.report(label, "amount", loaded)
        ratio = loaded.rps / baseline.rps if baseline.rps else math.nan
        bench.emit(f"{label} amount_vs_fees_rps: {ratio:.2f}x")
        bench.emit(f"{label} amount_minus_fees_p50_ms: {loaded.p50_ms - baseline.p50_ms:+.1f}")
        target = TARGET_RPS_2_WORKERS if workers >= 2 else TARGET_RPS
        bench.verdict(
            f"{label} amount_rps>={target:.0f}", loaded.rps >= target and loaded.errors == 0
        )
        bench.verdict(f"{label} amount_p99<={TARGET_P99_MS:.0f}ms", loaded.p99_ms <= TARGET_P99_MS)
        if args.no_order_tx:
            return
        kind = label

        bodies = _order_transaction_bodies(base, amount, args.orders, args.utxos)
        sequential = args.tx_concurrency
        fees_seq = bench.load(
            base,
            pid,
            Target("GET", FEES, "get_order_fees", bodies=[None] * args.orders),
            connections=sequential,
        )
        bench.report(kind, f"fees_seq{sequential}", fees_seq)
        order_tx = bench.load(
            base,
            pid,
            Target("POST", TRANSACTION, "generate_order_transaction", bodies=bodies),
            connections=sequential,
        )
        bench.report(kind, f"order_tx_{args.utxos}utxos_c{sequential}", order_tx)
        bench.emit(f"{kind} order_tx_minus_fees_p50_ms: {order_tx.p50_ms - fees_seq.p50_ms:+.1f}")


def _order_transaction_bodies(base: str, amount: Target, orders: int, utxos: int) -> list[Any]:
    """`orders` fresh order ids (through the amount route) with a synthetic wallet of `utxos`
    UTxOs that covers the amount three times over."""
    from cardano_market.domain.values import Value
    from cardano_market.synthetic import wallet, wallet_utxos

    async def quote_all() -> list[dict[str, str]]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

            async def quote() -> dict[str, str]:
                response = await client.post(AMOUNT, json=amount.body, headers=amount.headers())
                if response.status_code != 200:
                    raise StartError(f"amount answered {response.status_code}: {response.text}")
                answer: dict[str, str] = response.json()
                return answer

            return list(await asyncio.gather(*(quote() for _ in range(orders))))

    quotes = asyncio.run(quote_all())
    needed = Value.from_cbor(quotes[0]["amountCborHex"])
    buyer = wallet("bench-v1-buyer")
    hex_list = [
        u.to_cbor_hex()
        for u in wallet_utxos(
            buyer, utxos, tokens={asset: 3 * qty for asset, qty in needed.assets.items()}
        )
    ]
    return [
        {"orderId": q["orderId"], "changeAddress": buyer.bech32, "utxoCborHexList": hex_list}
        for q in quotes
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loadgen"]:
        loadgen_main(argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per route")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument(
        "--connections", default="64", help="keep-alive clients; a list runs each (64,128)"
    )
    parser.add_argument("--workers", default="1", help="serve --workers; a list runs each (1,2)")
    parser.add_argument(
        "--no-order-tx", action="store_true", help="only the fees and amount routes"
    )
    parser.add_argument("--delay-ms", type=int, default=50, help="reCAPTCHA assessment latency")
    parser.add_argument("--orders", type=int, default=200, help="order transactions to build")
    parser.add_argument("--tx-concurrency", type=int, default=1)
    parser.add_argument("--utxos", type=int, default=100, help="UTxOs in the buyer's wallet")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CARDANO_MARKET_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args(argv)
    try:
        connection_counts = [int(c) for c in str(args.connections).split(",")]
        worker_counts = [int(w) for w in str(args.workers).split(",")]
    except ValueError:
        parser.error("--connections and --workers take integers, comma-separated")
    wrk = shutil.which("wrk") if args.client != "python" else None
    if args.client == "wrk" and wrk is None:
        parser.error("--client wrk: wrk is not on PATH")
    bench = Bench(args, wrk)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    bench.emit(
        f"setup: {connection_counts} connections, workers {worker_counts}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s, "
        f"reCAPTCHA {args.delay_ms} ms, load generator {'wrk' if wrk else 'python/asyncio'}, "
        f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}"
    )
    if args.delay_ms > 0:
        for connections in connection_counts:
            ceiling = connections * 1000 / args.delay_ms
            bench.emit(
                f"ceiling_rps c{connections}: {ceiling:,.0f} req/s (connections / reCAPTCHA delay)"
            )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-v1-load-") as tmp:
            scratch = Path(tmp)
            port = _free_port()
            server = [
                sys.executable,
                "-m",
                "cardano_market.devtools.recaptcha_server",
                "--port",
                str(port),
                "--delay-ms",
                str(args.delay_ms),
                "--api-key",
                API_KEY,
            ]
            with _process("recaptcha", server, scratch) as proc:
                _wait_ready("recaptcha", proc, f"http://127.0.0.1:{port}/stats", scratch)
                assessment_url = f"http://127.0.0.1:{port}/v1/projects/bench/assessments"
                for kind in kinds:
                    for workers in worker_counts:
                        for connections in connection_counts:
                            run_database(bench, kind, scratch, assessment_url, workers, connections)
                stats = httpx.get(f"http://127.0.0.1:{port}/stats").json()
                bench.emit(
                    f"recaptcha_server: {stats['requestsServed']} assessments, "
                    f"max {stats['maxInFlight']} in flight, "
                    f"{stats['connectionsAccepted']} connections"
                )
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in bench.verdicts:
        print(line)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"info children_cpu: {usage.ru_utime + usage.ru_stime:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
