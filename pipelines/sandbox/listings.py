"""The sandbox's Listings Items API 2021-08-01: searchListingsItems, getListingsItem and patchListingsItem, over
the seller's listings, which the marketplace's orders draw down.

Every rule quotes models/listingsItems_2021-08-01.json, or the public source beside it. What Amazon does that
the model does not say, and how the sandbox copies it:
- a merchant-fulfilled listing's quantity goes down as Amazon takes an order for it, and Amazon takes no
  order for more than the listing shows (the marketplace asks `take_order` before placing one); the units of
  a cancelled order that has not shipped come back, unless the seller cancelled for want of stock (`give_back`);
- a patch is ACCEPTED at once and applied later ("The listings submission was accepted for processing."):
  `apply_seconds` of the marketplace's time, or of real time times the server's speedup, whichever came first;
  until then reads show the quantity as it was;
- Europe's marketplaces share one merchant-fulfilled quantity per seller SKU (issue #26: "Amazon keeps one
  merchant-fulfilled quantity per seller SKU across a region's marketplaces (Europe)"): the pool is the
  Pan-European one of reference.fba_pool;
- a 200 whose status is INVALID, with its issues, is how Amazon refuses a patch's content (jlevers/selling-
  partner-api#493 and #861, amzn/selling-partner-api-models#5219: "HTTP 200 only means ..."); a 400 is for a
  request it cannot parse;
- `merge` merges each fulfillment_availability entry by its fulfillment_channel_code, so an entry's
  lead_time_to_ship_max_days (the handling time) stays; `replace` sets the attribute to the value whole; an
  entry with another channel code than the listing's is added beside it (never taken as DEFAULT).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .records import OrderRefused
from .reference import DATE_TIME, MARKETPLACES, fba_pool, format_time, json_object

LISTINGS_PATH = "/listings/2021-08-01/items"
LISTINGS_MODEL = json.loads((Path(__file__).parent / "models" / "listingsItems_2021-08-01.json").read_text())
_OPERATIONS = {
    op["operationId"]: op
    for methods in LISTINGS_MODEL["paths"].values()
    for op in methods.values()
    if isinstance(op, dict) and "operationId" in op
}


def _parameter(operation: str, name: str) -> dict:
    return next(p for p in _OPERATIONS[operation]["parameters"] if p["name"] == name)


def _enum(operation: str, name: str) -> frozenset[str]:
    parameter = _parameter(operation, name)
    return frozenset(parameter.get("items", parameter).get("enum") or parameter.get("enum"))


SEARCH_INCLUDED = _enum("searchListingsItems", "includedData")
GET_INCLUDED = _enum("getListingsItem", "includedData")
PATCH_INCLUDED = _enum("patchListingsItem", "includedData")
PATCH_MODES = _enum("patchListingsItem", "mode")
PATCH_OPS = frozenset(LISTINGS_MODEL["definitions"]["PatchOperation"]["properties"]["op"]["enum"])
IDENTIFIERS_TYPES = _enum("searchListingsItems", "identifiersType")
SORT_BY = _enum("searchListingsItems", "sortBy")
# pageSize: "maximum": 20, "default": 10; identifiers: "maxItems": 20
PAGE_SIZE_MAX = _parameter("searchListingsItems", "pageSize")["maximum"]
PAGE_SIZE_DEFAULT = _parameter("searchListingsItems", "pageSize")["default"]
IDENTIFIERS_MAX = _parameter("searchListingsItems", "identifiers")["maxItems"]
# numberOfResults: "The maximum number of items (SKUs) that can be returned and paged through is 1000."
SEARCH_MAX_RESULTS = 1000
# the cancellation reasons for want of stock, after which Amazon restores no units (see give_back)
NO_INVENTORY = frozenset({"No Inventory", "NoInventory"})
# FulfillmentAvailability.quantity: "minimum": 0
DEFAULT_CHANNEL = "DEFAULT"  # the merchant's own fulfilment network


def mfn_pool(marketplace_id: str) -> str:
    return fba_pool(marketplace_id)


# the model's static 400 case: {"errors": [{"code": "BAD_REQUEST", "message": "Invalid input", "details": "Invalid input"}]}
BAD_REQUEST = {"errors": [{"code": "BAD_REQUEST", "message": "Invalid input", "details": "Invalid input"}]}


class InvalidListingsRequest(Exception):
    """Answered 400 InvalidInput."""


class ListingNotFound(KeyError):
    """Answered 404."""


class OutOfStock(OrderRefused):
    """Amazon takes no order for more units than the merchant-fulfilled listing shows."""


@dataclass
class _Listing:
    sku: str
    marketplace_ids: set[str]
    asin: str
    product_type: str
    item_name: str
    created: str
    updated: str
    fulfillment_channel_code: str  # DEFAULT (merchant), or Amazon's (AMAZON_NA, AMAZON_EU ...) for FBA
    status: list = field(default_factory=lambda: ["BUYABLE", "DISCOVERABLE"])


@dataclass
class _Pending:
    due_simulated: datetime
    due_real: float
    patches: list
    submission_id: str


@dataclass
class _Offer:
    """The fulfillment_availability of one SKU in one pool: Amazon's entries, as the attribute holds them."""

    entries: list[dict] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)


