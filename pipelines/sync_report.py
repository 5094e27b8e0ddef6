"""What an operator reads after a sync and in `amazon-orders status`."""

from __future__ import annotations

import duckdb

from pipelines.timeutil import utcnow


def _innermost_error(error) -> str:
    while error.cause is not None:
        error = error.cause
    first = error.message.strip().splitlines()[0]
    # SerializableErrorInfo messages start with the exception's class name
    return first.split(": ", 1)[1] if ": " in first and first.split(": ", 1)[0].endswith(("Error", "Exception")) else first


def summarise_run(result, channel: str) -> dict:
    """One line about a finished sync_job run, and its figures."""
    figures: dict = {"channel": channel, "run_id": result.run_id, "success": result.success}
    for node in ("raw_amazon_orders", "core_tables"):
        for materialization in result.asset_materializations_for_node(node):
            figures.update({k: v.value for k, v in materialization.metadata.items()})
    if not result.success:
        failures = result.get_step_failure_events()
        figures["error"] = _innermost_error(failures[0].step_failure_data.error) if failures else "run failed"
        figures["line"] = f"{channel}: FAILED: {figures['error']}"
        return figures
    fetched = f"{channel}: {figures.get('pages', 0)} page(s), {figures.get('orders_fetched', 0)} orders fetched"
    if "orders_added" not in figures:  # the core tables were not materialised: nothing new
        changes = "no new order versions"
    else:
        changes = (
            f"{figures['orders_added']} added, {figures['orders_updated']} updated, "
            f"{figures['pending_orders']} pending, {figures['placeholders_created']} placeholders created, "
            f"{figures['quarantined_versions_this_run']} quarantined"
        )
    figures["line"] = f"{fetched}, {changes}; watermark {figures.get('watermark')}"
    return figures


def table(con: duckdb.DuckDBPyConnection, query: str, params=None) -> str:
    """A query's rows as a plain-text table, blanks for nulls."""
    frame = con.execute(query, params or []).df()
    if frame.empty:
        return "(none)"
    return frame.astype(object).where(frame.notna(), "").to_markdown(index=False, tablefmt="simple")


def status_report(con: duckdb.DuckDBPyConnection) -> str:
    now = utcnow()
    sections = [
        "Channels",
        table(con, """
            select
                c.channel,
                strftime(s.watermark, '%Y-%m-%dT%H:%M:%SZ') as watermark,
                greatest(round(date_diff('second', s.watermark, ?::timestamp) / 60.0, 1), 0) as lag_minutes,
                r.status as last_sync,
                strftime(r.finished_at, '%Y-%m-%dT%H:%M:%SZ') as last_sync_at,
                r.orders_fetched as last_fetched,
                coalesce(r.error, '') as last_error
            from channels c
            left join channel_sync_state s using (channel)
            left join (
                select * from sync_runs qualify row_number() over (partition by channel order by finished_at desc) = 1
            ) r using (channel)
            order by c.channel
        """, [now]),
        "",
        "Orders by status",
        table(con, "select channel, status, payment_status, count(*) as orders from orders group by all order by all"),
        "",
        "Pending orders: {}   Placeholders waiting for a real product: {}   Quarantined order versions: {}".format(
            *con.execute("""
                select (select count(*) from orders where status in ('Pending', 'Pending Availability')),
                       (select count(*) from products where is_placeholder),
                       (select count(*) from quarantine)
            """).fetchone()
        ),
    ]
    quarantine = table(con, "select reason, count(*) as versions from quarantine group by reason order by 2 desc limit 10")
    if quarantine != "(none)":
        sections += ["", "Quarantine reasons", quarantine]
    return "\n".join(sections)
