"""GET /v1/marketplace/sales, /sales/count and /sales/{saleId} over HTTP on the devnet."""

from __future__ import annotations

from service_world import Service

USD_SALE = "0b7346aa-137a-5041-9b23-7afaa88573d5"
TOKEN_SALE = "4fda0b09-87c2-553e-a358-4490842a0f29"


def _ids(response: object) -> list[str]:
    return [sale["id"] for sale in response.json()]  # type: ignore[attr-defined]


def test_one_sale_with_its_cost_converted_at_the_oracle_price(service: Service) -> None:
    response = service.get(f"/v1/marketplace/sales/{USD_SALE}", "get_sale")
    assert response.status_code == 200, response.text
    sale = response.json()
    price = service.parts.market.prices.current().price  # 2723: $0.002723 per NEWM
    assert sale["status"] == "Started"
    assert sale["costPolicyId"] == "555344" and sale["costAssetName"] == ""
    assert sale["costAmount"] == 500_000_000_000
    assert sale["costAmountUsd"] == "0.5"
    # $0.50 / $0.002723 = 183.621006... NEWM, truncated to base units as pricing does.
    assert sale["costAmountNewm"] == f"{500_000_000_000 // price / 10**6:.6f}"
    assert sale["totalBundleQuantity"] == 100 and sale["availableBundleQuantity"] == 100
    assert sale["maxBundleSize"] == 2**63 - 1
    assert sale["ownerAddress"].startswith("addr_test1")

    token_sale = service.get(f"/v1/marketplace/sales/{TOKEN_SALE}", "get_sale").json()
    assert token_sale["costAmountNewm"] == "150"
    assert token_sale["costAmountUsd"] == str(150 * price / 10**6).rstrip("0").rstrip(".")


def test_pages_filters_and_counts(service: Service) -> None:
    every = service.get("/v1/marketplace/sales", "get_sales")
    assert every.status_code == 200
    oldest_first = _ids(every)
    assert sorted(oldest_first) == sorted([USD_SALE, TOKEN_SALE])
    newest_first = _ids(service.get("/v1/marketplace/sales", "get_sales", sortOrder="DESC"))
    assert newest_first == list(reversed(oldest_first))
    assert (
        _ids(service.get("/v1/marketplace/sales", "get_sales", limit=1, offset=1))
        == (oldest_first[1:])
    )
    assert _ids(service.get("/v1/marketplace/sales", "get_sales", ids=f"-{USD_SALE}")) == [
        TOKEN_SALE
    ]
    owner = every.json()[0]["ownerAddress"]
    assert len(_ids(service.get("/v1/marketplace/sales", "get_sales", ownerAddress=owner))) == 2
    ended = service.get("/v1/marketplace/sales", "get_sales", saleStatuses="Ended")
    assert ended.json() == []

    def count(**params: str) -> int:
        r = service.get("/v1/marketplace/sales/count", "get_sale_count", **params)
        assert r.status_code == 200, r.text
        value: int = r.json()["count"]
        return value

    assert count() == 2
    assert count(saleStatuses="Started,-SoldOut") == 2
    assert count(ids=TOKEN_SALE) == 1
    assert count(bundlePolicyIds=every.json()[0]["bundlePolicyId"]) == 2


def test_bad_filters_and_unknown_sales(service: Service) -> None:
    for params, field in (
        ({"ids": "not-a-uuid"}, "ids"),
        ({"saleStatuses": "Paused"}, "saleStatuses"),
        ({"bundlePolicyIds": "abcd"}, "bundlePolicyIds"),
        ({"olderThan": "yesterday"}, "olderThan"),
        ({"limit": "-1"}, "limit"),
        ({"sortOrder": "sideways"}, "sortOrder"),
        ({"ownerAddress": "addr1nope"}, "addresses"),
    ):
        response = service.get("/v1/marketplace/sales", "get_sales", **params)
        assert response.status_code == 400, (params, response.text)
        assert field in response.json()["cause"]
    missing = service.get("/v1/marketplace/sales/d0907e3d-a9a7-43b1-93dc-f3b0ee929021", "get_sale")
    assert missing.status_code == 404
    assert service.get("/v1/marketplace/sales/42", "get_sale").status_code == 404


def test_recaptcha_guards_every_route(service: Service) -> None:
    # A token for another action is refused with the deployed server's body.
    response = service.client.get(
        f"/v1/marketplace/sales/{USD_SALE}", headers=service.headers("get_sales")
    )
    assert response.status_code == 403
    assert response.json() == {"code": 403, "description": "Forbidden", "cause": "Recaptcha failed"}
    no_token = service.client.get("/v1/marketplace/orders/fees")
    assert no_token.status_code == 400
    low = service.client.get(
        "/v1/marketplace/orders/fees", headers=service.headers("get_order_fees", score="0.1")
    )
    assert low.status_code == 403
    metrics = service.client.get("/metrics").text
    assert 'cardano_market_recaptcha_outcomes_total{outcome="wrong_action"}' in metrics
