"""An HTTP server that answers like Amazon's LWA token endpoint, Orders API v2026-01-01, FBA Inventory v1 and
the Reports API 2021-06-30 (the returns reports, see reports.py).

It serves a :class:`Marketplace` to the real python-amazon-sp-api client, with Amazon's
parameter rules, snapshot pagination, per-operation token-bucket rate limits and
scripted or random faults for reliability tests.

Amazon's published model (models/orders_2026-01-01.json) is the authority: every rule enforced
here quotes the sentence of the model it comes from, the enums are read from the model itself,
and nothing the model forbids is accepted. Errors are as terse as Amazon's ("Invalid Input"), so
a client can only decide from the HTTP status and the error code.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .feeds import (
    FEED_DOCUMENTS_PATH,
    FEEDS_MODEL,
    FEEDS_PATH,
    RESULT_PATH,
    UPLOAD_PATH,
    FeedsService,
    InvalidFeedRequest,
)
from .inventory import INVENTORY_PATH, InvalidInventoryRequest, InventoryService
from .listings import BAD_REQUEST, LISTINGS_MODEL, LISTINGS_PATH, InvalidListingsRequest, ListingsService
from .marketplace import MARKETPLACES, Buyer, Item, Marketplace, format_time, parse_time
from .notifications import (
    DESTINATIONS_PATH,
    GRANTLESS_OPERATIONS,
    GRANTLESS_SCOPE,
    NOTIFICATIONS_MODEL,
    SUBSCRIPTIONS_PATH,
    InvalidNotificationRequest,
    NotificationsService,
    SubscriptionConflict,
)
from .reports import DOCUMENTS_PATH, DOWNLOAD_PATH, REPORTS_PATH, InvalidReportRequest, ReportsService, usage_plan
from .roles import ROLES, InvalidRolesRequest, operation_of, roles_needed
from .roles import answer as roles_answer
from .shipments import BURST as CONFIRM_BURST
from .shipments import CONFIRM_PATH, ShipmentsService
from .shipments import RATE as CONFIRM_RATE

__all__ = ["DEFAULT_SKUS", "SandboxServer", "serve", "project"]

ORDERS_PATH = "/orders/2026-01-01/orders"
TOKEN_PATH = "/auth/o2/token"
ACCESS_TOKEN_PREFIX = "Atza|sandbox."
GRANTLESS_TOKEN_PREFIX = "Atc|sandbox."  # a client-credentials token: grantless operations only

MODEL = json.loads((Path(__file__).parent / "models" / "orders_2026-01-01.json").read_text())
_SEARCH_PARAMETERS = {p["name"]: p for p in MODEL["paths"][ORDERS_PATH]["get"]["parameters"]}


def _enum(name: str) -> tuple[str, ...]:
    return tuple(_SEARCH_PARAMETERS[name]["items"]["enum"])


INCLUDED_DATA = _enum("includedData")
FULFILLMENT_STATUSES = _enum("fulfillmentStatuses")
FULFILLED_BY = _enum("fulfilledBy")
MAX_MARKETPLACE_IDS = _SEARCH_PARAMETERS["marketplaceIds"]["maxItems"]
# Which order and item fields each includedData value adds.
_ORDER_FIELDS = {
    "BUYER": "buyer",
    "RECIPIENT": "recipient",
    "PROCEEDS": "proceeds",
    "FULFILLMENT": "fulfillment",
    "PACKAGES": "packages",
    "TAX": "tax",
    "PAYMENT": "payment",
    "FULFILLMENT_ORDERS": "fulfillmentOrders",
}
_ITEM_FIELDS = {
    "PROCEEDS": "proceeds",
    "FULFILLMENT": "fulfillment",
    "CANCELLATION": "cancellation",
    "EXPENSE": "expense",
    "PROMOTION": "promotion",
    "TAX": "tax",
}
_BASE_ORDER_FIELDS = (
    "orderId",
    "orderAliases",
    "createdTime",
    "lastUpdatedTime",
    "programs",
    "associatedOrders",
    "salesChannel",
)
_BASE_ITEM_FIELDS = ("orderItemId", "quantityOrdered", "measurement", "associatedOrderItems", "programs", "product")
# The parameters a pagination token is bound to: "All other parameters must be provided with the same
# values that were provided with the request that generated this token, with the exception of
# `maxResultsPerPage` and `includedData`, which can be modified between calls."
_FILTERS = (
    "createdAfter",
    "createdBefore",
    "lastUpdatedAfter",
    "lastUpdatedBefore",
    "fulfillmentStatuses",
    "marketplaceIds",
    "fulfilledBy",
)
# The model's words leave one thing open: "the values that were provided" may mean the values sent
# (a before-bound the first request left to its default must stay absent) or the values applied
# (the defaulted bound, echoed in the response, must then be sent). The sandbox takes either strict
# reading (`token_reading`), and the client must satisfy both: it always sends the bound itself.
TOKEN_READINGS = ("sent", "applied")

API_FAULTS = frozenset(
    {
        "400",
        "429",
        "429_nobody",
        "500",
        "503",
        "slow",
        "truncated",
        "non_json",
        "expired_token",
        "invalid_pagination_token",
        "repeat_order",
    }
)
TOKEN_FAULTS = frozenset({"token_500", "token_invalid_grant"})  # consumed by token requests only

_MAX_SNAPSHOTS = 1000  # oldest pagination snapshots are dropped beyond this
_BEFORE_MARGIN = timedelta(minutes=2)  # Amazon: a before-bound must be at least 2 minutes in the past

# Amazon's own terse bodies. A 403 reads the same whether the token expired or was never valid.
_ERRORS = {
    "400": (400, "InvalidInput", "Invalid Input"),
    "404": (404, "NotFound", "The requested resource was not found."),
    "429": (429, "QuotaExceeded", "You exceeded your quota for the requested resource."),
    "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service temporarily unavailable. Please try again."),
    "expired_token": (403, "Unauthorized", "Access to requested resource is denied."),
    "unauthorized": (403, "Unauthorized", "Access to requested resource is denied."),
    "409": (409, "Conflict", "The resource already exists."),
}
# FBA Inventory v1, getInventorySummaries (fbaInventory.json): "marketplaceIds ... maxItems: 1",
# "sellerSkus ... maxItems: 50", "granularityType ... enum: Marketplace", "When granularityType is
# Marketplace, specify the marketplaceId" (as granularityId), "The string token will expire 30 seconds
# after being created", and a startDateTime "no earlier than 18 months prior to the date and time when you
# call the API". A page holds 50 summaries (Amazon's guide; the model does not say).
# The model's response headers: x-amzn-RateLimit-Limit comes with 200, 400 and 404 only (and the
# Reports API's 202 for createReport).
_RATE_LIMITED_STATUSES = (200, 202, 400, 404, 204)  # 204: confirmShipment's
# getOrder's static sandbox case answers 400 for an orderId such as TEST_CASE_400: an
# "Amazon-defined order identifier" has the 3-7-7 digit form.
_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# `"format": "date-time"`: RFC 3339, with its offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def project(order: dict, included: set[str]) -> dict:
    """The parts of a full order that a request with ``includedData=included`` gets."""
    projected = {key: order[key] for key in _BASE_ORDER_FIELDS if key in order}
    for dataset, key in _ORDER_FIELDS.items():
        if dataset in included and key in order:
            projected[key] = order[key]
    projected["orderItems"] = []
    for item in order.get("orderItems", []):
        kept = {key: item[key] for key in _BASE_ITEM_FIELDS if key in item}
        for dataset, key in _ITEM_FIELDS.items():
            if dataset in included and key in item:
                kept[key] = item[key]
        projected["orderItems"].append(kept)
    return projected


class _InvalidInput(Exception):
    """A request broke one of the model's rules (answered 400 InvalidInput, "Invalid Input")."""


