"""A local fake Blockfrost: a real HTTP server on 127.0.0.1 serving fixtures/blockfrost/*.json.

It answers the recorded responses (slicing paginated lists into pages exactly as Blockfrost does:
`page` from 1, `count` at most 100), accepts transaction submissions into a mempool it then serves
from `/mempool/{hash}`, records every request, and injects faults on demand: error statuses,
slow answers (for client timeouts), bodies cut short mid-transfer, and complete but truncated JSON.
A fault may be applied after the request took effect (a submit that was accepted, then failed).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cbor2

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "blockfrost"
NOT_FOUND = {
    "status_code": 404,
    "error": "Not Found",
    "message": "The requested component has not been found.",
}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour. `after=True`: the request takes effect first (e.g. a submit)."""

    kind: str  # "status" | "delay" | "cut" | "bad_json"
    status: int = 500
    seconds: float = 0.0
    after: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def status_code(
        cls, status: int, *, after: bool = False, retry_after: str | None = None
    ) -> Fault:
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls("status", status=status, after=after, headers=headers)

    @classmethod
    def delay(cls, seconds: float, *, after: bool = False) -> Fault:
        return cls("delay", seconds=seconds, after=after)

    @classmethod
    def cut(cls, *, after: bool = False) -> Fault:
        """Announce the full Content-Length, send half the body, close the connection."""
        return cls("cut", after=after)

    @classmethod
    def bad_json(cls) -> Fault:
        """A complete HTTP 200 whose JSON body is truncated (Content-Length matches)."""
        return cls("bad_json")


@dataclass
class Recorded:
    """One request, logged on arrival; `status` is filled in when (if) it is answered."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    status: int | None = None
    response: bytes = b""


@dataclass
class Fixture:
    name: str
    method: str
    endpoint: str
    path: str
    status: int
    paginated: bool
    body: Any

    @classmethod
    def load(cls, file: Path) -> Fixture:
        raw = json.loads(file.read_text())
        return cls(
            raw["name"],
            raw["method"],
            raw["endpoint"],
            raw["path"],
            raw["status"],
            raw["paginated"],
            raw["body"],
        )


def load_fixtures(directory: Path = FIXTURES) -> dict[str, Fixture]:
    return {f.stem: Fixture.load(f) for f in sorted(directory.glob("*.json"))}


def tx_id_of(tx: bytes) -> str:
    """The transaction id, computed independently of the code under test (cbor2's decoder)."""
    stream = io.BytesIO(tx)
    if stream.read(1) not in (b"\x83", b"\x84"):
        raise ValueError("not a transaction array")
    cbor2.CBORDecoder(stream).decode()  # the body: the stream now stands right after it
    return hashlib.blake2b(tx[1 : stream.tell()], digest_size=32).hexdigest()


@dataclass
class State:
    fixtures: dict[str, Fixture]
    routes: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: list[tuple[str, str, Fault]] = field(default_factory=list)
    submits: Counter[str] = field(default_factory=Counter)
    mempool: dict[str, bytes] = field(default_factory=dict)
    rejections: dict[str, str] = field(default_factory=dict)
    evaluate_bodies: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeBlockfrost:
    """Start with `with FakeBlockfrost() as server:`; `server.url` is the API root."""

    def __init__(self, fixtures_dir: Path = FIXTURES) -> None:
        fixtures = load_fixtures(fixtures_dir)
        self.state = State(fixtures)
        for name, fx in fixtures.items():
            self.state.routes.setdefault((fx.method, fx.path), name)
        self.use("evaluate_v5")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeBlockfrost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeBlockfrost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v0"

    # -- control ----------------------------------------------------------------------------------

    def fixture(self, name: str) -> Fixture:
        return self.state.fixtures[name]

    def add(self, fixture: Fixture) -> None:
        """Serve one more response (made up by a test) at its path."""
        with self.state.lock:
            self.state.fixtures[fixture.name] = fixture
            self.state.routes[(fixture.method, fixture.path)] = fixture.name

    def use(self, name: str) -> None:
        """Serve fixture `name` for its route (e.g. choose one of the evaluation answers)."""
        fx = self.state.fixtures[name]
        with self.state.lock:
            self.state.routes[(fx.method, fx.path)] = name

    def inject(self, path_prefix: str, *faults: Fault, method: str | None = None) -> None:
        """Queue faults for the next requests whose path starts with `path_prefix`, in order."""
        with self.state.lock:
            for fault in faults:
                self.state.faults.append((method or "", path_prefix, fault))

    def reject(self, tx_id: str, message: str) -> None:
        """Make the node reject submissions of `tx_id` with a 400 carrying `message`."""
        with self.state.lock:
            self.state.rejections[tx_id] = message

    def count(self, path_prefix: str = "", method: str | None = None) -> int:
        with self.state.lock:
            return sum(
                1
                for r in self.state.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method)
            )

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def pending_faults(self) -> int:
        with self.state.lock:
            return len(self.state.faults)


