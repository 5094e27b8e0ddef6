"""Extraction: searchOrders pages from the channel's watermark into raw_amazon_orders."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.amazon.ratelimit import TokenBucket
from pipelines.sandbox import Item, Marketplace, SandboxServer

SEARCH_PATH = "/orders/2026-01-01/orders"


def searches(sandbox):
    return [r for r in sandbox.requests if r["path"] == SEARCH_PATH]


FILTERS = (
    "marketplaceIds",
    "lastUpdatedAfter",
    "lastUpdatedBefore",
    "createdAfter",
    "createdBefore",
    "fulfillmentStatuses",
    "fulfilledBy",
)


@pytest.mark.parametrize("reading", ["sent", "applied"])
def test_a_window_of_250_orders_repeats_its_filters_on_every_page(shop, marketplace, reading):
    """Amazon's model: with a paginationToken, "All other parameters must be provided with the same values that
    were provided with the request that generated this token". Against a sandbox that enforces it under either
    reading of "provided", every page lands."""
    with SandboxServer(marketplace, speedup=5000, token_reading=reading) as strict:
        shop.sandbox = strict
        shop.add_channel(marketplaces=("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"))
        ids = {
            shop.place(Item(f"SKU-{n % 7}", 1, "5.00"), marketplace_id=("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2")[n % 2])
            for n in range(260)
        }
        shop.sync()
        calls = searches(strict)
    assert [c["status"] for c in calls] == [200, 200, 200]
    assert all("paginationToken" in c["params"] for c in calls[1:])
    filters = [{k: v for k, v in c["params"].items() if k in FILTERS} for c in calls]
    assert filters[0].keys() == {"marketplaceIds", "lastUpdatedAfter", "lastUpdatedBefore"}
    assert filters == [filters[0]] * 3
    assert {row[0] for row in shop.query("select amazon_order_id from raw_amazon_orders")} == ids
    assert shop.one("select count(*) from orders") == 260


def test_every_page_is_followed_through_the_pagination_token(shop):
    shop.add_channel()
    ids = {shop.place(Item(f"SKU-{n % 7}", 1, "5.00")) for n in range(250)}
    shop.sync()
    calls = searches(shop.sandbox)
    assert len(calls) == 3
    assert calls[0]["params"]["maxResultsPerPage"] == "100"
    assert set(calls[0]["params"]["includedData"].split(",")) >= {
        "BUYER",
        "RECIPIENT",
        "PROCEEDS",
        "FULFILLMENT",
        "CANCELLATION",
    }
    assert all("paginationToken" in c["params"] for c in calls[1:])
    assert not any("/orders/2026-01-01/orders/" in r["path"] for r in shop.sandbox.requests)  # no per-order calls
    landed = {row[0] for row in shop.query("select amazon_order_id from raw_amazon_orders")}
    assert landed == ids
    assert shop.one("select count(*) from orders") == 250


def test_an_order_created_before_the_channel_start_is_never_imported(shop):
    old = shop.place(Item("OLD-1", 1, "9.00"))
    shop.marketplace.advance(minutes=10)
    shop.add_channel(start=shop.marketplace.now)
    shop.marketplace.advance(minutes=1)
    shop.marketplace.confirm(old)  # changes after the start
    new = shop.place(Item("NEW-1", 1, "9.00"))
    shop.sync()
    assert shop.query("select amazon_order_id from raw_amazon_orders") == [(new,)]
    assert shop.query("select channel_order_id from orders") == [(new,)]


def test_a_later_sync_fetches_only_what_changed(shop):
    shop.add_channel()
    orders = [shop.place(Item("MUG-01", 1, "7.00")) for _ in range(5)]
    shop.marketplace.advance(minutes=10)  # beyond the next sync's overlap
    shop.sync()
    first_watermark = shop.one("select watermark from channel_sync_state")
    shop.marketplace.advance(minutes=30)
    shop.marketplace.confirm(orders[0])
    shop.marketplace.confirm(orders[1])
    before = len(searches(shop.sandbox))
    shop.sync()
    call = searches(shop.sandbox)[before]
    assert call["params"]["lastUpdatedAfter"] < first_watermark.strftime("%Y-%m-%dT%H:%M:%SZ")  # the overlap
    fetched = shop.one("select orders_fetched from sync_runs order by finished_at desc limit 1")
    assert fetched == 2
    assert shop.one("select count(*) from raw_amazon_orders") == 7
    assert shop.one("select watermark from channel_sync_state") > first_watermark


def test_the_overlap_never_stores_a_version_twice(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "7.00"))
    shop.sync()
    # the next window starts five minutes before the watermark, so the same version comes back
    shop.marketplace.advance(seconds=30)
    shop.ok("sync")
    assert shop.one("select orders_fetched from sync_runs order by finished_at desc limit 1") == 1
    assert shop.one("select count(*) from raw_amazon_orders") == 1
    assert shop.query("select channel_order_id from orders") == [(order,)]


def test_until_bounds_the_window_for_a_backfill(shop):
    start = shop.marketplace.now
    shop.add_channel(start=start)
    early = shop.place(Item("A", 1, "1.00"))
    shop.marketplace.advance(hours=2)
    late = shop.place(Item("B", 1, "1.00"))
    shop.marketplace.advance(minutes=5)
    until = (start + timedelta(hours=1)).isoformat()
    shop.ok("sync", "--until", until)
    assert shop.query("select amazon_order_id from raw_amazon_orders") == [(early,)]
    assert shop.one("select watermark from channel_sync_state").isoformat() == until[:19]
    shop.ok("sync")
    assert {r[0] for r in shop.query("select amazon_order_id from raw_amazon_orders")} == {early, late}


def test_the_default_marketplace_variable_does_not_override_the_channel(shop, monkeypatch):
    monkeypatch.setenv("SP_API_DEFAULT_MARKETPLACE", "UK")
    shop.add_channel()
    shop.place(Item("A", 1, "1.00"))
    shop.place(Item("B", 1, "1.00"), marketplace_id="A1F83G8C2ARO7P")
    shop.sync()
    assert searches(shop.sandbox)[0]["params"]["marketplaceIds"] == "ATVPDKIKX0DER"
    assert shop.query("select marketplace_id from orders") == [("ATVPDKIKX0DER",)]


def test_a_second_channel_with_the_same_name_is_refused(shop):
    shop.add_channel("Amazon US")
    code, out, err = shop.run("channel", "add", "Amazon US", "--marketplace", "ATVPDKIKX0DER")
    assert code == 1
    assert err.strip() == "amazon-orders: channel 'Amazon US' already exists; pick another name"
    assert shop.one("select count(*) from channels") == 1


def test_channel_list_shows_the_channels(shop):
    shop.add_channel("Amazon US")
    shop.add_channel("Amazon CA", marketplaces=("A2EUQ1WTGCTBG2",))
    lines = shop.ok("channel", "list").splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Amazon CA", "Amazon US"]


def test_the_warehouse_is_readable_by_its_owner_only(shop, db):
    import os
    import stat

    shop.add_channel()
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_the_bucket_allows_the_burst_then_paces_to_the_rate():
    now = [1000.0]
    bucket = TokenBucket(rate=0.0056, burst=20, tokens=20, checked_at=now[0], clock=lambda: now[0])
    for _ in range(20):
        assert bucket.wait_time() == 0
        bucket.take()
    assert abs(bucket.wait_time() - 1.02 / 0.0056) < 1e-6  # one token and a 2% margin
    now[0] += 1.02 / 0.0056
    assert bucket.wait_time() == 0


def test_the_bucket_follows_a_higher_rate_limit_header():
    now = [0.0]
    bucket = TokenBucket(tokens=0, checked_at=0.0, clock=lambda: now[0])
    bucket.observe_rate("2.0")
    assert abs(bucket.wait_time() - 1.02 / 2.0) < 1e-9


@pytest.mark.slow
def test_the_dagster_definitions_validate():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_sync_right_after_adding_a_channel_is_a_quiet_no_op_decided_before_any_request(shop):
    shop.add_channel()
    start = shop.one("select start_at from channels")
    shop.marketplace.advance(minutes=1)
    code, out, err = shop.run("sync")  # Amazon only serves changes older than two minutes: none yet
    assert code == 0 and "Traceback" not in err and "nothing to fetch" in err
    assert shop.one("select status, pages, watermark from sync_runs") == ("ok", 0, start)
    assert shop.sandbox.requests == []  # not even an access token was asked for
    order = shop.place(Item("MUG-01", 1, "1.00"))
    shop.sync()
    assert shop.query("select channel_order_id from orders") == [(order,)]


def test_the_next_sync_paces_to_the_rate_the_server_announced(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "1.00"))
    shop.sync()
    # the sandbox fixture runs the usage plan 5,000 times faster and says so in x-amzn-RateLimit-Limit
    assert shop.one("select rate_per_second from channel_sync_state") == pytest.approx(0.0056 * 5000)


# the warehouse stamps what it fetched by this machine's clock: the marketplace's years end before today
@pytest.mark.parametrize(
    "marketplace",
    [Marketplace(seed=7, start=datetime.now(UTC).replace(microsecond=0) - timedelta(days=2 * 365 + 32))],
    ids=["two years ago"],
)
def test_a_channel_left_unsynced_past_amazons_two_years_syncs_from_the_oldest_change_amazon_serves(shop):
    # Amazon serves no order data more than two years old: a channel whose watermark has grown that old
    # (added with a start Amazon served then, never synced since) asks from where Amazon still answers,
    # and says what it could not fetch, rather than failing every run on Amazon's 400
    shop.add_channel(start=shop.marketplace.now)
    shop.marketplace.advance(days=2 * 365 + 30)
    order = shop.place(Item("MUG-01", 1, "7.00"))
    shop.marketplace.advance(minutes=3)
    code, _, progress = shop.run("sync")
    assert code == 0 and shop.query("select channel_order_id from orders") == [(order,)]
    assert "are older than Amazon serves orders and cannot be fetched" in progress
    first = searches(shop.sandbox)[0]["params"]["lastUpdatedAfter"]
    assert first >= (shop.marketplace.now - timedelta(days=2 * 365)).strftime("%Y-%m-%dT%H:%M:%SZ")
