"""The clerk's everyday questions, each one command (#28): which orders (by status, age, buyer, SKU,
channel), which returns (awaiting receipt), and one order by either of its ids."""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.backoffice.orders import EntryRefused
from pipelines.clock import parse_age


def _words(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def statuses_for(con: duckdb.DuckDBPyConnection, wanted: str) -> list[str]:
    """The statuses shown here that `wanted` names, in any case, as shown ('Pending Availability') or as Amazon
    spells it ('PENDING_AVAILABILITY'); 'pending' is every pending kind, 'cancelled' is 'Canceled'."""
    known = con.execute("select status, amazon_status, is_pending from order_statuses").fetchall()
    word = _words(wanted)
    if word == "pending":  # Amazon has two pending kinds; a clerk asking for pending means both
        return [status for status, _, is_pending in known if is_pending]
    found = [status for status, amazon_status, _ in known if word in (_words(status), _words(amazon_status))]
    if not found:
        raise EntryRefused(
            f"--status {wanted!r} is not an order status (one of: pending, "
            f"{', '.join(_words(status) for status, _, _ in known)})"
        )
    return found


def _check_channel(con, channel: str) -> None:
    if not con.execute("select count(*) from channels where channel = ?", [channel]).fetchone()[0]:
        raise EntryRefused(f"no channel named {channel!r}; `amazon-orders channel list` shows them")


def _filter_channel(con, channel: str, where: list[str], params: dict) -> None:
    """Keep only the orders (`o`) of `channel`, which must exist."""
    _check_channel(con, channel)
    params["channel"] = channel
    where.append("o.channel = $channel")


def _select(con, query: str, where: list[str], params: dict, order_by: str, limit: int | None):
    """(columns, rows) of `query` with every condition of `where`, in `order_by` order, the first `limit` only."""
    result = con.execute(
        f"""
        {query}
        {"where " + " and ".join(where) if where else ""}
        order by {order_by}
        {f"limit {int(limit)}" if limit else ""}
    """,
        params,
    )
    return [column[0] for column in result.description], result.fetchall()


def list_orders(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    status: str | None = None,
    older_than: str | None = None,
    buyer: str | None = None,
    sku: str | None = None,
    channel: str | None = None,
    limit: int | None = None,
) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the orders matching every filter given, oldest first."""
    params: dict = {"now": now}
    where = []
    if status:
        params["statuses"] = statuses_for(con, status)
        where.append("o.status in (select unnest($statuses))")
    if older_than:
        params["before"] = now - parse_age(older_than)
        where.append("o.purchased_at < $before")
    if buyer and buyer.strip():
        params["buyer"] = f"%{buyer.strip()}%"
        where.append("(a.account_name ilike $buyer or c.full_name ilike $buyer or c.email ilike $buyer)")
    if sku:
        params["sku"] = sku.strip()
        where.append(
            "exists (select 1 from order_lines l where l.order_id = o.order_id and l.line_type = 'product' "
            "and lower(l.product_code) = lower($sku))"
        )
    if channel:
        _filter_channel(con, channel, where, params)
    return _select(
        con,
        """
        select o.channel, o.channel_order_id, o.order_id, o.status, o.payment_status, o.fulfilled_by,
               strftime(o.purchased_at, '%Y-%m-%d %H:%M') as purchased_at,
               round(date_diff('minute', o.purchased_at, $now) / 1440.0, 1) as age_days,
               coalesce(a.account_name, '') as buyer, o.currency, o.total_amount,
               (select string_agg(l.quantity || ' x ' || coalesce(l.product_code, l.line_type), ', '
                                  order by l.line_number)
                from order_lines l where l.order_id = o.order_id and l.line_type = 'product') as lines
        from orders o
        left join accounts a using (account_id)
        left join contacts c using (contact_id)
        """,
        where,
        params,
        "o.purchased_at, o.channel_order_id",
        limit,
    )


def list_returns(
    con: duckdb.DuckDBPyConnection,
    *,
    awaiting_receipt: bool = False,
    channel: str | None = None,
    limit: int | None = None,
) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the sales returns, oldest first (only those awaiting receipt, if asked)."""
    where, params = [], {}
    if awaiting_receipt:
        where.append("r.status = 'awaiting_receipt'")
    if channel:
        _filter_channel(con, channel, where, params)
    return _select(
        con,
        """
        select r.return_id, o.channel, o.channel_order_id, r.source, r.status, r.location,
               l.quantity || ' x ' || l.product_code as units, l.is_restocked,
               strftime(r.created_at, '%Y-%m-%d') as returned_on, coalesce(r.reason, '') as reason,
               coalesce(r.clerk_reason, '') as clerk_reason
        from sales_returns r join sales_return_lines l using (return_id) join orders o using (order_id)
        """,
        where,
        params,
        "r.created_at, r.return_id, l.line_number",
        limit,
    )


def lookup_order(con: duckdb.DuckDBPyConnection, given: str, channel: str | None) -> tuple[str, str | None]:
    """(Amazon's order id, its channel) of the order named by Amazon's id or ours (SO-...), spaces around it
    ignored; none found: refused naming the nearest ids there are."""
    wanted = given.strip()
    found = con.execute(
        "select channel_order_id, channel from orders where order_id = ? or channel_order_id = ?", [wanted, wanted]
    ).fetchall()
    if channel:
        found = [row for row in found if row[1] == channel] or found  # find_order says where it is
    if found:
        return found[0][0], channel if channel else (found[0][1] if len(found) == 1 else None)
    nearest = [
        cid
        for (cid,) in con.execute(
            """
        select channel_order_id from orders
        where $channel is null or channel = $channel
        order by greatest(jaro_winkler_similarity(channel_order_id, $wanted),
                          jaro_winkler_similarity(order_id, $wanted)) desc, channel_order_id
        limit 3
        """,
            {"wanted": wanted, "channel": channel},
        ).fetchall()
    ]
    hint = f"; nearest: {', '.join(nearest)} (amazon-orders orders list shows them all)" if nearest else ""
    raise EntryRefused(f"no order with Channel Order ID {wanted!r} or order id{hint}")