API = "/api/v0"


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        record: Recorded

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        # -- dispatch -----------------------------------------------------------------------------

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            path = split.path[len(API) :] if split.path.startswith(API) else split.path
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            self.record = Recorded(method, path, query, body)
            with state.lock:
                state.requests.append(self.record)
            fault = self._take_fault(method, path)
            if fault is not None and not fault.after:
                self._apply(fault, method, path, query, body, None)
                return
            status, payload = self._answer(method, path, query, body)
            if fault is not None:
                self._apply(fault, method, path, query, body, (status, payload))
                return
            self._send(status, payload, method, path, query, body)

        def _take_fault(self, method: str, path: str) -> Fault | None:
            with state.lock:
                for i, (m, prefix, fault) in enumerate(state.faults):
                    if path.startswith(prefix) and (not m or m == method):
                        del state.faults[i]
                        return fault
            return None

        def _apply(
            self,
            fault: Fault,
            method: str,
            path: str,
            query: dict[str, str],
            body: bytes,
            answer: tuple[int, Any] | None,
        ) -> None:
            if fault.kind == "status":
                message = {429: "Usage is limited.", 500: "Internal Server Error"}
                payload = {
                    "status_code": fault.status,
                    "error": "Too Many Requests" if fault.status == 429 else "Server Error",
                    "message": message.get(fault.status, "injected failure"),
                }
                self._send(fault.status, payload, method, path, query, body, fault.headers)
            elif fault.kind == "delay":
                time.sleep(fault.seconds)
                status, payload = answer or self._answer(method, path, query, body)
                self._send(status, payload, method, path, query, body)
            elif fault.kind == "cut":
                status, payload = answer or self._answer(method, path, query, body)
                data = json.dumps(payload).encode()
                self._record(method, path, query, status, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: max(1, len(data) // 2)])
                    self.wfile.flush()
                except OSError:
                    pass
                self.close_connection = True
            elif fault.kind == "bad_json":
                status, payload = answer or self._answer(method, path, query, body)
                data = json.dumps(payload).encode()
                self._send_bytes(status, data[: max(1, len(data) // 2)], method, path, query, body)
            else:
                raise AssertionError(f"unknown fault {fault.kind}")

        # -- the fake API -------------------------------------------------------------------------

        def _answer(
            self, method: str, path: str, query: dict[str, str], body: bytes
        ) -> tuple[int, Any]:
            if method == "POST" and path == "/tx/submit":
                return self._submit(body)
            if method == "POST" and path == "/utils/txs/evaluate/utxos":
                with state.lock:
                    state.evaluate_bodies.append(json.loads(body))
            if method == "GET" and path.startswith("/mempool/"):
                tx_id = path.removeprefix("/mempool/")
                with state.lock:
                    pending = tx_id in state.mempool
                if pending:
                    return 200, _mempool_body(state, tx_id)
            with state.lock:
                name = state.routes.get((method, path))
            if name is None:
                return 404, NOT_FOUND
            fx = state.fixtures[name]
            if not fx.paginated:
                return fx.status, fx.body
            return _page(fx.body, query)

        def _submit(self, body: bytes) -> tuple[int, Any]:
            if self.headers.get("Content-Type") != "application/cbor":
                return 415, {
                    "status_code": 415,
                    "error": "Unsupported Media Type",
                    "message": "Unsupported Media Type",
                }
            try:
                tx_id = tx_id_of(body)
            except Exception:
                return 400, {
                    "status_code": 400,
                    "error": "Bad Request",
                    "message": "transaction read error RawCborDecodeError",
                }
            with state.lock:
                state.submits[tx_id] += 1
                rejection = state.rejections.get(tx_id)
                duplicate = tx_id in state.mempool
                if rejection is None and not duplicate:
                    state.mempool[tx_id] = body
            if rejection is not None:
                return 400, {"status_code": 400, "error": "Bad Request", "message": rejection}
            if duplicate:
                # What a node says when the same transaction is sent twice: its inputs are taken.
                return 400, {
                    "status_code": 400,
                    "error": "Bad Request",
                    "message": '{"contents":{"contents":{"contents":{"era":"ShelleyBasedEraConway",'
                    '"error":["ConwayUtxowFailure (UtxoFailure (BadInputsUTxO ...))"]}}}}',
                }
            return 200, tx_id

        # -- writing ------------------------------------------------------------------------------

        def _record(
            self, method: str, path: str, query: dict[str, str], status: int, body: bytes
        ) -> None:
            with state.lock:
                self.record.status = status

        def _send(
            self,
            status: int,
            payload: Any,
            method: str,
            path: str,
            query: dict[str, str],
            body: bytes,
            headers: tuple[tuple[str, str], ...] = (),
        ) -> None:
            self._send_bytes(
                status, json.dumps(payload).encode(), method, path, query, body, headers
            )

        def _send_bytes(
            self,
            status: int,
            data: bytes,
            method: str,
            path: str,
            query: dict[str, str],
            body: bytes,
            headers: tuple[tuple[str, str], ...] = (),
        ) -> None:
            self._record(method, path, query, status, body)
            self.record.response = data
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout): nothing to answer

    return Handler


def _page(items: list[Any], query: dict[str, str]) -> tuple[int, Any]:
    try:
        page = int(query.get("page", "1"))
        count = int(query.get("count", "100"))
    except ValueError:
        return 400, {"status_code": 400, "error": "Bad Request", "message": "bad pagination"}
    if page < 1 or not 1 <= count <= 100:
        return 400, {"status_code": 400, "error": "Bad Request", "message": "bad pagination"}
    ordered = items if query.get("order", "asc") == "asc" else list(reversed(items))
    return 200, ordered[(page - 1) * count : page * count]


def _mempool_body(state: State, tx_id: str) -> dict[str, Any]:
    template = state.fixtures["mempool_tx"].body
    body = json.loads(json.dumps(template))
    body["tx"]["hash"] = tx_id
    return dict(body)
