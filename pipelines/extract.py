"""Incremental extraction: searchOrders pages from a channel's watermark into raw_amazon_orders.

Each page lands with the paging cursor in one transaction, so a crash repeats at most one page.
The watermark moves to the window's upper bound only once the window's last page has landed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import duckdb
import httpx
import pyarrow as pa
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import exceptions as spe
from sp_api.base.credential_provider import MissingCredentials

from pipelines import amazon
from pipelines.amazon import (
    INCLUDED_DATA,
    PAGE_SIZE,
    MalformedResponse,
    forget_access_token,
    orders_client,
    search_orders_page,
)
from pipelines.channels import Channel
from pipelines.ratelimit import TokenBucket
from pipelines.timeutil import iso, parse_instant, utcnow

# Amazon stamps lastUpdatedTime from many systems: re-read a few minutes behind the watermark.
OVERLAP = timedelta(minutes=5)
# Amazon refuses before-bounds later than two minutes ago.
SETTLE = timedelta(minutes=2)
MAX_ATTEMPTS = 6
# A refused pagination token restarts the window; a server that refuses every token must not loop forever.
MAX_WINDOW_RESTARTS = 3
MAX_BACKOFF_SECONDS = 60.0

RETRYABLE = (
    spe.SellingApiRequestThrottledException,
    spe.SellingApiServerException,
    spe.SellingApiTemporarilyUnavailableException,
    spe.SellingApiGatewayTimeoutException,
    MalformedResponse,
    httpx.TimeoutException,
    httpx.TransportError,
)


class PaginationTokenRefused(RuntimeError):
    """Amazon kept refusing the paging cursor of a window, however often it was restarted."""


class SyncError(RuntimeError):
    """A sync that stopped: the message is one line naming the channel and the cause."""


@dataclass
class SyncResult:
    channel: str
    run_id: str
    pages: int = 0
    api_calls: int = 0
    orders_fetched: int = 0
    orders_stored: int = 0
    skipped_before_start: int = 0
    rate_limit_wait_seconds: float = 0.0
    watermark: datetime | None = None
    window: tuple[datetime, datetime | None] | None = None
    retries: list[str] = field(default_factory=list)


def describe(error: BaseException) -> str:
    """The cause of a failed call in one line, without anything from the credentials."""
    if isinstance(error, spe.SellingApiException):
        status = getattr(error, "code", "?")
        return f"HTTP {status} {getattr(error, 'amzn_code', '') or ''}: {getattr(error, 'message', '') or ''}".strip()
    if isinstance(error, AuthorizationError):
        return f"LWA token request failed: HTTP {error.status_code} {error.error_code}"
    if isinstance(error, httpx.TimeoutException):
        # the timeout the client was built with (read at call time, as orders_client does)
        return f"no answer within {amazon.HTTP_TIMEOUT_SECONDS:g} s (timeout)"
    if isinstance(error, httpx.TransportError):
        return f"connection failed ({type(error).__name__})"
    if isinstance(error, MissingCredentials):
        return "no SP-API credentials: set LWA_APP_ID, LWA_CLIENT_SECRET and SP_API_REFRESH_TOKEN"
    return f"{type(error).__name__}: {error}"


def _is_transient(error: BaseException) -> bool:
    """Worth another try: the Orders API or the network failing, or LWA answering 429 or 5xx (an LWA 4xx,
    such as a revoked refresh token, is final)."""
    if isinstance(error, AuthorizationError):
        status = error.status_code if isinstance(error.status_code, int) else 0
        return status == 429 or status >= 500
    return isinstance(error, RETRYABLE)


def _is_expired_token(error: spe.SellingApiException) -> bool:
    return "expired" in (getattr(error, "message", "") or "").lower()


def _is_window_not_open(error: spe.SellingApiBadRequestException) -> bool:
    return "lastupdatedbefore" in (getattr(error, "message", "") or "").lower()


def _is_bad_pagination_token(error: spe.SellingApiException) -> bool:
    return "token" in (getattr(error, "message", "") or "").lower()


# JSON may escape a lone UTF-16 surrogate ("\ud83d"); such a character has no UTF-8 form.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _payload_text(order) -> str:
    """The order as JSON text for the raw layer: as sent, except that a lone surrogate (which neither
    UTF-8 nor DuckDB can hold, and which would fail the whole page) becomes U+FFFD."""
    text = json.dumps(order, sort_keys=True, ensure_ascii=False)
    return _LONE_SURROGATE.sub("\ufffd", text)


class _Extractor:
    def __init__(self, con, channel: Channel, *, run_id, account, sleep, clock, progress):
        self.con = con
        self.channel = channel
        self.sleep = sleep
        self.clock = clock
        self.progress = progress
        self.result = SyncResult(channel.name, run_id)
        self.client = orders_client(channel, account)
        self.state = self._load_state()
        self.bucket = TokenBucket(clock=clock)
        if self.state["rate_tokens"] is not None:
            self.bucket.tokens = self.state["rate_tokens"]
            self.bucket.checked_at = self.state["rate_checked_epoch"]
            # the rate the server last announced, not the published default
            self.bucket.rate = self.state["rate_per_second"] or self.bucket.rate

    # -- state -----------------------------------------------------------------------------------
    def _load_state(self) -> dict:
        row = self.con.execute(
            "select watermark, window_after, window_before, next_token, rate_tokens, rate_checked_epoch, rate_per_second "
            "from channel_sync_state where channel = ?",
            [self.channel.name],
        ).fetchone()
        keys = ["watermark", "window_after", "window_before", "next_token", "rate_tokens", "rate_checked_epoch",
                "rate_per_second"]
        if row is None:
            return dict.fromkeys(keys) | {"watermark": self.channel.start_at, "first": True}
        return dict(zip(keys, row)) | {"first": False}

    def _save_state(self) -> None:
        s = self.state
        self.con.execute(
            """
            insert into channel_sync_state by name
            select ? as channel, ? as watermark, ? as window_after, ? as window_before, ? as next_token,
                   ? as rate_tokens, ? as rate_checked_epoch, ? as rate_per_second
            on conflict (channel) do update set
                watermark = excluded.watermark, window_after = excluded.window_after,
                window_before = excluded.window_before, next_token = excluded.next_token,
                rate_tokens = excluded.rate_tokens, rate_checked_epoch = excluded.rate_checked_epoch,
                rate_per_second = excluded.rate_per_second
            """,
            [self.channel.name, s["watermark"], s["window_after"], s["window_before"], s["next_token"],
             self.bucket.tokens, self.bucket.checked_at, self.bucket.rate],
        )

    # -- calls -----------------------------------------------------------------------------------
    def _call(self, params: dict) -> dict:
        attempt, refreshed = 0, False
        while True:
            wait = self.bucket.wait_time()
            if wait > 0:
                self.progress(f"{self.channel.name}: rate limit, waiting {wait:.1f} s")
                self.result.rate_limit_wait_seconds += wait
                self.sleep(wait)
            self.bucket.take()
            self.result.api_calls += 1
            try:
                page = search_orders_page(self.client, params)
                self.bucket.observe_rate(page["rate_limit"])
                return page
            except spe.SellingApiForbiddenException as error:
                if refreshed or not _is_expired_token(error):
                    raise
                forget_access_token(self.client)
                refreshed = True
                continue
            except (*RETRYABLE, AuthorizationError) as error:
                if not _is_transient(error):
                    raise
                attempt += 1
                self.result.retries.append(describe(error))
                if attempt >= MAX_ATTEMPTS:
                    raise
                if isinstance(error, spe.SellingApiRequestThrottledException):
                    # the server's bucket is empty: the next token, not a guess, says when to retry
                    self.bucket.observe_rate((error.headers or {}).get("x-amzn-RateLimit-Limit"))
                    self.bucket.empty()
                    self.progress(f"{self.channel.name}: {describe(error)}; retry {attempt} when the rate allows")
                    continue
                delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))
                self.progress(f"{self.channel.name}: {describe(error)}; retry {attempt} in {delay:.0f} s")
                self.sleep(delay)

    # -- pages -----------------------------------------------------------------------------------
    def _rows(self, orders: list) -> list[dict]:
        rows = []
        for order in orders:
            order_id = order.get("orderId") if isinstance(order, dict) else None
            updated = order.get("lastUpdatedTime") if isinstance(order, dict) else None
            try:
                created = parse_instant(order["createdTime"])
            except Exception:
                created = None  # kept raw; the transform quarantines it with the reason
            if created is not None and created < self.channel.start_at:
                self.result.skipped_before_start += 1
                continue
            text = _payload_text(order)
            rows.append({
                "amazon_order_id": order_id if isinstance(order_id, str) else None,
                "last_updated_time": updated if isinstance(updated, str) else None,
                "payload": text,
                "payload_hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            })
        return rows

    def _insert(self, rows: list[dict]) -> int:
        page = pa.Table.from_pylist(rows, schema=pa.schema([
            ("amazon_order_id", pa.string()), ("last_updated_time", pa.string()),
            ("payload", pa.string()), ("payload_hash", pa.string()),
        ]))
        self.con.register("landing_page", page)
        stored = self.con.execute(
            """
            insert into raw_amazon_orders
                (channel, amazon_order_id, last_updated_time, payload, payload_hash, fetched_at, run_id)
            select distinct on (payload_hash)
                ?, amazon_order_id, last_updated_time, payload, payload_hash, ?, ?
            from landing_page as p
            where not exists (
                select 1 from raw_amazon_orders as r
                where r.channel = ? and r.payload_hash = p.payload_hash
            )
            """,
            [self.channel.name, utcnow(), self.result.run_id, self.channel.name],
        ).fetchone()[0]
        self.con.unregister("landing_page")
        return stored

    def _land(self, orders: list, next_token: str | None) -> int:
        rows = self._rows(orders)
        self.con.execute("begin transaction")
        try:
            # an empty page only moves the cursor (registering a table makes DuckDB load pandas)
            stored = self._insert(rows) if rows else 0
            if next_token:
                self.state["next_token"] = next_token
            else:
                # never backwards: a server clock behind ours must not re-open fetched history
                watermark = max(self.state["watermark"], self.state["window_before"])
                self.state.update(watermark=watermark, window_after=None,
                                  window_before=None, next_token=None)
            self._save_state()
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise
        return stored

    def _open_window(self, until: datetime | None) -> bool:
        """Start a new window from the watermark; False when there is nothing to fetch."""
        s = self.state
        after = s["watermark"] if s["first"] else max(self.channel.start_at, s["watermark"] - OVERLAP)
        before = min(until, utcnow() - SETTLE) if until else None
        if before is not None and before <= after:
            return False
        s.update(window_after=after, window_before=before, next_token=None)
        return True

    def run(self, until: datetime | None) -> SyncResult:
        s = self.state
        if s["next_token"]:
            self.progress(f"{self.channel.name}: resuming an interrupted window at its last page")
            self._page_window()
            # The interrupted window is complete, but it ends where it was cut when it opened: go on to
            # what changed since, so one sync after a crash still brings the channel up to date.
        if self._open_window(until):
            self._page_window()
        self.result.watermark = s["watermark"]
        return self.result

    def _page_window(self) -> None:
        """Page the open window (from its saved cursor, if any) until its last page has landed."""
        s = self.state
        self.result.window = (s["window_after"], s["window_before"])
        bound = iso(s["window_before"]) if s["window_before"] else "Amazon's now - 2 min"
        self.progress(f"{self.channel.name}: window {iso(s['window_after'])} .. {bound}")
        local_bound = utcnow() - SETTLE
        restarts = 0
        while True:
            params = {"marketplaceIds": list(self.channel.marketplace_ids), "includedData": INCLUDED_DATA,
                      "maxResultsPerPage": PAGE_SIZE}
            if s["next_token"]:
                params["paginationToken"] = s["next_token"]
            else:
                params["lastUpdatedAfter"] = iso(s["window_after"])
                # once Amazon has echoed the window's bound, a restarted window asks for that same window
                if s["window_before"]:
                    params["lastUpdatedBefore"] = iso(s["window_before"])
            try:
                page = self._call(params)
            except spe.SellingApiBadRequestException as error:
                if not s["next_token"] and _is_window_not_open(error):
                    # the watermark is within Amazon's last two minutes: nothing can be fetched yet
                    self.progress(f"{self.channel.name}: nothing to fetch until two minutes after the watermark")
                    return
                if not (s["next_token"] and _is_bad_pagination_token(error)):
                    raise
                restarts += 1
                if restarts > MAX_WINDOW_RESTARTS:
                    raise PaginationTokenRefused(
                        f"Amazon refused the pagination token {restarts} times; the window "
                        f"{iso(s['window_after'])}..{iso(s['window_before'])} starts again next sync"
                    ) from None
                # The saved cursor is gone (expired or refused): page the window again from its start.
                self.progress(f"{self.channel.name}: pagination token refused; restarting the window")
                s["next_token"] = None
                continue
            if s["window_before"] is None:
                echoed = page["last_updated_before"]
                s["window_before"] = parse_instant(echoed) if echoed else local_bound
            self.result.pages += 1
            self.result.orders_fetched += len(page["orders"])
            self.result.orders_stored += self._land(page["orders"], page["next_token"])
            self.progress(
                f"{self.channel.name}: page {self.result.pages}, {self.result.orders_fetched} orders fetched, "
                f"{self.result.orders_stored} new versions"
            )
            if not page["next_token"]:
                self.progress(f"{self.channel.name}: window done, watermark {iso(s['watermark'])}")
                break


def _record_run(con, result: SyncResult, started_at: datetime, status: str, error: str | None) -> None:
    con.execute(
        "insert into sync_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.run_id, result.channel, started_at, utcnow(), status, result.pages, result.orders_fetched,
         result.orders_stored, result.watermark, error],
    )


def sync_channel(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    *,
    run_id: str,
    until: datetime | None = None,
    account: str = "default",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    progress: Callable[[str], None] = lambda message: None,
) -> SyncResult:
    """Fetch every order version changed since the channel's watermark; raise SyncError on failure."""
    started_at = utcnow()
    extractor = None
    try:
        extractor = _Extractor(con, channel, run_id=run_id, account=account, sleep=sleep,
                               clock=clock, progress=progress)
        result = extractor.run(until)
    except Exception as error:
        result = extractor.result if extractor else SyncResult(channel.name, run_id)
        watermark = extractor.state["watermark"] if extractor else channel.start_at
        result.watermark = watermark
        message = (f"sync of channel {channel.name!r} failed: {describe(error)} "
                   f"(watermark stays at {iso(watermark)})")
        _record_run(con, result, started_at, "failed", message)
        raise SyncError(message) from None
    _record_run(con, result, started_at, "ok", None)
    return result
