"""What an operator reads after a sync and in `amazon-orders status`."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import duckdb

from pipelines.clock import iso, parse_age
from pipelines.sql import read_sql
from pipelines.warehouse.marts import publish_failure

FALLING_BEHIND_SECONDS = 300  # notifications arriving this long after their change: the listener is behind


# A row the warehouse cannot hold yet normally waits for the next sync's orders; a day later, it is stuck.
STUCK_AFTER = timedelta(days=1)

RETURNS_FAILURES = """
    select channel, report_type, kind as failure, count(*) as rows_or_reports, min(quarantined_at) as since,
           any_value(reason order by quarantined_at) as first_reason
    from returns_quarantine
    where kind = 'unreadable' or quarantined_at <= $now - $stuck_after
    group by all
    union all
    -- a refused document whose window the watermark has not passed: the import stops there every time
    select d.channel, d.report_type, 'refused' as failure, count(*), min(d.fetched_at), any_value(d.refusal order by d.fetched_at desc)
    from raw_report_documents d
    left join returns_sync_state s using (channel, report_type)
    where d.refusal is not null and d.data_end > coalesce(s.reached_until, '-infinity'::timestamp)
    group by all
    order by all
"""


def returns_failures(con: duckdb.DuckDBPyConnection, now: datetime) -> list[tuple]:
    """What keeps failing: (channel, report type, 'unreadable' | 'not_held' | 'refused', how many, since when,
    the reason), for `status` and the asset check."""
    return con.execute(RETURNS_FAILURES, {"now": now.replace(tzinfo=None), "stuck_after": STUCK_AFTER}).fetchall()


def orders_per_day(con: duckdb.DuckDBPyConnection) -> str:
    """Orders per day by status over the two weeks up to the newest order, as a markdown table."""
    rows = con.execute(
        """
        pivot (
            select purchased_at::date as day, status
            from orders
            where purchased_at >= (select max(purchased_at) from orders)::date - 13
        )
        on status using count(*) group by day order by day
        """
    ).df()
    return rows.to_markdown(index=False) if not rows.empty else "no orders yet"


def unreconciled_orders(con: duckdb.DuckDBPyConnection, limit: int = 25) -> tuple[int, str]:
    """How many orders' amounts do not add up to Amazon's grand total, and the first of them as markdown."""
    count = con.execute("select count(*) from orders where unreconciled_amount <> 0").fetchone()[0]
    listed = con.execute(f"""
        select channel, channel_order_id, currency, total_amount,
               items_amount + shipping_amount + gift_wrap_amount + tax_amount + discount_amount + other_amount
                   as components_amount,
               unreconciled_amount as difference
        from orders where unreconciled_amount <> 0
        order by abs(unreconciled_amount) desc, channel_order_id limit {int(limit)}
    """).df()
    return count, listed.to_markdown(index=False) if count else ""


def core_table_counts(con: duckdb.DuckDBPyConnection, tables) -> dict[str, int]:
    """Rows per table, and the figures an operator watches: pending orders, placeholders, quarantine."""
    counts = {table: con.execute(f"select count(*) from {table}").fetchall()[0][0] for table in tables}
    (
        counts["pending_orders"],
        counts["placeholders_waiting"],
        counts["quarantined_versions"],
        counts["other_channel_orders"],
    ) = con.execute("""
        select (select count(*) from orders where status in (select status from order_statuses where is_pending)),
               (select count(*) from products where is_placeholder),
               (select count(*) from quarantine),
               (select count(distinct (channel, amazon_order_id)) from other_channel_orders)
    """).fetchone()
    return counts


def fba_summaries_set_aside(con: duckdb.DuckDBPyConnection, channel: str | None = None):
    """What the latest FBA count of each channel (or of one) set aside, by reason: how many summaries, and since
    when (`counts`: how many counts in a row have set them aside), as a DataFrame."""
    return con.execute(
        """
        with latest as (
            select channel, max(snapshot_id) as snapshot_id
            from fba_snapshots
            where $channel is null or channel = $channel
            group by channel
        ),
        set_aside as (
            select q.* from fba_inventory_quarantine q inner join latest using (channel, snapshot_id)
        ),
        last_read as (
            -- the channel's last count that did not set the summary aside (it read it, or it was not listed)
            select a.channel, a.marketplace_id, a.summary_key, a.reason,
                   coalesce(max(s.snapshot_id) filter (where q.snapshot_id is null), -1) as snapshot_id
            from set_aside a
            inner join fba_snapshots s on s.channel = a.channel
            left join fba_inventory_quarantine q
                on q.snapshot_id = s.snapshot_id and q.marketplace_id = a.marketplace_id
                and q.summary_key = a.summary_key
            group by all
        ),
        streaks as (
            select l.channel, l.summary_key, l.reason, min(s.counted_at) as since, count(*) as counts
            from last_read l
            inner join fba_snapshots s on s.channel = l.channel and s.snapshot_id > l.snapshot_id
            group by all
        )
        select channel, reason, count(*) as summaries, strftime(min(since), '%Y-%m-%dT%H:%M:%SZ') as since,
               max(counts) as counts
        from streaks
        group by all
        order by all
        """,
        {"channel": channel},
    ).df()


def table(con: duckdb.DuckDBPyConnection, query: str, params=None) -> str:
    """A query's rows as a plain-text table, blanks for nulls."""
    frame = con.execute(query, params or []).df()
    return _plain(frame) if not frame.empty else "(none)"


