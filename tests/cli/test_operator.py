"""What the operator is told (#28): status's exit status and JSON, removed channels, reused names, the real
watermark in a failure, channels refused at the door, and the roles a channel's credentials lack."""

from __future__ import annotations

import json

import pytest
from conftest import refused

from pipelines.sandbox import Item
from pipelines.sandbox.roles import AMAZON_FULFILLMENT, ROLES


def test_status_fails_when_the_last_sync_failed_and_names_the_channel(shop, monkeypatch):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    assert shop.run("status")[0] == 0
    monkeypatch.setenv("SP_API_REFRESH_TOKEN", "")
    shop.marketplace.advance(minutes=3)
    assert shop.run("sync")[0] == 1
    code, out, err = shop.run("status")
    assert code == 1 and "Channels" in out  # the report, then the verdict
    assert "channel 'Amazon US': last sync failed" in err and len(err.strip().splitlines()) == 1


def test_a_failed_sync_names_the_watermark_it_had_reached_not_the_channels_start(shop, monkeypatch):
    shop.add_channel(start=shop.marketplace.now)
    shop.place(Item("MUG-01"))
    shop.sync()
    watermark = shop.one("select strftime(watermark, '%Y-%m-%dT%H:%M:%SZ') from channel_sync_state")
    start = shop.one("select strftime(start_at, '%Y-%m-%dT%H:%M:%SZ') from channels")
    assert watermark != start
    for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"):  # no client can be built
        monkeypatch.setenv(name, "")  # set, and empty: no client can be built
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("sync")
    line = err.strip().splitlines()[-1]
    assert code == 1 and "no SP-API credentials" in line
    assert f"watermark stays at {watermark}" in line and start not in line
    assert (
        shop.one("select strftime(watermark, '%Y-%m-%dT%H:%M:%SZ') from sync_runs where status = 'failed'") == watermark
    )


def test_status_fails_when_a_channel_lags_past_the_threshold(shop, monkeypatch):
    shop.add_channel()
    shop.sync()
    shop.marketplace.advance(hours=3)
    code, _, err = shop.run("status")
    assert code == 1 and "lags" in err and "--max-lag" in err
    assert shop.run("status", "--max-lag", "4h")[0] == 0
    monkeypatch.setenv("AMAZON_ORDERS_MAX_LAG", "1d")
    assert shop.run("status")[0] == 0
    assert "--max-lag 'soon'" in refused(shop.capsys, "--db", shop.db, "status", "--max-lag", "soon")


def test_status_as_json_for_monitoring(shop):
    shop.add_channel()
    shop.place(Item("LAMP-99", 1, "1.00"))
    shop.sync()
    report = json.loads(shop.ok("status", "--format", "json"))
    [channel] = report["channels"]
    assert channel["channel"] == "Amazon US" and channel["last_sync"] == "ok" and channel["healthy"] is True
    assert channel["watermark"] == shop.one("select strftime(watermark, '%Y-%m-%dT%H:%M:%SZ') from channel_sync_state")
    assert report["pending_orders"] == 1 and report["healthy"] is True
    assert report["orders_by_status"] == [
        {"channel": "Amazon US", "status": "Pending", "payment_status": "Unpaid", "orders": 1}
    ]


def test_a_removed_channel_is_not_listed_and_its_name_can_be_used_again(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01"))
    shop.sync()
    shop.ok("channel", "remove", "Amazon US")
    channels = shop.ok("status").split("\n\n")[0]
    assert "Amazon US" not in channels and "never synced" not in channels
    shop.marketplace.advance(minutes=1)
    shop.add_channel()  # the name is free again
    channels = shop.ok("status").split("\n\n")[0]
    rows = [line for line in channels.splitlines() if line.startswith("Amazon US")]
    assert len(rows) == 1 and "never synced" in rows[0], channels  # its own syncs, not the removed channel's
    assert shop.one("select count(*) from orders where channel_order_id = ?", [order]) == 1
    shop.sync()
    assert shop.one("select count(*) from orders where channel_order_id = ?", [order]) == 1


def test_a_channel_removed_with_its_orders_kept_can_have_them_deleted_later(shop):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    shop.ok("channel", "remove", "Amazon US")
    assert "1 orders deleted" in shop.ok("channel", "remove", "Amazon US", "--delete-orders")
    assert shop.one("select count(*) from orders") == 0


def test_an_endpoint_without_a_token_url_is_refused(shop):
    assert "--endpoint needs --token-url" in refused(
        shop.capsys,
        "--db",
        shop.db,
        "channel",
        "add",
        "X",
        "--marketplace",
        "ATVPDKIKX0DER",
        "--endpoint",
        shop.sandbox.url,
    )
    assert shop.one("select count(*) from channels") == 0


@pytest.mark.parametrize(
    "market_id, years, refused_too",
    [
        ("ATVPDKIKX0DER", 3, True),  # Amazon.com: two years of orders
        ("A1VC38T7YXB528", 3, False),  # Amazon.co.jp: from 2016 on
    ],
)
def test_a_start_older_than_amazon_serves_is_refused(shop, market_id, years, refused_too):
    start = shop.marketplace.now.replace(year=shop.marketplace.now.year - years)
    args = [
        "--db",
        shop.db,
        "channel",
        "add",
        "Old",
        "--marketplace",
        market_id,
        "--start",
        start.isoformat(),
        "--endpoint",
        shop.sandbox.url,
        "--token-url",
        shop.sandbox.token_url,
    ]
    if refused_too:
        assert "older than Amazon serves orders" in refused(shop.capsys, *args)
    else:
        shop.capsys.readouterr()
        from pipelines.cli import commands as cli

        assert cli.main(args) == 0


def test_channel_check_calls_each_api_and_names_the_roles_amazon_refuses(shop):
    shop.add_channel()
    out = shop.ok("channel", "check", "Amazon US")
    for operation in ("searchOrders", "getInventorySummaries", "getReports", "getDestinations", "getSubscription"):
        assert operation in out
    served = {r["path"] for r in shop.sandbox.requests}
    assert {"/orders/2026-01-01/orders", "/reports/2021-06-30/reports", "/notifications/v1/destinations"} <= served

    shop.sandbox.missing_roles = {AMAZON_FULFILLMENT}
    code, out, err = shop.run("channel", "check", "Amazon US")
    assert code == 1 and f"lacks the role(s) {AMAZON_FULFILLMENT}" in err
    assert "getInventorySummaries" in out and "403" in out
    assert [line for line in out.splitlines() if "403" in line and "searchOrders" in line] == []
    assert all(role in ROLES for role in shop.sandbox.missing_roles)


def test_a_no_op_sync_after_failures_clears_the_failure_from_status(shop, monkeypatch):
    shop.add_channel(start=shop.marketplace.now)
    with monkeypatch.context() as without_credentials:
        for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"):  # no client can be built
            without_credentials.setenv(name, "")
        assert shop.run("sync")[0] == 1
        assert shop.run("sync")[0] == 1
    assert shop.run("status")[0] == 1
    # Amazon serves nothing newer than the channel's start yet: the sync decides so before any request, in the
    # same second of the marketplace's clock as the failures
    assert "0 page(s)" in shop.ok("sync")
    code, out, err = shop.run("status")
    assert code == 0, err
    [channel] = json.loads(shop.ok("status", "--format", "json"))["channels"]
    assert channel["last_sync"] == "ok" and channel["healthy"] is True
    assert "ok" in [line for line in out.splitlines() if line.startswith("Amazon US")][0]
