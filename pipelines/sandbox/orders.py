"""The sandbox's Orders API v2026-01-01: searchOrders and getOrder over the marketplace, with the model's
parameter rules and snapshot pagination.

Amazon's published model (models/orders_2026-01-01.json) is the authority: every rule enforced here quotes
the sentence of the model it comes from, the enums are read from the model itself, and nothing the model
forbids is accepted. A request that breaks a rule raises InvalidOrdersRequest, which the server answers as
tersely as Amazon does (400 InvalidInput, "Invalid Input").
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .marketplace import Marketplace
from .reference import MARKETPLACES, csv_list, date_time, format_time

ORDERS_PATH = "/orders/2026-01-01/orders"

MODEL = json.loads((Path(__file__).parent / "models" / "orders_2026-01-01.json").read_text())
_SEARCH_PARAMETERS = {p["name"]: p for p in MODEL["paths"][ORDERS_PATH]["get"]["parameters"]}


def _enum(name: str) -> tuple[str, ...]:
    return tuple(_SEARCH_PARAMETERS[name]["items"]["enum"])


INCLUDED_DATA = _enum("includedData")
FULFILLMENT_STATUSES = _enum("fulfillmentStatuses")
FULFILLED_BY = _enum("fulfilledBy")
MAX_MARKETPLACE_IDS = _SEARCH_PARAMETERS["marketplaceIds"]["maxItems"]
_ORDER_PROPERTIES = MODEL["definitions"]["Order"]["properties"]
_ITEM_PROPERTIES = MODEL["definitions"]["OrderItem"]["properties"]


def _dataset_fields(properties: dict) -> dict[str, str]:
    """Which field of an order (or item) each includedData value adds: the field the value names, in camelCase
    (FULFILLMENT_ORDERS: fulfillmentOrders), where the model's schema has one."""
    fields = {}
    for dataset in INCLUDED_DATA:
        first, *rest = dataset.lower().split("_")
        if (name := first + "".join(word.title() for word in rest)) in properties:
            fields[dataset] = name
    return fields


_ORDER_FIELDS = _dataset_fields(_ORDER_PROPERTIES)
_ITEM_FIELDS = _dataset_fields(_ITEM_PROPERTIES)
if _unnamed := set(INCLUDED_DATA) - set(_ORDER_FIELDS) - set(_ITEM_FIELDS):  # a model with a dataset named otherwise
    raise RuntimeError(f"includedData values naming no field of the Orders model: {sorted(_unnamed)}")
# "A list of datasets to include in the response": every other field of the model's Order and OrderItem comes
# without asking (orderItems is projected item by item)
_BASE_ORDER_FIELDS = tuple(k for k in _ORDER_PROPERTIES if k not in {*_ORDER_FIELDS.values(), "orderItems"})
_BASE_ITEM_FIELDS = tuple(k for k in _ITEM_PROPERTIES if k not in _ITEM_FIELDS.values())
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

_MAX_SNAPSHOTS = 1000  # oldest pagination snapshots are dropped beyond this
_BEFORE_MARGIN = timedelta(minutes=2)  # Amazon: a before-bound must be at least 2 minutes in the past
# getOrder's static sandbox case answers 400 for an orderId such as TEST_CASE_400: an
# "Amazon-defined order identifier" has the 3-7-7 digit form.
_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# `"format": "date-time"`: RFC 3339, with its offset.


# info.description: "This API does not display order data that is more than two years old, except in the JP, AU,
# and SG marketplaces, for which data from 2016 and after is available." (The product's side of the same
# sentence is pipelines/amazon/limits.py, earliest_start; the sandbox stands alone, so it is written again here.)
ORDERS_HISTORY_YEARS = 2
LONG_HISTORY_MARKETPLACES = frozenset(m for m, info in MARKETPLACES.items() if info.country in ("JP", "AU", "SG"))
LONG_HISTORY_FROM = datetime(2016, 1, 1, tzinfo=UTC)


def earliest_served(marketplace_ids: list[str] | None, now: datetime) -> datetime:
    """The oldest time a search over these marketplaces may start from; no marketplace named means the
    seller's, any of which may keep two years only."""
    if marketplace_ids and all(m in LONG_HISTORY_MARKETPLACES for m in marketplace_ids):
        return LONG_HISTORY_FROM
    try:
        return now.replace(year=now.year - ORDERS_HISTORY_YEARS)
    except ValueError:  # 29 February
        return now.replace(year=now.year - ORDERS_HISTORY_YEARS, day=28)


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


class InvalidOrdersRequest(Exception):
    """A request broke one of the model's rules (answered 400 InvalidInput, "Invalid Input")."""


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


