"""Service fixtures: the whole v1 service on a fresh devnet, on SQLite and on PostgreSQL, with
reCAPTCHA verified against a real local assessment server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_world import API_KEY, SITE_KEY, Service

from cardano_market.config import load_settings
from cardano_market.devtools.recaptcha_server import RecaptchaAssessmentServer
from cardano_market.runtime import create_service_app, open_service
from env_support import REQUIRE_INTEROP, clear_market_env
from pg_support import database_url_fixture

database_url = database_url_fixture("service.db")


@pytest.fixture(scope="session")
def assessment_url() -> Iterator[str]:
    server = RecaptchaAssessmentServer(api_key=API_KEY)
    with server.running() as base:
        yield f"{base}/v1/projects/test/assessments"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_market_env(monkeypatch, keep=(REQUIRE_INTEROP,))


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
