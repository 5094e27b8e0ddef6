"""Amazon and network faults: with bounded retries a sync either ends with the tables of a clean run, or stops
with one clear line and the watermark where it was; the next sync then completes with nothing lost or doubled.

The extractor is called directly (`sync_channel` with a virtual clock, so backoff never waits on the wall clock),
followed by the transform as the Dagster job runs it; each faulty warehouse is compared with one synced from a
fault-free server over the same marketplace at the same moment.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from conftest import core_tables, simulate_orders

from pipelines.amazon import calls, limits
from pipelines.amazon import client as amazon
from pipelines.clock import iso
from pipelines.events import PageLanded, Retry, WindowOpened, WindowRestarted
from pipelines.ingest.orders import SyncError, held, sync_channel
from pipelines.sandbox import Item, SandboxServer
from pipelines.warehouse.channels import add_channel
from pipelines.warehouse.connection import connect
from pipelines.warehouse.transform import transform

pytestmark = pytest.mark.slow

CHANNEL = "Amazon US"
MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
SKUS = [f"SKU-{n:02d}" for n in range(12)]


class VirtualClock:
    """Time for the extractor: sleeping only moves it on."""

    def __init__(self):
        self.now = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Warehouse:
    """A warehouse with one channel on `server`, synced the way the Dagster job does: extract, then transform."""

    def __init__(self, path, server, start):
        self.con = connect(path)
        self.marketplace = server.marketplace
        self.channel = add_channel(
            self.con, CHANNEL, list(MARKETPLACES), start=start, endpoint=server.url, token_url=server.token_url
        )
        self.clock = VirtualClock()
        self.events: list = []
        self.on_page = None  # called with the page number after each page lands
        self.runs = 0

    def _event(self, event) -> None:
        self.events.append(event)
        if self.on_page and isinstance(event, PageLanded):
            self.on_page(event.page)

    def sync(self):
        """Extract and transform; a SyncError propagates after the extract (the transform is not run).
        `events` are then this sync's."""
        self.runs += 1
        self.events = []
        result = sync_channel(
            held(self.con),
            self.channel,
            run_id=f"run-{self.runs}",
            now=self.marketplace.naive_now,
            sleep=self.clock.sleep,
            clock=self.clock,
            on_event=self._event,
        )
        transform(self.con)
        return result

    def failed_sync(self) -> str:
        """A sync that fails: its one-line message naming the channel, the watermark where it was."""
        watermark = self.watermark()
        with pytest.raises(SyncError) as failure:
            self.sync()
        message = str(failure.value)
        assert "\n" not in message and CHANNEL in message, message
        assert self.watermark() == watermark
        return message

    def backoffs(self) -> list[str]:
        return [str(e).split("; ")[-1] for e in self.events if isinstance(e, Retry)]

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def watermark(self):
        row = self.con.execute("select watermark from channel_sync_state where channel = ?", [CHANNEL]).fetchone()
        return row[0] if row else self.channel.start_at

    def tables(self):
        return core_tables(self.con)

    def assert_nothing_doubled(self):
        assert self.con.execute("select count(*) - count(distinct payload_hash) from raw_amazon_orders").fetchone() == (
            0,
        )
        assert self.con.execute("select count(*) - count(distinct order_id) from orders").fetchone() == (0,)
        assert self.con.execute(
            "select count(*) from (select order_id, line_number from order_lines group by all having count(*) > 1)"
        ).fetchone() == (0,)

    def close(self):
        self.con.close()


@pytest.fixture
def start(marketplace):
    return marketplace.now.replace(microsecond=0)


@pytest.fixture
def faulty(marketplace):
    """A second server over the same marketplace, for the faults (the `sandbox` fixture stays clean)."""
    with SandboxServer(marketplace, speedup=5000) as server:
        yield server


@pytest.fixture
def warehouses(tmp_path, sandbox, faulty, start):
    """(clean, faulty) warehouses of the same channel, on the clean and the faulty server."""
    made = []

    def make(server_clean=sandbox, server_faulty=faulty):
        n = len(made)
        pair = (
            Warehouse(tmp_path / f"clean{n}.duckdb", server_clean, start),
            Warehouse(tmp_path / f"faulty{n}.duckdb", server_faulty, start),
        )
        made.extend(pair)
        return pair

    yield make
    for warehouse in made:
        warehouse.close()


