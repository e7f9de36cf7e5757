"""Bad input sweep: requests generated from the service's own OpenAPI schema, valid and invalid
(schemathesis), against every v1 route, must never be answered 5xx (DESIGN: "No endpoint answers
500 for bad input").

Two passes over the whole service on a fresh devnet + SQLite: reCAPTCHA disabled, so every
request reaches its handler; then reCAPTCHA enabled against the local assessment server with
random header values (400/401/403 are fine there). Generated values are mixed with real ones
(the seed's sale ids, issued order ids, a wallet's address and UTxOs) so that requests get past
the first lookup into pricing, coin selection and the ledger. Deterministic: hypothesis is
derandomized, with a fixed number of examples per operation and generation mode.
"""

from __future__ import annotations

import inspect
import string
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import BaseModel
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from service_world import API_KEY, SITE_KEY

from cardano_market.config import load_settings
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from cardano_market.service.recaptcha import Action

V1_PATHS = "^/v1/"
OPEN_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
"""Requests per v1 operation and generation mode with reCAPTCHA disabled."""
GUARDED_EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
"""Requests per v1 operation and generation mode with reCAPTCHA enabled."""
ISSUED_ORDERS = 8
"""Orders issued up front, so that order transaction requests can name real ones."""
PHASES = (Phase.explicit, Phase.generate, Phase.shrink)
TEST_SERVER_DIRECTIVES = ("slow:", "fail:", "garbage:")
"""Tokens the local assessment server reads as "be slow / fail / answer garbage": a simulated
outage, rightly a 503, so kept out of the random tokens."""


@dataclass(frozen=True)
class KnownValues:
    """Real values to mix into generated bodies (by field name), so some get past the lookups."""

    by_field: dict[str, list[Any]]
    sale_ids: list[str]


@dataclass
class Sweep:
    """What a sweep saw: one report per (operation, mode) that hit a 5xx, and every answer."""

    failures: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def answered(self, low: int, high: int) -> int:
        return sum(n for (_, status), n in self.statuses.items() if low <= status < high)


def test_v1_sweep_with_recaptcha_disabled(tmp_path: Path, clean_env: None) -> None:
    with _service(tmp_path, recaptcha_url=None) as (client, parts):
        known = _known_values(client, parts)
        sweep = _sweep(client, known, examples=OPEN_EXAMPLES)
    assert not sweep.failures, "\n\n".join(sweep.failures)
    assert {label for label, _ in sweep.statuses} == _v1_operations(client), "every route ran"
    # Not only rejections: the real values carried requests through to the use cases.
    assert sweep.answered(200, 300) and sweep.answered(400, 500), sweep.statuses
    assert sweep.statuses["POST /v1/marketplace/orders/amount", 200], sweep.statuses


def test_v1_sweep_with_recaptcha_enabled_and_random_headers(
    tmp_path: Path, clean_env: None, assessment_url: str
) -> None:
    with _service(tmp_path, recaptcha_url=assessment_url) as (client, parts):
        known = _known_values(client, parts, headers=_valid_headers(Action.GENERATE_ORDER_AMOUNT))
        sweep = _sweep(client, known, examples=GUARDED_EXAMPLES, headers=_recaptcha_headers)
    assert not sweep.failures, "\n\n".join(sweep.failures)
    assert {label for label, _ in sweep.statuses} == _v1_operations(client), "every route ran"
    statuses = {status for _, status in sweep.statuses}
    assert {400, 403} <= statuses, sweep.statuses  # missing headers; failed verifications
    assert sweep.answered(200, 300), sweep.statuses  # some random tokens were valid ones


V2_EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
"""Requests per v2 operation and generation mode."""


