"""Incremental extraction: searchOrders windows from a channel's watermark into raw_amazon_orders.

A window is [after, before] on lastUpdatedTime. `after` is the watermark less an overlap (Amazon
stamps lastUpdatedTime from many systems); `before` is --until or the latest bound Amazon accepts
(two minutes before now, less a margin for a server clock a little behind ours). Both are sent
with every request of the window: Amazon's model asks that a pagination token come with "the same
values that were provided with the request that generated this token".

Each page lands with the cursor in one transaction, so a crash repeats at most one page. The
warehouse is held for that commit only (`write` gives a writing connection each time it is entered):
Amazon is asked, and its usage plan waited for, with the warehouse free. The watermark moves to the
window's before-bound once its last page has landed: a bound this side chose, never one a server's
clock chose.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from pipelines.amazon import client as amazon
from pipelines.amazon import limits
from pipelines.amazon.calls import CallPolicy
from pipelines.amazon.client import INVALID, Page, classify, describe
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.clock import Clock, iso, parse_instant, system_now
from pipelines.events import (
    Event,
    HistoryOutOfReach,
    NothingToFetch,
    PageLanded,
    WatermarkPulledBack,
    WindowDone,
    WindowOpened,
    WindowRestarted,
)
from pipelines.ingest.cursors import SyncState, Window, load_state, save_state
from pipelines.warehouse.channels import Channel
from pipelines.warehouse.connection import transaction

# Amazon counts its two years of history by its own clock, read after ours: keep a day inside them.
HISTORY_MARGIN = timedelta(days=1)
# Amazon stamps lastUpdatedTime from many systems: re-read a few minutes behind the watermark.
OVERLAP = timedelta(minutes=5)
# ... by Amazon's clock, which may be a little behind ours.
CLOCK_MARGIN = timedelta(seconds=30)
# A saved cursor close to the end of its token's lifetime is not sent.
TOKEN_MARGIN = timedelta(minutes=5)


class SyncError(RuntimeError):
    """A sync that stopped: the message is one line naming the channel and the cause."""


class RequestRefused(RuntimeError):
    """Amazon answered 400 to a request whose parameters this side chose: a bug or a bad channel setting."""


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
    window: tuple[datetime, datetime] | None = None
    retries: list[str] = field(default_factory=list)


def latest_bound(now: datetime) -> datetime:
    """The latest before-bound a window may have at `now`."""
    return (now - limits.SEARCH_ORDERS_SETTLE - CLOCK_MARGIN).replace(microsecond=0)


def check_until(channel: Channel, until: datetime, now: datetime) -> None:
    """Refuse an --until that cannot bound a window of this channel."""
    if until > now:
        raise ValueError(f"--until {iso(until)} is in the future (now is {iso(now)})")
    if until < channel.start_at:
        raise ValueError(
            f"--until {iso(until)} is before the start of channel {channel.name!r} "
            f"({iso(channel.start_at)}): nothing from then is imported"
        )


# -- landing ---------------------------------------------------------------------------------------
# JSON may escape a lone UTF-16 surrogate ("\ud83d"); such a character has no UTF-8 form.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_LANDING_SCHEMA = pa.schema(
    [
        ("amazon_order_id", pa.string()),
        ("last_updated_time", pa.string()),
        ("payload", pa.string()),
        ("payload_hash", pa.string()),
    ]
)


def payload_text(order) -> str:
    """The order as JSON text for the raw layer: as sent, except that a lone surrogate (which neither
    UTF-8 nor DuckDB can hold, and which would fail the whole page) becomes U+FFFD."""
    text = json.dumps(order, sort_keys=True, ensure_ascii=False)
    return _LONE_SURROGATE.sub("\ufffd", text)


def _landing_rows(orders: list, channel: Channel, result: SyncResult) -> list[dict]:
    rows = []
    for order in orders:
        order_id = order.get("orderId") if isinstance(order, dict) else None
        updated = order.get("lastUpdatedTime") if isinstance(order, dict) else None
        try:
            created = parse_instant(order["createdTime"])
        except Exception:
            created = None  # kept raw; the transform quarantines it with the reason
        if created is not None and created < channel.start_at:
            result.skipped_before_start += 1
            continue
        text = payload_text(order)
        rows.append(
            {
                "amazon_order_id": order_id if isinstance(order_id, str) else None,
                "last_updated_time": updated if isinstance(updated, str) else None,
                "payload": text,
                "payload_hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            }
        )
    return rows


def insert_versions(con: duckdb.DuckDBPyConnection, channel: str, run_id: str, rows: list[dict]) -> int:
    """Add the rows whose payload is not in the raw layer yet; how many were new."""
    if not rows:
        return 0  # registering an empty table would make DuckDB load pandas
    con.register("landing_page", pa.Table.from_pylist(rows, schema=_LANDING_SCHEMA))
    try:
        return con.execute(
            """
            insert into raw_amazon_orders
                (channel, amazon_order_id, last_updated_time, payload, payload_hash, fetched_at, run_id)
            select distinct on (payload_hash)
                ?, amazon_order_id, last_updated_time, payload, payload_hash, now()::timestamp, ?
            from landing_page as p
            where not exists (
                select 1 from raw_amazon_orders as r
                where r.channel = ? and r.payload_hash = p.payload_hash
            )
            """,
            [channel, run_id, channel],
        ).fetchone()[0]
    finally:
        con.unregister("landing_page")


# -- windows ---------------------------------------------------------------------------------------
Writer = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def held(con: duckdb.DuckDBPyConnection) -> Writer:
    """A connection its caller holds for the whole sync, as a Writer (one process, no one else to let in)."""
    return lambda: nullcontext(con)


class _ChannelSync:
    """One sync of one channel: finish an interrupted window, then page a new one."""

    def __init__(
        self,
        write: Writer,
        channel: Channel,
        *,
        run_id: str,
        client,
        policy: CallPolicy,
        bucket: TokenBucket,
        now: Clock,
        on_event: Callable[[Event], None],
    ):
        self.write, self.channel, self.client, self.policy, self.bucket = write, channel, client, policy, bucket
        self.now, self.on_event = now, on_event
        self.result = SyncResult(channel.name, run_id)
        with write() as con:
            self.state: SyncState = load_state(con, channel)
        self.state.restore(bucket)

    def run(self, until: datetime | None) -> SyncResult:
        bound = latest_bound(self.now())
        if self.state.watermark > max(bound, self.channel.start_at):
            self._pull_back(bound)
        if self.state.window:
            self._page(self.state.window, resumed=True)
            # The interrupted window is complete, but it ends where it was cut when it opened: go on to
            # what changed since, so one sync after a crash still brings the channel up to date.
        window = self._open(min(until, bound) if until else bound)
        if window:
            self._page(window, resumed=False)
        self.result.watermark = self.state.watermark
        return self.result

    def _pull_back(self, bound: datetime) -> None:
        """A watermark ahead of what has passed can only come from a clock that was ahead: go back to the
        newest watermark a sync reached that is not (or to the channel's start)."""
        with self.write() as con, transaction(con):
            trusted = con.execute(
                "select max(watermark) from sync_runs where channel = ? and status = 'ok' and watermark <= ?",
                [self.channel.name, bound],
            ).fetchone()[0]
            pulled = max(trusted or self.channel.start_at, self.channel.start_at)
            self.on_event(WatermarkPulledBack(self.state.watermark, pulled))
            self.state.watermark, self.state.window = pulled, None
            save_state(con, self.state)

    def _open(self, before: datetime) -> Window | None:
        """A new window from the watermark; None when Amazon has nothing newer to serve yet."""
        state = self.state
        if before <= state.watermark:
            self.on_event(NothingToFetch(state.watermark, before))
            return None
        after = state.watermark if state.first_sync else max(self.channel.start_at, state.watermark - OVERLAP)
        # a watermark grown older than Amazon serves (a channel left unsynced for years) would be refused on
        # every run: ask from a day inside what Amazon serves, and say what is out of reach
        served = limits.earliest_start(self.channel.marketplace_ids, self.now()) + HISTORY_MARGIN
        if after < served:
            self.on_event(HistoryOutOfReach(after, served))
            after = served
        state.window = Window(after, before)
        return state.window

    def _filters(self, window: Window) -> dict:
        """The filters of every request of the window, its first included."""
        return {
            "marketplaceIds": list(self.channel.marketplace_ids),
            "lastUpdatedAfter": iso(window.after),
            "lastUpdatedBefore": iso(window.before),
            "includedData": amazon.INCLUDED_DATA,
            "maxResultsPerPage": limits.SEARCH_ORDERS_PAGE_SIZE,
        }

    def _token_too_old(self, window: Window) -> bool:
        received = window.token_received_at
        return received is None or self.now() - received >= limits.PAGINATION_TOKEN_LIFETIME - TOKEN_MARGIN

    def _restart(self, window: Window, reason: str) -> None:
        self.on_event(WindowRestarted(reason))
        window.next_token = window.token_received_at = None
        with self.write() as con, transaction(con):  # a later sync must not send the token either
            save_state(con, self.state)

    def _page(self, window: Window, *, resumed: bool) -> None:
        """Page the window (from its saved cursor, if any) until its last page has landed."""
        self.result.window = (window.after, window.before)
        self.on_event(WindowOpened(window.after, window.before, resumed=resumed and bool(window.next_token)))
        filters = self._filters(window)
        restarted = False
        while True:
            if window.next_token and self._token_too_old(window):
                self._restart(window, "expired")
            request = filters | ({"paginationToken": window.next_token} if window.next_token else {})
            try:
                page = self.policy.call(lambda: amazon.search_orders_page(self.client, request))
            except Exception as error:
                if classify(error) != INVALID:
                    raise
                if not window.next_token:
                    sent = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in filters.items())
                    raise RequestRefused(
                        f"Amazon refused the window's first request ({describe(error)}); sent {sent}"
                    ) from None
                if restarted:
                    raise RequestRefused(
                        f"Amazon refused a pagination token of the window {iso(window.after)} .. "
                        f"{iso(window.before)} again after a restart ({describe(error)})"
                    ) from None
                restarted = True
                self._restart(window, "refused")
                continue
            self.bucket.observe_rate(page.rate_limit)
            landing_started = time.perf_counter()
            stored = self._land(window, page)
            self.result.pages += 1
            self.result.orders_fetched += len(page.orders)
            self.result.orders_stored += stored
            self.on_event(
                PageLanded(
                    self.result.pages,
                    len(page.orders),
                    self.result.orders_fetched,
                    self.result.orders_stored,
                    time.perf_counter() - landing_started,
                )
            )
            if not page.next_token:
                self.on_event(WindowDone(self.state.watermark))
                return

    def _land(self, window: Window, page: Page) -> int:
        """The page's new versions and where paging stands, in one transaction."""
        rows = _landing_rows(page.orders, self.channel, self.result)
        with self.write() as con, transaction(con):
            stored = insert_versions(con, self.channel.name, self.result.run_id, rows)
            if page.next_token:
                window.next_token, window.token_received_at = page.next_token, self.now()
            else:
                self.state.watermark = max(self.state.watermark, window.before)
                self.state.window = None
            self.state.remember(self.bucket)
            save_state(con, self.state)
        return stored