def _plain(frame) -> str:
    return frame.astype(object).where(frame.notna(), "").to_markdown(index=False, tablefmt="simple")


# each channel's last sync run; of two finished in the same instant, the one recorded last
LATEST_SYNC_RUN = "select * from sync_runs qualify row_number() over (partition by channel order by finished_at desc, recorded_seq desc) = 1"
SET_ASIDE_NOTIFICATIONS = """
    select channel, reason, count(*) as messages, strftime(min(received_at), '%Y-%m-%dT%H:%M:%SZ') as since,
           strftime(max(received_at), '%Y-%m-%dT%H:%M:%SZ') as last
    from raw_notifications where outcome = 'rejected'
    group by channel, reason order by channel, messages desc, reason limit 20
"""


def publish_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """The published copy's lasting failure as one line (#28: one that repeats every sync is never quiet)."""
    failure = publish_failure(con)
    if failure is None:
        return None
    return (
        f"the published copy has not been written since {iso(failure['failed_since'])} "
        f"(last tried {iso(failure['failed_at'])}): {failure['error']}"
    )


def status_report(con: duckdb.DuckDBPyConnection, now: datetime) -> str:
    sections = [
        "Channels",
        table(
            con,
            f"""
            select
                c.channel,
                strftime(coalesce(s.watermark, c.start_at), '%Y-%m-%dT%H:%M:%SZ') as watermark,
                case
                    when r.status is null then 'never synced'
                    -- only a clock that was ahead can have put it there; the next sync pulls it back
                    when s.watermark > $now then 'ahead of now'
                    else round(date_diff('second', coalesce(s.watermark, c.start_at), $now) / 60.0, 1)::varchar
                end as lag_minutes,
                r.status as last_sync,
                strftime(r.finished_at, '%Y-%m-%dT%H:%M:%SZ') as last_sync_at,
                r.orders_fetched as last_fetched,
                coalesce(r.error, '') as last_error
            from channels c
            left join channel_sync_state s using (channel)
            left join (
                {LATEST_SYNC_RUN}
            ) r on r.channel = c.channel and r.finished_at >= c.created_at  -- a reused name's own syncs
            where c.removed_at is null  -- a removed channel is not 'never synced' (#28)
            order by c.channel
        """,
            {"now": now},
        ),
        "",
        "Orders by status",
        table(con, "select channel, status, payment_status, count(*) as orders from orders group by all order by all"),
        "",
        "Pending orders: {pending_orders}   Placeholders waiting for a real product: {placeholders_waiting}   "
        "Quarantined order versions: {quarantined_versions}   Other sales channels' orders (kept raw, not imported): "
        "{other_channel_orders}".format(**core_table_counts(con, ())),
    ]
    requests = table(
        con,
        """
        select channel, channel_order_id, status, string_agg(distinct coalesce(cancel_request_reason, ''), '; ') as reason
        from orders join order_lines using (order_id)
        where order_lines.has_cancel_request
        group by all order by channel_order_id limit 20
    """,
    )
    if requests != "(none)":
        sections += ["", "Orders the buyer asked to cancel (do not ship before checking)", requests]
    unreconciled = table(
        con,
        """
        select channel, channel_order_id, currency, total_amount, unreconciled_amount
        from orders where unreconciled_amount <> 0 order by abs(unreconciled_amount) desc limit 10
    """,
    )
    if unreconciled != "(none)":
        sections += ["", "Orders whose amounts do not add up to Amazon's grand total", unreconciled]
    fba = table(
        con,
        """
        with latest as (
            select * from fba_inventory
            where is_counted  -- a pooled stock (Pan-European FBA) once, not once per marketplace
            qualify snapshot_id = max(snapshot_id) over (partition by channel)
        )
        select channel, seller_sku as sku, sum(fulfillable_quantity) as fulfillable,
               sum(reserved_quantity) as reserved, sum(inbound_quantity) as inbound,
               sum(unfulfillable_quantity) as unfulfillable, strftime(max(fetched_at), '%Y-%m-%dT%H:%M:%SZ') as as_of
        from latest group by all order by all limit 50
    """,
    )
    if fba != "(none)":
        sections += ["", "FBA stock at Amazon (its latest count; amazon_fba on hand follows it)", fba]
    set_aside = fba_summaries_set_aside(con)
    if len(set_aside):
        sections += [
            "",
            "FBA inventory summaries set aside (kept raw; their SKUs' amazon_fba left as it was)",
            set_aside.to_markdown(index=False, tablefmt="simple"),
        ]
    notifications = table(
        con,
        """
        select n.channel, n.queue_arn,
               coalesce(strftime(s.last_received_at, '%Y-%m-%dT%H:%M:%SZ'), 'none yet') as last_arrived,
               -- a message's time is never after its arrival (notifications.read_notification), nor the lag below 0
               greatest(date_diff('second', s.newest_change_at, s.last_received_at), 0) as lag_seconds,
               case when s.channel is null then 'waiting for the first'
                    when date_diff('second', s.newest_change_at, s.last_received_at) > $behind then 'FALLING BEHIND'
                    else 'keeping up' end as listener,
               (select count(*) from raw_notifications r where r.channel = n.channel and r.outcome = 'rejected')
                   as set_aside
        from channel_notifications n left join notification_state s using (channel) order by all
    """,
        {"behind": FALLING_BEHIND_SECONDS},
    )
    if notifications != "(none)":
        sections += [
            "",
            "ORDER_CHANGE notifications (lag: from Amazon's change to its arrival here; polling goes on beside them)",
            notifications,
        ]
    set_aside = table(con, SET_ASIDE_NOTIFICATIONS)
    if set_aside != "(none)":
        sections += [
            "",
            "Notifications set aside (kept in raw_notifications with outcome 'rejected'; the poll brings their orders)",
            set_aside,
        ]
    returns = table(
        con,
        """
        select s.channel, s.report_type, strftime(s.reached_until, '%Y-%m-%dT%H:%M:%SZ') as read_until,
               (select count(*) from amazon_returns a where a.channel = s.channel and a.report_type = s.report_type)
                   as returns,
               (select count(*) from returns_quarantine q where q.channel = s.channel
                and q.report_type = s.report_type) as quarantined
        from returns_sync_state s order by all
    """,
    )
    if returns != "(none)":
        sections += ["", "Amazon's returns reports", returns]
    failing = table(
        con,
        f"""
        select channel, report_type, failure, rows_or_reports as count,
               strftime(since, '%Y-%m-%dT%H:%M:%SZ') as since, first_reason as reason
        from ({RETURNS_FAILURES})
    """,
        {"now": now, "stuck_after": STUCK_AFTER},
    )
    if failing != "(none)":
        sections += [
            "",
            "RETURNS THAT KEEP FAILING (unreadable rows, rows the warehouse has not held for a day, refused documents)",
            failing,
        ]
    awaiting = table(
        con,
        """
        select r.return_id, o.channel, o.channel_order_id, l.product_code as sku, l.quantity,
               strftime(r.created_at, '%Y-%m-%d') as returned_on, coalesce(r.reason, '') as reason
        from sales_returns r join sales_return_lines l using (return_id) join orders o using (order_id)
        where r.status = 'awaiting_receipt' order by r.created_at, r.return_id limit 50
    """,
    )
    if awaiting != "(none)":
        sections += [
            "",
            "Returns awaiting receipt (amazon-orders returns receive RETURN_ID when the parcel arrives)",
            awaiting,
        ]
    quarantine = table(
        con, "select reason, count(*) as versions from quarantine group by reason order by 2 desc limit 10"
    )
    if quarantine != "(none)":
        sections += ["", "Quarantine reasons", quarantine]
    sections += stock_push_sections(con, now)
    packages = table(con, PACKAGES_BY_CHANNEL)
    if packages != "(none)":
        sections += ["", "Packages shipped here, confirmed to Amazon", packages]
    refused = table(con, REFUSED_PACKAGES)
    if refused != "(none)":
        sections += ["", "PACKAGES AMAZON REFUSED (correct them: amazon-orders shipments resend ORDER ...)", refused]
    untold = table(con, NOT_TOLD_TO_AMAZON)
    if untold != "(none)":
        sections += ["", "Marked shipped here, Amazon not told (ship ORDER --carrier CODE --tracking NUMBER)", untold]
    problem = publish_problem(con)
    if problem:
        sections += ["", "PUBLISHED COPY NOT UPDATED (readers see the last one written)", problem]
    return "\n".join(sections)


