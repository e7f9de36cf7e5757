"""The Blockfrost backend against a local fake Blockfrost (a real HTTP server) with injected faults.

Checks: pagination, 404 as "no UTxOs", UTxO conversion (byte-exact against pycardano's encoder and
the CIP-30 decoder), scripts fetched once and verified by hash, caching (by counting requests),
the token bucket on a fake clock, bounded jittered retries on 429/5xx/timeouts/cut bodies, clear
errors when retries run out, submission that never sends a transaction twice after an ambiguous
failure, evaluation in both Ogmios formats, transaction status and the oracle price.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from fake_blockfrost import FakeBlockfrost, Fault, Fixture, tx_id_of

from cardano_market.chain.base import (
    ChainBackend,
    ChainError,
    EvaluationError,
    SubmitError,
    TxState,
)
from cardano_market.chain.blockfrost import BlockfrostBackend, RetryPolicy, from_env
from cardano_market.chain.blockfrost._http import RetriesExhaustedError, StatusError, TokenBucket
from cardano_market.chain.blockfrost._json import (
    MalformedResponseError,
    native_script_cbor,
    ogmios_utxo,
    parse_evaluation,
    rejection_rule,
)
from cardano_market.domain.address import decode_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import OracleDatum
from cardano_market.domain.fees import ref_script_fee
from cardano_market.domain.values import asset_from_unit
from cardano_market.ledger.exunits import ExUnits

# -- harness --------------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when told to; `sleep` records the wait and moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Sleeps(list[float]):
    """A `sleep` that records instead of sleeping: retries stay instant and observable."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[FakeBlockfrost]:
    with FakeBlockfrost() as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_backend(
    server: FakeBlockfrost,
    sleeps: Sleeps | None = None,
    clock: FakeClock | None = None,
    **kwargs: Any,
) -> BlockfrostBackend:
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8.0))
    return BlockfrostBackend(
        "preprodFAKEPROJECTID",
        "preprod",
        server.url,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=clock if clock is not None else FakeClock(),
        **kwargs,
    )


@pytest.fixture
def backend(
    server: FakeBlockfrost, sleeps: Sleeps, clock: FakeClock
) -> Iterator[BlockfrostBackend]:
    with make_backend(server, sleeps, clock) as b:
        yield b


def address_of(fixture: Fixture) -> bytes:
    return decode_address(fixture.path.split("/")[2])


def a_transaction(tag: int = 0) -> bytes:
    """A small signed-looking transaction whose body is canonical CBOR."""
    body = {0: [[hashlib.blake2b(bytes([tag]), digest_size=32).digest(), 0]], 1: [], 2: 170000}
    return cbor2.dumps([body, {}, True, None])


# -- interface ------------------------------------------------------------------------------------


def test_backend_satisfies_the_chain_backend_protocol(backend: BlockfrostBackend) -> None:
    assert isinstance(backend, ChainBackend)
    assert backend.network_id == 0
    with make_backend_for_mainnet() as mainnet:
        assert mainnet.network_id == 1


def make_backend_for_mainnet() -> BlockfrostBackend:
    return BlockfrostBackend("mainnetX", "mainnet", "http://127.0.0.1:9/api/v0")