def _record_run(
    con, result: SyncResult, started_at: datetime, finished_at: datetime, status: str, error: str | None
) -> None:
    con.execute(
        "insert into sync_runs (run_id, channel, started_at, finished_at, status, pages, orders_fetched, orders_stored, "
        "watermark, error) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.run_id,
            result.channel,
            started_at,
            finished_at,
            status,
            result.pages,
            result.orders_fetched,
            result.orders_stored,
            result.watermark,
            error,
        ],
    )


def sync_channel(
    write: Writer,
    channel: Channel,
    *,
    run_id: str,
    until: datetime | None = None,
    account: str = "default",
    now: Clock = system_now,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    on_event: Callable[[Event], None] = lambda event: None,
) -> SyncResult:
    """Fetch every order version changed since the channel's watermark; raise SyncError on failure.

    `write()` gives a writing connection for one commit; `now` is the wall clock Amazon's rules are judged
    by; `clock` and `sleep` pace requests.
    """
    started_at = now()
    if until is not None:
        check_until(channel, until, started_at)
    sync = None
    try:
        client = amazon.orders_client(channel, account)
        bucket = TokenBucket(clock=clock)
        policy = CallPolicy.for_client(client, bucket, sleep=sleep, on_event=on_event)
        sync = _ChannelSync(
            write, channel, run_id=run_id, client=client, policy=policy, bucket=bucket, now=now, on_event=on_event
        )
        result = sync.run(until)
    except Exception as error:
        result = sync.result if sync else SyncResult(channel.name, run_id)
        result.watermark = sync.state.watermark if sync else _saved_watermark(write, channel)
        cause = str(error) if isinstance(error, RequestRefused) else describe(error)
        stays = f"watermark stays at {iso(result.watermark)}" if result.watermark else "watermark unchanged"
        message = f"sync of channel {channel.name!r} failed: {cause} ({stays})"
        _finish(write, result, sync, started_at, now(), "failed", message)
        raise SyncError(message) from None
    _finish(write, result, sync, started_at, now(), "ok", None)
    return result


def _saved_watermark(write: Writer, channel: Channel) -> datetime | None:
    """The channel's committed watermark, for a sync that failed before reading it (#28: not the channel's start,
    which is only the first sync's)."""
    try:
        with write() as con:
            return load_state(con, channel).watermark
    except Exception:
        return None


def _finish(
    write: Writer, result: SyncResult, sync: _ChannelSync | None, started_at, finished_at, status, error
) -> None:
    if sync:
        result.api_calls = sync.policy.calls
        result.rate_limit_wait_seconds = sync.policy.waited_seconds
        result.retries = sync.policy.retries
    with write() as con:
        _record_run(con, result, started_at, finished_at, status, error)