# -- packages shipped here, confirmed to Amazon ----------------------------------------------------------

SEEN_ON_AMAZON = """
    list_contains(coalesce(json_extract_string(
        (select r.payload from raw_amazon_orders r where r.ingest_id = o.source_ingest_id),
        '$.packages[*].packageReferenceId'), []), p.package_reference_id)
"""

PACKAGES_OF_ORDER = f"""
    select p.package_reference_id as package, p.carrier_code as carrier,
           coalesce(p.carrier_name, '') as carrier_name, p.tracking_number as tracking,
           strftime(p.ship_date, '%Y-%m-%dT%H:%M:%SZ') as shipped,
           (select string_agg(l.quantity || ' x ' || l.product_code, ', ' order by l.product_code)
            from package_lines l where l.package_id = p.package_id) as units,
           case when p.state = 'confirmed' and {SEEN_ON_AMAZON} then 'confirmed on Amazon'
                when p.state = 'confirmed' then 'sent, Amazon answered 204 (not yet read back)'
                when p.state = 'refused' then 'REFUSED by Amazon: ' || coalesce(p.error_code, '')
                    || ' (correct it: amazon-orders shipments resend)'
                when p.state = 'retrying' then 'retrying (' || coalesce(p.error_code, '') || ')'
                else p.state end as amazon
    from packages p join orders o using (order_id)
    where p.order_id = $order order by p.package_reference_id::integer"""

