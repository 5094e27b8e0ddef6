"""An HTTP server that answers like Amazon's SP-API, on 127.0.0.1: one route table (ROUTES) sends each request
to the module of its Amazon API (auth.py: the LWA token endpoint; orders.py: Orders API v2026-01-01;
shipments.py: the v0 confirmShipment; inventory.py: FBA Inventory v1; reports.py, notifications.py,
listings.py, feeds.py, roles.py), over a :class:`Marketplace` served to the real python-amazon-sp-api client.

The server is what every API shares: per-operation token-bucket rate limits (usage plans), the access token
and the roles an operation needs, scripted or random faults for reliability tests, Amazon's terse errors (a
client can only decide from the HTTP status and the error code), a record of what was served, and the
/_sandbox/ endpoints that drive the marketplace from another process.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .auth import ACCESS_TOKEN_PREFIX, GRANTLESS_TOKEN_PREFIX, TOKEN_PATH, token_answer, token_recorded
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
from .marketplace import Buyer, Item, Marketplace
from .notifications import (
    DESTINATIONS_PATH,
    GRANTLESS_OPERATIONS,
    NOTIFICATIONS_MODEL,
    SUBSCRIPTIONS_PATH,
    InvalidNotificationRequest,
    NotificationsService,
    SubscriptionConflict,
)
from .orders import ORDERS_PATH, InvalidOrdersRequest, OrdersService
from .reference import format_time, parse_time
from .reports import DOCUMENTS_PATH, DOWNLOAD_PATH, REPORTS_PATH, InvalidReportRequest, ReportsService, usage_plan
from .roles import ROLES, InvalidRolesRequest, roles_needed
from .roles import answer as roles_answer
from .shipments import BURST as CONFIRM_BURST
from .shipments import CONFIRM_PATH, ShipmentsService
from .shipments import RATE as CONFIRM_RATE

# ORDERS_PATH and TOKEN_PATH: where the benchmarks and tests have long looked for them
__all__ = ["DEFAULT_SKUS", "ORDERS_PATH", "TOKEN_PATH", "SandboxServer", "serve"]

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
# The model's response headers: x-amzn-RateLimit-Limit comes with 200, 400 and 404 only (and the
# Reports API's 202 for createReport).
_RATE_LIMITED_STATUSES = (200, 202, 400, 404, 204)  # 204: confirmShipment's


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


@dataclass
class _Request:
    method: str
    path: str
    match: re.Match | None  # the route's path pattern, matched (its groups still %-encoded)
    params: dict  # the query's parameters, a repeated one joined by commas
    headers: object
    body: bytes
    fault: str | None = None  # the injected fault this request meets (orders.py serves repeat_order)

    def id(self, group: int = 1) -> str:
        return unquote(self.match[group])


def _parameters(request: _Request) -> dict:
    """A request's parameters, as the server records them: a POST's are its JSON body (createReport's,
    createDestination's ...)."""
    if request.method != "POST":
        return request.params
    try:
        return json.loads(request.body)
    except ValueError:
        return {}


@dataclass(frozen=True)
class Route:
    """A request the sandbox answers: its method and path (a regular expression the whole path matches), the
    SP-API operation it is (its usage plan, access token, roles and faults; None for what is no operation),
    its handler (server, request) -> a JSON payload answered 200, or a whole _Response, and what of it the
    server records (None: nothing, nor is it timed)."""

    method: str | None  # None: any
    path: str
    operation: str | None
    handler: Callable[[SandboxServer, _Request], dict | _Response]
    recorded: Callable[[_Request], dict] | None = _parameters


def _presigned(document, answer: Callable[..., _Response]) -> _Response:
    """A presigned URL's answer (Amazon's are on S3, which takes no access token), or S3's 403 for one it
    does not know."""
    return _Response(403, b"AccessDenied", "text/plain") if document is None else answer(document)


def _ok(document: bytes = b"") -> _Response:
    return _Response(200, document)


def _listings(server: SandboxServer, request: _Request) -> _Response:
    try:
        if request.match.re.groups == 1:
            return _json(200, server.listings.search(request.id(1), request.params))
        if request.method == "GET":
            return _json(200, server.listings.get(request.id(1), request.id(2), request.params))
        return _json(200, server.listings.patch(request.id(1), request.id(2), request.params, request.body))
    except InvalidListingsRequest:
        return _json(400, BAD_REQUEST)
    except PermissionError:
        return _errors("unauthorized", {})


def _confirm_shipment(server: SandboxServer, request: _Request) -> _Response:
    refused = server.shipments.confirm(request.id(), request.body)
    if refused is None:
        return _Response(204, b"")  # "204": "Success.", no body
    status, code, message = refused
    return _json(status, {"errors": [{"code": code, "message": message}]})


_ONE = "/([^/]*)"  # one path segment, the id it names
_ANY = "/(.*)"  # the rest of the path, slashes and all
ROUTES = (
    # the sandbox's own endpoints, which drive the marketplace: not recorded
    Route(None, "/_sandbox/.*", None, lambda s, r: s._admin(r.method, r.path, r.params, r.body), recorded=None),
    Route("POST", TOKEN_PATH, None, lambda s, r: s._token(r.body), recorded=lambda r: token_recorded(r.body)),
    # presigned URLs: no access token, no usage plan
    Route(
        "GET",
        DOWNLOAD_PATH + _ANY,
        None,
        lambda s, r: _presigned(s.reports.download(r.id(), r.params), lambda document: _Response(200, *document)),
    ),
    Route(
        "PUT",
        UPLOAD_PATH + _ANY,
        None,
        lambda s, r: _ok() if s.feeds.upload(r.id(), r.params, r.body) else _presigned(None, _ok),
    ),
    Route("GET", RESULT_PATH + _ANY, None, lambda s, r: _presigned(s.feeds.download(r.id(), r.params), _ok)),
    # Feeds API 2021-06-30 (feeds.py): the model's createFeedDocument answers 201, createFeed 202
    Route("POST", FEED_DOCUMENTS_PATH, "createFeedDocument", lambda s, r: _json(201, s.feeds.create_document(r.body))),
    Route("POST", FEEDS_PATH, "createFeed", lambda s, r: _json(202, s.feeds.create_feed(r.body))),
    Route("GET", FEEDS_PATH + _ANY, "getFeed", lambda s, r: s.feeds.get(r.id())),
    Route("GET", FEED_DOCUMENTS_PATH + _ANY, "getFeedDocument", lambda s, r: s.feeds.document(r.id())),
    # Reports API 2021-06-30 (reports.py): the model's createReport answers 202
    Route("POST", REPORTS_PATH, "createReport", lambda s, r: _json(202, s.reports.create(r.body))),
    Route("GET", REPORTS_PATH + _ANY, "getReport", lambda s, r: s.reports.get(r.id())),
    Route("GET", DOCUMENTS_PATH + _ANY, "getReportDocument", lambda s, r: s.reports.document(r.id())),
    # Notifications API v1 (notifications.py)
    Route("POST", DESTINATIONS_PATH, "createDestination", lambda s, r: s.notifications.create_destination(r.body)),
    Route(
        "POST",
        SUBSCRIPTIONS_PATH + _ONE,
        "createSubscription",
        lambda s, r: s.notifications.create_subscription(r.id(), r.body),
    ),
    Route(
        "DELETE",
        SUBSCRIPTIONS_PATH + _ONE + _ONE,
        "deleteSubscriptionById",
        lambda s, r: s.notifications.delete_subscription(r.id(1), r.id(2)),
    ),
    # Orders API v2026-01-01 (orders.py)
    Route(
        "GET",
        ORDERS_PATH,
        "searchOrders",
        lambda s, r: s.orders.search(r.params, repeat_order=r.fault == "repeat_order"),
    ),
    Route("GET", ORDERS_PATH + _ONE, "getOrder", lambda s, r: s.orders.get(r.id(), r.params)),
    # FBA Inventory v1 (inventory.py)
    Route("GET", INVENTORY_PATH, "getInventorySummaries", lambda s, r: s.inventory.summaries(r.params)),
    # the reads `channel check` makes (roles.py)
    Route("GET", REPORTS_PATH, "getReports", lambda s, r: roles_answer(s, "getReports", r.path, r.params)),
    Route("GET", FEEDS_PATH, "getFeeds", lambda s, r: roles_answer(s, "getFeeds", r.path, r.params)),
    Route(
        "GET", DESTINATIONS_PATH, "getDestinations", lambda s, r: roles_answer(s, "getDestinations", r.path, r.params)
    ),
    Route(
        "GET",
        SUBSCRIPTIONS_PATH + _ONE,
        "getSubscription",
        lambda s, r: roles_answer(s, "getSubscription", r.path, r.params),
    ),
    # Listings Items API 2021-08-01 (listings.py)
    Route("GET", LISTINGS_PATH + _ONE, "searchListingsItems", _listings),
    Route("GET", LISTINGS_PATH + _ONE + _ONE, "getListingsItem", _listings),
    Route("PATCH", LISTINGS_PATH + _ONE + _ONE, "patchListingsItem", _listings),
    # Orders API v0 confirmShipment (shipments.py)
    Route("POST", CONFIRM_PATH.pattern, "confirmShipment", _confirm_shipment),
)
_PATTERNS = [(route, re.compile(route.path)) for route in ROUTES]


def route_of(method: str, path: str) -> tuple[Route | None, re.Match | None]:
    """The route a request takes, and its path matched; (None, None) where the sandbox has none (404)."""
    for route, pattern in _PATTERNS:
        if route.method in (None, method):
            match = pattern.fullmatch(path)
            if match:
                return route, match
    return None, None


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
        self.marketplace = marketplace
        self.speedup = speedup
        self.real_clock = real_clock
        self.slow_seconds = 3.0  # how long a `slow` fault holds its answer (or until the server stops)
        # how far this server's clock is from the marketplace's true time (Amazon's clock can be off too)
        self.clock_skew = timedelta(0)
        self.requests: list[dict] = []
        # operations the seller's application has no role for: Amazon answers them 403, token or not
        self.denied_operations: set[str] = set()
        # roles the seller's application lacks (ROLES): what needs one is answered 403 Unauthorized
        self.missing_roles: set[str] = set()
        self._lock = threading.Lock()
        # each operation's usage plan: (requests a second, burst)
        plans = {
            "searchOrders": (search_rate, search_burst),
            "getOrder": (get_rate, get_burst),
            "getInventorySummaries": (inventory_rate, inventory_burst),
            "confirmShipment": (CONFIRM_RATE, CONFIRM_BURST),
            **{op: usage_plan(op) for op in ("createReport", "getReport", "getReportDocument", "getReports")},
            **{
                op: usage_plan(op, NOTIFICATIONS_MODEL)
                for op in (
                    "createDestination",
                    "createSubscription",
                    "deleteSubscriptionById",
                    "getDestinations",
                    "getSubscription",
                )
            },
            **{
                op: usage_plan(op, LISTINGS_MODEL)
                for op in ("searchListingsItems", "getListingsItem", "patchListingsItem")
            },
            **{
                op: usage_plan(op, FEEDS_MODEL)
                for op in ("createFeedDocument", "createFeed", "getFeed", "getFeedDocument", "getFeeds")
            },
        }
        self._buckets = {op: _TokenBucket(rate * speedup, burst, real_clock) for op, (rate, burst) in plans.items()}
        self.orders = OrdersService(self, marketplace, token_reading=token_reading)  # Orders API (orders.py)
        self.shipments = ShipmentsService(self)  # Orders API v0 confirmShipment (shipments.py)
        self.inventory = InventoryService(marketplace, lambda: self.now)  # FBA Inventory (inventory.py)
        self.reports = ReportsService(self, queued_seconds=report_seconds[0], processing_seconds=report_seconds[1])
        self.notifications = NotificationsService(
            self, duplicate_rate=notification_duplicate_rate, reorder_rate=notification_reorder_rate, seed=fault_seed
        )
        marketplace.listeners.append(self.notifications.order_changed)
        self.listings = ListingsService(self, apply_seconds=listing_apply_seconds)
        marketplace.order_gates.append(self.listings.take_order)
        marketplace.cancellation_listeners.append(self.listings.give_back)
        self.feeds = FeedsService(self, queued_seconds=feed_seconds[0], processing_seconds=feed_seconds[1])
        self._faults: deque[str] = deque()
        self._token_faults: deque[str] = deque()
        self._fault_rates = dict(fault_rates or {})
        self._fault_rng = random.Random(fault_seed)
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
        params = {key: ",".join(values) for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        route, match = route_of(method, parts.path)
        request = _Request(method, parts.path, match, params, headers, body)
        if route is not None and route.recorded is None:
            return route.handler(self, request)
        started = time.perf_counter()
        if route is None:
            response = _errors("404", {"x-amzn-RequestId": str(uuid.uuid4())})
        elif route.operation is None:
            response = route.handler(self, request)
        else:
            response = self._operation(route, request)
        recorded = (route.recorded if route is not None else _parameters)(request)
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": parts.path,
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

    def _token(self, body: bytes) -> _Response:
        """LWA's token endpoint (auth.py), unless a token fault is due."""
        fault = self._next_fault(token_request=True)
        if fault == "token_500":
            return _json(500, {"error": "server_error", "error_description": "Internal server error"})
        if fault == "token_invalid_grant":
            description = "The request has an invalid grant parameter : refresh_token"
            return _json(400, {"error": "invalid_grant", "error_description": description})
        return _json(*token_answer(body))

    @property
    def now(self) -> datetime:
        """The time by this server's clock."""
        return self.marketplace.now + self.clock_skew

    def _operation(self, route: Route, request: _Request) -> _Response:
        """An SP-API operation's answer, within its usage plan, with Amazon's request id and rate-limit header."""
        bucket = self._buckets[route.operation]
        response = self._answer(route, bucket, request)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        if response.status in _RATE_LIMITED_STATUSES:
            response.headers["x-amzn-RateLimit-Limit"] = f"{bucket.rate:.10f}".rstrip("0").rstrip(".")
        return response

    def _answer(self, route: Route, bucket: _TokenBucket, request: _Request) -> _Response:
        operation, params = route.operation, request.params
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
            self.orders.drop_snapshot_of(params.get("paginationToken"))
            return _errors("400", {})
        if fault == "slow":
            self._stopping.wait(self.slow_seconds)

        # "The createDestination API is grantless": such an operation takes a client-credentials token,
        # every other one the seller's
        wanted = GRANTLESS_TOKEN_PREFIX if operation in GRANTLESS_OPERATIONS else ACCESS_TOKEN_PREFIX
        if not request.headers.get("x-amz-access-token", "").startswith(wanted) or operation in self.denied_operations:
            return _errors("unauthorized", {})
        if roles_needed(operation, request.path, params, request.body) & self.missing_roles:
            return _errors("unauthorized", {})  # "you get a 403 error" without the role (roles.py)
        with self._lock:
            allowed = bucket.take()
        if not allowed:
            return _errors("429", {})
        request.fault = fault
        try:
            payload = route.handler(self, request)
        except (
            InvalidOrdersRequest,
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
        if isinstance(payload, _Response):
            return payload
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

    # -- admin endpoints ---------------------------------------------------------------

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
