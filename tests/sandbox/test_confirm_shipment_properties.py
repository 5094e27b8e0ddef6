"""confirmShipment requests generated from Amazon's v0 schema (hypothesis-jsonschema, minimal ones among them),
sent through the real python-amazon-sp-api client to the sandbox: each is confirmed (204) or refused tersely
(400 Invalid Input), never a 5xx; a 204 only for what the model's rules allow; Amazon's packages never hold more
units than were ordered, and the order it then serves conforms to the v2026 model."""

from __future__ import annotations

import re

import pytest
from amazon_models import ORDERS, for_generation, problems, schema
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from test_confirm_shipment_sandbox import client_for, confirm

from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.sandbox.orders import project

V0 = "ordersV0.json"
MARKETPLACE = "ATVPDKIKX0DER"
KNOWN_ITEM = "11111111111111"


def request_schema(minimal: bool) -> dict:
    # the realistic part of what the model allows: this marketplace or another, this order's item or another,
    # references and dates that are sometimes right; never more than the model allows
    narrow = {
        "marketplaceId": {"enum": [MARKETPLACE, "A1F83G8C2ARO7P"]},
        "orderItemId": {"enum": [KNOWN_ITEM, "99999999999999"]},
        "quantity": {"minimum": -1, "maximum": 4},
        "packageReferenceId": {"enum": ["1", "2", "0", "01", "-1", "A1", ""]},
        "carrierCode": {"enum": ["UPS", "Other", ""]},
        "shipDate": {"enum": ["2026-11-02T10:00:00Z", "2026-11-02T10:00:00.5+01:00", "02/21/2022", "2026-11-02"]},
    }
    return for_generation(schema(V0, "ConfirmShipmentRequest", minimal=minimal, narrow=narrow))


ORDER_SCHEMA = schema(ORDERS, "Order")


@pytest.fixture(scope="module")
def server():
    market = Marketplace(seed=22)
    with SandboxServer(market, speedup=10_000) as served:
        yield served


def allowed(body: dict) -> bool:
    """What the model's rules (and the order: 3 units of one item, this marketplace) let through."""
    package = body["packageDetail"]
    items = package.get("orderItems", [])
    carrier = package.get("carrierCode", "")
    return (
        body["marketplaceId"] == MARKETPLACE
        and re.fullmatch(r"0*[1-9]\d*", package.get("packageReferenceId", "")) is not None
        and carrier != ""
        and (carrier != "Other" or bool(package.get("carrierName")))
        and package.get("trackingNumber", "") != ""
        and package.get("shipDate", "") in ("2026-11-02T10:00:00Z", "2026-11-02T10:00:00.5+01:00")
        and bool(items)
        and len({i["orderItemId"] for i in items}) == len(items)
        and all(i["orderItemId"] == KNOWN_ITEM and 1 <= i["quantity"] <= 3 for i in items)
        and all(isinstance(package.get(k, ""), str) for k in ("carrierName", "shippingMethod"))
    )


def check(server, body: dict) -> None:
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 3)], status="UNSHIPPED")
    market._orders[order_id].lines[0].order_item_id = KNOWN_ITEM
    status, codes = confirm(client_for(server), order_id, body)
    assert status in (204, 400), (status, body)
    assert status == (204 if allowed(body) else 400), body
    if status == 400:
        assert codes == ["Invalid Input"]
        assert market._orders[order_id].packages == []
        return
    line = market._orders[order_id].lines[0]
    assert 0 < line.shipped <= line.item.quantity
    served = project(market.order(order_id, as_served=True), {"PACKAGES", "FULFILLMENT"})
    assert problems(served, ORDER_SCHEMA) == []
    assert served["fulfillment"]["fulfillmentStatus"] in ("PARTIALLY_SHIPPED", "SHIPPED")


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=from_schema(request_schema(minimal=False)))
def test_generated_requests_are_confirmed_or_refused_as_the_model_says(server, body):
    check(server, body)


@settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=from_schema(request_schema(minimal=True)))
def test_minimal_generated_requests_are_confirmed_or_refused_as_the_model_says(server, body):
    check(server, body)