PACKAGES_BY_CHANNEL = f"""
    select o.channel,
           count(*) filter (where p.state in ('pending', 'sending')) as to_send,
           count(*) filter (where p.state = 'retrying') as retrying,
           count(*) filter (where p.state = 'refused') as refused,
           count(*) filter (where p.state = 'confirmed' and not {SEEN_ON_AMAZON}) as confirmed_not_read_back,
           count(*) filter (where p.state = 'confirmed' and {SEEN_ON_AMAZON}) as confirmed_on_amazon
    from packages p join orders o using (order_id) group by all order by all"""

REFUSED_PACKAGES = """
    select o.channel, o.channel_order_id, p.package_reference_id as package, p.error_code,
           coalesce(p.error_message, '') as message, strftime(p.sent_at, '%Y-%m-%dT%H:%M:%SZ') as sent
    from packages p join orders o using (order_id) where p.state = 'refused' order by p.sent_at limit 50"""

# Orders marked shipped here by `ship` without a carrier that Amazon still shows unshipped: the buyer has no
# tracking and the seller is not paid until a package tells Amazon.
NOT_TOLD_TO_AMAZON = """
    select o.channel, o.channel_order_id, o.status, strftime(s.shipped_at, '%Y-%m-%dT%H:%M:%SZ') as marked_shipped
    from shipments s join orders o using (order_id)
    where o.status in ('Unshipped', 'Partially Shipped')
      and not exists (select 1 from packages p where p.order_id = s.order_id)
    order by s.shipped_at limit 50"""


