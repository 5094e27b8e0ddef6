"""The sandbox's Orders API v0 confirmShipment, through the real python-amazon-sp-api client over HTTP: the
model's static cases, its rules, its usage plan, and the package searchOrders shows afterwards."""

from __future__ import annotations

import pytest
from conftest import sandbox_client
from sp_api.api import OrdersV0, OrdersV20260101
from sp_api.base.exceptions import SellingApiException

from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.sandbox.shipments import seed_static_cases, static_cases


def client_for(server, api=OrdersV0):
    return sandbox_client(server, api)


def confirm(client, order_id: str, body: dict) -> tuple[int, list[str]]:
    """(HTTP status, error codes): a 204 is the only success, read from the client's answer."""
    try:
        response = client.confirm_shipment(order_id=order_id, **body)
    except SellingApiException as error:
        return error.code, [e["code"] for e in error.error]
    return response.payload.get("status_code", 0), []


def package(reference="1", items=(), **fields) -> dict:
    detail = {
        "packageReferenceId": reference,
        "carrierCode": "UPS",
        "trackingNumber": "1Z999AA10123456784",
        "shipDate": "2026-11-02T10:00:00Z",
        "orderItems": [{"orderItemId": i, "quantity": q} for i, q in items],
    }
    detail.update(fields)
    return {"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {k: v for k, v in detail.items() if v is not None}}


@pytest.fixture
def shop():
    market = Marketplace(seed=3)
    with SandboxServer(market, speedup=1000) as server:
        yield market, server, client_for(server)


def items_of(market, order_id):
    return {line.item.sku: line.order_item_id for line in market._orders[order_id].lines}


def placed(market, *items, **options) -> str:
    return market.place_order([Item(sku, quantity) for sku, quantity in items], status="UNSHIPPED", **options)


def searched(server, order_id):
    server.marketplace.advance(minutes=5)  # searchOrders lists what is at least two minutes old
    client = client_for(server, OrdersV20260101)
    orders = client.search_orders(
        createdAfter="2025-01-01T00:00:00Z", marketplaceIds=["ATVPDKIKX0DER"], includedData=["PACKAGES", "FULFILLMENT"]
    ).payload["orders"]
    return next(order for order in orders if order["orderId"] == order_id)


@pytest.mark.parametrize("case", static_cases(), ids=lambda case: str(case[2]))
def test_the_models_static_confirm_shipment_cases_get_their_documented_answers(case):
    order_id, body, status, response = case
    market = Marketplace(seed=1)
    seed_static_cases(market)
    with SandboxServer(market) as server:
        got_status, codes = confirm(client_for(server), order_id, body)
    assert got_status == status
    assert codes == [error["code"] for error in response.get("errors", [])]


def test_the_model_documents_a_204_and_a_400():
    assert sorted(case[2] for case in static_cases()) == [204, 400]


def test_a_whole_then_a_partial_package_show_as_amazon_writes_them(shop):
    market, server, client = shop
    order_id = placed(market, ("MUG", 2), ("PEN", 1))
    ids = items_of(market, order_id)
    assert confirm(client, order_id, package("1", [(ids["MUG"], 1)], shippingMethod=None)) == (204, [])
    order = searched(server, order_id)
    assert order["fulfillment"]["fulfillmentStatus"] == "PARTIALLY_SHIPPED"
    assert order["packages"] == [
        {
            "packageReferenceId": "1",
            "createdTime": order["packages"][0]["createdTime"],
            "packageStatus": {"status": "SHIPPED"},
            "carrier": "UPS",
            "shipTime": "2026-11-02T10:00:00Z",
            "trackingNumber": "1Z999AA10123456784",
            "packageItems": [{"orderItemId": ids["MUG"], "quantity": 1}],
        }
    ]
    assert confirm(
        client,
        order_id,
        package("2", [(ids["MUG"], 1), (ids["PEN"], 1)], carrierCode="Other", carrierName="Evri", shippingMethod="48h"),
    ) == (204, [])
    order = searched(server, order_id)
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert [(p["packageReferenceId"], p["carrier"], p.get("shippingService")) for p in order["packages"]] == [
        ("1", "UPS", None),
        ("2", "Evri", "48h"),
    ]


def test_the_same_package_reference_edits_the_package_instead_of_adding_one(shop):
    market, server, client = shop
    order_id = placed(market, ("MUG", 3))
    mug = items_of(market, order_id)["MUG"]
    assert confirm(client, order_id, package("7", [(mug, 2)])) == (204, [])
    assert confirm(client, order_id, package("7", [(mug, 3)], trackingNumber="CORRECTED")) == (204, [])
    order = searched(server, order_id)
    assert [
        (p["packageReferenceId"], p["trackingNumber"], p["packageItems"][0]["quantity"]) for p in order["packages"]
    ] == [("7", "CORRECTED", 3)]
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


@pytest.mark.parametrize(
    "change",
    [
        {"packageReferenceId": 1},  # a JSON number: the model's type is string
        {"packageReferenceId": "0"},  # "Only positive numeric values are supported."
        {"packageReferenceId": "PKG-1"},
        {"carrierCode": None},
        {"carrierCode": "Other"},  # without carrierName
        {"trackingNumber": None},
        {"shipDate": "02/21/2022"},
        {"shipDate": "2026-11-02"},
        {"orderItems": []},
    ],
    ids=repr,
)
def test_a_package_that_breaks_the_models_rules_is_refused_tersely(shop, change):
    market, _, client = shop
    order_id = placed(market, ("MUG", 1))
    body = package("1", [(items_of(market, order_id)["MUG"], 1)])
    for name, value in change.items():
        if value is None:
            del body["packageDetail"][name]
        else:
            body["packageDetail"][name] = value
    assert confirm(client, order_id, body) == (400, ["Invalid Input"])
    assert market._orders[order_id].packages == []


def test_items_amazon_does_not_know_or_has_not_open_are_refused(shop):
    market, _, client = shop
    order_id = placed(market, ("MUG", 1))
    mug = items_of(market, order_id)["MUG"]
    assert confirm(client, order_id, package("1", [("12345678901234", 1)]))[0] == 400
    assert confirm(client, order_id, package("1", [(mug, 2)]))[0] == 400
    assert confirm(client, order_id, package("1", [(mug, 1)]))[0] == 204
    assert confirm(client, order_id, package("2", [(mug, 1)]))[0] == 400  # nothing left unshipped


def test_fba_cancelled_pending_and_other_sellers_orders_are_refused(shop):
    market, _, client = shop
    fba = placed(market, ("MUG", 1), fulfilled_by="AMAZON")
    cancelled = placed(market, ("MUG", 1))
    market.cancel(cancelled)
    pending = market.place_order([Item("MUG", 1)])
    for order_id in (fba, cancelled, pending):
        assert confirm(client, order_id, package("1", [(items_of(market, order_id)["MUG"], 1)]))[0] == 400
    assert confirm(client, "999-9999999-9999999", package("1", [("1", 1)])) == (404, ["NotFound"])


def test_the_usage_plan_allows_a_burst_of_ten_then_answers_429():
    market = Marketplace(seed=3)
    with SandboxServer(market, real_clock=lambda: 0.0) as server:  # no time passes: nothing refills
        client = client_for(server)
        order_id = placed(market, ("MUG", 20))
        mug = items_of(market, order_id)["MUG"]
        answers = [confirm(client, order_id, package(str(n), [(mug, 1)]))[0] for n in range(1, 12)]
    assert answers == [204] * 10 + [429]
    assert server.requests[-2]["status"] == 204 and server.requests[-1]["status"] == 429