# A `slow` fault holds its answer until the server stops: the client's timeout, not a race between two
# real-time delays, decides. The timeout is generous so that a loaded machine's ordinary answer never meets it.
CLIENT_TIMEOUT_SECONDS = 2.0
HELD_SECONDS = 600.0


@pytest.fixture
def short_timeout(monkeypatch, faulty):
    """A client timeout of 2 s, and a `slow` fault that never answers within it."""
    monkeypatch.setattr(amazon, "HTTP_TIMEOUT_SECONDS", CLIENT_TIMEOUT_SECONDS)
    faulty.slow_seconds = HELD_SECONDS


@pytest.fixture
def small_pages(monkeypatch):
    """searchOrders pages of 5 orders: the populated window takes several pages."""
    monkeypatch.setattr(limits, "SEARCH_ORDERS_PAGE_SIZE", 5)


def populate(marketplace, hours=2.0, per_hour=10.0):
    """Seeded activity across the channel's marketplaces, some orders left pending."""
    simulate_orders(marketplace, hours, per_hour, SKUS, MARKETPLACES, pending_rate=0.1)
    marketplace.advance(minutes=3)  # Amazon serves what is at least two minutes old


RETRYABLE = {
    "429": "HTTP 429 QuotaExceeded",
    "429_nobody": "MalformedResponse",
    "500": "HTTP 500 InternalFailure",
    "503": "HTTP 503 ServiceUnavailable",
    "truncated": "MalformedResponse",
    "non_json": "MalformedResponse",
    "slow": "(timeout)",
}


def test_a_429_then_success(marketplace, warehouses, faulty):
    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    faulty.inject("429")
    result = warehouse.sync()
    assert [r["status"] for r in faulty.requests if r["path"] != "/auth/o2/token"][:2] == [429, 200]
    assert warehouse.backoffs() == ["retry 1 when the rate allows"]
    assert len(result.retries) == 1 and result.retries[0].startswith("HTTP 429")
    assert warehouse.tables() == clean.tables()
    assert warehouse.watermark() == clean.watermark() > clean.channel.start_at


@pytest.mark.parametrize("where", ["first page", "later page"])
@pytest.mark.parametrize("kind", sorted(RETRYABLE))
def test_retryable_fault_burst(marketplace, warehouses, faulty, small_pages, short_timeout, kind, where):
    """Two faults in a row on one request: retried after 1 s and 2 s (a 429 as soon as the rate allows),
    then the same tables as a clean run."""
    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    if where == "first page":
        faulty.inject(kind, 2)
    else:
        warehouse.on_page = lambda page: page == 1 and faulty.inject(kind, 2)
    result = warehouse.sync()
    assert result.pages >= 3
    expected = (
        ["retry 1 when the rate allows", "retry 2 when the rate allows"]
        if kind == "429"
        else ["retry 1 in 1 s", "retry 2 in 2 s"]
    )
    assert warehouse.backoffs() == expected
    assert [RETRYABLE[kind] in r for r in result.retries] == [True, True], result.retries
    assert warehouse.tables() == clean.tables()
    assert warehouse.watermark() == clean.watermark()
    warehouse.assert_nothing_doubled()


def test_a_timeout_is_described_with_the_timeout_in_force(marketplace, warehouses, faulty, short_timeout):
    clean, warehouse = warehouses()
    populate(marketplace, hours=0.5)
    faulty.inject("slow")
    result = warehouse.sync()
    assert result.retries == ["no answer within 2 s (timeout)"]


def test_expired_access_token_is_refreshed_once(marketplace, warehouses, faulty, small_pages):
    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    warehouse.on_page = lambda page: page == 2 and faulty.inject("expired_token")
    warehouse.sync()
    tokens = [r for r in faulty.requests if r["path"] == "/auth/o2/token"]
    assert [r["status"] for r in tokens] == [200, 200]  # the first token, then a fresh one after the 403
    assert warehouse.backoffs() == []  # a refresh, not a retry
    assert warehouse.tables() == clean.tables()


def test_an_access_token_refused_twice_stops_the_sync(marketplace, warehouses, faulty):
    clean, warehouse = warehouses()
    populate(marketplace, hours=0.5)
    faulty.inject("expired_token", 2)
    assert "HTTP 403" in warehouse.failed_sync()
    assert warehouse.watermark() == warehouse.channel.start_at
    clean.sync()
    warehouse.sync()
    assert warehouse.tables() == clean.tables()