# -- stock pushed back to Amazon --------------------------------------------------------------------------


def invalid_listings(con: duckdb.DuckDBPyConnection, channel: str | None = None):
    """SKUs whose latest answer was INVALID (or no answer at all), with Amazon's issues."""
    return con.execute(
        """
        select channel, pool, seller_sku, quantity, status, issues, pushed_at from (
            select *, row_number() over (partition by channel, pool, seller_sku order by pushed_at desc) as n
            from stock_pushes
        ) where n = 1 and status <> 'ACCEPTED' and (channel = $channel or $channel is null)
        order by channel, seller_sku, pool
    """,
        {"channel": channel},
    )


STUCK_FEED_AFTER = timedelta(hours=2)


def stock_push_sections(con: duckdb.DuckDBPyConnection, now: datetime) -> list[str]:
    """What `amazon-orders status` says of stock pushed to Amazon: channels that push nothing, each channel's
    pushes, INVALID answers with their issues, drift, and feeds stuck in Amazon's queue."""
    sections: list[str] = []
    unpushed = [
        name
        for (name,) in con.execute(
            "select channel from channels where removed_at is null and seller_id is null order by channel"
        ).fetchall()
    ]
    if unpushed:
        sections += [
            "",
            "Stock is NOT pushed to Amazon for "
            + ", ".join(repr(n) for n in unpushed)
            + " (no seller id: amazon-orders channel set NAME --seller-id MERCHANT_TOKEN)",
        ]
    summary = con.execute("""
        select s.channel,
               (select count(*) from stock_marks k where k.channel = s.channel) as marked,
               (select count(*) from amazon_listings l where l.channel = s.channel and l.is_merchant_fulfilled)
                   as merchant_listings,
               (select count(*) from amazon_listings l where l.channel = s.channel and not l.is_merchant_fulfilled)
                   as fba_listings_not_pushed,
               (select strftime(max(pushed_at), '%Y-%m-%dT%H:%M:%SZ') from stock_pushes p
                where p.channel = s.channel and p.status = 'ACCEPTED') as last_accepted
        from stock_push_state s order by all
    """).df()
    if len(summary):
        sections += [
            "",
            "Stock pushed to Amazon (merchant-fulfilled listings; `amazon-orders stock` lists each SKU)",
            _plain(summary),
        ]
    invalid = invalid_listings(con).df()
    if len(invalid):
        invalid["issues"] = invalid["issues"].map(
            lambda text: "; ".join(f"{i.get('code')} {i.get('message')}" for i in json.loads(text or "[]"))
        )
        sections += ["", "STOCK PUSHES AMAZON REFUSED (INVALID, with its issues) OR NEVER ANSWERED", _plain(invalid)]
    drift = con.execute("select * from stock_drift order by all").df()
    if len(drift):
        sections += [
            "",
            "Listings DRIFTING from the last push (Amazon shows other than pushed, beyond its own "
            "decrements for orders since)",
            _plain(drift),
        ]
    stuck = con.execute(
        """
        select channel, feed_id, status, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ') as created_at
        from stock_feeds where status in ('IN_QUEUE', 'IN_PROGRESS') and created_at <= ? order by all
    """,
        [(now - STUCK_FEED_AFTER).replace(tzinfo=None)],
    ).df()
    if len(stuck):
        sections += [
            "",
            f"LISTINGS FEEDS STUCK at Amazon for over {STUCK_FEED_AFTER.total_seconds() / 3600:g} h",
            _plain(stuck),
        ]
    return sections


# -- each channel's health: the exit status of `status`, its JSON, the alerts ---------------------------

MAX_LAG_VARIABLE = "AMAZON_ORDERS_MAX_LAG"
DEFAULT_MAX_LAG = "2h"  # eight missed 15-minute schedule ticks


def max_lag(given: str | None = None) -> timedelta:
    text = given or os.environ.get(MAX_LAG_VARIABLE) or DEFAULT_MAX_LAG
    return parse_age(
        text, "--max-lag" if given else MAX_LAG_VARIABLE if os.environ.get(MAX_LAG_VARIABLE) else "--max-lag"
    )


