"""What the operator is told (#28): whether each channel is healthy (its last sync, its lag), as text, JSON
and the exit status of `status`; whether a channel's credentials carry the roles the product needs; and
which start a channel may have, as Amazon serves orders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines.timeutil import iso

MAX_LAG_VARIABLE = "AMAZON_ORDERS_MAX_LAG"
DEFAULT_MAX_LAG = "2h"  # eight missed 15-minute schedule ticks

def max_lag(given: str | None = None) -> timedelta:
    from pipelines.clerk import parse_age

    text = given or os.environ.get(MAX_LAG_VARIABLE) or DEFAULT_MAX_LAG
    return parse_age(text, "--max-lag" if given else MAX_LAG_VARIABLE if os.environ.get(MAX_LAG_VARIABLE)
                     else "--max-lag")


def channel_health(con: duckdb.DuckDBPyConnection, now: datetime, lag_limit: timedelta) -> list[dict]:
    """Per channel in use: its watermark, lag, last sync and what is wrong with it (`problems`)."""
    rows = con.execute("""
        select c.channel, coalesce(s.watermark, c.start_at) as watermark, s.watermark is not null as synced,
               r.status, r.finished_at, r.error
        from channels c
        left join channel_sync_state s using (channel)
        left join (
            select * from sync_runs qualify row_number() over (partition by channel order by finished_at desc) = 1
        ) r on r.channel = c.channel and r.finished_at >= c.created_at
        where c.removed_at is null
        order by c.channel
    """).fetchall()
    health = []
    for channel, watermark, synced, last, finished_at, error in rows:
        lag = (now - watermark).total_seconds() / 60
        problems = []
        if last is not None and last != "ok":
            problems.append(f"last sync {last}: {error or 'no reason recorded'}")
        if last is not None and lag > lag_limit.total_seconds() / 60:
            problems.append(f"lags {lag:.0f} minutes behind Amazon, over the {lag_limit.total_seconds() / 60:.0f} "
                            "allowed (--max-lag)")
        health.append({"channel": channel, "watermark": iso(watermark), "lag_minutes": round(lag, 1),
                       "last_sync": last or "never synced", "last_sync_at": iso(finished_at) if finished_at else None,
                       "last_error": error, "healthy": not problems, "problems": problems})
    return health


def status_json(con: duckdb.DuckDBPyConnection, now: datetime, lag_limit: timedelta) -> dict:
    from pipelines.sync_report import core_table_counts

    counts = core_table_counts(con, ())
    by_status = [dict(zip(("channel", "status", "payment_status", "orders"), row)) for row in con.execute(
        "select channel, status, payment_status, count(*) from orders group by all order by all").fetchall()]
    awaiting = con.execute("select count(*) from sales_returns where status = 'awaiting_receipt'").fetchone()[0]
    channels = channel_health(con, now, lag_limit)
    return {"now": iso(now), "max_lag_minutes": lag_limit.total_seconds() / 60,
            "healthy": all(c["healthy"] for c in channels), "channels": channels, "orders_by_status": by_status,
            **counts, "returns_awaiting_receipt": awaiting}


# -- channel check ---------------------------------------------------------------------------------
# The role each read needs, from Amazon's "Role Mappings for SP-API Operations" and "... Types"
# (developer-docs.amazon.com/sp-api/docs/role-mappings, role-mappings-for-types); any one listed role grants
# access, so the one this product relies on is named. The sandbox keeps its own copy (pipelines/sandbox/roles.py):
# it stands for Amazon, and imports nothing of the product.
INVENTORY_AND_ORDER_TRACKING = "Inventory and Order Tracking"
AMAZON_FULFILLMENT = "Amazon Fulfillment"
OPERATION_ROLES = {"searchOrders": INVENTORY_AND_ORDER_TRACKING, "getInventorySummaries": AMAZON_FULFILLMENT}
REPORT_TYPE_ROLES = {"GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE": INVENTORY_AND_ORDER_TRACKING,
                     "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA": AMAZON_FULFILLMENT}
NOTIFICATION_TYPE_ROLES = {"ORDER_CHANGE": INVENTORY_AND_ORDER_TRACKING}


@dataclass
class Probe:
    api: str
    operation: str
    role: str
    outcome: str = ""  # ok, or missing role, or the failure
    missing: bool = False


def check_roles(channel, now: datetime, account: str = "default") -> list[Probe]:
    """One cheap read per API the product uses, each answered 2xx (or 404: reached, nothing there) or 403."""
    from sp_api.base import exceptions as spe

    from pipelines import amazon

    marketplace = channel.marketplace_ids[0]
    since = iso(now - timedelta(days=1))
    probes = [
        (Probe("Orders v2026-01-01", "searchOrders", OPERATION_ROLES["searchOrders"]),
         lambda: amazon.orders_client(channel, account).search_orders(
             createdAfter=since, marketplaceIds=[marketplace], maxResultsPerPage=1)),
        (Probe("FBA Inventory v1", "getInventorySummaries", OPERATION_ROLES["getInventorySummaries"]),
         lambda: amazon.inventory_client(channel, account).get_inventory_summary_marketplace(
             granularityType="Marketplace", granularityId=marketplace, marketplaceIds=[marketplace])),
        *[(Probe("Reports 2021-06-30", f"getReports {kind}", role),
           lambda kind=kind: amazon.reports_client(channel, account).get_reports(reportTypes=[kind], pageSize=1))
          for kind, role in REPORT_TYPE_ROLES.items()],
        (Probe("Notifications v1", "getDestinations", "none (grantless)"),
         lambda: amazon.notifications_client(channel, account).get_destinations()),
        (Probe("Notifications v1", "getSubscription ORDER_CHANGE", NOTIFICATION_TYPE_ROLES["ORDER_CHANGE"]),
         lambda: amazon.notifications_client(channel, account).get_subscription("ORDER_CHANGE")),
    ]
    checked = []
    for probe, call in probes:
        try:
            call()
            probe.outcome = "ok"
        except spe.SellingApiNotFoundException:  # reached, with the role: there is just nothing of that kind
            probe.outcome = "ok (none yet)"
        except spe.SellingApiForbiddenException:
            probe.outcome, probe.missing = f"403: the application lacks the role {probe.role!r}", True
        except Exception as error:  # noqa: BLE001 - every other failure is told, in one line, as the sync tells it
            probe.outcome = f"failed: {amazon.describe(error)}"
        checked.append(probe)
    return checked
