"""Everything the sandbox answers is what Amazon's models allow (jsonschema against the model's own response
schemas, formats included): searchOrders, getOrder and getInventorySummaries, their pages and their error
bodies, from a busy simulated marketplace. A sandbox written by the same hands as the client could otherwise
agree with it by construction."""

from __future__ import annotations

import httpx
import pytest
from amazon_models import INVENTORY, ORDERS, problems, response_schema

from pipelines.sandbox import Marketplace, SandboxServer
from pipelines.sandbox.inventory import INVENTORY_PATH
from pipelines.sandbox.marketplace import PAN_EUROPEAN
from pipelines.sandbox.orders import INCLUDED_DATA, ORDERS_PATH

US, CA, DE, FR, UK = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"
SINCE = "2025-12-31T00:00:00Z"
SEARCH_ORDERS = response_schema(ORDERS, ORDERS_PATH, "200")
GET_ORDER = response_schema(ORDERS, ORDERS_PATH + "/{orderId}", "200")
INVENTORY_SUMMARIES = response_schema(INVENTORY, INVENTORY_PATH, "200")


class Client:
    """The sandbox over HTTP, each answer checked against the model's schema for its operation and status."""

    def __init__(self, server: SandboxServer):
        self.server = server
        token = httpx.post(
            server.token_url,
            data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"},
        ).json()["access_token"]
        self.http = httpx.Client(base_url=server.url, headers={"x-amz-access-token": token}, timeout=30)
        self.checked: dict[tuple[str, int], int] = {}

    def get(self, model: str, template: str, path: str, params: dict, *, token: str | None = None) -> httpx.Response:
        headers = {"x-amz-access-token": token} if token is not None else {}
        response = self.http.get(path, params=params, headers=headers)
        against = response_schema(model, template, str(response.status_code))
        assert problems(response.json(), against) == [], (template, response.status_code, response.text[:500])
        key = (template, response.status_code)
        self.checked[key] = self.checked.get(key, 0) + 1
        return response


@pytest.fixture(scope="module")
def busy():
    """A day and a half of a busy marketplace in North America and Europe, a fifth of it fulfilled by Amazon."""
    market = Marketplace(seed=11)
    market.simulate(
        hours=36,
        orders_per_hour=40,
        skus=[f"SKU-{n:03d}" for n in range(60)],
        fba_rate=0.2,
        marketplaces=(US, CA, DE, FR, UK),
    )
    # the model's limits leave getInventorySummaries a page of 50: enough SKUs in the US for several
    for n in range(120):
        market.receive_fba(f"BULK-{n:03d}", 1 + n % 4)
    market.advance(minutes=5)
    with SandboxServer(market, speedup=1e6) as server:
        yield server, market


def test_every_page_of_orders_the_sandbox_serves_is_what_the_model_allows(busy):
    server, market = busy
    client = Client(server)
    orders = 0
    for marketplaces in ([US, CA], [DE, FR, UK]):
        params = {
            "lastUpdatedAfter": SINCE,
            "marketplaceIds": ",".join(marketplaces),
            "includedData": ",".join(INCLUDED_DATA),
            "maxResultsPerPage": "100",
        }
        token = None
        while True:
            page = client.get(ORDERS, ORDERS_PATH, ORDERS_PATH, params | ({"paginationToken": token} if token else {}))
            orders += len(page.json()["orders"])
            token = page.json().get("pagination", {}).get("nextToken")
            if not token:
                break
    assert orders == len(market._orders) > 1000
    # by creation time, with no dataset asked for, and getOrder as well
    bare = client.get(ORDERS, ORDERS_PATH, ORDERS_PATH, {"createdAfter": SINCE, "marketplaceIds": US})
    assert "createdBefore" in bare.json()
    for order in bare.json()["orders"][:40]:
        client.get(
            ORDERS,
            ORDERS_PATH + "/{orderId}",
            f"{ORDERS_PATH}/{order['orderId']}",
            {"includedData": ",".join(INCLUDED_DATA)},
        )
    # some of them as Amazon may send them: without what the model does not require
    served = [market.order(order_id, as_served=True) for order_id in market._orders]
    assert any("orderAliases" not in order for order in served)
    assert any(
        all("quantityFulfilled" not in item.get("fulfillment", {}) for item in order["orderItems"])
        and order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
        for order in served
    )