def test_invalid_pagination_token_restarts_the_window(marketplace, warehouses, faulty, small_pages):
    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    warehouse.on_page = lambda page: page == 2 and faulty.inject("invalid_pagination_token")
    warehouse.sync()
    assert warehouse.of(WindowRestarted) == [WindowRestarted("refused")]
    searches = [r["params"] for r in faulty.requests if r["path"] != "/auth/o2/token"]
    first_pages = [p for p in searches if "paginationToken" not in p]
    assert len(first_pages) == 2
    # the restarted window asks for exactly the window it asked for before, and every page repeats it
    filters = {key: first_pages[0][key] for key in ("marketplaceIds", "lastUpdatedAfter", "lastUpdatedBefore")}
    assert filters["lastUpdatedBefore"] == iso(warehouse.watermark()) == iso(clean.watermark())
    assert all({key: p.get(key) for key in filters} == filters for p in searches)
    assert warehouse.tables() == clean.tables()
    warehouse.assert_nothing_doubled()


def test_a_server_that_refuses_every_pagination_token_stops_the_sync(marketplace, warehouses, faulty, small_pages):
    """No endless restart: a bounded number of restarts, then one clear line and the watermark where it was."""
    clean, warehouse = warehouses()
    populate(marketplace)
    faulty.orders.token_ttl = timedelta(seconds=-1)  # every pagination token has expired when it is used
    restarts = []

    def guard(page):
        restarts.append(page)
        if len(restarts) > 50:
            raise AssertionError("the extractor restarts the window forever")

    warehouse.on_page = guard
    message = warehouse.failed_sync()
    assert "pagination" in message.lower() and f"watermark stays at {iso(warehouse.channel.start_at)}" in message
    assert warehouse.watermark() == warehouse.channel.start_at
    faulty.orders.token_ttl = timedelta(hours=24)
    clean.sync()
    warehouse.sync()
    assert warehouse.tables() == clean.tables()


def test_a_page_that_repeats_an_order_from_the_previous_page(marketplace, warehouses, faulty, small_pages):
    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    warehouse.on_page = lambda page: page in (1, 2) and faulty.inject("repeat_order")
    result = warehouse.sync()
    assert result.orders_fetched == clean.con.execute("select count(*) from raw_amazon_orders").fetchone()[0] + 2
    assert warehouse.tables() == clean.tables()
    warehouse.assert_nothing_doubled()


def test_a_server_that_keeps_answering_500(marketplace, warehouses, faulty):
    """One clear error, bounded backoff, the watermark unchanged; the next sync completes."""
    clean, warehouse = warehouses()
    populate(marketplace)
    faulty.inject("500", calls.MAX_ATTEMPTS)
    message = warehouse.failed_sync()
    assert message == (
        f"sync of channel {CHANNEL!r} failed: HTTP 500 InternalFailure: We encountered an internal "
        f"error. Please try again. (watermark stays at {iso(warehouse.channel.start_at)})"
    )
    assert warehouse.clock.sleeps == [1, 2, 4, 8, 16]  # bounded: MAX_ATTEMPTS calls, capped backoff
    assert warehouse.watermark() == warehouse.channel.start_at
    assert warehouse.con.execute("select status, error from sync_runs").fetchall() == [("failed", message)]
    assert warehouse.con.execute("select count(*) from raw_amazon_orders").fetchone() == (0,)

    clean.sync()
    warehouse.sync()
    assert warehouse.tables() == clean.tables()
    assert warehouse.watermark() == clean.watermark()


def test_a_server_that_fails_mid_window_resumes_at_its_cursor(marketplace, warehouses, faulty, small_pages):
    clean, warehouse = warehouses()
    populate(marketplace)
    warehouse.on_page = lambda page: page == 2 and faulty.inject("503", calls.MAX_ATTEMPTS)
    with pytest.raises(SyncError, match="HTTP 503"):
        warehouse.sync()
    assert warehouse.watermark() == warehouse.channel.start_at
    landed = warehouse.con.execute("select count(*) from raw_amazon_orders").fetchone()[0]
    assert landed == 10  # two pages, kept with their cursor
    warehouse.on_page = None
    populate(marketplace, hours=1)  # the marketplace moves on before the next sync
    clean.sync()
    result = warehouse.sync()
    assert warehouse.of(WindowOpened)[0].resumed
    # the interrupted window is finished from its cursor, then what changed since is fetched in the same sync
    assert result.window[0] < clean.watermark() and warehouse.watermark() == clean.watermark()
    assert warehouse.tables() == clean.tables()
    warehouse.assert_nothing_doubled()


