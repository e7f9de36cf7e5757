"""The v1 service as the service tests drive it: reCAPTCHA keys and a client that sends the
headers the local assessment server accepts. Fixtures live in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from cardano_market.runtime import ServiceParts

API_KEY = "test-api-key"
SITE_KEY = "web-site-key"
SALE_START_AMOUNT = "/v1/marketplace/sales/start/amount"


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

    def sale_start_amount(self, body: dict[str, Any]) -> Any:
        """`POST /v1/marketplace/sales/start/amount` with the sale's terms `body`."""
        return self.post(SALE_START_AMOUNT, "generate_sale_start_amount", body)
