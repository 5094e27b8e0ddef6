"""The roles a seller's application holds, and the cheap read operations `channel check` asks (#28).

"If you call an operation for which you don't have the required roles, you get a 403 error" (Amazon's
Selling Partner API Roles page): a sandbox told that the application lacks a role answers every operation
needing it 403 Unauthorized, token or not, as Amazon does. Which role an operation (or a report or
notification type) needs is Amazon's "Role Mappings for SP-API Operations" and "Role Mappings for SP-API
Types" (developer-docs.amazon.com/sp-api/docs/role-mappings, role-mappings-for-types); "for a given
operation, you don't need all listed roles; any one of them grants you access", so only the role this
product relies on is named for each.

It also serves the read operations the check calls that the product otherwise never makes: getReports
(reports_2021-06-30.json: "reportTypes ... minItems 1, maxItems 10", "pageSize ... minimum 1, maximum 100",
"Either this parameter or nextToken is required"), getFeeds (feeds_2021-06-30.json: the same rules for
feedTypes and pageSize), getDestinations (grantless) and getSubscription.

The Listings Items operations and the listings feed need the Product Listing role ("Approval for the Product
Listing role", the prerequisites of Amazon's "Partially update a listing" tutorial; JSON_LISTINGS_FEED in "Role
Mappings for SP-API Types").
"""

from __future__ import annotations

from .feeds import LISTINGS_FEED

INVENTORY_AND_ORDER_TRACKING = "Inventory and Order Tracking"
AMAZON_FULFILLMENT = "Amazon Fulfillment"
PRODUCT_LISTING = "Product Listing"
ROLES = (INVENTORY_AND_ORDER_TRACKING, AMAZON_FULFILLMENT, PRODUCT_LISTING)

# the role each operation the product makes needs (report and notification types below)
OPERATION_ROLES = {
    "searchOrders": INVENTORY_AND_ORDER_TRACKING,
    "getOrder": INVENTORY_AND_ORDER_TRACKING,
    "getInventorySummaries": AMAZON_FULFILLMENT,
    "searchListingsItems": PRODUCT_LISTING,
    "getListingsItem": PRODUCT_LISTING,
    "patchListingsItem": PRODUCT_LISTING,
    "getFeed": PRODUCT_LISTING,  # the only feeds this sandbox takes are listings feeds
}
FEED_TYPE_ROLES = {LISTINGS_FEED: PRODUCT_LISTING}
REPORT_TYPE_ROLES = {
    "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE": INVENTORY_AND_ORDER_TRACKING,
    "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA": AMAZON_FULFILLMENT,
}
NOTIFICATION_TYPE_ROLES = {"ORDER_CHANGE": INVENTORY_AND_ORDER_TRACKING}
_REPORTS_PER_REQUEST, _PAGE_SIZE = (1, 10), (1, 100)


class InvalidRolesRequest(Exception):
    """Answered 400 InvalidInput."""


def roles_needed(operation: str, path: str, params: dict, body: bytes) -> set[str]:
    """The roles a request needs (every one of them, as the product asks for one type at a time)."""
    import json

    if operation in OPERATION_ROLES:
        return {OPERATION_ROLES[operation]}
    if operation == "getReports":
        return {REPORT_TYPE_ROLES[t] for t in (params.get("reportTypes") or "").split(",") if t in REPORT_TYPE_ROLES}
    if operation == "getFeeds":
        return {FEED_TYPE_ROLES[t] for t in (params.get("feedTypes") or "").split(",") if t in FEED_TYPE_ROLES}
    if operation in ("createReport", "createFeed"):
        key, roles = ("reportType", REPORT_TYPE_ROLES) if operation == "createReport" else ("feedType", FEED_TYPE_ROLES)
        try:
            kind = json.loads(body or b"{}").get(key)
        except (ValueError, AttributeError):
            return set()
        return {roles[kind]} if isinstance(kind, str) and kind in roles else set()
    if operation in ("createSubscription", "getSubscription"):
        kind = path.split("/")[4]
        return {NOTIFICATION_TYPE_ROLES[kind]} if kind in NOTIFICATION_TYPE_ROLES else set()
    return set()


def answer(server, operation: str, path: str, params: dict) -> dict:
    """getReports, getFeeds, getDestinations, getSubscription on the sandbox's state; KeyError is 404."""
    if operation == "getFeeds":
        types = [t for t in (params.get("feedTypes") or "").split(",") if t]
        if not params.get("nextToken") and not _REPORTS_PER_REQUEST[0] <= len(types) <= _REPORTS_PER_REQUEST[1]:
            raise InvalidRolesRequest("feedTypes")  # "minItems": 1, "maxItems": 10
        size = params.get("pageSize", "10")
        if not size.isdigit() or not _PAGE_SIZE[0] <= int(size) <= _PAGE_SIZE[1]:
            raise InvalidRolesRequest("pageSize")  # "minimum": 1, "maximum": 100
        feeds = [server.feeds.get(feed_id) for feed_id in list(server.feeds.feeds)]
        return {"feeds": [feed for feed in feeds if feed["feedType"] in types][-int(size) :]}
    if operation == "getReports":
        types = [t for t in (params.get("reportTypes") or "").split(",") if t]
        if not params.get("nextToken") and not _REPORTS_PER_REQUEST[0] <= len(types) <= _REPORTS_PER_REQUEST[1]:
            raise InvalidRolesRequest("reportTypes")
        size = params.get("pageSize", "10")
        if not size.isdigit() or not _PAGE_SIZE[0] <= int(size) <= _PAGE_SIZE[1]:
            raise InvalidRolesRequest("pageSize")
        reports = [
            server.reports.get(report_id)
            for report_id in list(server.reports._reports)
            if server.reports._reports[report_id].report_type in types
        ]
        return {"reports": reports[-int(size) :]}
    notifications = server.notifications
    if operation == "getDestinations":
        return {"payload": list(notifications.destinations.values())}
    kind = path.split("/")[4]
    return {"payload": notifications.subscriptions[kind]}  # none: 404, as Amazon answers