def test_constructor_rejects_unknown_network_and_empty_project() -> None:
    with pytest.raises(ValueError, match="network"):
        BlockfrostBackend("x", "testnet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="project id"):
        BlockfrostBackend("", "preprod")


def test_from_env_reads_the_project_id(server: FakeBlockfrost) -> None:
    env = {"BLOCKFROST_PROJECT_ID": "preprodFROMENV"}
    with from_env("preprod", env.get, base_url=server.url) as backend:
        assert backend.tip().epoch == 254
    with pytest.raises(ChainError, match="BLOCKFROST_PROJECT_ID is not set"):
        from_env("preprod", {}.get)


def test_concurrent_callers_share_one_backend(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    results: list[list[Utxo]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            utxos = backend.utxos_at(address_of(fixture))
            backend.protocol_parameters()
            results.append(utxos)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert len(results[0]) == 250


def test_project_id_header_is_sent(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    seen: list[str | None] = []
    original = backend.http.client.send

    def spy(request: Any, **kwargs: Any) -> Any:
        seen.append(request.headers.get("project_id"))
        return original(request, **kwargs)

    backend.http.client.send = spy  # type: ignore[method-assign]
    backend.tip()
    assert seen == ["preprodFAKEPROJECTID"]


# -- UTxOs, pagination, conversion ----------------------------------------------------------------


def test_pagination_reads_every_page_from_one(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    utxos = backend.utxos_at(address_of(fixture))
    expected = [(bytes.fromhex(e["tx_hash"]), e["output_index"]) for e in fixture.body]
    assert [u.out_ref for u in utxos] == expected
    assert len(utxos) == 250
    pages = [r.query for r in server.requests if r.path == fixture.path]
    assert pages == [
        {"page": "1", "count": "100", "order": "asc"},
        {"page": "2", "count": "100", "order": "asc"},
        {"page": "3", "count": "100", "order": "asc"},
    ]


def test_pagination_stops_on_an_empty_page_after_full_ones(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    fixture.body = fixture.body[:200]
    utxos = backend.utxos_at(address_of(fixture))
    assert len(utxos) == 200
    assert [r.query["page"] for r in server.requests if r.path == fixture.path] == ["1", "2", "3"]


def test_unused_address_404_is_no_utxos(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    fixture = server.fixture("unused_address_utxos")
    assert backend.utxos_at(address_of(fixture)) == []
    assert server.count(fixture.path) == 1  # a 404 is an answer, not a failure to retry


def test_address_of_another_network_is_refused(backend: BlockfrostBackend) -> None:
    mainnet = decode_address("addr1wy32q7067yt9c2em8kx5us4vhxzv4xve24u6j8ptlc5mzqcahrwzt")
    with pytest.raises(ChainError, match="network 1"):
        backend.utxos_at(mainnet)


def _pycardano_output(entry: dict[str, Any], server: FakeBlockfrost) -> bytes:
    """The same output built by pycardano from the same JSON: an independent encoder."""
    from pycardano import (
        Address,
        DatumHash,
        NativeScript,
        PlutusV2Script,
        PlutusV3Script,
        TransactionOutput,
        Value,
    )
    from pycardano.serialization import RawCBOR

    coin, multi = 0, dict[bytes, dict[bytes, int]]()
    for item in entry["amount"]:
        if item["unit"] == "lovelace":
            coin = int(item["quantity"])
        else:
            policy, name = bytes.fromhex(item["unit"][:56]), bytes.fromhex(item["unit"][56:])
            multi.setdefault(policy, {})[name] = int(item["quantity"])
    amount = Value.from_primitive([coin, multi]) if multi else coin
    script = None
    if entry.get("reference_script_hash"):
        h = entry["reference_script_hash"]
        kind = next(
            f.body["type"] for f in server.state.fixtures.values() if f.path == f"/scripts/{h}"
        )
        if kind == "timelock":
            script = NativeScript.from_dict(
                next(
                    f.body["json"]
                    for f in server.state.fixtures.values()
                    if f.path == f"/scripts/{h}/json"
                )
            )
        else:
            raw = bytes.fromhex(
                next(
                    f.body["cbor"]
                    for f in server.state.fixtures.values()
                    if f.path == f"/scripts/{h}/cbor"
                )
            )
            cls = PlutusV3Script if kind == "plutusV3" else PlutusV2Script
            script = cls(raw if kind == "plutusV3" else cbor2.loads(raw))
    inline = entry.get("inline_datum")
    out = TransactionOutput(
        Address.from_primitive(entry["address"]),
        amount,
        datum_hash=DatumHash(bytes.fromhex(entry["data_hash"]))
        if entry.get("data_hash") and not inline
        else None,
        datum=RawCBOR(bytes.fromhex(inline)) if inline else None,
        script=script,
    )
    return bytes(out.to_cbor())


def test_utxo_conversion_matches_pycardano_byte_for_byte(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    utxos = backend.utxos_at(address_of(fixture))
    for entry, utxo in zip(fixture.body, utxos, strict=True):
        assert utxo.output_cbor == _pycardano_output(entry, server), entry["tx_hash"]


def test_utxo_conversion_keeps_inline_datums_and_forms_exactly(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    utxos = backend.utxos_at(address_of(fixture))
    seen_forms = set()
    for entry, utxo in zip(fixture.body, utxos, strict=True):
        inline = entry["inline_datum"]
        has_map_form = inline is not None or entry["reference_script_hash"] is not None
        assert (utxo.output_cbor[0] >> 5 == 5) == has_map_form  # map iff datum/script inside
        if inline is not None:
            datum = bytes.fromhex(inline)
            assert utxo.inline_datum == datum
            assert utxo.datum_hash is None
            # The datum sits in the output as given, inside tag 24: never re-encoded.
            assert b"\x02\x82\x01\xd8\x18" + cbor2.dumps(datum) in utxo.output_cbor
            seen_forms.add(datum[:3].hex())
        elif entry["data_hash"] is not None:
            assert utxo.datum_hash == bytes.fromhex(entry["data_hash"])
            if entry["reference_script_hash"] is None:
                assert utxo.output_cbor[0] == 0x83  # legacy [address, value, datum hash]
        elif not has_map_form:
            assert utxo.output_cbor[0] == 0x82  # legacy [address, value]
        # The CIP-30 decoder reads back exactly the same UTxO from our bytes.
        assert Utxo.from_cbor(utxo.to_cbor()) == utxo
        lovelace = next(int(a["quantity"]) for a in entry["amount"] if a["unit"] == "lovelace")
        assert utxo.value.coin == lovelace
        tokens = {a["unit"]: int(a["quantity"]) for a in entry["amount"] if a["unit"] != "lovelace"}
        assert {asset_from_unit(u): q for u, q in tokens.items()} == dict(utxo.value.assets)
    # Definite, indefinite (9f), chunked-bytes and bignum datums all came through.
    assert {"d87984", "d8799f", "d87a81", "d87982"} <= seen_forms


def test_reference_scripts_are_verified_and_fetched_once(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    utxos = backend.utxos_at(address_of(fixture))
    with_scripts = [u for u in utxos if u.script_ref is not None]
    assert len(with_scripts) == sum(1 for e in fixture.body if e["reference_script_hash"])
    languages = set()
    for utxo, entry in zip(utxos, fixture.body, strict=True):
        if utxo.script_ref is None:
            continue
        language, script = cbor2.loads(utxo.script_ref)
        languages.add(language)
        raw = script if language else cbor2.dumps(script)
        digest = hashlib.blake2b(bytes([language]) + raw, digest_size=28).hexdigest()
        assert digest == entry["reference_script_hash"]
    assert languages == {0, 2, 3}
    # 3 scripts: type + CBOR (Plutus) or type + JSON (native), once each for 23 UTxOs.
    assert server.count("/scripts/") == 6
    backend.utxos_at(address_of(fixture))
    assert server.count("/scripts/") == 6  # cached by hash for good


def test_script_whose_cbor_does_not_match_its_hash_is_refused(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    server.fixture("script_plutus_v3_cbor").body = {"cbor": "450101002498"}
    with pytest.raises(MalformedResponseError, match="does not hash to the script hash"):
        backend.utxos_at(address_of(server.fixture("wallet_utxos")))


def test_native_script_cbor_follows_the_ledger_layout() -> None:
    key = bytes(range(28))
    script = {
        "type": "atLeast",
        "required": 1,
        "scripts": [{"type": "sig", "keyHash": key.hex()}, {"type": "after", "slot": 7}],
    }
    assert cbor2.loads(native_script_cbor(script)) == [3, 1, [[0, key], [4, 7]]]
    with pytest.raises(MalformedResponseError, match="unknown native script type"):
        native_script_cbor({"type": "nope"})


def test_malformed_utxo_entry_is_a_clear_error(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("wallet_utxos")
    entry = fixture.body[0]
    fixture.body = [dict(entry, amount=[{"unit": "lovelace", "quantity": "-5"}])]
    with pytest.raises(MalformedResponseError, match="negative"):
        backend.utxos_at(address_of(fixture))
    fixture.body = [dict(entry, inline_datum="d879", data_hash=None)]
    with pytest.raises(MalformedResponseError, match="inline_datum is not CBOR"):
        backend.utxos_at(address_of(fixture))


def test_utxos_by_ref_leaves_out_spent_collateral_and_unknown(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = bytes.fromhex(server.fixture("tx_confirmed").body["hash"])
    unknown = bytes(32)
    found = backend.utxos_by_ref([(tx, 2), (unknown, 0), (tx, 1), (tx, 0), (tx, 7)])
    assert [u.out_ref for u in found] == [(tx, 0)]  # 1 spent, 2 collateral, 7 absent
    queue_output = server.fixture("tx_confirmed_utxos").body["outputs"][0]
    assert found[0].inline_datum == bytes.fromhex(queue_output["inline_datum"])
    assert server.count(f"/txs/{tx.hex()}/utxos") == 1  # one request per transaction


def test_utxos_with_asset_and_missing_asset(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("oracle_feed_utxos")
    _, _, address, _, unit = fixture.path.split("/")
    utxos = backend.utxos_with_asset(decode_address(address), asset_from_unit(unit))
    assert len(utxos) == 1 and utxos[0].value.quantity(asset_from_unit(unit)) == 1
    other = (bytes(28), b"none")
    assert backend.utxos_with_asset(decode_address(address), other) == []


# -- caching --------------------------------------------------------------------------------------


def test_tip_is_cached_for_a_few_seconds(
    server: FakeBlockfrost, backend: BlockfrostBackend, clock: FakeClock
) -> None:
    first = backend.tip()
    assert first.slot == server.fixture("blocks_latest").body["slot"]
    assert first.epoch == 254 and first.block_height == 4123456
    assert first.time_ms == backend.slot_to_posix_ms(first.slot)  # preprod's slot clock
    clock.advance(4.9)
    assert backend.tip() == first
    assert server.count("/blocks/latest") == 1
    clock.advance(0.2)
    backend.tip()
    assert server.count("/blocks/latest") == 2


def test_protocol_parameters_are_cached_per_epoch(
    server: FakeBlockfrost, backend: BlockfrostBackend, clock: FakeClock
) -> None:
    params = backend.protocol_parameters()
    assert params.epoch == 254 and params.min_fee_a == 44
    assert set(params.cost_models) == {"PlutusV1", "PlutusV2", "PlutusV3"}
    for _ in range(3):
        clock.advance(10)  # the tip is read again each time, the parameters are not
        assert backend.protocol_parameters() is params
    assert server.count("/epochs/latest/parameters") == 1
    assert server.count("/blocks/latest") == 4
    server.fixture("blocks_latest").body["epoch"] = 255
    server.fixture("epochs_latest_parameters").body["epoch"] = 255
    clock.advance(10)
    assert backend.protocol_parameters().epoch == 255
    assert server.count("/epochs/latest/parameters") == 2


def test_reference_script_fee_uses_the_live_parameter(
    server: FakeBlockfrost, backend: BlockfrostBackend, clock: FakeClock
) -> None:
    params = backend.protocol_parameters()
    # 25,600 bytes at 15 lovelace, then 4,400 at 15 x 1.2 = 18.
    assert ref_script_fee(params, 30_000) == 25_600 * 15 + 4_400 * 18
    server.fixture("blocks_latest").body["epoch"] = 255
    server.fixture("epochs_latest_parameters").body.update(
        epoch=255, min_fee_ref_script_cost_per_byte=44
    )
    clock.advance(10)
    changed = backend.protocol_parameters()
    assert ref_script_fee(changed, 30_000) == 25_600 * 44 + (4_400 * 44 * 6) // 5


def test_slot_time_conversions_for_preprod(backend: BlockfrostBackend) -> None:
    assert backend.slot_to_posix_ms(86_400) == 1_655_769_600_000
    assert backend.posix_ms_to_slot(1_655_769_600_999) == 86_400
    assert backend.posix_ms_to_slot(backend.slot_to_posix_ms(108_216_800)) == 108_216_800


# -- rate limiting --------------------------------------------------------------------------------


def test_token_bucket_allows_the_burst_then_ten_per_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=500, clock=clock, sleep=clock.sleep)
    for _ in range(500):
        assert bucket.acquire() == 0.0
    assert clock.sleeps == []
    for _ in range(20):
        assert bucket.acquire() == pytest.approx(0.1)
    assert clock.sleeps == pytest.approx([0.1] * 20)  # steady 10/s once the burst is spent
    clock.advance(100.0)  # a long pause refills, but never beyond the burst
    assert bucket.tokens == pytest.approx(500)


def test_token_bucket_is_thread_safe_and_serves_waiters_in_turn() -> None:
    frozen = FakeClock()  # time never moves: every token past the burst must be reserved
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    bucket = TokenBucket(rate=10, burst=500, clock=frozen, sleep=record)

    def worker() -> None:
        for _ in range(100):
            bucket.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bucket.tokens == pytest.approx(500 - 800)  # no token lost or double-counted
    # The 300 over-burst callers wait 0.1 s, 0.2 s, ... 30 s: one slot each, none shared.
    assert sorted(round(w * 10) for w in waits) == list(range(1, 301))


def test_backend_requests_go_through_the_limiter(server: FakeBlockfrost) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock, sleep=clock.sleep)
    with make_backend(server, limiter=bucket) as backend:
        backend.utxos_at(address_of(server.fixture("wallet_utxos")))  # 3 pages + 6 scripts
    assert len(clock.sleeps) == 7 and all(s == pytest.approx(0.1) for s in clock.sleeps)


# -- retries --------------------------------------------------------------------------------------


def test_a_429_burst_is_retried_with_growing_jittered_backoff(
    server: FakeBlockfrost, backend: BlockfrostBackend, sleeps: Sleeps
) -> None:
    server.inject("/blocks/latest", *[Fault.status_code(429)] * 3)
    assert backend.tip().epoch == 254
    assert server.count("/blocks/latest") == 4
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        cap = min(8.0, 0.5 * 2**attempt)
        assert cap / 2 <= wait <= cap


def test_retry_after_is_honoured(
    server: FakeBlockfrost, backend: BlockfrostBackend, sleeps: Sleeps
) -> None:
    server.inject("/blocks/latest", Fault.status_code(429, retry_after="3"))
    backend.tip()
    assert list(sleeps) == [pytest.approx(3.0)]


def test_500s_are_retried(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    server.inject("/epochs/latest/parameters", Fault.status_code(500), Fault.status_code(502))
    assert backend.protocol_parameters().epoch == 254
    assert server.count("/epochs/latest/parameters") == 3


def test_retries_are_bounded_and_the_error_names_endpoint_and_status(
    server: FakeBlockfrost, backend: BlockfrostBackend, sleeps: Sleeps
) -> None:
    server.inject("/blocks/latest", *[Fault.status_code(503)] * 10)
    with pytest.raises(RetriesExhaustedError) as info:
        backend.tip()
    message = str(info.value)
    assert "GET /blocks/latest" in message and "5 attempt" in message and "HTTP 503" in message
    assert server.count("/blocks/latest") == 5
    assert len(sleeps) == 4  # no pointless sleep after the last attempt


def test_slow_answers_time_out_and_are_retried(server: FakeBlockfrost) -> None:
    with make_backend(server, timeout=0.2) as backend:
        server.inject("/blocks/latest", Fault.delay(0.6))
        assert backend.tip().epoch == 254
    assert server.count("/blocks/latest", "GET") == 2  # the slow one, then its retry
    assert server.pending_faults == 0


def test_timeouts_every_time_give_a_clear_error(server: FakeBlockfrost) -> None:
    retry = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
    with make_backend(server, timeout=0.15, retry=retry) as backend:
        server.inject("/blocks/latest", Fault.delay(0.5), Fault.delay(0.5))
        with pytest.raises(RetriesExhaustedError, match=r"2 attempt.*timeout"):
            backend.tip()


def test_bodies_cut_short_are_retried(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    fixture = server.fixture("wallet_utxos")
    server.inject(fixture.path, Fault.cut(), Fault.bad_json())
    assert len(backend.utxos_at(address_of(fixture))) == 250
    assert [r.query["page"] for r in server.requests if r.path == fixture.path] == [
        "1",
        "1",
        "1",
        "2",
        "3",
    ]


def test_cut_bodies_every_time_give_a_clear_error(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    server.inject("/blocks/latest", *[Fault.bad_json()] * 5)
    with pytest.raises(RetriesExhaustedError, match="malformed JSON"):
        backend.tip()
    server.inject("/blocks/latest", *[Fault.cut()] * 5)
    with pytest.raises(RetriesExhaustedError, match="transport error"):
        backend.tip()


def test_a_status_retrying_cannot_fix_is_not_retried(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    server.inject("/blocks/latest", Fault.status_code(403))
    with pytest.raises(StatusError, match="HTTP 403") as info:
        backend.tip()
    assert info.value.status == 403
    assert server.count("/blocks/latest") == 1


# -- submission -----------------------------------------------------------------------------------


def test_submit_returns_the_transaction_id(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction()
    assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.state.submits[tx_id_of(tx)] == 1
    assert backend.tx_status(bytes.fromhex(tx_id_of(tx))).state is TxState.IN_MEMPOOL


@pytest.mark.parametrize(
    "fault",
    [Fault.status_code(500, after=True), Fault.cut(after=True), Fault.status_code(502, after=True)],
    ids=["500-after-accepting", "cut-after-accepting", "502-after-accepting"],
)
def test_no_duplicate_submit_when_an_accepted_submit_fails(
    server: FakeBlockfrost, backend: BlockfrostBackend, fault: Fault
) -> None:
    tx = a_transaction(1)
    server.inject("/tx/submit", fault)
    assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.count("/tx/submit", "POST") == 1
    assert server.state.submits[tx_id_of(tx)] == 1
    assert server.count(f"/mempool/{tx_id_of(tx)}") == 1  # looked up instead of resent


def test_no_duplicate_submit_when_an_accepted_submit_times_out(server: FakeBlockfrost) -> None:
    tx = a_transaction(2)
    with make_backend(server, timeout=0.2) as backend:
        server.inject("/tx/submit", Fault.delay(0.6, after=True))
        assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.count("/tx/submit", "POST") == 1
    assert server.state.submits[tx_id_of(tx)] == 1


def test_a_submit_that_failed_before_reaching_the_node_is_sent_again(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(3)
    server.inject("/tx/submit", Fault.status_code(500))  # failed before taking effect
    assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.count("/tx/submit", "POST") == 2
    assert server.state.submits[tx_id_of(tx)] == 1  # the node saw it once
    posts_and_lookups = [
        (r.method, r.path.split("/")[1]) for r in server.requests if r.path != "/blocks/latest"
    ]
    # The lookup (/txs then /mempool) comes between the two POSTs, never after a success.
    assert posts_and_lookups == [("POST", "tx"), ("GET", "txs"), ("GET", "mempool"), ("POST", "tx")]


def test_a_429_burst_on_submit_is_retried_without_lookups(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(4)
    server.inject("/tx/submit", *[Fault.status_code(429)] * 3)
    assert backend.submit(tx).hex() == tx_id_of(tx)
    assert server.count("/tx/submit", "POST") == 4
    assert server.count("/mempool/") == 0 and server.count("/txs/") == 0
    assert server.state.submits[tx_id_of(tx)] == 1


def test_a_rejection_is_a_submit_error_with_the_node_message(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(5)
    message = (
        "transaction submit error ShelleyTxValidationError ShelleyBasedEraConway (ApplyTxError "
        "[ConwayUtxowFailure (UtxoFailure (ValueNotConservedUTxO (Mismatch {mismatchSupplied = "
        "MaryValue (Coin 5000000) (MultiAsset (fromList [])), mismatchExpected = MaryValue (Coin "
        "4000000) (MultiAsset (fromList []))})))])"
    )
    server.reject(tx_id_of(tx), message)
    with pytest.raises(SubmitError) as info:
        backend.submit(tx)
    assert message in str(info.value)
    assert info.value.rule == "ValueNotConservedUTxO"
    assert server.count("/tx/submit", "POST") == 1


def test_submitting_the_same_bytes_twice_is_idempotent(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(6)
    first = backend.submit(tx)
    assert backend.submit(tx) == first  # the node says BadInputsUTxO; the lookup finds it
    assert len(server.state.mempool) == 1


def test_submit_retries_run_out_with_a_clear_error(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(7)
    server.inject("/tx/submit", *[Fault.status_code(503)] * 5)
    with pytest.raises(RetriesExhaustedError) as info:
        backend.submit(tx)
    assert "POST /tx/submit" in str(info.value) and "HTTP 503" in str(info.value)
    assert tx_id_of(tx) in str(info.value)
    assert server.count("/tx/submit", "POST") == 5
    assert server.state.submits[tx_id_of(tx)] == 0


def test_submit_never_resends_when_the_lookup_cannot_answer(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    tx = a_transaction(8)
    server.inject("/tx/submit", Fault.status_code(500, after=True))
    server.inject("/txs/", *[Fault.status_code(500)] * 5)
    with pytest.raises(ChainError, match="may or may not have been accepted"):
        backend.submit(tx)
    assert server.count("/tx/submit", "POST") == 1
    assert server.state.submits[tx_id_of(tx)] == 1


def test_submit_refuses_bytes_that_are_not_a_transaction(backend: BlockfrostBackend) -> None:
    with pytest.raises(SubmitError, match="CBOR array"):
        backend.submit(b"\xa0")


def test_rejection_rule_names() -> None:
    assert rejection_rule("(UtxoFailure (BadInputsUTxO (fromList") == "BadInputsUTxO"
    assert rejection_rule("ConwayUtxowFailure (MissingVKeyWitnessesUTXOW") == (
        "MissingVKeyWitnessesUTXOW"
    )
    assert rejection_rule("something else entirely") is None


# -- evaluation -----------------------------------------------------------------------------------


def test_evaluate_reads_ogmios_v5_answers_and_sends_additional_utxos(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    extra = backend.utxos_at(address_of(server.fixture("wallet_utxos")))
    chosen = [u for u in extra if u.inline_datum and u.value.assets][:1]
    chosen += [u for u in extra if u.script_ref and cbor2.loads(u.script_ref)[0] == 3][:1]
    chosen += [u for u in extra if u.datum_hash and not u.script_ref][:1]
    tx = a_transaction(9)
    assert backend.evaluate(tx, chosen) == {
        ("spend", 0): ExUnits(1765011, 503871230),
        ("mint", 0): ExUnits(15694, 3776164),
    }
    (sent,) = server.state.evaluate_bodies
    assert sent["cbor"] == tx.hex()
    assert sent["additionalUtxoSet"] == [ogmios_utxo(u) for u in chosen]
    tx_in, tx_out = sent["additionalUtxoSet"][0]
    assert tx_in == {"txId": chosen[0].tx_hash.hex(), "index": chosen[0].index}
    assert tx_out["datum"] == chosen[0].inline_datum.hex()  # type: ignore[union-attr]
    assert tx_out["value"]["coins"] == chosen[0].value.coin
    assert all("." in k or len(k) == 56 for k in tx_out["value"]["assets"])
    script = sent["additionalUtxoSet"][1][1]["script"]
    assert set(script) == {"plutus:v3"}
    assert sent["additionalUtxoSet"][2][1]["datumHash"] == chosen[2].datum_hash.hex()  # type: ignore[union-attr]


def test_evaluate_reads_ogmios_v6_answers(server: FakeBlockfrost) -> None:
    server.use("evaluate_v6")
    with make_backend(server, evaluate_version=6) as backend:
        assert backend.evaluate(a_transaction()) == {
            ("spend", 0): ExUnits(1765011, 503871230),
            ("mint", 0): ExUnits(15694, 3776164),
        }
    (request,) = [r for r in server.requests if r.path == "/utils/txs/evaluate/utxos"]
    assert request.query == {"version": "6"}


@pytest.mark.parametrize("name", ["evaluate_failure_v5", "evaluate_failure_v6"])
def test_evaluation_failures_carry_message_and_traces(
    server: FakeBlockfrost, backend: BlockfrostBackend, name: str
) -> None:
    server.use(name)
    with pytest.raises(EvaluationError, match="validator returned False") as info:
        backend.evaluate(a_transaction())
    assert info.value.trace == ["purchase: oracle window closed", "PT5"]


def test_evaluation_answers_of_unknown_shape_are_errors() -> None:
    with pytest.raises(MalformedResponseError):
        parse_evaluation({"result": {"Something": 1}})
    with pytest.raises(MalformedResponseError):
        parse_evaluation({"result": {"EvaluationResult": {"spend:0": {"memory": -1, "steps": 1}}}})
    with pytest.raises(EvaluationError, match="fault"):
        parse_evaluation({"fault": {"code": "client", "string": "bad"}})
    assert parse_evaluation(
        {
            "result": {
                "EvaluationResult": {
                    "publish:1": {"memory": 1, "steps": 2},
                    "withdrawal:0": {"memory": 3, "steps": 4},
                }
            }
        }
    ) == {
        ("cert", 1): ExUnits(1, 2),
        ("reward", 0): ExUnits(3, 4),
    }


def test_evaluation_is_retried_on_server_errors(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    server.inject("/utils/txs/evaluate/utxos", Fault.status_code(500), Fault.cut())
    assert ("spend", 0) in backend.evaluate(a_transaction())
    assert server.count("/utils/txs/evaluate/utxos") == 3


# -- status ---------------------------------------------------------------------------------------


def test_tx_status_confirmed_with_depth(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    tx = server.fixture("tx_confirmed").body
    status = backend.tx_status(bytes.fromhex(tx["hash"]))
    assert status.state is TxState.CONFIRMED
    assert status.depth == 12  # the tip is 11 blocks above it
    assert (status.slot, status.block_height) == (tx["slot"], tx["block_height"])


def test_tx_status_rereads_a_stale_tip(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    backend.tip()
    tx = server.fixture("tx_confirmed").body
    tx["block_height"] = server.fixture("blocks_latest").body["height"] + 1
    server.fixture("blocks_latest").body["height"] += 3
    assert backend.tx_status(bytes.fromhex(tx["hash"])).depth == 3
    assert server.count("/blocks/latest") == 2


def test_tx_status_in_mempool_and_unknown(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    pending = bytes.fromhex(server.fixture("mempool_tx").path.split("/")[2])
    assert backend.tx_status(pending).state is TxState.IN_MEMPOOL
    assert backend.tx_status(bytes(32)).state is TxState.UNKNOWN


def test_tx_status_without_a_mempool_endpoint_is_unknown(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    server.inject("/mempool/", Fault.status_code(403))
    assert backend.tx_status(bytes(32)).state is TxState.UNKNOWN


# -- oracle ---------------------------------------------------------------------------------------


def test_oracle_price_reads_the_charli3_datum(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    fixture = server.fixture("oracle_feed_utxos")
    _, _, address, _, unit = fixture.path.split("/")
    reading = backend.oracle_price(decode_address(address), asset_from_unit(unit))
    datum = bytes.fromhex(fixture.body[0]["inline_datum"])
    expected = OracleDatum.from_cbor(datum)
    assert (reading.price, reading.valid_from_ms, reading.valid_to_ms) == (
        2723,
        expected.start_ms,
        expected.end_ms,
    )
    assert reading.utxo.inline_datum == datum  # indefinite-length bytes kept as they are
    tip = backend.tip()
    assert reading.valid_from_ms <= tip.time_ms <= reading.valid_to_ms


def test_oracle_price_errors(server: FakeBlockfrost, backend: BlockfrostBackend) -> None:
    fixture = server.fixture("oracle_feed_utxos")
    _, _, address, _, unit = fixture.path.split("/")
    with pytest.raises(ChainError, match="no UTxO holds the feed NFT"):
        backend.oracle_price(decode_address(address), (bytes(28), b"OracleFeed"))
    entry = fixture.body[0]
    fixture.body = [entry, dict(entry, output_index=1)]
    with pytest.raises(ChainError, match="2 UTxOs hold the feed NFT"):
        backend.oracle_price(decode_address(address), asset_from_unit(unit))
    bad = cbor2.dumps(cbor2.CBORTag(121, [1, 2])).hex()
    fixture.body = [dict(entry, inline_datum=bad, data_hash=None)]
    with pytest.raises(ChainError, match="OracleDatum"):
        backend.oracle_price(decode_address(address), asset_from_unit(unit))
