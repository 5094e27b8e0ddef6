"""Alerts (#28): a failed run or a stale warehouse is POSTed as JSON to the webhook in
AMAZON_ORDERS_ALERT_WEBHOOK (Slack's incoming webhooks, a pager's, ...), by the Dagster sensors in
pipelines.assets.alerts. The body carries what failed and why in words already safe for a log: no
credential ever reaches an error message (see pipelines.amazon.client.describe)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import duckdb
import httpx

from pipelines.clock import is_loopback

WEBHOOK_VARIABLE = "AMAZON_ORDERS_ALERT_WEBHOOK"
TIMEOUT_SECONDS = 10


def webhook_url() -> str | None:
    """The configured webhook: https, or http to this machine only (what it receives names orders)."""
    url = (os.environ.get(WEBHOOK_VARIABLE) or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{WEBHOOK_VARIABLE} {url!r} is not an http(s) URL")
    if parts.scheme != "https" and not is_loopback(url):
        raise ValueError(f"{WEBHOOK_VARIABLE} must use https (plain http only on 127.0.0.1)")
    return url


def send_alert(payload: dict) -> bool:
    """POST the alert; False when no webhook is configured. A webhook that refuses it raises."""
    url = webhook_url()
    if url is None:
        return False
    # Slack and most chat webhooks show `text`; the rest of the body is for machines
    body = {"text": payload.get("summary", ""), **payload}
    response = httpx.post(url, json=body, timeout=TIMEOUT_SECONDS)
    response.raise_for_status()
    return True


def freshness_problems(con: duckdb.DuckDBPyConnection, now: datetime, lag_limit: timedelta) -> list[str]:
    """What makes the core tables stale: a channel whose last sync failed or whose watermark lags past the
    limit, or raw order versions the transform has not brought into the core tables yet."""
    from pipelines.warehouse.status import channel_health

    problems = [
        f"channel {c['channel']!r}: {problem}" for c in channel_health(con, now, lag_limit) for problem in c["problems"]
    ]
    behind = con.execute("""
        select count(*) from raw_amazon_orders
        where ingest_id > (select coalesce(max(last_ingest_id), 0) from transform_state where name = 'core')
    """).fetchone()[0]
    if behind:
        problems.append(
            f"{behind} raw order version(s) not yet in the core tables (the transform has not run since they landed)"
        )
    return problems
