"""Service fixtures: the whole v1 service on a fresh devnet, on SQLite and on PostgreSQL, with
reCAPTCHA verified against a real local assessment server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardano_market.config import load_settings
from cardano_market.devtools.recaptcha_server import RecaptchaAssessmentServer
from cardano_market.runtime import ServiceParts, create_service_app, open_service
from pg_support import postgres_schema

API_KEY = "test-api-key"
SITE_KEY = "web-site-key"


@dataclass
class Service:
    client: TestClient
    parts: ServiceParts

    def headers(self, action: str, score: str = "0.9") -> dict[str, str]:
        """reCAPTCHA headers the local assessment server accepts for `action`."""
        return {"g-recaptcha-platform": "Web", "g-recaptcha-token": f"valid:{action}:{score}"}

    def post(self, path: str, action: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers(action))

    def get(self, path: str, action: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(action))


@pytest.fixture(scope="session")
def assessment_url() -> Iterator[str]:
    server = RecaptchaAssessmentServer(api_key=API_KEY)
    with server.running() as base:
        yield f"{base}/v1/projects/test/assessments"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CARDANO_MARKET_") and name != "CARDANO_MARKET_REQUIRE_INTEROP":
            monkeypatch.delenv(name)


@pytest.fixture
def service(
    database_url: str, tmp_path: Path, assessment_url: str, clean_env: None
) -> Iterator[Service]:
    """The v1 service on the demo seed, with reCAPTCHA enabled."""
    settings = load_settings(
        network="devnet",
        database_url=database_url,
        devnet_path=tmp_path / "devnet.db",
        recaptcha_enabled=True,
        recaptcha_assessment_url=assessment_url,
        recaptcha_api_key=API_KEY,
        recaptcha_web_site_key=SITE_KEY,
    )
    parts = open_service(settings)
    with TestClient(create_service_app(parts)) as client:
        yield Service(client, parts)
