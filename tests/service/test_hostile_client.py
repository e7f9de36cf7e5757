"""A hostile client against `cardano-market serve` as a real process (issue 12's probes).

One test per probe: each must be answered 4xx within `ANSWER_SECONDS`. While they run, a thread
reads /health, which must keep answering within `ANSWER_SECONDS`; the last test checks the
process is alive and grew less than `MAX_RSS_GROWTH` over the suite, and prints each probe's
answer time and memory growth (`pytest -s` shows them).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import cbor2
import httpx
import jwt
import pytest
from serve_process import Served, start_serve

from cardano_market.runtime.keys import devnet_jwt_secret

ANSWER_SECONDS = 0.100
MAX_RSS_GROWTH = 50 * 1024 * 1024
USER = "ab" * 12
ORIGIN = "https://dapp.example"
METRICS = "metrics-sekrit"

STARTS: dict[str, float] = {}
RESULTS: dict[str, tuple[float, int]] = {}
"""probe -> (answer seconds, RSS growth in bytes)."""


class HealthWatch:
    """Reads /health in a loop; the slowest answer and any failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.failures: list[str] = []
        self.count = 0
        self.times: list[float] = []
        self.slow: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    status = client.get(f"{self.url}/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    status = 0
                elapsed = time.perf_counter() - start
                self.worst = max(self.worst, elapsed)
                self.times.append(elapsed)
                if elapsed >= ANSWER_SECONDS:
                    self.slow.append((start, elapsed))
                self.count += 1
                if status != 200:
                    self.failures.append(f"status {status}")
                self._stop.wait(0.02)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_serve(
        tmp_path_factory.mktemp("hostile"),
        {"CARDANO_MARKET_CORS_ALLOWED_ORIGINS": ORIGIN, "CARDANO_MARKET_METRICS_TOKEN": METRICS},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def baseline(served: Served, token: str) -> int:
    """The RSS after one ordinary (refused) request to each probed route: first calls import
    code and build validators, which is not what the probes measure."""
    user = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        client.get("/v1/marketplace/sales")
        client.post("/v1/marketplace/orders/amount", json={})
        client.post("/v1/cardano/submitTx", json={})
        for route in ("buy-on-secondary-market", "sell"):
            kind = "purchases" if route.startswith("buy") else "secondary-markets"
            client.post(
                f"/v2/users/{kind}/users/{USER}/tokens/{TOKEN}/{route}", json={}, headers=user
            )
        client.post("/v2/admin/tokens", json={}, headers=ADMIN_HEADERS)
        client.get(f"/v2/users/{USER}/balances", headers=user)
    return served.rss_bytes()


@pytest.fixture(scope="module")
def watch(served: Served, baseline: int, token: str) -> Iterator[HealthWatch]:
    with HealthWatch(served.url) as health:
        yield health


ADMIN = "ad" * 12
TOKEN = "cd" * 12
CURRENCY = "ef" * 12


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    """A user's token; the user, a token to sell and a currency exist (made by an admin)."""
    url = served.url
    admin_token = httpx.post(
        f"{url}/devnet/token", json={"user_id": ADMIN, "admin": True}, timeout=5
    ).json()["token"]
    admin = {"authorization": f"Bearer {admin_token}"}
    for body in (
        {"user_id": ADMIN, "role": "admin"},
        {"user_id": USER},
    ):
        made = httpx.post(f"{url}/v2/admin/users", json=body, headers=admin, timeout=30)
        assert made.status_code in (200, 201), made.text
    for body in (
        {"token_id": TOKEN, "policy_id": "aa" * 28, "asset_name": "", "symbol": "TOK",
         "decimals": 0, "kind": "other"},
        {"token_id": CURRENCY, "policy_id": "bb" * 28, "asset_name": "", "symbol": "CUR",
         "decimals": 6, "kind": "currency"},
    ):  # fmt: skip
        made = httpx.post(f"{url}/v2/admin/tokens", json=body, headers=admin, timeout=30)
        assert made.status_code == 201, made.text
    ADMIN_HEADERS.update(admin)
    answer = httpx.post(f"{url}/devnet/token", json={"user_id": USER}, timeout=5)
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["token"]
    return value


ADMIN_HEADERS: dict[str, str] = {}


_CLIENTS: dict[int, httpx.Client] = {}


def _client(served: Served) -> httpx.Client:
    """One kept-alive client per server, so a probe's time is the server's answer, not the
    client's set-up (a new httpx client loads its TLS context: ~20 ms)."""
    client = _CLIENTS.get(served.port)
    if client is None:
        client = _CLIENTS[served.port] = httpx.Client(base_url=served.url, timeout=30)
        client.get("/health")
    return client


def _probe(
    name: str, served: Served, method: str, path: str, *, expect: int, **kwargs: object
) -> httpx.Response:
    client = _client(served)
    before = served.rss_bytes()
    start = time.perf_counter()
    STARTS[name] = start
    answer = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    RESULTS[name] = (elapsed, served.rss_bytes() - before)
    assert answer.status_code == expect, answer.text[:300]
    assert elapsed < ANSWER_SECONDS, f"{name}: {elapsed * 1000:.1f} ms"
    return answer


def _raw_probe(name: str, served: Served, head: bytes, body_bytes: int, chunked: bool) -> bytes:
    """Send `head`, then up to `body_bytes` of body in 64 kB pieces while watching for the
    answer; the answer's first bytes (the server must answer without reading it all)."""
    before = served.rss_bytes()
    piece = b"[" * 65536
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        sent = 0
        while sent < body_bytes:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer:
                break
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                sock.sendall(data)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.001)
                continue
            sent += len(piece)
        sock.setblocking(True)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        elapsed = time.perf_counter() - start
    RESULTS[name] = (elapsed, served.rss_bytes() - before)
    assert elapsed < ANSWER_SECONDS, f"{name}: {elapsed * 1000:.1f} ms"
    assert sent < body_bytes, "the server read the whole body"
    return answer


def test_a_huge_exponent_deal_id_is_400_at_once(
    served: Served, watch: HealthWatch, token: str
) -> None:
    path = f"/v2/users/purchases/users/{USER}/tokens/{TOKEN}/buy-on-secondary-market"
    for name, number in (("deal_id 1e600000", "1e600000"), ("deal_id 1e999999999", "1e999999999")):
        answer = _probe(
            name,
            served,
            "POST",
            path,
            expect=400,
            content=b'{"quantity": 1, "deal_id": %s}' % number.encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert answer.json()["error"] == "Invalid parameters"
        assert "exponent is beyond" in answer.json()["details"]  # refused at the edge


def test_deeply_nested_json_is_400_and_the_process_lives(
    served: Served, watch: HealthWatch
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000  # 200 kB
    answer = _probe(
        "200 kB nested [[[...]]] to /orders/amount",
        served,
        "POST",
        "/v1/marketplace/orders/amount",
        expect=400,
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.json() == {
        "code": 400,
        "description": "Bad Request",
        "cause": "body: JSON nested deeper than 400 levels",
    }
    assert served.alive()


def test_a_150_mb_body_without_a_token_is_401_before_it_is_read(
    served: Served, watch: HealthWatch
) -> None:
    size = 150 * 1024 * 1024
    head = (
        b"POST /v2/admin/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % size
    )
    answer = _raw_probe("150 MB body, no token, /v2/admin/users", served, head, size, False)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_chunked_150_mb_body_with_a_token_is_413_while_read(
    served: Served, watch: HealthWatch, token: str
) -> None:
    size = 150 * 1024 * 1024
    head = (
        b"POST /v2/admin/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n" % token.encode()
    )
    answer = _raw_probe(
        "150 MB chunked body, user token, /v2/admin/users", served, head, size, True
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_24_mb_utxo_list_is_413_before_it_is_parsed(served: Served, watch: HealthWatch) -> None:
    size = 24 * 1024 * 1024
    head = (
        b"POST /v1/marketplace/orders/transaction HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size
    )
    answer = _raw_probe("24 MB utxoCborHexList", served, head, size, False)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code": 413' in answer or b'"code":413' in answer or b"413" in answer


def test_a_deep_witness_set_is_400_naming_the_field(served: Served, watch: HealthWatch) -> None:
    deep = "a100" + "81" * 100_000 + "00"  # {0: [[[...0...]]]}
    answer = _probe(
        "deep witness set to submitTx",
        served,
        "POST",
        "/v1/cardano/submitTx",
        expect=400,
        json={"txId": "00" * 32, "witnessSetCborHex": deep},
    )
    assert answer.json()["cause"].startswith("witnessSetCborHex: CBOR nested deeper than 400")


@pytest.mark.parametrize(
    ("name", "price", "quantity"),
    [
        ("price_amount 1e-999999999", "1e-999999999", "1"),
        ("price_amount 1e39", "1e39", "1"),
        ("31-digit quantity", "1", "1234567890123456789012345678901"),
        ("quantity 1e-100", "1", "1e-100"),
    ],
)
def test_absurd_amounts_are_400(
    served: Served, watch: HealthWatch, token: str, name: str, price: str, quantity: str
) -> None:
    path = f"/v2/users/secondary-markets/users/{USER}/tokens/{TOKEN}/sell"
    body = f'{{"quantity": {quantity}, "price_id": "{CURRENCY}", "price_amount": {price}}}'
    answer = _probe(
        name,
        served,
        "POST",
        path,
        expect=400,
        content=body.encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert answer.json()["error"] == "Invalid parameters"


def test_a_transaction_we_did_not_issue_is_not_relayed(served: Served, watch: HealthWatch) -> None:
    tx = cbor2.dumps([{0: [], 1: [], 2: 0}, {}, True, None]).hex()
    answer = _probe(
        "submitTx of a foreign transaction",
        served,
        "POST",
        "/v1/cardano/submitTx",
        expect=404,
        json={"cborHex": tx},
    )
    assert "was not issued by this service" in answer.json()["cause"]


def test_a_witness_set_with_a_script_entry_is_400(served: Served, watch: HealthWatch) -> None:
    witnesses = cbor2.dumps({0: [], 7: [b"\x01"]}).hex()
    answer = _probe(
        "submitTx witness set with a Plutus script",
        served,
        "POST",
        "/v1/cardano/submitTx",
        expect=400,
        json={"txId": "00" * 32, "witnessSetCborHex": witnesses},
    )
    assert "key 7 (Plutus V3 scripts) is not accepted" in answer.json()["cause"]


def test_a_token_living_forever_is_401(served: Served, watch: HealthWatch) -> None:
    secret = devnet_jwt_secret(served.log.parent / "devnet.db")  # the file the server made
    now = int(time.time())
    forever = jwt.encode({"sub": USER, "iat": now, "exp": 10**15}, secret, algorithm="HS256")
    _probe(
        "JWT with exp far beyond the maximum lifetime",
        served,
        "GET",
        f"/v2/users/{USER}/balances",
        expect=401,
        headers={"authorization": f"Bearer {forever}"},
    )
    early = jwt.encode({"sub": USER, "iat": now + 5, "exp": now + 600}, secret, algorithm="HS256")
    answer = httpx.get(
        f"{served.url}/v2/users/{USER}/balances",
        headers={"authorization": f"Bearer {early}"},
        timeout=5,
    )
    assert answer.status_code != 401, "a token issued 5 s ahead is within the 30 s leeway"


def test_an_idempotent_retry_spelling_a_number_differently_is_a_replay(
    served: Served, watch: HealthWatch, token: str
) -> None:
    body = {"policy_id": "cc" * 28, "asset_name": "", "symbol": "IDM", "decimals": 0,
            "kind": "other"}  # fmt: skip
    headers = {
        **ADMIN_HEADERS,
        "idempotency-key": "same-request",
        "content-type": "application/json",
    }
    first = httpx.post(
        f"{served.url}/v2/admin/tokens",
        content=json.dumps({**body, "min_purchase_quantity": 60}),
        headers=headers,
        timeout=30,
    )
    assert first.status_code == 201, first.text
    answer = _probe(
        "idempotent retry: 60.0 after 60",
        served,
        "POST",
        "/v2/admin/tokens",
        expect=201,
        content=json.dumps({**body, "min_purchase_quantity": 60})[:-1]
        .encode()
        .replace(b"60", b"60.0")
        + b"}",
        headers=headers,
    )
    assert answer.headers.get("idempotent-replayed") == "true" or answer.json() == first.json()


def test_an_admin_token_for_an_unknown_subject_creates_no_user(
    served: Served, watch: HealthWatch, token: str
) -> None:
    stranger = "5a" * 12
    minted = httpx.post(
        f"{served.url}/devnet/token", json={"user_id": stranger, "admin": True}, timeout=5
    ).json()["token"]
    _probe(
        "admin token with an unknown sub, Idempotency-Key",
        served,
        "POST",
        "/v2/admin/users",
        expect=404,
        json={"user_id": "5b" * 12},
        headers={"authorization": f"Bearer {minted}", "idempotency-key": "k1"},
    )
    looked_up = httpx.get(f"{served.url}/v2/admin/users/{stranger}", headers=ADMIN_HEADERS)
    assert looked_up.status_code == 404, "the token's claims created a user row"


def test_metrics_need_the_bearer_token(served: Served, watch: HealthWatch) -> None:
    _probe("/metrics without its token", served, "GET", "/metrics", expect=401)
    shown = httpx.get(
        f"{served.url}/metrics", headers={"authorization": f"Bearer {METRICS}"}, timeout=5
    )
    assert shown.status_code == 200 and "cardano_market" in shown.text


def test_cors_preflight_answers_the_configured_origin_only(
    served: Served, watch: HealthWatch
) -> None:
    ask = {"origin": ORIGIN, "access-control-request-method": "POST",
           "access-control-request-headers": "content-type,g-recaptcha-token"}  # fmt: skip
    answer = httpx.options(f"{served.url}/v1/marketplace/orders/amount", headers=ask, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in answer.headers["access-control-allow-methods"]
    other = httpx.options(
        f"{served.url}/v1/marketplace/orders/amount",
        headers={**ask, "origin": "https://evil.example"},
        timeout=5,
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    simple = httpx.get(f"{served.url}/v1/marketplace/sales", headers={"origin": ORIGIN}, timeout=5)
    assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_the_process_lives_and_stayed_small(
    served: Served, watch: HealthWatch, baseline: int
) -> None:
    growth = served.rss_bytes() - baseline
    lines = [f"{'probe':55} {'answer ms':>9} {'RSS growth kB':>14}"]
    for name, (seconds, rss) in RESULTS.items():
        lines.append(f"{name:55} {seconds * 1000:9.1f} {rss // 1024:14d}")
    lines.append(f"{'suite RSS growth':55} {'':9} {growth // 1024:14d}")
    lines.append(
        f"/health during the probes: {watch.count} answers, worst {watch.worst * 1000:.1f} ms,"
        f" median {sorted(watch.times)[len(watch.times) // 2] * 1000:.1f} ms"
    )
    for at, seconds in watch.slow:
        lines.append(f"slow /health at {at:.3f}: {seconds * 1000:.1f} ms")
    for name, at in STARTS.items():
        lines.append(f"probe start {at:.3f}: {name}")
    print("\n" + "\n".join(lines))
    assert served.alive()
    assert growth < MAX_RSS_GROWTH, f"RSS grew {growth / 2**20:.1f} MiB"
    assert not watch.failures, watch.failures[:5]
    assert watch.count > 0 and watch.worst < ANSWER_SECONDS, f"{watch.worst * 1000:.1f} ms"
    answer = httpx.get(f"{served.url}/health", timeout=5)
    assert answer.status_code == 200
    assert json.loads(answer.text)["status"] == "ok"