def channel_health(con: duckdb.DuckDBPyConnection, now: datetime, lag_limit: timedelta) -> list[dict]:
    """Per channel in use: its watermark, lag, last sync and what is wrong with it (`problems`)."""
    rows = con.execute(f"""
        select c.channel, coalesce(s.watermark, c.start_at) as watermark, s.watermark is not null as synced,
               r.status, r.finished_at, r.error
        from channels c
        left join channel_sync_state s using (channel)
        left join (
            {LATEST_SYNC_RUN}
        ) r on r.channel = c.channel and r.finished_at >= c.created_at
        where c.removed_at is null
        order by c.channel
    """).fetchall()
    health = []
    for channel, watermark, _, last, finished_at, error in rows:
        lag = (now - watermark).total_seconds() / 60
        problems = []
        if last is not None and last != "ok":
            problems.append(f"last sync {last}: {error or 'no reason recorded'}")
        if last is not None and lag > lag_limit.total_seconds() / 60:
            problems.append(
                f"lags {lag:.0f} minutes behind Amazon, over the {lag_limit.total_seconds() / 60:.0f} "
                "allowed (--max-lag)"
            )
        health.append(
            {
                "channel": channel,
                "watermark": iso(watermark),
                "lag_minutes": round(lag, 1),
                "last_sync": last or "never synced",
                "last_sync_at": iso(finished_at) if finished_at else None,
                "last_error": error,
                "healthy": not problems,
                "problems": problems,
            }
        )
    return health


def status_json(con: duckdb.DuckDBPyConnection, now: datetime, lag_limit: timedelta) -> dict:
    counts = core_table_counts(con, ())
    by_status = [
        dict(zip(("channel", "status", "payment_status", "orders"), row))
        for row in con.execute(
            "select channel, status, payment_status, count(*) from orders group by all order by all"
        ).fetchall()
    ]
    awaiting = con.execute("select count(*) from sales_returns where status = 'awaiting_receipt'").fetchone()[0]
    channels = channel_health(con, now, lag_limit)
    failure = publish_failure(con)
    return {
        "now": iso(now),
        "max_lag_minutes": lag_limit.total_seconds() / 60,
        "healthy": all(c["healthy"] for c in channels) and failure is None,
        "channels": channels,
        "publish_failure": failure and {key: iso(value) if key != "error" else value for key, value in failure.items()},
        "orders_by_status": by_status,
        **counts,
        "returns_awaiting_receipt": awaiting,
    }


def shipped_by(con: duckdb.DuckDBPyConnection, order_id: str) -> str:
    """Who shipped the order: marked shipped here, shipped by Amazon (an FBA order), shipped on Amazon (the
    seller confirmed the shipment there), or not shipped."""
    fulfilled_by, status, shipped, ordered = con.execute(
        "select o.fulfilled_by, o.status, coalesce(sum(l.shipped_quantity), 0), "
        "coalesce(sum(l.quantity - l.canceled_quantity), 0) "
        "from orders o left join order_lines l on l.order_id = o.order_id and l.line_type = 'product' "
        "where o.order_id = ? group by all",
        [order_id],
    ).fetchone()
    here = con.execute(
        "select string_agg(shipment_id || ' on ' || strftime(shipped_at, '%Y-%m-%d %H:%M'), ', ') "
        "from shipments where order_id = ?",
        [order_id],
    ).fetchone()[0]
    if here:
        return f"marked shipped here ({here})"
    on_amazon = shipped > 0 or status in ("Shipped", "Partially Shipped")
    if not on_amazon:
        return "not shipped"
    units = f"{shipped} of {ordered} units" if shipped else status.lower()
    if fulfilled_by == "AMAZON":
        return f"shipped by Amazon ({units}); not marked shipped here"
    return f"shipped on Amazon ({units}, confirmed there by the seller); not marked shipped here"


