"""The sandbox's Orders API v0 `confirmShipment` (POST /orders/v0/orders/{orderId}/shipmentConfirmation):
a seller-fulfilled order's package confirmed with its carrier, tracking number, ship date and items, after
which searchOrders shows the order PARTIALLY_SHIPPED or SHIPPED with the package under `PACKAGES`.

Every rule quotes models/ordersV0.json (or the public source named beside it). Orders API v0's six read
operations are deprecated; this one is not, and v2026-01-01 has no write operation.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from pathlib import Path

from .reference import DATE_TIME, MARKETPLACES, format_time, json_object, parse_time
from .reports import usage_plan

V0_MODEL = json.loads((Path(__file__).parent / "models" / "ordersV0.json").read_text())
CONFIRM_PATH = re.compile(r"/orders/v0/orders/([^/]+)/shipmentConfirmation")
_OPERATION = V0_MODEL["paths"]["/orders/v0/orders/{orderId}/shipmentConfirmation"]["post"]
_DEFINITIONS = V0_MODEL["definitions"]
# "Usage Plan: | Rate (requests per second) | Burst | ... | 2 | 10 |"
RATE, BURST = usage_plan("confirmShipment", V0_MODEL)
# ConfirmShipmentRequest "required": ["marketplaceId", "packageDetail"]; PackageDetail "required":
# ["packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"]; ConfirmShipmentOrderItem
# "required": ["orderItemId", "quantity"]
_REQUEST_REQUIRED = tuple(_DEFINITIONS["ConfirmShipmentRequest"]["required"])
_PACKAGE_REQUIRED = tuple(_DEFINITIONS["PackageDetail"]["required"])
_ITEM_REQUIRED = tuple(_DEFINITIONS["ConfirmShipmentOrderItem"]["required"])
# codCollectionMethod: "enum": ["DirectPayment"] "(only supported in the JP marketplace)"
_COD_METHODS = tuple(_DEFINITIONS["ConfirmShipmentRequest"]["properties"]["codCollectionMethod"]["enum"])
_JAPAN = "A1VC38T7YXB528"
# PackageReferenceId: "type": "string" ... "Only positive numeric values are supported." (Amazon refuses a JSON
# number since 2026: the type is string)
_POSITIVE_NUMBER = re.compile(r"0*[1-9]\d*")
# shipDate: "Must be in ISO 8601 date/time format", "format": "date-time" (the 400 static case sends
# "02/21/2022"): RFC 3339, with its offset
# "An Amazon-defined order identifier, in 3-7-7 format."
_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# The model's only documented 400 body for this operation (its static case): code and message "Invalid Input".
INVALID = (400, "Invalid Input", "Invalid Input")
NOT_FOUND = (404, "NotFound", "The requested resource was not found.")
FAULTS = {
    "429": (429, "QuotaExceeded", "You exceeded your quota for the requested resource."),
    "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service temporarily unavailable. Please try again."),
}


class Refused(Exception):
    """Answered with (status, code, message)."""

    def __init__(self, answer: tuple[int, str, str]):
        super().__init__(answer[1])
        self.answer = answer


def _invalid(what: str) -> Refused:
    return Refused(INVALID)


def _string(value) -> bool:
    return isinstance(value, str) and value != ""


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_request(order_id: str, body: bytes) -> dict:
    """The request's JSON checked against the model's schema; the payload, or Refused."""
    if not _ORDER_ID.fullmatch(order_id):
        raise _invalid("orderId")
    request = json_object(body, _invalid)
    if any(name not in request for name in _REQUEST_REQUIRED):
        raise _invalid("required")
    if request["marketplaceId"] not in MARKETPLACES:
        raise _invalid("marketplaceId")
    if "codCollectionMethod" in request and (
        request["codCollectionMethod"] not in _COD_METHODS or request["marketplaceId"] != _JAPAN
    ):
        raise _invalid("codCollectionMethod")
    package = request["packageDetail"]
    if not isinstance(package, dict) or any(name not in package for name in _PACKAGE_REQUIRED):
        raise _invalid("packageDetail")
    if not isinstance(package["packageReferenceId"], str) or not _POSITIVE_NUMBER.fullmatch(
        package["packageReferenceId"]
    ):
        raise _invalid("packageReferenceId")
    for name in ("carrierCode", "trackingNumber"):
        if not _string(package[name]):
            raise _invalid(name)
    for name in ("carrierName", "shippingMethod", "shipFromSupplySourceId"):
        if name in package and not isinstance(package[name], str):
            raise _invalid(name)
    # carrierName: "Required when `carrierCode` is "Other""
    if package["carrierCode"] == "Other" and not _string(package.get("carrierName")):
        raise _invalid("carrierName")
    if (
        not isinstance(package["shipDate"], str)
        or not DATE_TIME.fullmatch(package["shipDate"])
        or parse_time(package["shipDate"]) is None
    ):
        raise _invalid("shipDate")
    items = package["orderItems"]
    if not isinstance(items, list) or not items:
        raise _invalid("orderItems")
    for item in items:
        if not isinstance(item, dict) or any(name not in item for name in _ITEM_REQUIRED):
            raise _invalid("orderItems")
        # quantity: "type": "integer", "The item's quantity." (a package holds at least one unit of it)
        if not _string(item["orderItemId"]) or not _integer(item["quantity"]) or item["quantity"] < 1:
            raise _invalid("orderItems")
        codes = item.get("transparencyCodes", [])
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise _invalid("transparencyCodes")
    if len({item["orderItemId"] for item in items}) != len(items):
        raise _invalid("orderItems")
    return request


class ShipmentsService:
    """confirmShipment over the server's marketplace."""

    def __init__(self, server):
        self.server = server
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self.confirmed = 0  # 204s answered

    def inject(self, kind: str, count: int = 1) -> None:
        """The next `count` confirmShipment requests answer `kind` (429, 500 or 503) without being applied."""
        if kind not in FAULTS:
            raise ValueError(f"unknown confirmShipment fault {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    def _fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def confirm(self, order_id: str, body: bytes) -> tuple[int, str, str] | None:
        """None for a 204; else (status, code, message)."""
        fault = self._fault()
        if fault:
            return FAULTS[fault]
        try:
            request = read_request(order_id, body)
            self._apply(order_id, request)
        except Refused as refused:
            return refused.answer
        # held here, a test knows Amazon has kept the package while the client still waits for the 204
        self.server._wait_if_held("confirmShipment:applied")
        with self._lock:
            self.confirmed += 1
        return None

    def _apply(self, order_id: str, request: dict) -> None:
        market = self.server.marketplace
        package = request["packageDetail"]
        with market._lock:
            order = market._orders.get(order_id)
            if order is None:  # another seller's order, or none at all: the seller cannot see it
                raise Refused(NOT_FOUND)
            # "Updates the shipment confirmation status" of a seller-fulfilled order: Amazon ships its own
            # (AFN) orders, a pending order has nothing confirmed to ship, a cancelled one nothing left
            if order.fulfilled_by != "MERCHANT" or order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
                raise _invalid("order")
            if request["marketplaceId"] != order.marketplace_id:
                raise _invalid("marketplaceId")
            lines = {line.order_item_id: line for line in order.lines}
            reference = package["packageReferenceId"].lstrip("0")
            # PackageReferenceId: "uniquely identifies a package within the scope of an order": sent again, it
            # edits that package rather than adding one
            previous = next((p for p in order.packages if p["packageReferenceId"] == reference), None)
            already = {item["orderItemId"]: item["quantity"] for item in (previous or {}).get("packageItems", [])}
            for item in package["orderItems"]:
                line = lines.get(item["orderItemId"])
                if line is None:
                    raise _invalid("orderItemId")
                # no more units than the item still has unshipped (counting what this package held before)
                if item["quantity"] > line.open_quantity + already.get(item["orderItemId"], 0):
                    raise _invalid("quantity")
            for item_id, units in already.items():
                lines[item_id].shipped -= units
            for item in package["orderItems"]:
                lines[item["orderItemId"]].shipped += item["quantity"]
            stamp = format_time(market.now)
            rendered = {
                "packageReferenceId": reference,
                "createdTime": previous["createdTime"] if previous else stamp,
                "packageStatus": {"status": "SHIPPED"},
                "carrier": package["carrierName"] if package["carrierCode"] == "Other" else package["carrierCode"],
                "shipTime": format_time(parse_time(package["shipDate"])),
                "trackingNumber": package["trackingNumber"],
                "packageItems": [
                    {"orderItemId": item["orderItemId"], "quantity": item["quantity"]} for item in package["orderItems"]
                ],
            }
            if package.get("shippingMethod"):  # optional fields are left out when not sent
                rendered["shippingService"] = package["shippingMethod"]
            if previous is None:
                order.packages.append(rendered)
            else:
                order.packages[order.packages.index(previous)] = rendered
            open_units = any(line.open_quantity for line in order.lines)
            order.status = "PARTIALLY_SHIPPED" if open_units else "SHIPPED"
            market._touch(order)


def static_cases() -> list[tuple[str, dict, int, dict]]:
    """The model's documented confirmShipment requests: (orderId, body, status, response body)."""
    cases = []
    for status, response in _OPERATION["responses"].items():
        for case in (response.get("x-amzn-api-sandbox") or {}).get("static", []):
            parameters = case["request"]["parameters"]
            cases.append((parameters["orderId"]["value"], parameters["body"]["value"], int(status), case["response"]))
    return cases


def seed_static_cases(market) -> None:
    """Put the order the model's static cases confirm on `market`: seller-fulfilled, unshipped, holding the
    documented orderItemId."""
    from .records import Item

    for order_id, body, _, _ in static_cases():
        if order_id in market._orders:
            continue
        items = body["packageDetail"]["orderItems"]
        market.place_order(
            [Item(sku=f"SKU-{item['orderItemId']}", quantity=item["quantity"] + 1) for item in items],
            order_id=order_id,
            marketplace_id=body["marketplaceId"],
            status="UNSHIPPED",
        )
        for line, item in zip(market._orders[order_id].lines, items):
            line.order_item_id = item["orderItemId"]
