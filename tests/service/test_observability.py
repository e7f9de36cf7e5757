"""Metrics, request ids, access logs and JSON logging on real FastAPI apps; the instrumented chain
backend on a real devnet."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from cardano_market.chain.base import ChainBackend
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.chain.instrumented import InstrumentedBackend
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.service.errors import install_error_handlers, not_found
from cardano_market.service.observability import (
    UNMATCHED_ROUTE,
    JsonFormatter,
    Metrics,
    RequestIdFilter,
    StderrHandler,
    configure_logging,
    current_request_id,
    install_observability,
)
from cardano_market.synthetic import wallet

SALE_ROUTE = "/v1/marketplace/sales/{saleId}"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def make_app(metrics: Metrics) -> FastAPI:
    """A small v1-shaped app: a templated route behind a prefix, a 404, a crash and a sync route."""
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/v1/marketplace")

    @router.get("/sales/{saleId}")
    async def sale(saleId: str) -> dict[str, str | None]:
        if saleId == "missing":
            raise not_found(f"sale {saleId} not found")
        logging.getLogger("cardano_market.test").info("sale read", extra={"saleId": saleId})
        return {"saleId": saleId, "requestId": current_request_id()}

    @router.get("/sync-request-id")
    def sync_request_id() -> dict[str, str | None]:
        return {"requestId": current_request_id()}  # runs in a worker thread

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    app.include_router(router)
    install_observability(app, metrics)
    return app


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def client(metrics: Metrics) -> Iterator[TestClient]:
    with TestClient(make_app(metrics), raise_server_exceptions=False) as test_client:
        yield test_client


def request_count(metrics: Metrics, method: str, route: str, status: int) -> float | None:
    return metrics.registry.get_sample_value(
        "cardano_market_http_request_duration_seconds_count",
        {"method": method, "route": route, "status": str(status)},
    )


def error_count(metrics: Metrics, route: str, status: int) -> float | None:
    return metrics.registry.get_sample_value(
        "cardano_market_http_errors_total", {"route": route, "status": str(status)}
    )


def all_label_values(registry: CollectorRegistry) -> set[str]:
    return {v for family in registry.collect() for s in family.samples for v in s.labels.values()}


# -- latency and errors by route template ---------------------------------------------------------


def test_latency_is_labelled_by_route_template_never_the_raw_path(
    client: TestClient, metrics: Metrics
) -> None:
    for sale_id in ("sale-1", "sale-2", "sale-3"):
        assert client.get(f"/v1/marketplace/sales/{sale_id}").status_code == 200
    assert request_count(metrics, "GET", SALE_ROUTE, 200) == 3
    total = metrics.registry.get_sample_value(
        "cardano_market_http_request_duration_seconds_sum",
        {"method": "GET", "route": SALE_ROUTE, "status": "200"},
    )
    assert total is not None and 0 < total < 10
    labels = all_label_values(metrics.registry)
    assert not any("sale-1" in value for value in labels)
    assert error_count(metrics, SALE_ROUTE, 200) is None  # a 200 is not an error


def test_unmatched_paths_share_one_label_and_count_as_errors(
    client: TestClient, metrics: Metrics
) -> None:
    for path in ("/nope", "/v1/nothing/here", "/wp-admin.php"):
        assert client.get(path).status_code == 404
    assert request_count(metrics, "GET", UNMATCHED_ROUTE, 404) == 3
    assert error_count(metrics, UNMATCHED_ROUTE, 404) == 3
    assert not any("wp-admin" in value for value in all_label_values(metrics.registry))


def test_client_and_server_errors_are_counted_by_route_and_status(
    client: TestClient, metrics: Metrics
) -> None:
    assert client.get("/v1/marketplace/sales/missing").status_code == 404
    assert client.post("/v1/marketplace/sales/x").status_code == 405
    assert client.get("/v1/marketplace/crash").status_code == 500
    assert error_count(metrics, SALE_ROUTE, 404) == 1
    assert error_count(metrics, SALE_ROUTE, 405) == 1
    assert error_count(metrics, "/v1/marketplace/crash", 500) == 1
    assert request_count(metrics, "POST", SALE_ROUTE, 405) == 1


def test_unknown_methods_are_bounded(client: TestClient, metrics: Metrics) -> None:
    assert client.request("BREW", "/v1/marketplace/sales/x").status_code == 405
    assert request_count(metrics, "OTHER", SALE_ROUTE, 405) == 1


def test_metrics_endpoint_serves_the_exposition_format(
    client: TestClient, metrics: Metrics
) -> None:
    client.get("/v1/marketplace/sales/s")
    metrics.recaptcha_outcome("success")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert (
        'cardano_market_http_request_duration_seconds_count{method="GET",'
        'route="/v1/marketplace/sales/{saleId}",status="200"} 1.0' in text
    )
    assert 'cardano_market_recaptcha_outcomes_total{outcome="success"} 1.0' in text
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    assert 'route="/metrics"' not in text  # a request is recorded once it has finished
    assert request_count(metrics, "GET", "/metrics", 200) == 1


def test_apps_in_one_process_keep_separate_registries() -> None:
    first, second = Metrics(), Metrics()
    with TestClient(make_app(first)) as a, TestClient(make_app(second)) as b:
        a.get("/v1/marketplace/sales/x")
        a.get("/v1/marketplace/sales/y")
        b.get("/v1/marketplace/sales/z")
    assert request_count(first, "GET", SALE_ROUTE, 200) == 2
    assert request_count(second, "GET", SALE_ROUTE, 200) == 1


# -- other metrics --------------------------------------------------------------------------------


def test_build_timer_records_builds_by_kind_and_outcome(metrics: Metrics) -> None:
    with metrics.build_timer("order"):
        sum(range(1000))
    with pytest.raises(ValueError, match="no funds"), metrics.build_timer("sale_start"):
        raise ValueError("no funds")

    def count(kind: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "cardano_market_tx_build_duration_seconds_count", {"kind": kind, "outcome": outcome}
        )

    assert count("order", "ok") == 1
    assert count("sale_start", "error") == 1
    assert count("order", "error") is None


def test_recaptcha_outcomes_and_chain_retries_are_counted(metrics: Metrics) -> None:
    for outcome in ("success", "success", "low_score"):
        metrics.recaptcha_outcome(outcome)
    metrics.chain_retry("GET", "/addresses/addr_test1.../utxos", "http_429")
    get = metrics.registry.get_sample_value
    assert get("cardano_market_recaptcha_outcomes_total", {"outcome": "success"}) == 2
    assert get("cardano_market_recaptcha_outcomes_total", {"outcome": "low_score"}) == 1
    assert get("cardano_market_chain_retries_total", {"reason": "http_429"}) == 1
    assert not any("addr_test1" in value for value in all_label_values(metrics.registry))


# -- request ids ----------------------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_echoed(client: TestClient) -> None:
    response = client.get("/v1/marketplace/sales/s", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert response.headers["X-Request-ID"] == "abc.DEF_123-x"
    assert response.json()["requestId"] == "abc.DEF_123-x"
    assert current_request_id() is None  # the id does not leak out of the request


@pytest.mark.parametrize(
    "incoming",
    [None, "", "x" * 129, "has space", "semi;colon", "new\\nline", "üñí"],
)
def test_a_missing_or_unsafe_request_id_is_replaced(
    client: TestClient, incoming: str | None
) -> None:
    headers = {"X-Request-ID": incoming.encode("utf-8")} if incoming is not None else {}
    response = client.get("/v1/marketplace/sales/s", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(generated)
    assert response.json()["requestId"] == generated
    assert len(response.headers.get_list("X-Request-ID")) == 1


def test_the_longest_sane_request_id_is_kept(client: TestClient) -> None:
    token = "a" * 128
    assert client.get("/nope", headers={"X-Request-ID": token}).headers["X-Request-ID"] == token


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    ids = {client.get("/v1/marketplace/sales/s").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_sync_handlers_see_the_request_id(client: TestClient) -> None:
    response = client.get("/v1/marketplace/sync-request-id", headers={"X-Request-ID": "sync-1"})
    assert response.json() == {"requestId": "sync-1"}


def test_error_responses_carry_the_request_id(client: TestClient) -> None:
    response = client.get("/v1/marketplace/sales/missing", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "err-1"


def test_concurrent_requests_keep_their_own_ids(metrics: Metrics) -> None:
    """Many requests in flight on one event loop: each handler sees its own id."""
    app = FastAPI()

    @app.get("/slow/{n}")
    async def slow(n: int) -> dict[str, str | None]:
        await asyncio.sleep(0.01 * (n % 3))
        return {"requestId": current_request_id()}

    install_observability(app, metrics)

    async def call(n: int) -> tuple[str, str, str]:
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/slow/{n}",
            "raw_path": f"/slow/{n}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"x-request-id", f"req-{n}".encode())],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        start, body = sent[0], sent[1]
        echoed = dict(start["headers"])[b"x-request-id"].decode()  # type: ignore[call-overload]
        seen = json.loads(body["body"])["requestId"]  # type: ignore[arg-type]
        return f"req-{n}", echoed, seen

    async def main() -> list[tuple[str, str, str]]:
        return await asyncio.gather(*(call(n) for n in range(30)))

    for sent_id, echoed, seen in asyncio.run(main()):
        assert sent_id == echoed == seen
    assert request_count(metrics, "GET", "/slow/{n}", 200) == 30


# -- logs -----------------------------------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was after a test configures it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_one_json_access_line_per_request(
    client: TestClient, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("INFO", json=True)
    capsys.readouterr()
    client.get("/v1/marketplace/sales/sale-9", headers={"X-Request-ID": "log-1"})
    lines = json_lines(capsys.readouterr().err)
    access = [line for line in lines if line["logger"] == "cardano_market.access"]
    assert len(access) == 1
    [line] = access
    assert line["level"] == "INFO"
    assert line["message"] == "GET /v1/marketplace/sales/sale-9 200"
    assert line["method"] == "GET"
    assert line["path"] == "/v1/marketplace/sales/sale-9"
    assert line["route"] == SALE_ROUTE
    assert line["status"] == 200
    assert line["request_id"] == "log-1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(line["time"]))


def test_application_logs_carry_the_request_id_and_extras(
    client: TestClient, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("INFO")
    capsys.readouterr()
    client.get("/v1/marketplace/sales/sale-7", headers={"X-Request-ID": "app-1"})
    [line] = [
        x for x in json_lines(capsys.readouterr().err) if x["logger"] == "cardano_market.test"
    ]
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "cardano_market.test",
        "message": "sale read",
        "request_id": "app-1",
        "saleId": "sale-7",
    }


def test_logs_outside_a_request_have_no_request_id(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("DEBUG")
    capsys.readouterr()
    log = logging.getLogger("cardano_market.worker")
    log.debug("tick %d", 3, extra={"claimed": 2, "when": Path("/x")})
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("failed")
    debug, failed = json_lines(capsys.readouterr().err)
    assert debug["message"] == "tick 3" and debug["level"] == "DEBUG"
    assert "request_id" not in debug
    assert debug["claimed"] == 2 and debug["when"] == "/x"  # not JSON: rendered with str()
    assert failed["level"] == "ERROR"
    assert "ValueError: bad row" in str(failed["exc"])


def test_configure_logging_is_idempotent(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("INFO")
    configure_logging("WARNING", json=False)
    root = logging.getLogger()
    assert sum(isinstance(h, StderrHandler) for h in root.handlers) == 1
    assert root.level == logging.WARNING
    capsys.readouterr()
    logging.getLogger("cardano_market.x").info("hidden")
    logging.getLogger("cardano_market.x").warning("shown %s", "once", extra={"k": 1})
    err = capsys.readouterr().err
    assert "hidden" not in err
    [line] = err.splitlines()
    assert line.endswith("WARNING cardano_market.x [-] shown once k=1")


def test_json_formatter_stamps_request_id_from_the_filter() -> None:
    record = logging.LogRecord("l", logging.INFO, __file__, 1, "m", None, None)
    RequestIdFilter().filter(record)
    assert "request_id" not in json.loads(JsonFormatter().format(record))


# -- the instrumented chain backend ---------------------------------------------------------------


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[DevnetBackend]:
    chain = DevnetBackend.open(tmp_path / "devnet.db")
    yield chain
    chain.close()


def chain_count(metrics: Metrics, method: str, outcome: str) -> float | None:
    return metrics.registry.get_sample_value(
        "cardano_market_chain_calls_total", {"method": method, "outcome": outcome}
    )


def test_instrumented_backend_delegates_and_counts(devnet: DevnetBackend, metrics: Metrics) -> None:
    alice = wallet("alice").address
    [funded] = devnet.ledger.genesis([TxOutput(alice, Value(5_000_000))])
    backend = InstrumentedBackend(devnet, metrics)
    assert isinstance(backend, ChainBackend)
    assert backend.inner is devnet
    assert backend.network_id == devnet.network_id

    assert backend.tip() == devnet.tip()
    assert backend.protocol_parameters() == devnet.protocol_parameters()
    assert backend.utxos_at(alice) == [funded]
    assert backend.utxos_by_ref([funded.out_ref]) == [funded]
    assert backend.slot_to_posix_ms(10) == devnet.slot_to_posix_ms(10)

    assert chain_count(metrics, "tip", "ok") == 1
    assert chain_count(metrics, "protocol_parameters", "ok") == 1
    assert chain_count(metrics, "utxos_at", "ok") == 1
    assert chain_count(metrics, "utxos_by_ref", "ok") == 1
    assert chain_count(metrics, "slot_to_posix_ms", "ok") is None  # arithmetic, not a call
    seconds = metrics.registry.get_sample_value(
        "cardano_market_chain_call_duration_seconds_count", {"method": "tip", "outcome": "ok"}
    )
    assert seconds == 1


def test_instrumented_backend_counts_errors_and_lets_them_through(
    devnet: DevnetBackend, metrics: Metrics
) -> None:
    backend = InstrumentedBackend(devnet, metrics)
    with pytest.raises(Exception) as direct:
        devnet.submit(b"\x80")  # not a transaction
    with pytest.raises(type(direct.value)) as wrapped:
        backend.submit(b"\x80")
    assert str(wrapped.value) == str(direct.value)
    assert chain_count(metrics, "submit", "error") == 1
    assert chain_count(metrics, "submit", "ok") is None
