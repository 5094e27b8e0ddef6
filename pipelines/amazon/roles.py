"""Whether a channel's credentials carry the roles the product needs: one cheap read per API it uses,
each answered 2xx (or 404: reached, nothing there) or 403 naming the role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.clock import iso

# -- channel check ---------------------------------------------------------------------------------
# The role each read needs, from Amazon's "Role Mappings for SP-API Operations" and "... Types"
# (developer-docs.amazon.com/sp-api/docs/role-mappings, role-mappings-for-types); any one listed role grants
# access, so the one this product relies on is named. The sandbox keeps its own copy (pipelines/sandbox/roles.py):
# it stands for Amazon, and imports nothing of the product.
INVENTORY_AND_ORDER_TRACKING = "Inventory and Order Tracking"
AMAZON_FULFILLMENT = "Amazon Fulfillment"
# the stock push: "Approval for the Product Listing role" (Amazon's "Partially update a listing" prerequisites), and
# JSON_LISTINGS_FEED's role in "Role Mappings for SP-API Types"
PRODUCT_LISTING = "Product Listing"
OPERATION_ROLES = {
    "searchOrders": INVENTORY_AND_ORDER_TRACKING,
    "getInventorySummaries": AMAZON_FULFILLMENT,
    "searchListingsItems": PRODUCT_LISTING,
}
FEED_TYPE_ROLES = {"JSON_LISTINGS_FEED": PRODUCT_LISTING}
REPORT_TYPE_ROLES = {
    "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE": INVENTORY_AND_ORDER_TRACKING,
    "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA": AMAZON_FULFILLMENT,
}
NOTIFICATION_TYPE_ROLES = {"ORDER_CHANGE": INVENTORY_AND_ORDER_TRACKING}


@dataclass
class Probe:
    api: str
    operation: str
    role: str
    outcome: str = ""  # ok, or missing role, or the failure
    missing: bool = False
    skipped: bool = False  # not asked: the channel does not use this API (the Listings API without a seller id)


def check_roles(channel, now: datetime, account: str = "default") -> list[Probe]:
    """One cheap read per API the product uses, each answered 2xx (or 404: reached, nothing there) or 403."""
    from sp_api.base import exceptions as spe

    from pipelines.amazon import client as amazon

    marketplace = channel.marketplace_ids[0]
    since = iso(now - timedelta(days=1))
    probes = [
        (
            Probe("Orders v2026-01-01", "searchOrders", OPERATION_ROLES["searchOrders"]),
            lambda: amazon.orders_client(channel, account).search_orders(
                createdAfter=since, marketplaceIds=[marketplace], maxResultsPerPage=1
            ),
        ),
        (
            Probe("FBA Inventory v1", "getInventorySummaries", OPERATION_ROLES["getInventorySummaries"]),
            lambda: amazon.inventory_client(channel, account).get_inventory_summary_marketplace(
                granularityType="Marketplace", granularityId=marketplace, marketplaceIds=[marketplace]
            ),
        ),
        *[
            (
                Probe("Reports 2021-06-30", f"getReports {kind}", role),
                lambda kind=kind: amazon.reports_client(channel, account).get_reports(reportTypes=[kind], pageSize=1),
            )
            for kind, role in REPORT_TYPE_ROLES.items()
        ],
        (
            Probe("Listings Items 2021-08-01", "searchListingsItems", OPERATION_ROLES["searchListingsItems"]),
            (
                lambda: amazon.listings_client(channel, account).search_listings_items(
                    channel.seller_id, marketplaceIds=marketplace, pageSize=1
                )
            )
            if channel.seller_id
            else None,
        ),
        *[
            (
                Probe("Feeds 2021-06-30", f"getFeeds {kind}", role),
                lambda kind=kind: amazon.feeds_client(channel, account).get_feeds(feedTypes=[kind], pageSize=1),
            )
            for kind, role in FEED_TYPE_ROLES.items()
        ],
        (
            Probe("Notifications v1", "getDestinations", "none (grantless)"),
            lambda: amazon.notifications_client(channel, account).get_destinations(),
        ),
        (
            Probe("Notifications v1", "getSubscription ORDER_CHANGE", NOTIFICATION_TYPE_ROLES["ORDER_CHANGE"]),
            lambda: amazon.notifications_client(channel, account).get_subscription("ORDER_CHANGE"),
        ),
    ]
    checked = []
    for probe, call in probes:
        if call is None:
            probe.outcome, probe.skipped = "not asked: the channel has no seller id, so its stock is not pushed", True
            checked.append(probe)
            continue
        try:
            call()
            probe.outcome = "ok"
        except spe.SellingApiNotFoundException:  # reached, with the role: there is just nothing of that kind
            probe.outcome = "ok (none yet)"
        except spe.SellingApiForbiddenException:
            probe.outcome, probe.missing = f"403: the application lacks the role {probe.role!r}", True
        except Exception as error:
            probe.outcome = f"failed: {amazon.describe(error)}"
        checked.append(probe)
    return checked