def test_v2_sweep_with_real_and_malformed_bearer_tokens(tmp_path: Path, clean_env: None) -> None:
    """Every v2 route (custodial API) with a seed user's token, an admin's, a malformed one, one
    with `alg: none`, or none; wrong types, negative and huge quantities, unknown ids: no 5xx."""
    with _service(tmp_path, recaptcha_url=None) as (client, parts):
        v2 = parts.v2
        assert v2 is not None, "the devnet serves the v2 API"
        users = [user.id for user in parts.devnet.users]
        tokens = list(parts.devnet.token_ids.values())
        bearer = [
            {"Authorization": f"Bearer {v2.verifier.issue_token(users[0])}"},
            {"Authorization": f"Bearer {v2.verifier.issue_token(users[0], admin=True)}"},
            {"Authorization": "Bearer not.a.jwt"},
            {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},  # alg: none
            {},
        ]
        known = KnownValues(
            by_field={
                "user_id": users,
                "token_id": tokens,
                "tokenID": tokens,
                "price_id": tokens,
                "deal_id": [1, 2, 10**30, -1],
            },
            sale_ids=[],
        )
        sweep = _sweep(
            client,
            known,
            examples=V2_EXAMPLES,
            headers=lambda _action: st.sampled_from(bearer),
            paths="^/v2/",
        )
    assert not sweep.failures, "\n\n".join(sweep.failures)
    assert {label for label, _ in sweep.statuses} == _v1_operations(client, "/v2/")
    statuses = {status for _, status in sweep.statuses}
    assert 401 in statuses and sweep.answered(200, 300), sweep.statuses


def test_the_sweep_reports_a_server_error() -> None:
    """The harness itself: a route that lets an exception escape (a 500) and one that answers
    503 are both reported, each with its operation and the request."""
    app = FastAPI()

    @app.post("/v1/marketplace/orders/amount")
    def amount(order: _Order) -> dict[str, int]:
        if order.quantity >= 0:
            raise RuntimeError("a bug the error handlers do not map")
        return {"quantity": order.quantity}

    @app.get("/v1/cardano/unavailable")
    def unavailable() -> JSONResponse:
        return JSONResponse({"cause": "down"}, status_code=503)

    known = KnownValues(by_field={}, sale_ids=[])
    with TestClient(app) as client:
        sweep = _sweep(client, known, examples={GenerationMode.POSITIVE: 10}, shrink=False)
    crashes = [f for f in sweep.failures if f.startswith("POST /v1/marketplace/orders/amount")]
    answers = [f for f in sweep.failures if f.startswith("GET /v1/cardano/unavailable")]
    assert len(crashes) == len(answers) == 1, sweep.failures
    assert "RuntimeError: a bug the error handlers do not map" in crashes[0]
    assert "curl -X POST" in crashes[0]
    assert "Server error" in answers[0] and "503" in answers[0]


class _Order(BaseModel):
    quantity: int


Headers = Callable[[Action | None], st.SearchStrategy[dict[str, str]]]
"""Extra request headers to generate, given the operation's reCAPTCHA action (if it has one)."""


def _no_headers(_action: Action | None) -> st.SearchStrategy[dict[str, str]]:
    return st.just({})


def _sweep(
    client: TestClient,
    known: KnownValues,
    *,
    examples: Mapping[GenerationMode, int],
    headers: Headers = _no_headers,
    shrink: bool = True,
    paths: str = V1_PATHS,
) -> Sweep:
    """Run every v1 operation in each generation mode of `examples` (that many requests); one
    failure report per (operation, mode) that hit a 5xx (shrunk to a small request first unless
    `shrink` is false)."""
    app = client.app
    assert isinstance(app, FastAPI)
    spec = app.openapi()
    schema = schemathesis.openapi.from_dict(spec).include(path_regex=paths)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the service's own schema is invalid: {result.err()}"
        operations.append(result.ok())
    assert operations, f"the schema has no operations under {paths}"
    actions = _route_actions(app)
    sweep = Sweep()
    for operation in operations:
        for mode, count in examples.items():
            if mode is GenerationMode.NEGATIVE and not _breakable(
                spec, operation.path, operation.method
            ):
                continue
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                cases = st.one_of(cases, _with_known_values(cases, known))
            run = _property(client, operation.label, cases, headers(actions.get(operation.label)))
            try:
                settings(
                    max_examples=count,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=PHASES if shrink else PHASES[:-1],
                )(run)(sweep)
            except (FailureGroup, Exception) as exc:  # a 5xx answer, or what the app let escape
                sweep.failures.append(f"{operation.label} [{mode.value}]: {_report(exc)}")
    return sweep


