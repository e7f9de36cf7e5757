"""Bearer JWT on the v2 API through HTTP: every failure is the same 401, another user's id is
403, admin routes need the admin role, and bad input on /v2 gets the v2 error body."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from custody_world import ADMIN, ALICE, BOB, SONG, V2Service

from cardano_market.security.jwt_auth import issue_token
from keys import JWT_SECRET

BUY = f"/v2/users/purchases/users/{ALICE}/tokens/{SONG}/buy-on-primary-market"
AUTH_REQUIRED = {"error": "Authentication required"}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    claims = {"sub": ALICE, "iat": now, "exp": now + 600, "role": "user"}
    return {
        "missing": None,
        "empty": "",
        "not bearer": f"Basic {base64.b64encode(b'alice:pw').decode()}",
        "garbage": "Bearer not-a-jwt",
        "expired": "Bearer " + issue_token(ALICE, key=JWT_SECRET.encode(), now=now - 7200),
        "wrong secret": "Bearer " + issue_token(ALICE, key=b"x" * 40),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "no exp": "Bearer "
        + jwt.encode({"sub": ALICE, "role": "user"}, JWT_SECRET, algorithm="HS256"),
        "bad subject": "Bearer "
        + jwt.encode({"sub": "alice", "exp": now + 600}, JWT_SECRET, algorithm="HS256"),
        "HS384": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS384"),
    }


@pytest.mark.parametrize("case", list(_bad_tokens()))
def test_every_bad_token_is_the_same_401(v2_sqlite: V2Service, case: str) -> None:
    header = _bad_tokens()[case]
    headers = {} if header is None else {"Authorization": header}
    for method, path, body in (
        ("POST", BUY, {"quantity": 1}),
        ("POST", BUY, {"quantity": "not a number"}),  # authentication comes before validation
        ("GET", f"/v2/users/{ALICE}/balances", None),
        ("GET", f"/v2/admin/tokens/{SONG}/transactions/000000000000000000000000", None),
        ("POST", "/v2/admin/users", {}),
    ):
        response = v2_sqlite.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (case, path, response.text)
        assert response.json() == AUTH_REQUIRED
        assert response.headers["www-authenticate"] == "Bearer"


def test_another_users_id_is_403(v2_sqlite: V2Service) -> None:
    response = v2_sqlite.post(BUY, BOB, {"quantity": 1})
    assert response.status_code == 403
    assert response.json() == {
        "error": "Access denied",
        "details": "Insufficient permissions to purchase tokens",
    }
    for path in (f"/v2/users/{ALICE}/balances", f"/v2/users/{ALICE}/transactions"):
        denied = v2_sqlite.get(path, BOB)
        assert denied.status_code == 403 and denied.json()["error"] == "Access denied"
    # Nothing was created for anyone.
    assert v2_sqlite.get(f"/v2/users/{ALICE}/transactions", ALICE).json()["transactions"] == []


def test_an_admin_token_cannot_spend_a_users_wallet(v2_sqlite: V2Service) -> None:
    """Admins read anyone's data, but only a wallet's owner moves its funds."""
    sell = f"/v2/users/secondary-markets/users/{ALICE}/tokens/{SONG}/sell"
    for path, body in (
        (BUY, {"quantity": 1}),
        (sell, {"quantity": 1, "price_id": SONG, "price_amount": 1}),
    ):
        response = v2_sqlite.client.post(path, json=body, headers=v2_sqlite.auth(ADMIN, admin=True))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "Access denied"
    reads = v2_sqlite.get(f"/v2/users/{ALICE}/transactions", ADMIN, admin=True)
    assert reads.status_code == 200 and reads.json()["transactions"] == []


def test_admin_routes_need_the_admin_role(v2_sqlite: V2Service) -> None:
    for method, path, body in (
        ("POST", "/v2/admin/users", {"kyc_verified": True}),
        ("GET", f"/v2/admin/users/{ALICE}", None),
        ("GET", "/v2/admin/tokens", None),
        ("POST", "/v2/admin/tokens", {}),
    ):
        response = v2_sqlite.client.request(method, path, json=body, headers=v2_sqlite.auth(ALICE))
        assert response.status_code == 403, (path, response.text)
        assert response.json() == {
            "error": "Access denied",
            "details": "Administrator role required",
        }
    ok = v2_sqlite.get(f"/v2/admin/users/{ALICE}", ADMIN, admin=True)
    assert ok.status_code == 200 and ok.json()["kyc_verified"] is True


def test_bad_input_on_v2_gets_the_v2_body_and_v1_keeps_its_own(v2_sqlite: V2Service) -> None:
    cases = [
        ({}, "quantity: Field required"),
        ({"quantity": "10"}, "quantity: must be a number"),
        ({"quantity": True}, "quantity: must be a number"),
        ({"quantity": [1]}, "quantity: must be a number"),
    ]
    for body, details in cases:
        response = v2_sqlite.post(BUY, ALICE, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "Invalid parameters"
        if details is not None:
            assert response.json()["details"] == details
    raw = v2_sqlite.client.post(
        BUY,
        content=b"{not json",
        headers={**v2_sqlite.auth(ALICE), "content-type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["error"] == "Invalid parameters"
    unknown = v2_sqlite.get("/v2/users/nowhere/at/all", ALICE)
    assert unknown.status_code == 404 and unknown.json()["error"] == "Resource not found"
    v1 = v2_sqlite.client.post("/v1/marketplace/orders/amount", json={})
    assert v1.status_code == 400 and set(v1.json()) == {"code", "description", "cause"}


def test_devnet_token_route_mints_tokens_the_api_accepts(v2_sqlite: V2Service) -> None:
    minted = v2_sqlite.client.post("/devnet/token", json={"user_id": ALICE})
    assert minted.status_code == 200
    token = minted.json()["token"]
    response = v2_sqlite.client.get(
        f"/v2/users/{ALICE}/balances", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["user_id"] == ALICE