def test_one_clear_error_through_the_cli(shop, monkeypatch):
    """Through `amazon-orders sync`: exit 1, nothing on stdout, progress then one error line on stderr,
    watermark kept."""
    monkeypatch.setattr(calls, "MAX_ATTEMPTS", 1)  # no backoff: the CLI sleeps on the wall clock
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    watermark = shop.one("select watermark from channel_sync_state")
    shop.place(Item("MUG-01"))
    shop.marketplace.advance(minutes=3)
    shop.sandbox.inject("500")
    code, out, err = shop.run("sync")
    expected = (
        f"sync of channel {CHANNEL!r} failed: HTTP 500 InternalFailure: We encountered an internal error. "
        f"Please try again. (watermark stays at {iso(watermark)})"
    )
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[-1] == f"amazon-orders: {expected}"
    assert not any("Traceback" in line or "amazon-orders:" in line for line in lines[:-1])
    assert shop.one("select watermark from channel_sync_state") == watermark
    shop.sync()
    assert shop.one("select count(*) from orders") == 2


FAULT_RATES = {
    "429": 0.10,
    "429_nobody": 0.04,
    "500": 0.10,
    "503": 0.08,
    "truncated": 0.05,
    "non_json": 0.05,
    "slow": 0.02,
    "expired_token": 0.05,
    "invalid_pagination_token": 0.05,
    "repeat_order": 0.10,
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 6, 7, 8, 9])  # seeds whose faults include errors
def test_random_faults_over_a_multi_page_sync(marketplace, sandbox, warehouses, short_timeout, seed):
    """Nearly two requests in three meet a fault over ~250 orders in pages of 100, then again over the changes
    of two more rounds of changes: every sync completes or stops cleanly, and the tables end as a clean run's."""
    with SandboxServer(marketplace, speedup=5000, fault_rates=FAULT_RATES, fault_seed=seed) as server:
        server.slow_seconds = HELD_SECONDS
        clean, warehouse = warehouses(sandbox, server)
        populate(marketplace, hours=10, per_hour=25)
        orders = 0
        for _ in range(3):
            clean.sync()
            failures = 0
            while True:
                before = warehouse.watermark()
                try:
                    result = warehouse.sync()
                    break
                except SyncError as error:
                    failures += 1
                    assert failures < 10, "a sync never completed"
                    assert "\n" not in str(error) and f"watermark stays at {iso(before)}" in str(error)
                    assert warehouse.watermark() == before
            orders = max(orders, result.orders_fetched)
            assert warehouse.tables() == clean.tables()
            assert warehouse.watermark() == clean.watermark()
            warehouse.assert_nothing_doubled()
            populate(marketplace, hours=3, per_hour=10)  # the next round: new orders and changes to old ones
        statuses = [r["status"] for r in server.requests]
    assert clean.con.execute("select count(*) from orders").fetchone()[0] >= 200
    assert len([s for s in statuses if s != 200]) >= 2


def test_a_failing_token_endpoint_is_retried_and_a_refused_grant_is_not(marketplace, warehouses, faulty):
    """LWA answering 500 is as transient as the Orders API doing so; a refused refresh token is final."""
    from sp_api.auth import access_token_client

    clean, warehouse = warehouses()
    populate(marketplace)
    clean.sync()
    access_token_client.cache.clear()  # the next call asks LWA for an access token
    faulty.inject("token_500", 2)
    result = warehouse.sync()
    assert warehouse.backoffs() == ["retry 1 in 1 s", "retry 2 in 2 s"]
    assert result.retries == ["LWA token request failed: HTTP 500 server_error"] * 2
    assert warehouse.tables() == clean.tables()

    populate(marketplace, hours=0.5)
    access_token_client.cache.clear()
    faulty.inject("token_invalid_grant")
    watermark = warehouse.watermark()
    assert warehouse.failed_sync() == (
        f"sync of channel {CHANNEL!r} failed: LWA token request failed: HTTP 400 "
        f"invalid_grant (watermark stays at {iso(watermark)})"
    )
    assert warehouse.backoffs() == []  # no retry of a refused grant
    assert warehouse.watermark() == watermark


