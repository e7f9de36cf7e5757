"""Every recorded Blockfrost response in fixtures/blockfrost/ obeys Blockfrost's own OpenAPI spec.

The spec comes from the `@blockfrost/openapi` npm package (tests/interop, `npm ci`). OpenAPI 3.0
schemas are turned into JSON Schema (`nullable` becomes a `null` alternative) and each fixture's
body is validated, `$ref`s resolved, against the schema of its endpoint's response for its
status. Without the package the tests skip, or fail when CARDANO_MARKET_REQUIRE_INTEROP=1.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import pytest
from fake_blockfrost import FIXTURES, FakeBlockfrost, Fixture, load_fixtures

from cardano_market.chain.blockfrost import BlockfrostBackend
from cardano_market.domain.address import decode_address
from interop.csl import REQUIRE_ENV, interop_required

SPEC = (
    Path(__file__).resolve().parents[1]
    / "interop"
    / "node_modules"
    / "@blockfrost"
    / "openapi"
    / "openapi.yaml"
)
SKIP_REASON = "@blockfrost/openapi not installed: run npm ci in tests/interop"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.is_file():
        if interop_required():
            pytest.fail(f"{SKIP_REASON} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
        pytest.skip(SKIP_REASON)
    return load_spec(SPEC)


@cache
def load_spec(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as f:
        raw = yaml.load(f, Loader=loader)
    return dict(to_json_schema(raw))


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema 2020-12: `nullable: true` admits null."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def validator_for(spec: dict[str, Any], endpoint: str, method: str, status: int) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    operation = spec["paths"][endpoint][method.lower()]
    response = operation["responses"][str(status)]
    if "$ref" in response:  # a shared response such as '#/components/responses/404'
        name = response["$ref"].rsplit("/", 1)[-1]
        response = spec["components"]["responses"][name]
    schema = response["content"]["application/json"]["schema"]
    registry = Registry().with_resource(
        "urn:blockfrost", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    # Local "#/components/..." references resolve against the whole spec.
    wrapped = {"$id": "urn:blockfrost-response", **copy.deepcopy(schema)}
    wrapped = _rebase_refs(wrapped)
    return Draft202012Validator(wrapped, registry=registry)


def _rebase_refs(node: Any) -> Any:
    if isinstance(node, list):
        return [_rebase_refs(item) for item in node]
    if isinstance(node, dict):
        out = {k: _rebase_refs(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            out["$ref"] = "urn:blockfrost" + ref
        return out
    return node


def _errors(spec: dict[str, Any], fixture: Fixture, body: Any) -> list[str]:
    validator = validator_for(spec, fixture.endpoint, fixture.method, fixture.status)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


FIXTURE_NAMES = sorted(load_fixtures())


def test_there_are_fixtures_for_every_endpoint_the_backend_reads() -> None:
    endpoints = {f.endpoint for f in load_fixtures().values()}
    assert endpoints >= {
        "/epochs/latest/parameters",
        "/blocks/latest",
        "/addresses/{address}/utxos",
        "/addresses/{address}/utxos/{asset}",
        "/scripts/{script_hash}",
        "/scripts/{script_hash}/cbor",
        "/scripts/{script_hash}/json",
        "/txs/{hash}",
        "/txs/{hash}/utxos",
        "/mempool/{hash}",
        "/tx/submit",
        "/utils/txs/evaluate/utxos",
    }
    assert FIXTURES.is_dir()


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_matches_the_blockfrost_openapi_spec(spec: dict[str, Any], name: str) -> None:
    fixture = load_fixtures()[name]
    assert fixture.endpoint in spec["paths"], f"{fixture.endpoint} is not a Blockfrost endpoint"
    operation = spec["paths"][fixture.endpoint].get(fixture.method.lower())
    assert operation is not None, f"{fixture.method} {fixture.endpoint} is not in the spec"
    assert str(fixture.status) in operation["responses"]
    assert _errors(spec, fixture, fixture.body) == []


def test_the_validator_catches_a_broken_fixture(spec: dict[str, Any]) -> None:
    """The check has teeth: a missing required field, a wrong type, a bad null are all caught."""
    fixtures = load_fixtures()
    utxos = fixtures["wallet_utxos"]
    entry = dict(utxos.body[0])
    del entry["reference_script_hash"]
    assert any("reference_script_hash" in e for e in _errors(spec, utxos, [entry]))
    assert _errors(spec, utxos, [dict(utxos.body[0], output_index="0")])
    block = fixtures["blocks_latest"]
    assert _errors(spec, block, dict(block.body, block_vrf="vrf_vk1short"))
    assert _errors(spec, block, dict(block.body, hash=None))  # hash is not nullable
    assert _errors(spec, block, dict(block.body, next_block=None)) == []  # next_block is


def test_the_fake_servers_own_answers_match_the_spec(spec: dict[str, Any]) -> None:
    """Pages, the dynamic mempool entry and the 404 the fake makes up are Blockfrost-shaped too."""
    with (
        FakeBlockfrost() as server,
        BlockfrostBackend("preprodX", "preprod", server.url, sleep=lambda _: None) as backend,
    ):
        wallet = server.fixture("wallet_utxos")
        tx = cbor2.dumps([{0: [[bytes(32), 1]], 1: [], 2: 0}, {}, True, None])
        tx_id = backend.submit(tx)
        assert backend.tx_status(tx_id).state == "in_mempool"
        backend.tx_status(bytes(32))  # 404 from /txs and from /mempool
        backend.utxos_at(decode_address(wallet.path.split("/")[2]))
        backend.utxos_at(decode_address(server.fixture("unused_address_utxos").path.split("/")[2]))
    checked = 0
    for request in server.requests:
        if request.method != "GET" or request.status is None:
            continue
        endpoint = _endpoint_of(request.path)
        fixture = Fixture("live", "GET", endpoint, request.path, request.status, False, None)
        body = json.loads(request.response)
        assert _errors(spec, fixture, body) == [], request.path
        checked += 1
    assert checked >= 12


def _endpoint_of(path: str) -> str:
    parts = path.split("/")
    if parts[1] == "addresses":
        return "/addresses/{address}/utxos"
    if parts[1] == "mempool":
        return "/mempool/{hash}"
    if parts[1] == "txs":
        return "/txs/{hash}"
    if parts[1] == "scripts":
        return "/scripts/{script_hash}" + ("/" + parts[3] if len(parts) > 3 else "")
    return path


def test_the_evaluation_request_we_send_matches_the_spec(spec: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    operation = spec["paths"]["/utils/txs/evaluate/utxos"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    with (
        FakeBlockfrost() as server,
        BlockfrostBackend("preprodX", "preprod", server.url, sleep=lambda _: None) as backend,
    ):
        utxos = backend.utxos_at(decode_address(server.fixture("wallet_utxos").path.split("/")[2]))
        plutus = [u for u in utxos if u.script_ref is None or u.script_ref[1] != 0]
        backend.evaluate(b"\x84\xa0\xa0\xf5\xf6", plutus[:40])
        (sent,) = server.state.evaluate_bodies
    errors = list(Draft202012Validator(schema).iter_errors(sent))
    assert errors == []
    assert len(sent["additionalUtxoSet"]) == 40
    for pair in sent["additionalUtxoSet"]:
        assert len(pair) == 2 and {"txId", "index"} == set(pair[0])
        assert {"address", "value"} <= set(pair[1])