ORDER_SECTIONS = [
    (
        "Lines",
        """
        select line_number as line, line_type as type, product_code as sku, description, quantity,
               shipped_quantity as shipped, canceled_quantity as canceled, unit_price, line_amount, shipping_amount,
               tax_amount, discount_amount, if(has_cancel_request, 'asked: ' || coalesce(cancel_request_reason, ''), '')
                   as cancel_request, notes
        from order_lines where order_id = $order order by line_number""",
    ),
    (
        "Stock movements",
        """
        select movement_id, created_at, product_code as sku, location, reason, quantity_delta
        from inventory_movements where order_id = $order order by movement_id""",
    ),
    (
        "Shipments (marked shipped here)",
        """
        select s.shipment_id, s.shipped_at, l.product_code as sku, l.shipped_quantity, l.canceled_quantity_at_ship
        from shipments s join shipment_lines l using (shipment_id) where s.order_id = $order order by all""",
    ),
    (
        "Returns",
        """
        select r.return_id, r.created_at, r.reason, l.product_code as sku, l.quantity, l.is_restocked,
               coalesce(r.clerk_reason, '') as clerk_reason
        from sales_returns r join sales_return_lines l using (return_id) where r.order_id = $order order by all""",
    ),
]
# shown when a channel with a seller id lists the order's SKUs (stock back to Amazon, #26)
ORDER_LISTINGS = (
    "Its SKUs on each channel's Amazon listings (available here, listed on Amazon, last pushed)",
    f"""
        with pushes as (
            select channel, pool, seller_sku, arg_max(quantity, pushed_at) as last_pushed,
                   arg_max(status, pushed_at) as last_answer
            from stock_pushes group by all
        )
        select a.channel, a.product_code as sku, a.available_quantity as available, l.pool,
               l.listed_quantity as listed_on_amazon, p.last_pushed, p.last_answer
        from ({read_sql("stock/available_to_sell.sql")}) a
        join amazon_listings l on l.channel = a.channel and l.seller_sku = a.product_code and l.is_merchant_fulfilled
        left join pushes p on p.channel = a.channel and p.pool = l.pool and p.seller_sku = a.product_code
        where a.product_code in (select product_code from order_lines where order_id = $order)
        order by all""",
)


def order_report(con: duckdb.DuckDBPyConnection, order_id: str) -> str:
    """Everything about one order on one screen: the order, its buyer, lines, stock, shipments, returns."""
    order = con.execute(
        """
        select o.*, a.account_name, c.full_name, c.email, c.phone,
               concat_ws(', ', c.address_line1, c.address_line2, c.address_line3, c.postal_code || ' ' || c.city,
                         c.state, c.country_code) as address
        from orders o
        left join accounts a using (account_id)
        left join contacts c using (contact_id)
        where o.order_id = ?""",
        [order_id],
    )
    names = [column[0] for column in order.description]
    values = dict(zip(names, order.fetchone()))
    shown = [
        "channel",
        "channel_order_id",
        "order_id",
        "status",
        "payment_status",
        "fulfilled_by",
        "purchased_at",
        "amazon_updated_at",
        "currency",
        "items_amount",
        "shipping_amount",
        "gift_wrap_amount",
        "tax_amount",
        "discount_amount",
        "other_amount",
        "total_amount",
        "unreconciled_amount",
        "has_cancel_request",
        "replaced_channel_order_id",
        "is_shipped",
        "account_id",
        "account_name",
        "contact_id",
        "full_name",
        "email",
        "phone",
        "address",
    ]

    # who shipped it: is_shipped alone is about this warehouse, and an order Amazon shipped is not marked here
    values["shipped"] = shipped_by(con, order_id)
    if not values["is_shipped"] and values["shipped"] != "not shipped":
        values["is_shipped"] = "False (not marked shipped here; see shipped)"
    shown.insert(shown.index("is_shipped"), "shipped")
    width = max(map(len, shown))
    lines = [f"{name.ljust(width)}  {'' if values[name] is None else values[name]}" for name in shown]
    for title, query in ORDER_SECTIONS:
        lines += ["", title, table(con, query, {"order": order_id})]
    listed = table(con, ORDER_LISTINGS[1], {"order": order_id})
    if listed != "(none)":
        lines += ["", ORDER_LISTINGS[0], listed]
    packages = table(con, PACKAGES_OF_ORDER, {"order": order_id})
    if packages != "(none)":
        lines += ["", "Packages (shipped here, confirmed to Amazon)", packages]
    return "\n".join(lines)