class _TokenBucket:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.reset()

    def reset(self) -> None:
        self.tokens, self.stamp = float(self.burst), self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class _Snapshot:
    """A search result whose membership and order are frozen at its first page, so later changes
    never shift pages (an order changed meanwhile is served as it is now, as Amazon may)."""

    orders: list[tuple[dict | str, bool]]  # (put_raw order, True) or (simulated order id, False)
    filters: dict[str, str]  # what every request with one of its tokens must send (see TOKEN_READINGS)
    bound_key: str
    bound: str
    expires: datetime  # simulated time
    tokens: dict[int, str] = field(default_factory=dict)  # offset -> token of the page starting there


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def _json(status: int, payload, headers: dict | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers=headers or {})


def _errors(kind: str, headers: dict) -> _Response:
    status, code, message = _ERRORS[kind]
    error = {"code": code, "message": message}
    if status == 400:
        error["details"] = message  # as in the model's static case for searchOrders
    return _json(status, {"errors": [error]}, headers)


def _csv(value: str | None) -> list[str] | None:
    """A comma-separated list parameter; None when absent or empty."""
    return [part.strip() for part in (value or "").split(",") if part.strip()] or None


class SandboxServer:
    """Serves a Marketplace over HTTP on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        marketplace: Marketplace,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speedup: float = 1.0,
        search_rate: float = 0.0056,
        search_burst: int = 20,
        get_rate: float = 0.5,
        get_burst: int = 30,
        inventory_rate: float = 2.0,  # getInventorySummaries' usage plan: 2 requests/s, burst 2
        inventory_burst: int = 2,
        fault_rates: dict | None = None,
        fault_seed: int = 0,
        token_reading: str = "sent",
        report_seconds: tuple[float, float] = (1.0, 2.0),  # a report's time IN_QUEUE, then IN_PROGRESS
        notification_duplicate_rate: float = 0.0,  # a notification sent twice
        notification_reorder_rate: float = 0.0,  # a notification sent after the next one
        real_clock=time.monotonic,  # seconds of real time, which refill the usage plans (tests may drive it)
        listing_apply_seconds: float = 2.0,  # how long Amazon takes to apply an accepted listings patch
        feed_seconds: tuple[float, float] = (1.0, 2.0),  # a listings feed's time IN_QUEUE, then IN_PROGRESS
    ):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox has no real authentication, so it only listens on 127.0.0.1")
        unknown = set(fault_rates or {}) - API_FAULTS - TOKEN_FAULTS
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if token_reading not in TOKEN_READINGS:
            raise ValueError(f"token_reading must be one of {TOKEN_READINGS}")
        self.marketplace = marketplace
        self.speedup = speedup
        self.real_clock = real_clock
        self.token_reading = token_reading
        self.slow_seconds = 3.0  # how long a `slow` fault holds its answer (or until the server stops)
        self.token_ttl = timedelta(hours=24)  # of simulated time: "The token will expire after 24 hours."
        # how far this server's clock is from the marketplace's true time (Amazon's clock can be off too)
        self.clock_skew = timedelta(0)
        self.requests: list[dict] = []
        # operations the seller's application has no role for: Amazon answers them 403, token or not
        self.denied_operations: set[str] = set()
        # roles the seller's application lacks (ROLES): what needs one is answered 403 Unauthorized
        self.missing_roles: set[str] = set()
        self._lock = threading.Lock()
        self._buckets = {
            "searchOrders": _TokenBucket(search_rate * speedup, search_burst, real_clock),
            "getOrder": _TokenBucket(get_rate * speedup, get_burst, real_clock),
            "getInventorySummaries": _TokenBucket(inventory_rate * speedup, inventory_burst, real_clock),
            **{
                operation: _TokenBucket(rate * speedup, burst, real_clock)
                for operation, (rate, burst) in (
                    (op, usage_plan(op)) for op in ("createReport", "getReport", "getReportDocument")
                )
            },
            **{
                operation: _TokenBucket(rate * speedup, burst, real_clock)
                for operation, (rate, burst) in (
                    (op, usage_plan(op, NOTIFICATIONS_MODEL))
                    for op in ("createDestination", "createSubscription", "deleteSubscriptionById")
                )
            },
            **{
                operation: _TokenBucket(rate * speedup, burst, real_clock)
                for operation, (rate, burst) in (
                    (op, usage_plan(op, LISTINGS_MODEL))
                    for op in ("searchListingsItems", "getListingsItem", "patchListingsItem")
                )
            },
            **{
                operation: _TokenBucket(rate * speedup, burst, real_clock)
                for operation, (rate, burst) in (
                    (op, usage_plan(op, FEEDS_MODEL))
                    for op in ("createFeedDocument", "createFeed", "getFeed", "getFeedDocument", "getFeeds")
                )
            },
            "confirmShipment": _TokenBucket(CONFIRM_RATE * speedup, CONFIRM_BURST, real_clock),
            # the reads `channel check` makes (roles.py)
            "getReports": _TokenBucket(usage_plan("getReports")[0] * speedup, usage_plan("getReports")[1], real_clock),
            **{
                operation: _TokenBucket(rate * speedup, burst, real_clock)
                for operation, (rate, burst) in (
                    (op, usage_plan(op, NOTIFICATIONS_MODEL)) for op in ("getDestinations", "getSubscription")
                )
            },
        }
        self.shipments = ShipmentsService(self)  # Orders API v0 confirmShipment (shipments.py)
        self.inventory = InventoryService(marketplace, lambda: self.now)  # FBA Inventory (inventory.py)
        self.reports = ReportsService(self, queued_seconds=report_seconds[0], processing_seconds=report_seconds[1])
        self.notifications = NotificationsService(
            self, duplicate_rate=notification_duplicate_rate, reorder_rate=notification_reorder_rate, seed=fault_seed
        )
        marketplace.listeners.append(self.notifications.order_changed)
        self.listings = ListingsService(self, apply_seconds=listing_apply_seconds)
        marketplace.order_gates.append(self.listings.take_order)
        self.feeds = FeedsService(self, queued_seconds=feed_seconds[0], processing_seconds=feed_seconds[1])
        self._faults: deque[str] = deque()
        self._token_faults: deque[str] = deque()
        self._fault_rates = dict(fault_rates or {})
        self._fault_rng = random.Random(fault_seed)
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self._page_tokens: dict[str, tuple[str, int]] = {}  # token -> (snapshot id, offset)
        self._httpd = _HTTPServer(("127.0.0.1", port), self)
        self._thread: threading.Thread | None = None
        self._live: threading.Thread | None = None
        self._live_stop = threading.Event()
        self._stopping = threading.Event()  # ends a `slow` fault's wait when the server stops
        self._held: dict | None = None  # see hold()
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a held request waits

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def start(self) -> SandboxServer:
        self._stopping.clear()
        # A short poll interval keeps stop() fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sp-api-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def follow_real_time(
        self,
        *,
        orders_per_hour: float,
        skus: list[str],
        marketplaces: tuple[str, ...] = (),
        every: float = 1.0,
        clock=lambda: datetime.now(UTC),
    ) -> SandboxServer:
        """Keep the marketplace's clock on ``clock`` (the real one): it catches up at once (placing the orders
        the gap would have seen), then moves every ``every`` seconds, with orders arriving at
        ``orders_per_hour`` and their confirmations, shipments and cancellations as they fall due."""
        options = {"orders_per_hour": orders_per_hour, "skus": list(skus)}
        if marketplaces:
            options["marketplaces"] = tuple(marketplaces)

        def catch_up() -> None:
            behind = (clock() - self.marketplace.now).total_seconds()
            if behind > 0:
                self.marketplace.simulate(hours=behind / 3600, **options)

        catch_up()

        def keep_up() -> None:
            while not self._live_stop.wait(every):
                catch_up()

        self._live_stop.clear()
        self._live = threading.Thread(target=keep_up, name="sp-api-sandbox-clock", daemon=True)
        self._live.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        if self._live is not None:
            self._live_stop.set()
            self._live.join()
            self._live = None
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()

    def inject(self, kind: str, count: int = 1) -> None:
        """Queue ``count`` faults of ``kind`` for the next API requests (token_* kinds: token requests)."""
        if kind not in API_FAULTS | TOKEN_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            (self._token_faults if kind in TOKEN_FAULTS else self._faults).extend([kind] * count)

    def hold(self, operation: str, after: int = 0) -> None:
        """Hold the answer to the request of `operation` that comes after the next `after` ones, until
        release(): a test then knows its client is waiting on Amazon, whatever the machine's speed."""
        with self._lock:
            self._held = {"operation": operation, "skip": after}
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._held = None
        self._released.set()

    def reset_rate_limits(self) -> None:
        with self._lock:
            for bucket in self._buckets.values():
                bucket.reset()

    # -- request handling --------------------------------------------------------------

    def _handle(self, method: str, raw_path: str, headers, body: bytes) -> _Response:
        parts = urlsplit(raw_path)
        path = parts.path
        params = {key: ",".join(values) for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/_sandbox/"):
            return self._admin(method, path, params, body)
        started = time.perf_counter()
        if path == TOKEN_PATH and method == "POST":
            response, recorded = self._token(body)
        else:
            response, recorded = self._api(method, path, params, headers, body), params
            if method == "POST":  # createReport's, createDestination's ... parameters are their JSON body
                try:
                    recorded = json.loads(body)
                except ValueError:
                    recorded = {}
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "params": recorded,
                    "status": response.status,
                    "seconds": time.perf_counter() - started,
                }
            )
        return response

    def _wait_if_held(self, operation: str) -> None:
        with self._lock:
            held = self._held is not None and self._held["operation"] == operation
            if held and self._held["skip"] > 0:
                self._held["skip"] -= 1
                held = False
            if held:
                self._held = None
        if held:
            self.holding.set()
            while not (self._released.wait(0.05) or self._stopping.is_set()):
                pass
            self.holding.clear()

    def _token(self, body: bytes) -> tuple[_Response, dict]:
        """LWA refresh-token grant. Secrets never leave this method: not in records, not in errors."""
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        recorded = {"grant_type": form["grant_type"]} if "grant_type" in form else {}
        fault = self._next_fault(token_request=True)
        if fault == "token_500":
            return _json(500, {"error": "server_error", "error_description": "Internal server error"}), recorded
        if fault == "token_invalid_grant":
            description = "The request has an invalid grant parameter : refresh_token"
            return _json(400, {"error": "invalid_grant", "error_description": description}), recorded
        if form.get("grant_type") == "client_credentials":
            # the grantless grant: "scope=sellingpartnerapi::notifications", no refresh token
            for name in ("scope", "client_id", "client_secret"):
                if not form.get(name):
                    return _json(
                        400, {"error": "invalid_request", "error_description": f"Missing parameter: {name}"}
                    ), recorded
            if form["scope"] != GRANTLESS_SCOPE:
                return _json(
                    400, {"error": "invalid_scope", "error_description": "Not authorized for requested scope"}
                ), recorded
            return _json(
                200,
                {
                    "access_token": GRANTLESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
                    "token_type": "bearer",
                    "expires_in": 3600,
                },
            ), recorded
        for name in ("grant_type", "refresh_token", "client_id", "client_secret"):
            if not form.get(name):
                return _json(
                    400, {"error": "invalid_request", "error_description": f"Missing parameter: {name}"}
                ), recorded
        if form["grant_type"] != "refresh_token":
            description = "Only refresh_token is supported"
            return _json(400, {"error": "unsupported_grant_type", "error_description": description}), recorded
        return _json(
            200,
            {
                "access_token": ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": form["refresh_token"],
            },
        ), recorded

    @property
    def now(self) -> datetime:
        """The time by this server's clock."""
        return self.marketplace.now + self.clock_skew

    def _api(self, method: str, path: str, params: dict, headers, body: bytes = b"") -> _Response:
        if method == "GET" and path.startswith(DOWNLOAD_PATH + "/"):  # a presigned URL: no access token
            document = self.reports.download(unquote(path[len(DOWNLOAD_PATH) + 1 :]), params)
            return _Response(403, b"AccessDenied", "text/plain") if document is None else _Response(200, *document)
        if method == "PUT" and path.startswith(UPLOAD_PATH + "/"):  # a presigned upload URL: no access token
            uploaded = self.feeds.upload(unquote(path[len(UPLOAD_PATH) + 1 :]), params, body)
            return _Response(200, b"") if uploaded else _Response(403, b"AccessDenied", "text/plain")
        if method == "GET" and path.startswith(RESULT_PATH + "/"):
            document = self.feeds.download(unquote(path[len(RESULT_PATH) + 1 :]), params)
            return _Response(403, b"AccessDenied", "text/plain") if document is None else _Response(200, document)
        if method == "POST" and path == FEED_DOCUMENTS_PATH:
            operation = "createFeedDocument"
        elif method == "POST" and path == FEEDS_PATH:
            operation = "createFeed"
        elif method == "GET" and path.startswith(FEEDS_PATH + "/"):
            operation = "getFeed"
        elif method == "GET" and path.startswith(FEED_DOCUMENTS_PATH + "/"):
            operation = "getFeedDocument"
        elif method == "POST" and path == REPORTS_PATH:
            operation = "createReport"
        elif method == "GET" and path.startswith(REPORTS_PATH + "/"):
            operation = "getReport"
        elif method == "GET" and path.startswith(DOCUMENTS_PATH + "/"):
            operation = "getReportDocument"
        elif method == "POST" and path == DESTINATIONS_PATH:
            operation = "createDestination"
        elif method == "POST" and path.startswith(SUBSCRIPTIONS_PATH + "/") and path.count("/") == 4:
            operation = "createSubscription"
        elif method == "DELETE" and path.startswith(SUBSCRIPTIONS_PATH + "/") and path.count("/") == 5:
            operation = "deleteSubscriptionById"
        elif method == "GET" and path == ORDERS_PATH:
            operation = "searchOrders"
        elif method == "GET" and path.startswith(ORDERS_PATH + "/") and "/" not in path[len(ORDERS_PATH) + 1 :]:
            operation = "getOrder"
        elif method == "GET" and path == INVENTORY_PATH:
            operation = "getInventorySummaries"
        elif operation_of(method, path):
            operation = operation_of(method, path)
        elif path.startswith(LISTINGS_PATH + "/") and path.count("/") == 4 and method == "GET":
            operation = "searchListingsItems"
        elif path.startswith(LISTINGS_PATH + "/") and path.count("/") == 5 and method in ("GET", "PATCH"):
            operation = "getListingsItem" if method == "GET" else "patchListingsItem"
        elif method == "POST" and CONFIRM_PATH.fullmatch(path):
            operation = "confirmShipment"
        else:
            return _errors("404", {"x-amzn-RequestId": str(uuid.uuid4())})
        bucket = self._buckets[operation]
        response = self._answer(operation, bucket, path, params, headers, body)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        if response.status in _RATE_LIMITED_STATUSES:
            response.headers["x-amzn-RateLimit-Limit"] = f"{bucket.rate:.10f}".rstrip("0").rstrip(".")
        return response

    def _answer(self, operation: str, bucket: _TokenBucket, path: str, params: dict, headers, body: bytes) -> _Response:
        self._wait_if_held(operation)
        # injected faults are the Orders API's: a test scripting them counts on its requests alone
        fault = self._next_fault(token_request=False) if operation in ("searchOrders", "getOrder") else None
        if fault in ("400", "429", "500", "503", "expired_token"):
            return _errors(fault, {})
        if fault == "429_nobody":
            return _Response(429)
        if fault == "non_json":
            return _Response(200, b"<html>Service error</html>", "text/html")
        if fault == "invalid_pagination_token":
            self._drop_snapshot_of(params.get("paginationToken"))
            return _errors("400", {})
        if fault == "slow":
            self._stopping.wait(self.slow_seconds)

        # "The createDestination API is grantless": such an operation takes a client-credentials token,
        # every other one the seller's
        wanted = GRANTLESS_TOKEN_PREFIX if operation in GRANTLESS_OPERATIONS else ACCESS_TOKEN_PREFIX
        if not headers.get("x-amz-access-token", "").startswith(wanted) or operation in self.denied_operations:
            return _errors("unauthorized", {})
        if roles_needed(operation, path, params, body) & self.missing_roles:
            return _errors("unauthorized", {})  # "you get a 403 error" without the role (roles.py)
        with self._lock:
            allowed = bucket.take()
        if not allowed:
            return _errors("429", {})
        try:
            if operation == "searchOrders":
                payload = self._search(params, repeat_order=fault == "repeat_order")
            elif operation == "getInventorySummaries":
                payload = self.inventory.summaries(params)
            elif operation == "createReport":
                return _json(202, self.reports.create(body))  # the model's createReport answers 202
            elif operation == "getReport":
                payload = self.reports.get(unquote(path[len(REPORTS_PATH) + 1 :]))
            elif operation == "getReportDocument":
                payload = self.reports.document(unquote(path[len(DOCUMENTS_PATH) + 1 :]))
            elif operation == "createDestination":
                payload = self.notifications.create_destination(body)
            elif operation == "createSubscription":
                payload = self.notifications.create_subscription(unquote(path.split("/")[4]), body)
            elif operation == "createFeedDocument":
                return _json(201, self.feeds.create_document(body))  # the model's createFeedDocument answers 201
            elif operation == "createFeed":
                return _json(202, self.feeds.create_feed(body))  # and createFeed 202
            elif operation == "getFeed":
                payload = self.feeds.get(unquote(path[len(FEEDS_PATH) + 1 :]))
            elif operation == "getFeedDocument":
                payload = self.feeds.document(unquote(path[len(FEED_DOCUMENTS_PATH) + 1 :]))
            elif operation in ("searchListingsItems", "getListingsItem", "patchListingsItem"):
                return self._listings(operation, path, params, body)
            elif operation == "confirmShipment":
                refused = self.shipments.confirm(unquote(CONFIRM_PATH.fullmatch(path).group(1)), body)
                if refused is None:
                    return _Response(204, b"")  # "204": "Success.", no body
                status, code, message = refused
                return _json(status, {"errors": [{"code": code, "message": message}]})
            elif operation == "deleteSubscriptionById":
                _, _, _, _, kind, subscription_id = path.split("/")
                payload = self.notifications.delete_subscription(unquote(kind), unquote(subscription_id))
            elif operation in ("getReports", "getDestinations", "getSubscription", "getFeeds"):
                payload = roles_answer(self, operation, path, params)
            else:
                payload = self._get_order(unquote(path[len(ORDERS_PATH) + 1 :]), params)
        except (
            _InvalidInput,
            InvalidReportRequest,
            InvalidNotificationRequest,
            InvalidFeedRequest,
            InvalidRolesRequest,
            InvalidInventoryRequest,
        ):
            return _errors("400", {})
        except SubscriptionConflict:
            return _errors("409", {})
        except KeyError:
            return _errors("404", {})
        response = _json(200, payload)
        if fault == "truncated":
            response.body = response.body[: len(response.body) // 2]
        return response

    def _next_fault(self, *, token_request: bool) -> str | None:
        """The next scripted fault for this kind of request, else a random one from fault_rates."""
        with self._lock:
            queue = self._token_faults if token_request else self._faults
            if queue:
                return queue.popleft()
            rates = [
                (kind, rate) for kind, rate in self._fault_rates.items() if (kind in TOKEN_FAULTS) == token_request
            ]
            if not rates:
                return None
            roll = self._fault_rng.random()
            for kind, rate in rates:
                if roll < rate:
                    return kind
                roll -= rate
        return None

    @staticmethod
    def _included(params: dict) -> set[str]:
        # includedData: `"items": {"enum": [...]}`
        included = set(_csv(params.get("includedData")) or [])
        if included - set(INCLUDED_DATA):
            raise _InvalidInput("includedData")
        return included

    def _get_order(self, order_id: str, params: dict) -> dict:
        if not _ORDER_ID.fullmatch(order_id):
            raise _InvalidInput("orderId")
        included = self._included(params)
        order, is_raw = self.marketplace.lookup(order_id, as_served=True)
        return {"order": order if is_raw else project(order, included)}

    def _window(self, params: dict) -> tuple[str, datetime, datetime, dict]:
        """The search's time field, bounds and filters, by the rules of the model's parameters."""
        # createdAfter / lastUpdatedAfter: "You must provide exactly one of `createdAfter` and
        # `lastUpdatedAfter` in your request."
        if ("createdAfter" in params) == ("lastUpdatedAfter" in params):
            raise _InvalidInput("exactly one of createdAfter and lastUpdatedAfter")
        # "If `createdAfter` is provided, neither `lastUpdatedAfter` nor `lastUpdatedBefore` may be
        # provided." / "If `lastUpdatedAfter` is provided, neither `createdAfter` nor `createdBefore`
        # may be provided." / "If `createdBefore` [`lastUpdatedBefore`] is provided, neither
        # `lastUpdatedAfter` nor `lastUpdatedBefore` [`createdAfter` nor `createdBefore`] may be provided."
        prefix = "created" if "createdAfter" in params else "lastUpdated"
        other = "lastUpdated" if prefix == "created" else "created"
        if {other + "After", other + "Before"} & params.keys():
            raise _InvalidInput("created and lastUpdated bounds together")
        after_key, before_key = prefix + "After", prefix + "Before"
        after = self._parse_date(params, after_key)
        latest = self.now - _BEFORE_MARGIN
        if before_key in params:
            before = self._parse_date(params, before_key)
            # "if provided must be equal to or after the `...After` date and at least two minutes
            # before the time of the request"
            if before > latest or before < after:
                raise _InvalidInput(before_key)
        else:
            before = latest
        # Times are second precision, so the bound is too; what is echoed is what was applied.
        before = before.replace(microsecond=0)
        if before < after:
            raise _InvalidInput(before_key)
        filters = {
            # fulfillmentStatuses, fulfilledBy: `"items": {"enum": [...]}`
            "statuses": self._listed(params, "fulfillmentStatuses", FULFILLMENT_STATUSES),
            "fulfilled_by": self._listed(params, "fulfilledBy", FULFILLED_BY),
            # marketplaceIds: `"maxItems": 50`; "Refer to Marketplace IDs for a complete list of
            # `marketplaceId` values."
            "marketplace_ids": self._listed(params, "marketplaceIds", tuple(MARKETPLACES)),
        }
        if filters["marketplace_ids"] and len(filters["marketplace_ids"]) > MAX_MARKETPLACE_IDS:
            raise _InvalidInput("marketplaceIds")
        return prefix, after, before, filters

    @staticmethod
    def _listed(params: dict, name: str, allowed: tuple[str, ...]) -> list[str] | None:
        values = _csv(params.get(name))
        if name in params and not values or values and set(values) - set(allowed):
            raise _InvalidInput(name)
        return values

    @staticmethod
    def _page_size(params: dict) -> int:
        # maxResultsPerPage: "The value must be between 1 and 100. **Default:** 100."
        size = params.get("maxResultsPerPage", "100")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise _InvalidInput("maxResultsPerPage")
        return int(size)

    def _search(self, params: dict, *, repeat_order: bool) -> dict:
        included = self._included(params)
        page_size = self._page_size(params)
        prefix, after, before, filters = self._window(params)
        if "paginationToken" in params:
            return self._next_page(params, included, page_size, repeat_order)
        # the result's order is fixed now; each order is rendered when its page is served
        orders = self.marketplace.search(
            time_field=prefix + "Time", after=after, before=before, render=False, **filters
        )
        bound_key, bound = prefix + "Before", format_time(before)
        payload = {"orders": self._render_page(orders[:page_size], included)}
        if len(orders) > page_size:
            sent = {key: params[key] for key in _FILTERS if key in params}
            bound_to = sent if self.token_reading == "sent" else sent | {bound_key: bound}
            snapshot = _Snapshot(orders, bound_to, bound_key, bound, self.marketplace.now + self.token_ttl)
            with self._lock:
                snapshot_id = secrets.token_hex(8)
                self._snapshots[snapshot_id] = snapshot
                while len(self._snapshots) > _MAX_SNAPSHOTS:
                    self._drop_snapshot(next(iter(self._snapshots)))
                payload["pagination"] = {"nextToken": self._page_token(snapshot_id, page_size)}
        payload[bound_key] = bound
        return payload

    def _next_page(self, params: dict, included: set[str], page_size: int, repeat_order: bool) -> dict:
        """Serve the page a token points at. The same token always gives the same page, so retries are safe."""
        with self._lock:
            snapshot_id, offset = self._page_tokens.get(params["paginationToken"], (None, 0))
            snapshot = self._snapshots.get(snapshot_id)
            if snapshot is not None and snapshot.expires < self.marketplace.now:
                self._drop_snapshot(snapshot_id)
                snapshot = None
            # paginationToken: "All other parameters must be provided with the same values that were
            # provided with the request that generated this token" (see TOKEN_READINGS)
            if snapshot is None or {key: params[key] for key in _FILTERS if key in params} != snapshot.filters:
                raise _InvalidInput("paginationToken")
            end = offset + page_size
            page = snapshot.orders[offset:end]
            if repeat_order:  # fault: the last order of the previous page comes again
                page = snapshot.orders[offset - 1 : offset] + page
            payload = {"orders": self._render_page(page, included)}
            if end < len(snapshot.orders):
                payload["pagination"] = {"nextToken": self._page_token(snapshot_id, end)}
            payload[snapshot.bound_key] = snapshot.bound
            return payload

    def seed_pagination_token(self, token: str, params: dict) -> None:
        """Make `token` point at the first page of what the search `params` finds now (Amazon's static
        sandbox cases send tokens the server never issued)."""
        search = {key: value for key, value in params.items() if key != "paginationToken"}
        prefix, after, before, filters = self._window(search)
        orders = self.marketplace.search(
            time_field=prefix + "Time", after=after, before=before, render=False, **filters
        )
        sent = {key: search[key] for key in _FILTERS if key in search}
        bound_key, bound = prefix + "Before", format_time(before)
        bound_to = sent if self.token_reading == "sent" else sent | {bound_key: bound}
        with self._lock:
            snapshot_id = secrets.token_hex(8)
            self._snapshots[snapshot_id] = _Snapshot(
                orders, bound_to, bound_key, bound, self.marketplace.now + self.token_ttl, {0: token}
            )
            self._page_tokens[token] = (snapshot_id, 0)

    def _render_page(self, entries: list[tuple[dict | str, bool]], included: set[str]) -> list[dict]:
        """A put_raw order as it was stored; a simulated one as it is now, projected by includedData."""
        return [
            entry if is_raw else project(self.marketplace.order(entry, as_served=True), included)
            for entry, is_raw in entries
        ]

    def _page_token(self, snapshot_id: str, offset: int) -> str:
        """Token for the page of a snapshot that starts at ``offset`` (caller holds the lock)."""
        tokens = self._snapshots[snapshot_id].tokens
        if offset not in tokens:
            tokens[offset] = secrets.token_urlsafe(24)
            self._page_tokens[tokens[offset]] = (snapshot_id, offset)
        return tokens[offset]

    def _drop_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot and all its page tokens (caller holds the lock)."""
        for token in self._snapshots.pop(snapshot_id).tokens.values():
            self._page_tokens.pop(token, None)

    def _drop_snapshot_of(self, token: str | None) -> None:
        with self._lock:
            snapshot_id, _ = self._page_tokens.get(token, (None, 0))
            if snapshot_id in self._snapshots:
                self._drop_snapshot(snapshot_id)

    @staticmethod
    def _parse_date(params: dict, key: str) -> datetime:
        # "The date must be in ISO 8601 format", `"format": "date-time"`: RFC 3339, offset included
        moment = parse_time(params[key]) if _DATE_TIME.fullmatch(params[key]) else None
        if moment is None:
            raise _InvalidInput(key)
        return moment

    # -- admin endpoints ---------------------------------------------------------------

    def _listings(self, operation: str, path: str, params: dict, body: bytes) -> _Response:
        segments = [unquote(part) for part in path[len(LISTINGS_PATH) + 1 :].split("/")]
        try:
            if operation == "searchListingsItems":
                return _json(200, self.listings.search(segments[0], params))
            if operation == "getListingsItem":
                return _json(200, self.listings.get(segments[0], segments[1], params))
            return _json(200, self.listings.patch(segments[0], segments[1], params, body))
        except InvalidListingsRequest:
            return _json(400, BAD_REQUEST)
        except PermissionError:
            return _errors("unauthorized", {})

    def _admin(self, method: str, path: str, params: dict, body: bytes) -> _Response:
        """JSON endpoints that drive the marketplace, and read what was served, from another process."""
        market = self.marketplace
        segments = path.split("/")[2:]  # "/_sandbox/orders/ID/ship" -> ["orders", "ID", "ship"]
        try:
            args = json.loads(body) if body else {}
            if not isinstance(args, dict):
                raise ValueError("the request body must be a JSON object")
            if method == "GET" and segments == ["clock"]:
                return _json(200, {"now": format_time(market.now)})
            if method == "GET" and segments == ["requests"]:  # what was served, from ?since=N on
                with self._lock:
                    served = self.requests[int(params.get("since", "0")) :]
                    total = len(self.requests)
                return _json(200, {"requests": served, "total": total})
            if method == "POST" and segments == ["rate_limits", "reset"]:
                self.reset_rate_limits()
                return _json(200, {})
            if method == "POST" and segments == ["count"]:  # how many orders a window holds
                before = parse_time(args["before"]) if args.get("before") else market.now
                found = market.search(
                    time_field="lastUpdatedTime",
                    after=parse_time(args["after"]),
                    before=before,
                    marketplace_ids=args.get("marketplace_ids"),
                    render=False,
                )
                return _json(200, {"count": len(found), "now": format_time(market.now)})
            if method == "POST" and segments == ["advance"]:
                return _json(200, {"now": format_time(market.advance(**args))})
            if method == "POST" and segments == ["orders"]:
                items = [Item(**item) for item in args.pop("items", [])]
                if args.get("buyer") is not None:
                    args["buyer"] = Buyer(**args["buyer"])
                return _json(200, {"orderId": market.place_order(items, **args)})
            if method == "GET" and len(segments) == 2 and segments[0] == "orders":
                return _json(200, {"order": market.order(unquote(segments[1]))})
            if method == "POST" and len(segments) == 3 and segments[0] == "orders":
                action = {
                    "confirm": market.confirm,
                    "ship": market.ship,
                    "cancel": market.cancel,
                    "cancel_item": market.cancel_item,
                    "touch": market.touch,
                }.get(segments[2])
                if action is not None:
                    order_id = unquote(segments[1])
                    action(order_id, **args)
                    return _json(200, {"order": market.order(order_id)})
            if method == "POST" and segments == ["simulate"]:
                counts = market.simulate(**args)
                return _json(200, {"now": format_time(market.now), "counts": counts})
            if method == "POST" and segments == ["roles"]:  # {"missing": ["Amazon Fulfillment"]}: the app lacks it
                unknown = set(args.get("missing", [])) - set(ROLES)
                if unknown:
                    raise ValueError(f"unknown roles {sorted(unknown)}; the sandbox knows {list(ROLES)}")
                self.missing_roles = set(args.get("missing", []))
                return _json(200, {"missing": sorted(self.missing_roles)})
            if method == "POST" and segments == ["inject"]:
                self.inject(**args)
                return _json(200, {"queued": args})
        except KeyError as missing:
            return _json(404, {"error": missing.args[0] if missing.args else "not found"})
        except (TypeError, ValueError) as problem:
            return _json(400, {"error": str(problem)})
        return _json(404, {"error": f"no admin endpoint {method} {path}"})


class _HTTPServer(ThreadingHTTPServer):
    def __init__(self, address, sandbox: SandboxServer):
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """Ignore clients that hang up; still report real bugs."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    disable_nagle_algorithm = True  # headers and body are separate writes; don't let them wait for ACKs
    server_version = "SPAPISandbox/1.0"

    def log_message(self, format, *args) -> None:
        """Stay quiet: no line per request on stderr."""

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def do_DELETE(self) -> None:
        self._respond("DELETE")

    def do_PATCH(self) -> None:
        self._respond("PATCH")

    def do_PUT(self) -> None:
        self._respond("PUT")

    def _respond(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        response = self.server.sandbox._handle(method, self.path, self.headers, body)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except ConnectionError:  # the client gave up (e.g. timed out on a "slow" fault)
            self.close_connection = True


DEFAULT_SKUS = tuple(f"SKU-{n:04d}" for n in range(1, 21))


def serve(
    port: int = 8000,
    seed: int = 0,
    speedup: float = 1.0,
    *,
    live: bool = False,
    orders_per_hour: float = 30,
    skus=DEFAULT_SKUS,
    missing_roles=(),
) -> None:
    """Run a sandbox until Ctrl-C. Its clock stands still (driven through /_sandbox/ endpoints) unless
    ``live``: then it follows the real one, with orders arriving as it goes."""
    market = Marketplace(seed=seed, start=datetime.now(UTC).replace(microsecond=0))
    server = SandboxServer(market, port=port, speedup=speedup)
    unknown = set(missing_roles) - set(ROLES)
    if unknown:
        raise ValueError(f"--missing-role {sorted(unknown)[0]!r} is not one of {', '.join(ROLES)}")
    server.missing_roles = set(missing_roles)
    if live:
        server.follow_real_time(orders_per_hour=orders_per_hour, skus=list(skus))
    print(
        f"SP-API sandbox at {server.url} (token URL {server.token_url})"
        f"{f'; its clock follows the real one, about {orders_per_hour:g} orders an hour' if live else ''}",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.stop()