def test_every_inventory_page_the_sandbox_serves_is_what_the_model_allows(busy):
    server, market = busy
    client = Client(server)
    listed = {}
    for marketplace_id in (US, CA, DE, FR, UK):
        for details in ("true", "false"):
            params = {
                "granularityType": "Marketplace",
                "granularityId": marketplace_id,
                "marketplaceIds": marketplace_id,
                "details": details,
            }
            summaries, token = [], None
            while True:
                page = client.get(
                    INVENTORY, INVENTORY_PATH, INVENTORY_PATH, params | ({"nextToken": token} if token else {})
                )
                summaries += page.json()["payload"]["inventorySummaries"]
                token = page.json().get("pagination", {}).get("nextToken")
                if not token:
                    break
            listed[marketplace_id, details] = summaries
    assert len(listed[US, "true"]) > 120 and client.checked[INVENTORY_PATH, 200] > 10
    assert all("inventoryDetails" not in s for s in listed[US, "false"])
    # the Pan-European pool is one answer for each of its marketplaces; the UK's is its own
    assert DE in PAN_EUROPEAN and FR in PAN_EUROPEAN and UK not in PAN_EUROPEAN
    assert listed[DE, "true"] == listed[FR, "true"] != listed[UK, "true"]
    # summaries without some optional fields, as Amazon may send them, and never a unit left out
    assert any(
        "totalQuantity" not in s
        or "pendingCustomerOrderQuantity" not in s["inventoryDetails"].get("reservedQuantity", {})
        for s in listed[US, "true"]
    )


def test_every_error_the_sandbox_answers_is_an_error_list_of_the_model(busy):
    server, market = busy
    client = Client(server)
    search = {"lastUpdatedAfter": SINCE, "marketplaceIds": US}
    inventory = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US}
    assert client.get(ORDERS, ORDERS_PATH, ORDERS_PATH, {"lastUpdatedAfter": "yesterday"}).status_code == 400
    assert client.get(ORDERS, ORDERS_PATH, ORDERS_PATH, search, token="Atza|not-issued").status_code == 403
    assert client.get(ORDERS, ORDERS_PATH + "/{orderId}", f"{ORDERS_PATH}/111-0000000-0000000", {}).status_code == 404
    assert client.get(ORDERS, ORDERS_PATH + "/{orderId}", f"{ORDERS_PATH}/TEST_CASE_400", {}).status_code == 400
    for fault, status in (("429", 429), ("500", 500), ("503", 503), ("400", 400)):
        server.inject(fault)
        assert client.get(ORDERS, ORDERS_PATH, ORDERS_PATH, search).status_code == status
    assert (
        client.get(INVENTORY, INVENTORY_PATH, INVENTORY_PATH, {**inventory, "marketplaceIds": f"{US},{CA}"}).status_code
        == 400
    )
    assert client.get(INVENTORY, INVENTORY_PATH, INVENTORY_PATH, inventory, token="Atza|not-issued").status_code == 403
    server.denied_operations.add("getInventorySummaries")
    try:
        assert client.get(INVENTORY, INVENTORY_PATH, INVENTORY_PATH, inventory).status_code == 403
    finally:
        server.denied_operations.discard("getInventorySummaries")


def test_what_the_sandbox_is_told_to_answer_is_served_verbatim_whatever_it_holds(busy):
    """put_raw_fba_inventory answers anything, what the model allows or not: the client must cope either way."""
    server, market = busy
    client = Client(server)
    market.put_raw_fba_inventory(
        CA, [{"sellerSku": "ODD-1", "inventoryDetails": {"fulfillableQuantity": "lots"}}, {}, {"sellerSku": "MAPLE-1"}]
    )
    try:
        answer = client.http.get(
            INVENTORY_PATH,
            params={"granularityType": "Marketplace", "granularityId": CA, "marketplaceIds": CA, "details": "true"},
        ).json()
        assert answer["payload"]["inventorySummaries"] == [
            {"sellerSku": "ODD-1", "inventoryDetails": {"fulfillableQuantity": "lots"}},
            {},
            {"sellerSku": "MAPLE-1"},
        ]
    finally:
        market.put_raw_fba_inventory(CA, None)