def _property(
    client: TestClient,
    label: str,
    cases: st.SearchStrategy[Case[Any]],
    headers: st.SearchStrategy[dict[str, str]],
) -> Callable[[Sweep], None]:
    """The hypothesis test for one operation: send each case, count its status in the sweep."""

    @given(case=cases, extra_headers=headers)
    def run(sweep: Sweep, case: Case[Any], extra_headers: dict[str, str]) -> None:
        status = _send(client, case, extra_headers)
        if status is not None:
            sweep.statuses[label, status] += 1

    return run


def _route_actions(app: FastAPI) -> dict[str, Action]:
    """`METHOD /path` -> the reCAPTCHA action its guard verifies (read from the guard's closure:
    `recaptcha_guard(action)`)."""
    actions = {}
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for dependency in route.dependencies:
            if dependency.dependency is None:
                continue
            action = inspect.getclosurevars(dependency.dependency).nonlocals.get("action")
            if isinstance(action, Action):
                for method in route.methods or ():
                    actions[f"{method} {route.path}"] = action
    return actions


def _breakable(spec: Mapping[str, Any], path: str, method: str) -> bool:
    """Whether a request can violate the schema of `path`'s operation: it needs a body or a query
    parameter. A path id and the reCAPTCHA headers are free-form strings: any value is valid, so
    the negative mode could generate nothing (hypothesis would call it unsatisfiable)."""
    operation = spec["paths"][path][method.lower()]
    parameters = operation.get("parameters", [])
    return "requestBody" in operation or any(p["in"] == "query" for p in parameters)


def _report(exc: BaseException) -> str:
    """A check failure's own message (it has the request as curl); else the traceback, with
    hypothesis' falsifying example in its notes."""
    if isinstance(exc, FailureGroup):
        return str(exc)
    return "".join(traceback.format_exception(exc))


def _v1_operations(client: TestClient, prefix: str = "/v1/") -> set[str]:
    app = client.app
    assert isinstance(app, FastAPI)
    paths = app.openapi()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith(prefix)
        for method in operations
    }


def _send(client: TestClient, case: Case[Any], extra_headers: dict[str, str]) -> int | None:
    """Send `case` through the in-process client and return the status; fail on a 5xx, or when
    the app lets an exception escape (which a server answers 500). None: not sent."""
    sent = case.as_transport_kwargs(base_url=str(client.base_url))
    header_values = {**sent.get("headers", {}), **extra_headers}
    token = header_values.get("g-recaptcha-token", "")
    if token.startswith(TEST_SERVER_DIRECTIVES):
        return None
    request: dict[str, Any] = {
        "params": sent.get("params"),
        # Bytes: httpx would encode str header values as ASCII, but any latin-1 text is valid.
        "headers": {name: str(value).encode("latin-1") for name, value in header_values.items()},
    }
    if "json" in sent:
        request["json"] = sent["json"]
    elif "data" in sent:
        data = sent["data"]
        request["content" if isinstance(data, bytes | str) else "data"] = data
    try:
        response = client.request(sent["method"], sent["url"], **request)
    except Exception as exc:
        exc.add_note(f"request: {case.as_curl_command(headers=extra_headers)}")
        raise
    case.validate_response(response, checks=[not_a_server_error])
    status: int = response.status_code
    return status


def _with_known_values(cases: st.SearchStrategy[Case[Any]], known: KnownValues) -> Any:
    """Generated cases with some body fields (and the path's sale id) replaced by real values,
    chosen by hypothesis so that shrinking and derandomizing still apply."""

    @st.composite
    def seasoned(draw: st.DrawFn) -> Case[Any]:
        case = draw(cases)
        if isinstance(case.body, dict):
            body = dict(case.body)
            for key, pool in known.by_field.items():
                use_known: bool = draw(st.booleans())
                if key in body and pool and use_known:
                    body[key] = draw(st.sampled_from(pool))
            case.body = body
        if case.path_parameters and "saleId" in case.path_parameters and known.sale_ids:
            case.path_parameters = {"saleId": draw(st.sampled_from(known.sale_ids))}
        elif case.path_parameters:
            parameters = dict(case.path_parameters)
            for key, pool in known.by_field.items():
                if key in parameters and pool and draw(st.booleans()):
                    parameters[key] = draw(st.sampled_from(pool))
            case.path_parameters = parameters
        return case

    return seasoned()