def test_an_interrupted_window_resumed_25_hours_later_starts_again_and_lands_everything_once(
    marketplace, warehouses, faulty, small_pages
):
    """Amazon's model: "The token will expire after 24 hours." A cursor that old is not sent; the window starts
    again from its beginning, without a failed request first."""
    clean, warehouse = warehouses()
    populate(marketplace)
    warehouse.on_page = lambda page: page == 2 and faulty.inject("503", calls.MAX_ATTEMPTS)
    with pytest.raises(SyncError):
        warehouse.sync()
    assert warehouse.con.execute("select next_token is not null from channel_sync_state").fetchone() == (True,)
    warehouse.on_page = None
    marketplace.advance(hours=25)
    before = len(faulty.requests)
    clean.sync()
    warehouse.sync()
    assert warehouse.of(WindowRestarted) == [WindowRestarted("expired")]
    served = [r for r in faulty.requests[before:] if r["path"] != "/auth/o2/token"]
    assert {r["status"] for r in served} == {200}  # no failed request first
    assert "paginationToken" not in served[0]["params"]  # the window starts again from its beginning
    assert warehouse.tables() == clean.tables()
    assert warehouse.watermark() == clean.watermark()
    warehouse.assert_nothing_doubled()


def test_a_refused_first_request_stops_with_one_line_naming_what_was_sent(marketplace, warehouses, faulty):
    """A 400 on a window's first request is a bug or a bad channel setting: no retry, no restart."""
    clean, warehouse = warehouses()
    populate(marketplace, hours=0.5)
    faulty.inject("400")
    message = warehouse.failed_sync()
    assert message.startswith(f"sync of channel {CHANNEL!r} failed: Amazon refused")
    assert "HTTP 400 InvalidInput" in message
    assert f"marketplaceIds={','.join(MARKETPLACES)}" in message
    assert f"lastUpdatedAfter={iso(warehouse.channel.start_at)}" in message and "lastUpdatedBefore=" in message
    assert [r["status"] for r in faulty.requests if r["path"] != "/auth/o2/token"] == [400]
    assert warehouse.watermark() == warehouse.channel.start_at


def test_a_server_clock_a_little_behind_still_accepts_the_window(marketplace, warehouses, faulty):
    """The before-bound leaves a margin for Amazon's clock being behind ours; far behind, the first request is
    refused and the sync says what it sent."""
    clean, warehouse = warehouses()
    populate(marketplace, hours=0.5)
    faulty.clock_skew = -timedelta(seconds=20)
    clean.sync()
    warehouse.sync()
    assert warehouse.tables() == clean.tables()
    populate(marketplace, hours=0.5)
    faulty.clock_skew = -timedelta(minutes=5)
    with pytest.raises(SyncError, match="Amazon refused the window's first request"):
        warehouse.sync()


def test_a_server_clock_ten_minutes_ahead_for_one_sync_loses_no_order(marketplace, warehouses, faulty):
    """Amazon's own bound is never trusted: the window ends where this side's clock says Amazon may serve."""
    clean, warehouse = warehouses()
    populate(marketplace, hours=1)
    faulty.clock_skew = timedelta(minutes=10)
    clean.sync()
    warehouse.sync()
    assert warehouse.watermark() <= marketplace.naive_now() - timedelta(minutes=2)
    faulty.clock_skew = timedelta(0)
    # orders placed right after, in what the skewed server would have called the past
    for n in range(5):
        marketplace.advance(seconds=30)
        marketplace.place_order([Item(f"SKU-0{n}", 1, "5.00")], marketplace_id="ATVPDKIKX0DER")
    marketplace.advance(minutes=3)
    clean.sync()
    warehouse.sync()
    assert warehouse.tables() == clean.tables()
    warehouse.assert_nothing_doubled()


def test_a_watermark_found_ahead_of_now_is_pulled_back_with_a_warning(marketplace, warehouses, faulty):
    from pipelines.events import WatermarkPulledBack

    clean, warehouse = warehouses()
    populate(marketplace, hours=1)
    clean.sync()
    warehouse.sync()
    trusted = warehouse.watermark()
    future = marketplace.naive_now() + timedelta(hours=3)
    warehouse.con.execute("update channel_sync_state set watermark = ?", [future])  # an earlier clock was ahead
    populate(marketplace, hours=1)
    clean.sync()
    warehouse.sync()
    [pulled] = warehouse.of(WatermarkPulledBack)
    assert (pulled.was, pulled.now) == (future, trusted) and str(pulled).startswith("warning:")
    assert warehouse.tables() == clean.tables()


def test_status_says_a_watermark_is_ahead_of_now_rather_than_lag_zero(shop):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    con = connect(shop.db)
    con.execute("update channel_sync_state set watermark = watermark + interval 2 hour")
    con.close()
    assert "ahead of now" in shop.ok("status")