class ListingsService:
    def __init__(self, server, *, seller_id: str | None = None, apply_seconds: float = 2.0):
        self.server = server
        self.seller_id = seller_id
        self.apply_seconds = apply_seconds
        self._listings: dict[tuple[str, str], _Listing] = {}  # (marketplace_id, sku)
        self._offers: dict[tuple[str, str], _Offer] = {}  # (pool, sku)
        # the marketplace's own lock: an order asks take_order under it, and reads of the clock take it too
        self._lock = server.marketplace._lock
        # what reached the sandbox: every patch, its answer, and every order refused for want of stock
        self.patches: list[dict] = []
        self.refused_orders: list[dict] = []
        self._taken_by_order: dict[str, dict[str, int]] = {}  # order id -> {sku: units it took}

    # -- the seller's listings (a test or the demo lists them) ---------------------------------------------
    def list_item(
        self,
        sku: str,
        quantity: int = 0,
        *,
        marketplace_id: str = "ATVPDKIKX0DER",
        fulfillment_channel_code: str = DEFAULT_CHANNEL,
        handling_days: int | None = 2,
        product_type: str = "PRODUCT",
        asin: str | None = None,
        item_name: str | None = None,
        created: str | None = None,
        updated: str | None = None,
        status: list | None = None,
    ) -> None:
        if marketplace_id not in MARKETPLACES:
            raise ValueError(f"unknown marketplace {marketplace_id!r}")
        stamp = format_time(self.server.now)
        with self._lock:
            key = (marketplace_id, sku)
            self._listings[key] = _Listing(
                sku,
                {marketplace_id},
                asin or f"B0{abs(hash(sku)) % 10**8:08d}",
                product_type,
                item_name or f"Item {sku}",
                created or stamp,
                updated or created or stamp,
                fulfillment_channel_code,
                ["BUYABLE", "DISCOVERABLE"] if status is None else list(status),
            )
            offer = self._offers.setdefault((mfn_pool(marketplace_id), sku), _Offer())
            self._apply_due(offer)  # what Amazon applied before the seller's change stays before it
            entry = {"fulfillment_channel_code": fulfillment_channel_code, "quantity": quantity}
            if handling_days is not None and fulfillment_channel_code == DEFAULT_CHANNEL:
                entry["lead_time_to_ship_max_days"] = handling_days
            offer.entries = [e for e in offer.entries if e["fulfillment_channel_code"] != fulfillment_channel_code]
            offer.entries.append(entry)

    def delist(self, sku: str, marketplace_id: str = "ATVPDKIKX0DER") -> None:
        """The seller deletes the listing (in Seller Central, say)."""
        with self._lock:
            del self._listings[(marketplace_id, sku)]
            if not any(
                m != marketplace_id and s == sku and mfn_pool(m) == mfn_pool(marketplace_id) for m, s in self._listings
            ):
                self._offers.pop((mfn_pool(marketplace_id), sku), None)

    def quantity(self, sku: str, marketplace_id: str = "ATVPDKIKX0DER") -> int | None:
        """The merchant-fulfilled quantity buyers see now (None when the SKU has no such listing there)."""
        with self._lock:
            if (marketplace_id, sku) not in self._listings:
                return None
            entry = self._default_entry(mfn_pool(marketplace_id), sku)
            return None if entry is None else entry.get("quantity", 0)

    def entries(self, sku: str, marketplace_id: str = "ATVPDKIKX0DER") -> list[dict]:
        with self._lock:
            offer = self._offers.get((mfn_pool(marketplace_id), sku))
            if offer is None:
                return []
            self._apply_due(offer)
            return json.loads(json.dumps(offer.entries))

    def _default_entry(self, pool: str, sku: str) -> dict | None:
        offer = self._offers.get((pool, sku))
        if offer is None:
            return None
        self._apply_due(offer)
        return next((e for e in offer.entries if e["fulfillment_channel_code"] == DEFAULT_CHANNEL), None)

    # -- orders draw the listing down --------------------------------------------------------------------
    def take_order(self, marketplace_id: str, fulfilled_by: str, items, order_id: str) -> None:
        """Called by the marketplace before it places an order: a merchant-fulfilled order takes its units from
        the listing's quantity, and is refused (OutOfStock) when a listed SKU shows fewer than it asks."""
        if fulfilled_by != "MERCHANT":
            return
        pool = mfn_pool(marketplace_id)
        with self._lock:
            wanted: dict[str, int] = {}
            for item in items:
                if (marketplace_id, item.sku) in self._listings:  # only the SKUs the seller lists here
                    wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
            entries = {sku: self._default_entry(pool, sku) for sku in wanted}
            for sku, units in wanted.items():
                entry = entries[sku]
                if entry is None or entry.get("quantity", 0) < units:
                    self.refused_orders.append(
                        {
                            "marketplaceId": marketplace_id,
                            "sku": sku,
                            "units": units,
                            "shown": 0 if entry is None else entry.get("quantity", 0),
                        }
                    )
                    raise OutOfStock(
                        f"{sku} shows {0 if entry is None else entry.get('quantity', 0)} in "
                        f"{marketplace_id}, the order asks {units}"
                    )
            for sku, units in wanted.items():
                entries[sku]["quantity"] -= units
            if wanted:
                self._taken_by_order[order_id] = wanted

    def give_back(self, order_id: str, marketplace_id: str, fulfilled_by: str, reason: str, units: dict) -> None:
        """Called by the marketplace after units of an order are cancelled: what the order took from a merchant-
        fulfilled listing comes back to it. "When a buyer places an order, a reserve is placed on the associated
        SKU and the inventory count is decremented. If the buyer contacts you and asks you to cancel their order,
        selecting "Buyer Cancelled" as a reason code will automatically restore the inventory", but "selecting
        "No Inventory" as a reason code will prevent the inventory count from being restored" (Amazon Seller
        Support blog, "Reason for cancellation - inside cancelling an order"; Seller Central's help 200198080:
        "the same quantity of the products as the cancelled order will be added back to your inventory")."""
        if fulfilled_by != "MERCHANT" or reason in NO_INVENTORY:
            return
        pool = mfn_pool(marketplace_id)
        with self._lock:
            taken = self._taken_by_order.get(order_id, {})
            for sku, cancelled in units.items():
                back, entry = min(cancelled, taken.get(sku, 0)), self._default_entry(pool, sku)
                if back and entry is not None:  # a listing deleted meanwhile gets nothing back
                    taken[sku] -= back
                    entry["quantity"] = entry.get("quantity", 0) + back

    # -- the API ------------------------------------------------------------------------------------------
    def _check_seller(self, seller_id: str) -> None:
        # the access token is the seller's: another seller's listings are not the caller's to read or write (the
        # sandbox's one seller answers to `seller_id`, or to whichever id a test's channel carries when it is unset)
        if self.seller_id is not None and seller_id != self.seller_id:
            raise PermissionError(seller_id)

    def _marketplaces(self, params: dict) -> list[str]:
        # marketplaceIds: "required": true, "A comma-delimited list of Amazon store identifiers"
        ids = [m for m in (params.get("marketplaceIds") or "").split(",") if m]
        if not ids or any(m not in MARKETPLACES for m in ids):
            raise InvalidListingsRequest("marketplaceIds")
        return ids

    @staticmethod
    def _included(params: dict, allowed: frozenset[str], default: str) -> set[str]:
        values = {v for v in (params.get("includedData") or default).split(",") if v}
        if not values <= allowed:
            raise InvalidListingsRequest("includedData")
        return values

    def _render(self, listing_keys: list[tuple[str, str]], included: set[str]) -> dict:
        sku = listing_keys[0][1]
        item: dict = {"sku": sku}
        listings = [self._listings[key] for key in listing_keys]
        if "summaries" in included:
            item["summaries"] = [
                {
                    "marketplaceId": m,
                    "asin": listing.asin,
                    "productType": listing.product_type,
                    "conditionType": "new_new",
                    "status": listing.status,
                    "itemName": listing.item_name,
                    "createdDate": listing.created,
                    "lastUpdatedDate": listing.updated,
                }
                for listing in listings
                for m in sorted(listing.marketplace_ids)
            ]
        pools = sorted({mfn_pool(m) for listing in listings for m in listing.marketplace_ids})
        entries = []
        for pool in pools:
            offer = self._offers.get((pool, sku))
            if offer is not None:
                self._apply_due(offer)
                # one entry per channel code, as the model's example answers a SKU of two marketplaces
                entries += [e for e in offer.entries if e not in entries]
        if "fulfillmentAvailability" in included:
            item["fulfillmentAvailability"] = [
                {
                    "fulfillmentChannelCode": e["fulfillment_channel_code"],
                    **({"quantity": e["quantity"]} if "quantity" in e else {}),
                }
                for e in entries
            ]
        if "attributes" in included:
            item["attributes"] = {"fulfillment_availability": json.loads(json.dumps(entries))} if entries else {}
        if "issues" in included:
            item["issues"] = []
        if "productTypes" in included:
            item["productTypes"] = [
                {"marketplaceId": m, "productType": listing.product_type}
                for listing in listings
                for m in sorted(listing.marketplace_ids)
            ]
        return item

    def get(self, seller_id: str, sku: str, params: dict) -> dict:
        self._check_seller(seller_id)
        marketplaces = self._marketplaces(params)
        included = self._included(params, GET_INCLUDED, "summaries")  # "Default: `summaries`."
        with self._lock:
            keys = [(m, sku) for m in marketplaces if (m, sku) in self._listings]
            if not keys:
                raise ListingNotFound(sku)
            return self._render(keys, included)

    def search(self, seller_id: str, params: dict) -> dict:
        self._check_seller(seller_id)
        marketplaces = self._marketplaces(params)
        included = self._included(params, SEARCH_INCLUDED, "summaries")
        try:
            page_size = int(params.get("pageSize") or PAGE_SIZE_DEFAULT)
        except ValueError:
            raise InvalidListingsRequest("pageSize") from None
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise InvalidListingsRequest("pageSize")
        identifiers = [v for v in (params.get("identifiers") or "").split(",") if v]
        kind = params.get("identifiersType")
        # "This is required when you specify `identifiersType`." / "This is required when `identifiers` is provided."
        if (
            bool(identifiers) != bool(kind)
            or len(identifiers) > IDENTIFIERS_MAX
            or (kind and kind not in IDENTIFIERS_TYPES)
        ):
            raise InvalidListingsRequest("identifiers")
        for name in ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore"):
            if name in params and not DATE_TIME.fullmatch(params[name]):
                raise InvalidListingsRequest(name)
        if params.get("sortOrder", "DESC") not in ("ASC", "DESC"):
            raise InvalidListingsRequest("sortOrder")
        sort_by = params.get("sortBy", "lastUpdatedDate")  # no default in the model: the newest change first
        if sort_by not in SORT_BY:
            raise InvalidListingsRequest("sortBy")
        with self._lock:
            skus = sorted({sku for (m, sku) in self._listings if m in marketplaces})
            if kind == "SKU":
                skus = [sku for sku in skus if sku in identifiers]
            elif kind == "ASIN":
                skus = [
                    sku
                    for sku in skus
                    if any(
                        self._listings.get((m, sku)) and self._listings[(m, sku)].asin in identifiers
                        for m in marketplaces
                    )
                ]
            elif kind:
                skus = []

            def key(sku: str):
                listed = [self._listings[(m, sku)] for m in marketplaces if (m, sku) in self._listings]
                if sort_by == "sku":
                    return (sku,)
                stamp = max(x.created if sort_by == "createdDate" else x.updated for x in listed) if listed else ""
                return (stamp, sku)

            skus.sort(key=key, reverse=params.get("sortOrder", "DESC") == "DESC")
            total = len(skus)
            skus = skus[:SEARCH_MAX_RESULTS]
            offset = self._offset(params.get("pageToken"), params)
            page = skus[offset : offset + page_size]
            items = [
                self._render([(m, sku) for m in marketplaces if (m, sku) in self._listings], included) for sku in page
            ]
        answer: dict = {"numberOfResults": total, "items": items}
        pagination = {}
        if offset + page_size < len(skus):
            pagination["nextToken"] = self._token(offset + page_size, params)
        if offset > 0:
            pagination["previousToken"] = self._token(max(0, offset - page_size), params)
        if pagination:
            answer["pagination"] = pagination
        return answer

    @staticmethod
    def _bound(params: dict) -> str:
        return json.dumps(
            {k: v for k, v in sorted(params.items()) if k not in ("pageToken", "pageSize", "includedData")}
        )

    def _token(self, offset: int, params: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps([offset, self._bound(params)]).encode()).decode()

    def _offset(self, token: str | None, params: dict) -> int:
        if not token:
            return 0
        try:
            offset, bound = json.loads(base64.urlsafe_b64decode(token.encode()))
        except ValueError:
            raise InvalidListingsRequest("pageToken") from None
        if bound != self._bound(params):
            raise InvalidListingsRequest("pageToken")
        return int(offset)

    def patch(self, seller_id: str, sku: str, params: dict, body: bytes) -> dict:
        self._check_seller(seller_id)
        marketplaces = self._marketplaces(params)
        included = self._included(params, PATCH_INCLUDED, "issues")  # "Default: `issues`."
        mode = params.get("mode")
        if mode is not None and mode not in PATCH_MODES:
            raise InvalidListingsRequest("mode")
        # identifiers: "Can only be requested when `mode` is `VALIDATION_PREVIEW`."
        if "identifiers" in included and mode != "VALIDATION_PREVIEW":
            raise InvalidListingsRequest("includedData")
        request = json_object(body, InvalidListingsRequest)
        # ListingsItemPatchRequest: "required": ["productType", "patches"]; patches "minItems": 1;
        # PatchOperation: "required": ["op", "path"], op "enum": [add, replace, merge, delete], value an array
        if (
            not isinstance(request, dict)
            or not isinstance(request.get("productType"), str)
            or not isinstance(request.get("patches"), list)
            or not request["patches"]
        ):
            raise InvalidListingsRequest("body")
        for operation in request["patches"]:
            if (
                not isinstance(operation, dict)
                or operation.get("op") not in PATCH_OPS
                or not isinstance(operation.get("path"), str)
                or (
                    "value" in operation
                    and not (
                        isinstance(operation["value"], list) and all(isinstance(v, dict) for v in operation["value"])
                    )
                )
            ):
                raise InvalidListingsRequest("patches")
        submission_id = uuid.uuid4().hex
        with self._lock:
            keys = [(m, sku) for m in marketplaces if (m, sku) in self._listings]
            issues = self._issues(sku, keys, request["patches"])
            status = "INVALID" if issues else "VALID" if mode == "VALIDATION_PREVIEW" else "ACCEPTED"
            if status == "ACCEPTED":
                self._enqueue(sku, keys, request["patches"], self.apply_seconds, submission_id)
            self.patches.append(
                {
                    "sku": sku,
                    "marketplaceIds": marketplaces,
                    "body": request,
                    "status": status,
                    "at": format_time(self.server.now),
                }
            )
        answer: dict = {"sku": sku, "status": status, "submissionId": submission_id}
        if "issues" in included:
            answer["issues"] = issues
        if "identifiers" in included:
            answer["identifiers"] = (
                [{"marketplaceId": m, "asin": self._listings[(m, sku)].asin} for m, _ in keys]
                if status == "VALID"
                else []
            )
        return answer

    def _enqueue(self, sku: str, keys: list, patches: list, delay: float, submission_id: str) -> None:
        for pool in sorted({mfn_pool(m) for m, _ in keys}):
            offer = self._offers.setdefault((pool, sku), _Offer())
            offer.pending.append(
                _Pending(
                    self.server.now + timedelta(seconds=delay),
                    self.server.real_clock() + delay / max(self.server.speedup, 1e-9),
                    json.loads(json.dumps(patches)),
                    submission_id,
                )
            )

    def accept(self, seller_id: str, sku: str, marketplaces: list[str], patches: list, delay: float) -> list[dict]:
        """A feed message's patches: its issues, or none and the patches applied `delay` seconds on."""
        with self._lock:
            if self.seller_id is not None and seller_id != self.seller_id:
                return [
                    {"code": "4000001", "message": "The provided value for 'sellerId' is invalid.", "severity": "ERROR"}
                ]
            if not all(
                isinstance(op, dict)
                and op.get("op") in PATCH_OPS
                and isinstance(op.get("path"), str)
                and isinstance(op.get("value", []), list)
                and all(isinstance(v, dict) for v in op.get("value", []))
                for op in patches
            ):
                # amzn/selling-partner-api-models#4554: a message Amazon cannot parse
                return [{"code": "BAD_REQUEST", "message": "Invalid parameters provided.", "severity": "ERROR"}]
            keys = [(m, sku) for m in marketplaces if (m, sku) in self._listings]
            issues = self._issues(sku, keys, patches)
            if not issues:
                self._enqueue(sku, keys, patches, delay, uuid.uuid4().hex)
            self.patches.append(
                {
                    "sku": sku,
                    "marketplaceIds": marketplaces,
                    "body": {"patches": patches},
                    "status": "INVALID" if issues else "ACCEPTED",
                    "at": format_time(self.server.now),
                    "via": "feed",
                }
            )
            return issues

    def _issues(self, sku: str, keys: list, patches: list) -> list[dict]:
        if not keys:
            # issue #26's rule for a SKU the seller does not list (Amazon documents no answer for it; a price
            # patch of an unknown SKU was seen ACCEPTED, amzn/selling-partner-api-docs#3748): INVALID, with the
            # form of Amazon's 4000001 issue (amzn/selling-partner-api-models#5219)
            return [
                {
                    "code": "4000001",
                    "message": "The provided value for 'SKU' is invalid.",
                    "severity": "ERROR",
                    "attributeNames": [],
                    "categories": [],
                }
            ]
        for operation in patches:
            attribute = operation["path"].removeprefix("/attributes/")
            if (
                not operation["path"].startswith("/attributes/")
                or "/" in attribute
                or attribute != "fulfillment_availability"
            ):
                # "Only top-level listings item attributes can be patched."; an attribute the product type does
                # not have: 90000900 "The attributes are invalid." (jlevers/selling-partner-api#861, the model's
                # VALIDATION_INVALID case)
                return [
                    {
                        "code": "90000900",
                        "message": "The attributes are invalid.",
                        "severity": "ERROR",
                        "attributeNames": [attribute],
                        "categories": ["INVALID_ATTRIBUTE"],
                        "enforcements": {
                            "actions": [{"action": "ATTRIBUTE_SUPPRESSED"}],
                            "exemption": {"status": "NOT_EXEMPT"},
                        },
                    }
                ]
            for value in operation.get("value") or []:
                if not value.get("fulfillment_channel_code"):
                    # jlevers/selling-partner-api#493
                    return [
                        {
                            "code": "99022",
                            "message": "The field 'fulfillment_channel_code' for the attribute "
                            "'fulfillment_availability' does not have enough values. The required minimum is "
                            "'1' value(s).",
                            "severity": "ERROR",
                            "attributeNames": ["fulfillment_availability"],
                            "categories": ["MISSING_ATTRIBUTE"],
                        }
                    ]
                quantity = value.get("quantity")
                # FulfillmentAvailability.quantity: "type": "integer", "minimum": 0
                if quantity is not None and (
                    not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
                ):
                    return [
                        {
                            "code": "4000001",
                            "message": "The provided value for 'Quantity' is invalid.",
                            "severity": "ERROR",
                            "attributeNames": ["fulfillment_availability"],
                            "categories": ["INVALID_ATTRIBUTE"],
                        }
                    ]
        return []

    def _apply_due(self, offer: _Offer) -> None:
        now, real = self.server.now, self.server.real_clock()
        while offer.pending and (offer.pending[0].due_simulated <= now or offer.pending[0].due_real <= real):
            pending = offer.pending.pop(0)
            for operation in pending.patches:
                values = operation.get("value") or []
                if operation["op"] == "delete":
                    codes = {v.get("fulfillment_channel_code") for v in values}
                    offer.entries = [e for e in offer.entries if values and e["fulfillment_channel_code"] not in codes]
                elif operation["op"] in ("replace", "add"):
                    offer.entries = json.loads(json.dumps(values))
                else:  # merge: entry by entry, on the channel code
                    for value in values:
                        same = next(
                            (
                                e
                                for e in offer.entries
                                if e["fulfillment_channel_code"] == value["fulfillment_channel_code"]
                            ),
                            None,
                        )
                        if same is None:
                            offer.entries.append(dict(value))
                        else:
                            same.update(value)
