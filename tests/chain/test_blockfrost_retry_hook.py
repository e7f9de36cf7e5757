"""The Blockfrost backend's `on_retry` hook, against the local fake Blockfrost with injected faults:
one call per retry (never after the last attempt, never for answers that are not retried), with a
bounded reason; submissions included; a failing hook never fails the request."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from fake_blockfrost import FakeBlockfrost, Fault, tx_id_of

from cardano_market.chain.blockfrost import BlockfrostBackend, RetryPolicy
from cardano_market.chain.blockfrost._http import RetriesExhaustedError, StatusError
from cardano_market.service.observability import Metrics

Call = tuple[str, str, str]


class Retries(list[Call]):
    """An `on_retry` hook that records its calls."""

    def __call__(self, method: str, path: str, reason: str) -> None:
        self.append((method, path, reason))


@pytest.fixture
def server() -> Iterator[FakeBlockfrost]:
    with FakeBlockfrost() as fake:
        yield fake


@pytest.fixture
def retries() -> Retries:
    return Retries()


def make_backend(server: FakeBlockfrost, on_retry: Any, **kwargs: Any) -> BlockfrostBackend:
    kwargs.setdefault("timeout", 2.0)
    return BlockfrostBackend(
        "preprodFAKEPROJECTID",
        "preprod",
        server.url,
        retry=RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8.0),
        sleep=lambda _seconds: None,  # retries stay instant
        on_retry=on_retry,
        **kwargs,
    )


@pytest.fixture
def backend(server: FakeBlockfrost, retries: Retries) -> Iterator[BlockfrostBackend]:
    with make_backend(server, retries) as b:
        yield b


def a_transaction(tag: int) -> bytes:
    body = {0: [[hashlib.blake2b(bytes([tag]), digest_size=32).digest(), 0]], 1: [], 2: 170000}
    return cbor2.dumps([body, {}, True, None])


def test_each_retry_is_reported_with_its_status(
    server: FakeBlockfrost, backend: BlockfrostBackend, retries: Retries
) -> None:
    server.inject("/blocks/latest", Fault.status_code(429), Fault.status_code(503))
    assert backend.tip().epoch == 254
    assert retries == [("GET", "/blocks/latest", "http_429"), ("GET", "/blocks/latest", "http_503")]


def test_no_report_without_a_retry(
    server: FakeBlockfrost, backend: BlockfrostBackend, retries: Retries
) -> None:
    backend.tip()
    server.inject("/epochs/latest/parameters", Fault.status_code(403))
    with pytest.raises(StatusError):
        backend.protocol_parameters()
    assert retries == []


def test_transport_failures_have_their_own_reasons(
    server: FakeBlockfrost, retries: Retries
) -> None:
    with make_backend(server, retries, timeout=0.2) as backend:
        server.inject("/blocks/latest", Fault.delay(0.6), Fault.cut(), Fault.bad_json())
        assert backend.tip().epoch == 254
    assert [reason for _, _, reason in retries] == ["timeout", "transport_error", "malformed_json"]


def test_no_report_after_the_last_attempt(
    server: FakeBlockfrost, backend: BlockfrostBackend, retries: Retries
) -> None:
    server.inject("/blocks/latest", *[Fault.status_code(502)] * 10)
    with pytest.raises(RetriesExhaustedError):
        backend.tip()
    assert server.count("/blocks/latest") == 5
    assert retries == [("GET", "/blocks/latest", "http_502")] * 4


def test_submission_retries_are_reported(
    server: FakeBlockfrost, backend: BlockfrostBackend, retries: Retries
) -> None:
    tx = a_transaction(1)
    server.inject("/tx/submit", Fault.status_code(429), Fault.status_code(500))
    assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.state.submits[tx_id_of(tx)] == 1
    assert retries == [("POST", "/tx/submit", "http_429"), ("POST", "/tx/submit", "http_500")]


def test_a_failing_hook_never_fails_the_request(
    server: FakeBlockfrost, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(method: str, path: str, reason: str) -> None:
        raise RuntimeError("metrics are down")

    server.inject("/blocks/latest", Fault.status_code(429))
    with make_backend(server, broken) as backend, caplog.at_level(logging.ERROR):
        assert backend.tip().epoch == 254
    [record] = [r for r in caplog.records if "on_retry hook failed" in r.getMessage()]
    assert record.exc_info is not None and "metrics are down" in str(record.exc_info[1])


def test_metrics_count_retries_by_reason(server: FakeBlockfrost) -> None:
    metrics = Metrics()
    server.inject("/blocks/latest", *[Fault.status_code(429)] * 3)
    server.inject("/epochs/latest/parameters", Fault.status_code(504))
    with make_backend(server, metrics.chain_retry) as backend:
        backend.protocol_parameters()
    count = metrics.registry.get_sample_value
    assert count("cardano_market_chain_retries_total", {"reason": "http_429"}) == 3
    assert count("cardano_market_chain_retries_total", {"reason": "http_504"}) == 1
