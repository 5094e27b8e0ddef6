"""What an operator reads after a sync and in `amazon-orders status`."""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.returns import FAILURES, STUCK_AFTER

FALLING_BEHIND_SECONDS = 300  # notifications arriving this long after their change: the listener is behind


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
    (counts["pending_orders"], counts["placeholders_waiting"], counts["quarantined_versions"],
     counts["other_channel_orders"]) = con.execute("""
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
    if frame.empty:
        return "(none)"
    return frame.astype(object).where(frame.notna(), "").to_markdown(index=False, tablefmt="simple")


SET_ASIDE_NOTIFICATIONS = """
    select channel, reason, count(*) as messages, strftime(min(received_at), '%Y-%m-%dT%H:%M:%SZ') as since,
           strftime(max(received_at), '%Y-%m-%dT%H:%M:%SZ') as last
    from raw_notifications where outcome = 'rejected'
    group by channel, reason order by channel, messages desc, reason limit 20
"""


def status_report(con: duckdb.DuckDBPyConnection, now: datetime) -> str:
    sections = [
        "Channels",
        table(con, """
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
                select * from sync_runs qualify row_number() over (partition by channel order by finished_at desc) = 1
            ) r on r.channel = c.channel and r.finished_at >= c.created_at  -- a reused name's own syncs
            where c.removed_at is null  -- a removed channel is not 'never synced' (#28)
            order by c.channel
        """, {"now": now}),
        "",
        "Orders by status",
        table(con, "select channel, status, payment_status, count(*) as orders from orders group by all order by all"),
        "",
        "Pending orders: {pending_orders}   Placeholders waiting for a real product: {placeholders_waiting}   "
        "Quarantined order versions: {quarantined_versions}   Other sales channels' orders (kept raw, not imported): "
        "{other_channel_orders}".format(**core_table_counts(con, ())),
    ]
    requests = table(con, """
        select channel, channel_order_id, status, string_agg(distinct coalesce(cancel_request_reason, ''), '; ') as reason
        from orders join order_lines using (order_id)
        where order_lines.has_cancel_request
        group by all order by channel_order_id limit 20
    """)
    if requests != "(none)":
        sections += ["", "Orders the buyer asked to cancel (do not ship before checking)", requests]
    unreconciled = table(con, """
        select channel, channel_order_id, currency, total_amount, unreconciled_amount
        from orders where unreconciled_amount <> 0 order by abs(unreconciled_amount) desc limit 10
    """)
    if unreconciled != "(none)":
        sections += ["", "Orders whose amounts do not add up to Amazon's grand total", unreconciled]
    fba = table(con, """
        with latest as (
            select * from fba_inventory
            where is_counted  -- a pooled stock (Pan-European FBA) once, not once per marketplace
            qualify snapshot_id = max(snapshot_id) over (partition by channel)
        )
        select channel, seller_sku as sku, sum(fulfillable_quantity) as fulfillable,
               sum(reserved_quantity) as reserved, sum(inbound_quantity) as inbound,
               sum(unfulfillable_quantity) as unfulfillable, strftime(max(fetched_at), '%Y-%m-%dT%H:%M:%SZ') as as_of
        from latest group by all order by all limit 50
    """)
    if fba != "(none)":
        sections += ["", "FBA stock at Amazon (its latest count; amazon_fba on hand follows it)", fba]
    set_aside = fba_summaries_set_aside(con)
    if len(set_aside):
        sections += ["", "FBA inventory summaries set aside (kept raw; their SKUs' amazon_fba left as it was)",
                     set_aside.to_markdown(index=False, tablefmt="simple")]
    notifications = table(con, """
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
    """, {"behind": FALLING_BEHIND_SECONDS})
    if notifications != "(none)":
        sections += ["", "ORDER_CHANGE notifications (lag: from Amazon's change to its arrival here; polling "
                         "goes on beside them)", notifications]
    set_aside = table(con, SET_ASIDE_NOTIFICATIONS)
    if set_aside != "(none)":
        sections += ["", "Notifications set aside (kept in raw_notifications with outcome 'rejected'; the poll "
                         "brings their orders)", set_aside]
    returns = table(con, """
        select s.channel, s.report_type, strftime(s.reached_until, '%Y-%m-%dT%H:%M:%SZ') as read_until,
               (select count(*) from amazon_returns a where a.channel = s.channel and a.report_type = s.report_type)
                   as returns,
               (select count(*) from returns_quarantine q where q.channel = s.channel
                and q.report_type = s.report_type) as quarantined
        from returns_sync_state s order by all
    """)
    if returns != "(none)":
        sections += ["", "Amazon's returns reports", returns]
    failing = table(con, f"""
        select channel, report_type, failure, rows_or_reports as count,
               strftime(since, '%Y-%m-%dT%H:%M:%SZ') as since, first_reason as reason
        from ({FAILURES})
    """, {"now": now, "stuck_after": STUCK_AFTER})
    if failing != "(none)":
        sections += ["", "RETURNS THAT KEEP FAILING (unreadable rows, rows the warehouse has not held for a day, "
                         "refused documents)", failing]
    awaiting = table(con, """
        select r.return_id, o.channel, o.channel_order_id, l.product_code as sku, l.quantity,
               strftime(r.created_at, '%Y-%m-%d') as returned_on, coalesce(r.reason, '') as reason
        from sales_returns r join sales_return_lines l using (return_id) join orders o using (order_id)
        where r.status = 'awaiting_receipt' order by r.created_at, r.return_id limit 50
    """)
    if awaiting != "(none)":
        sections += ["", "Returns awaiting receipt (amazon-orders returns receive RETURN_ID when the parcel arrives)",
                     awaiting]
    quarantine = table(con, "select reason, count(*) as versions from quarantine group by reason order by 2 desc limit 10")
    if quarantine != "(none)":
        sections += ["", "Quarantine reasons", quarantine]
    return "\n".join(sections)


ORDER_SECTIONS = [
    ("Lines", """
        select line_number as line, line_type as type, product_code as sku, description, quantity,
               shipped_quantity as shipped, canceled_quantity as canceled, unit_price, line_amount, shipping_amount,
               tax_amount, discount_amount, if(has_cancel_request, 'asked: ' || coalesce(cancel_request_reason, ''), '')
                   as cancel_request, notes
        from order_lines where order_id = $order order by line_number"""),
    ("Stock movements", """
        select movement_id, created_at, product_code as sku, location, reason, quantity_delta
        from inventory_movements where order_id = $order order by movement_id"""),
    ("Shipments (marked shipped here)", """
        select s.shipment_id, s.shipped_at, l.product_code as sku, l.shipped_quantity, l.canceled_quantity_at_ship
        from shipments s join shipment_lines l using (shipment_id) where s.order_id = $order order by all"""),
    ("Returns", """
        select r.return_id, r.created_at, r.reason, l.product_code as sku, l.quantity, l.is_restocked,
               coalesce(r.clerk_reason, '') as clerk_reason
        from sales_returns r join sales_return_lines l using (return_id) where r.order_id = $order order by all"""),
]


def order_report(con: duckdb.DuckDBPyConnection, order_id: str) -> str:
    """Everything about one order on one screen: the order, its buyer, lines, stock, shipments, returns."""
    order = con.execute("""
        select o.*, a.account_name, c.full_name, c.email, c.phone,
               concat_ws(', ', c.address_line1, c.address_line2, c.address_line3, c.postal_code || ' ' || c.city,
                         c.state, c.country_code) as address
        from orders o
        left join accounts a using (account_id)
        left join contacts c using (contact_id)
        where o.order_id = ?""", [order_id])
    names = [column[0] for column in order.description]
    values = dict(zip(names, order.fetchone()))
    shown = ["channel", "channel_order_id", "order_id", "status", "payment_status", "fulfilled_by", "purchased_at",
             "amazon_updated_at", "currency", "items_amount", "shipping_amount", "gift_wrap_amount", "tax_amount",
             "discount_amount", "other_amount", "total_amount", "unreconciled_amount", "has_cancel_request",
             "replaced_channel_order_id", "is_shipped", "account_id", "account_name", "contact_id", "full_name",
             "email", "phone", "address"]
    from pipelines.clerk import shipped_by

    # who shipped it: is_shipped alone is about this warehouse, and an order Amazon shipped is not marked here
    values["shipped"] = shipped_by(con, order_id)
    if not values["is_shipped"] and values["shipped"] != "not shipped":
        values["is_shipped"] = "False (not marked shipped here; see shipped)"
    shown.insert(shown.index("is_shipped"), "shipped")
    width = max(map(len, shown))
    lines = [f"{name.ljust(width)}  {'' if values[name] is None else values[name]}" for name in shown]
    for title, query in ORDER_SECTIONS:
        lines += ["", title, table(con, query, {"order": order_id})]
    return "\n".join(lines)