class OrdersService:
    """searchOrders and getOrder, with the pagination snapshots their tokens point at."""

    def __init__(self, server, marketplace: Marketplace, *, token_reading: str = "sent"):
        if token_reading not in TOKEN_READINGS:
            raise ValueError(f"token_reading must be one of {TOKEN_READINGS}")
        self.server = server  # its clock (`now`), which may be off the marketplace's
        self.marketplace = marketplace
        self.token_reading = token_reading
        self.token_ttl = timedelta(hours=24)  # of simulated time: "The token will expire after 24 hours."
        self._lock = threading.Lock()
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self._page_tokens: dict[str, tuple[str, int]] = {}  # token -> (snapshot id, offset)

    @staticmethod
    def _included(params: dict) -> set[str]:
        # includedData: `"items": {"enum": [...]}`
        included = set(csv_list(params.get("includedData")) or [])
        if included - set(INCLUDED_DATA):
            raise InvalidOrdersRequest("includedData")
        return included

    def get(self, order_id: str, params: dict) -> dict:
        """getOrder's answer."""
        if not _ORDER_ID.fullmatch(order_id):
            raise InvalidOrdersRequest("orderId")
        included = self._included(params)
        order, is_raw = self.marketplace.lookup(order_id, as_served=True)
        return {"order": order if is_raw else project(order, included)}

    def _window(self, params: dict) -> tuple[str, datetime, datetime, dict]:
        """The search's time field, bounds and filters, by the rules of the model's parameters."""
        # createdAfter / lastUpdatedAfter: "You must provide exactly one of `createdAfter` and
        # `lastUpdatedAfter` in your request."
        if ("createdAfter" in params) == ("lastUpdatedAfter" in params):
            raise InvalidOrdersRequest("exactly one of createdAfter and lastUpdatedAfter")
        # "If `createdAfter` is provided, neither `lastUpdatedAfter` nor `lastUpdatedBefore` may be
        # provided." / "If `lastUpdatedAfter` is provided, neither `createdAfter` nor `createdBefore`
        # may be provided." / "If `createdBefore` [`lastUpdatedBefore`] is provided, neither
        # `lastUpdatedAfter` nor `lastUpdatedBefore` [`createdAfter` nor `createdBefore`] may be provided."
        prefix = "created" if "createdAfter" in params else "lastUpdated"
        other = "lastUpdated" if prefix == "created" else "created"
        if {other + "After", other + "Before"} & params.keys():
            raise InvalidOrdersRequest("created and lastUpdated bounds together")
        after_key, before_key = prefix + "After", prefix + "Before"
        after = self._parse_date(params, after_key)
        latest = self.server.now - _BEFORE_MARGIN
        if before_key in params:
            before = self._parse_date(params, before_key)
            # "if provided must be equal to or after the `...After` date and at least two minutes
            # before the time of the request"
            if before > latest or before < after:
                raise InvalidOrdersRequest(before_key)
        else:
            before = latest
        # Times are second precision, so the bound is too; what is echoed is what was applied.
        before = before.replace(microsecond=0)
        if before < after:
            raise InvalidOrdersRequest(before_key)
        filters = {
            # fulfillmentStatuses, fulfilledBy: `"items": {"enum": [...]}`
            "statuses": self._listed(params, "fulfillmentStatuses", FULFILLMENT_STATUSES),
            "fulfilled_by": self._listed(params, "fulfilledBy", FULFILLED_BY),
            # marketplaceIds: `"maxItems": 50`; "Refer to Marketplace IDs for a complete list of
            # `marketplaceId` values."
            "marketplace_ids": self._listed(params, "marketplaceIds", tuple(MARKETPLACES)),
        }
        if filters["marketplace_ids"] and len(filters["marketplace_ids"]) > MAX_MARKETPLACE_IDS:
            raise InvalidOrdersRequest("marketplaceIds")
        if after < earliest_served(filters["marketplace_ids"], self.server.now):
            raise InvalidOrdersRequest(after_key)
        return prefix, after, before, filters

    @staticmethod
    def _listed(params: dict, name: str, allowed: tuple[str, ...]) -> list[str] | None:
        values = csv_list(params.get(name))
        if name in params and not values or values and set(values) - set(allowed):
            raise InvalidOrdersRequest(name)
        return values

    @staticmethod
    def _page_size(params: dict) -> int:
        # maxResultsPerPage: "The value must be between 1 and 100. **Default:** 100."
        size = params.get("maxResultsPerPage", "100")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise InvalidOrdersRequest("maxResultsPerPage")
        return int(size)

    def search(self, params: dict, *, repeat_order: bool = False) -> dict:
        """searchOrders' answer: a first page, or the page a paginationToken points at (`repeat_order`: the fault
        that serves the previous page's last order again)."""
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
                raise InvalidOrdersRequest("paginationToken")
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

    def drop_snapshot_of(self, token: str | None) -> None:
        """Forget the search a pagination token belongs to (the fault invalid_pagination_token)."""
        with self._lock:
            snapshot_id, _ = self._page_tokens.get(token, (None, 0))
            if snapshot_id in self._snapshots:
                self._drop_snapshot(snapshot_id)

    @staticmethod
    def _parse_date(params: dict, key: str) -> datetime:
        # "The date must be in ISO 8601 format", `"format": "date-time"`: RFC 3339, offset included
        moment = date_time(params[key])
        if moment is None:
            raise InvalidOrdersRequest(key)
        return moment