def _recaptcha_headers(action: Action | None) -> st.SearchStrategy[dict[str, str]]:
    """Random reCAPTCHA headers: absent, blank, unknown platforms, garbage, and well-formed
    tokens for the operation's `action` or any other, with any score. The simplest draw (where
    hypothesis starts) is a valid pair, so some requests get through to the handlers."""
    # HTTP strips the ends of a header value, so a value with spaces there cannot be sent.
    text = st.text(alphabet=string.printable.strip() + " ", max_size=40).map(str.strip)
    platform = st.sampled_from(["Web", "web", "WEB", "Android", "iOS", ""]) | text
    expected = [str(action)] if action is not None else []
    token = st.one_of(
        st.builds(
            "valid:{}:{}".format,
            st.sampled_from(expected + [str(a) for a in Action]) | text,
            st.sampled_from(["0.9", "1", "0.5", "0.1", "0", "x", "-1", "NaN"]),
        ),
        st.sampled_from(["invalid:expired", "invalid:", "valid:", ""]),
        text,
    )
    both = st.fixed_dictionaries({"g-recaptcha-platform": platform, "g-recaptcha-token": token})
    some = st.fixed_dictionaries(
        {}, optional={"g-recaptcha-platform": platform, "g-recaptcha-token": token}
    )
    return both | some


def _valid_headers(action: Action) -> dict[str, str]:
    return {"g-recaptcha-platform": "Web", "g-recaptcha-token": f"valid:{action}:0.9"}


def _known_values(
    client: TestClient, parts: ServiceParts, headers: dict[str, str] | None = None
) -> KnownValues:
    """The seed's sales and tokens, a few issued orders, and the wallets' addresses and UTxOs."""
    sales = [entry.sale for entry in parts.devnet.sales]
    sale_ids = [sale.id for sale in sales]
    order_ids = []
    for i in range(ISSUED_ORDERS):
        response = client.post(
            "/v1/marketplace/orders/amount",
            json={"saleId": sale_ids[i % len(sale_ids)], "bundleQuantity": 1 + i},
            headers=headers or {},
        )
        assert response.status_code == 200, response.text
        order_ids.append(response.json()["orderId"])
    wallets = [parts.wallets[name] for name in ("alice", "bob", "artist")]
    utxo_lists = [utxos for wallet in wallets if (utxos := wallet.get_utxos())]
    assert utxo_lists, "the demo seed funds its wallets"
    addresses = [wallet.bech32 for wallet in wallets]
    return KnownValues(
        by_field={
            "saleId": sale_ids,
            "orderId": order_ids,
            "changeAddress": addresses,
            "ownerAddress": addresses,
            "utxoCborHexList": [*utxo_lists, utxo_lists[0][:1]],
            "bundlePolicyId": [sale.bundle[0].hex() for sale in sales],
            "bundleAssetName": [sale.bundle[1].hex() for sale in sales],
        },
        sale_ids=sale_ids,
    )


@contextmanager
def _service(tmp_path: Path, *, recaptcha_url: str | None) -> Iterator[tuple[TestClient, Any]]:
    """The whole service on a fresh devnet + SQLite; reCAPTCHA off, or on against `recaptcha_url`.

    The client raises what the app lets escape (it would be a 500), so its traceback is reported.
    """
    recaptcha: dict[str, Any] = {"recaptcha_enabled": False}
    if recaptcha_url is not None:
        recaptcha = {
            "recaptcha_enabled": True,
            "recaptcha_assessment_url": recaptcha_url,
            "recaptcha_api_key": API_KEY,
            "recaptcha_web_site_key": SITE_KEY,
        }
    settings = load_settings(
        network="devnet",
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        devnet_path=tmp_path / "devnet.db",
        **recaptcha,
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts)) as client:
        yield client, parts
