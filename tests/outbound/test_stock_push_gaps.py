"""The stock push's loose ends (issue #26): a channel removed with its orders leaves no stock rows behind, `channel
check` probes the Listings Items and Feeds APIs too, and a SKU Amazon keeps refusing backs off rather than being
sent every few seconds forever. Through the real python-amazon-sp-api client over HTTP against the sandbox."""

from __future__ import annotations

import pytest
from test_stock_push import (
    ADA,
    CA,
    US,
    catalog,
    listed,
    listed_and_pushed,
    listed_on_two_channels,
    patches,
    seller_channel,
)

from pipelines.sandbox import Item
from pipelines.sandbox.marketplace import OrderRefused

CHANNEL_TABLES = (
    "select table_name from information_schema.columns join information_schema.tables "
    "using (table_catalog, table_schema, table_name) where column_name = 'channel' and table_type = 'BASE TABLE'"
)


def rows_of(shop, channel: str) -> dict[str, int]:
    return {
        table: count
        for (table,) in shop.query(CHANNEL_TABLES)
        if (count := shop.one(f'select count(*) from "{table}" where channel = ?', [channel]))
    }


def test_a_channel_removed_with_its_orders_leaves_no_row_in_any_table(shop, tmp_path):
    listings = shop.sandbox.listings
    skus = {f"SKU-{n:02d}": 5 for n in range(24)}  # a first push of more than 20: a listings feed
    for sku in skus:
        listings.list_item(sku, 0)
    catalog(shop, tmp_path, skus)
    seller_channel(shop)
    shop.ok("stock", "push")
    shop.marketplace.advance(minutes=10)
    listings.list_item("SKU-03", 40)  # set by hand in Seller Central: drift
    shop.place(Item("SKU-01", 1, "9.99"), buyer=ADA)
    shop.sync()
    shop.ok("stock", "push", "--full")
    shop.ok("stock", "buffer", "Amazon US", "--units", "1")  # marks every SKU, not pushed yet
    held = rows_of(shop, "Amazon US")
    for table in (
        "stock_marks",
        "stock_pushes",
        "stock_push_state",
        "amazon_listings",
        "stock_buffers",
        "stock_feeds",
        "stock_drift",
        "orders",
    ):
        assert held.get(table), (table, held)

    assert "1 orders deleted" in shop.ok("channel", "remove", "Amazon US", "--delete-orders")
    assert rows_of(shop, "Amazon US") == {}
    assert shop.one("select count(*) from stock_marks") == 0


def test_an_order_a_notification_books_lowers_the_other_marketplaces_listing_in_the_same_run(shop, sqs, tmp_path):
    from dagster import AssetKey

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.resources import WarehouseResource

    listings = shop.sandbox.listings
    listings.list_item("MUG-01", 0, marketplace_id=US)
    listings.list_item("MUG-01", 0, marketplace_id=CA)
    catalog(shop, tmp_path, {"MUG-01": 5})
    seller_channel(shop, "Amazon NA", (US, CA))  # one channel per region, as the README has a seller add it
    shop.ok(
        "channel", "notifications", "Amazon NA", "--queue-arn", sqs["arn"], "--queue-url", sqs["url"]
    )  # the seller id is the channel's already
    shop.ok("stock", "push")
    shop.marketplace.advance(seconds=5)
    assert listed(shop, "MUG-01", US) == listed(shop, "MUG-01", CA) == 5
    before = len(patches(shop))

    shop.place(Item("MUG-01", 4, "12.50"), buyer=ADA, marketplace_id=US)
    shop.sandbox.notifications.flush()  # Amazon's ORDER_CHANGE is in the queue
    result = defs.resolve_job_def("notifications_job").execute_in_process(
        instance=get_instance(),
        partition_key="Amazon NA",
        run_config={"ops": {"order_notifications": {"config": {"idle_seconds": 0}}}},
        resources={"warehouse": WarehouseResource(path=shop.db)},
    )
    assert result.success
    # the run that booked the order pushed it: no stock push run, no sensor's interval in between
    assert [(p["sku"], p["marketplaceIds"], p["body"]["patches"][0]["value"][0]["quantity"]) for p in patches(shop)][
        before:
    ] == [("MUG-01", [CA], 1), ("MUG-01", [US], 0)]  # the last unit shown in one marketplace only
    records = get_instance().fetch_materializations(AssetKey("amazon_listings_stock"), limit=10).records
    assert len(records) == 1  # the first push's
    shop.marketplace.advance(seconds=5)
    assert (listed(shop, "MUG-01", CA), listed(shop, "MUG-01", US)) == (1, 0)
    with pytest.raises(OrderRefused):
        shop.marketplace.place_order([Item("MUG-01", 2, "16.00")], marketplace_id=CA, buyer=ADA)
    assert shop.one("select count(*) from stock_marks") == 0


def test_a_quantity_amazon_refuses_backs_off_doubling_to_an_hour_and_goes_at_once_when_it_changes(shop, tmp_path):
    from datetime import timedelta

    from pipelines.outbound.stock import refused_backoff, unmarked_movements
    from pipelines.warehouse.connection import open_for_writing

    listings = shop.sandbox.listings
    listed_and_pushed(shop, tmp_path, {"MUG-01": 6, "CUP-02": 2})
    # the seller closes the cup's listing on Amazon; the push knows it from its read (an hour fresh)
    listings.delist("CUP-02")
    catalog(shop, tmp_path, {"MUG-01": 6, "CUP-02": 1})  # a recount: the cup is marked
    assert "1 INVALID" in shop.ok("stock", "push")

    def cup_patches() -> int:
        return sum(p["sku"] == "CUP-02" for p in patches(shop))

    def due() -> int:
        """What the stock sensor counts for the channel now (the sandbox's clock, which the test moves)."""
        with open_for_writing(shop.db) as con:
            return unmarked_movements(con, shop.marketplace.naive_now())["Amazon US"]

    sent = cup_patches()
    # each refusal waits twice as long as the one before: 1 min, then 2, then 4
    for wait in (1, 2, 4):
        assert due() == 0
        shop.marketplace.advance(seconds=wait * 60 - 5)
        assert due() == 0  # the sensor starts no push: nothing is asked every 5 s
        out = shop.ok("stock", "push")  # a push for another reason sends the cup nothing either
        assert cup_patches() == sent and "1 refused and backing off" in out
        shop.marketplace.advance(seconds=10)
        assert due() == 1  # the backoff is over: the sensor pushes it again
        assert "1 INVALID" in shop.ok("stock", "push")
        sent += 1
        assert cup_patches() == sent
    # still failing where people look
    status = shop.ok("status")
    assert [line.split()[3:6] for line in status.splitlines() if "CUP-02" in line and "INVALID" in line] == [
        ["CUP-02", "1", "INVALID"]
    ]
    # a new quantity goes at once, whatever the backoff
    catalog(shop, tmp_path, {"MUG-01": 6, "CUP-02": 0})
    assert due() == 1
    shop.ok("stock", "push")
    assert cup_patches() == sent + 1 and patches(shop)[-1]["body"]["patches"][0]["value"][0]["quantity"] == 0
    # doubling, capped at an hour
    assert [refused_backoff(n) for n in (1, 2, 3, 6, 7, 8, 60)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=32),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_channel_check_probes_listings_items_and_feeds_and_names_product_listing_when_amazon_refuses(shop):
    from pipelines.sandbox.roles import PRODUCT_LISTING, ROLES

    shop.add_channel()
    out = shop.ok("channel", "check", "Amazon US")  # no seller id: the Listings API is not asked
    assert [line for line in out.splitlines() if "searchListingsItems" in line and "not asked" in line]
    shop.ok("channel", "set", "Amazon US", "--seller-id", shop.sandbox.notifications.seller_id)
    out = shop.ok("channel", "check", "Amazon US")
    for operation in ("searchListingsItems", "getFeeds JSON_LISTINGS_FEED"):
        assert [line for line in out.splitlines() if operation in line and "role Product Listing: ok" in line], out
    served = {(r["method"], r["path"]) for r in shop.sandbox.requests}
    assert ("GET", "/feeds/2021-06-30/feeds") in served
    assert any(path.startswith("/listings/2021-08-01/items/") for method, path in served if method == "GET")

    # credentials whose application lacks the Product Listing role: both APIs answer 403, and nothing else does
    shop.sandbox.missing_roles = {PRODUCT_LISTING}
    assert PRODUCT_LISTING in ROLES
    code, out, err = shop.run("channel", "check", "Amazon US")
    assert code == 1 and f"lacks the role(s) {PRODUCT_LISTING}" in err and len(err.strip().splitlines()) == 1
    refused = sorted(line.split()[0] for line in out.splitlines() if "403" in line)
    assert refused == ["Feeds", "Listings"], out
    # and Amazon's 403 is what the push meets too: the sandbox is no more lenient for the operations themselves
    shop.sandbox.listings.list_item("MUG-01", 0)
    code, _, err = shop.run("stock", "push")
    assert code == 1


def test_a_channel_that_starts_listing_a_sku_marks_it_for_the_channels_sharing_its_last_units(shop, tmp_path):
    from pipelines.outbound.stock import unmarked_movements
    from pipelines.warehouse.connection import open_for_writing

    listed_on_two_channels(shop, tmp_path, "PEN-03", 2)
    shop.ok("stock", "push", "--channel", "Amazon US")  # the only pool it knows of: both units
    assert patches(shop)[-1]["body"]["patches"][0]["value"][0]["quantity"] == 2
    shop.ok("stock", "push", "--channel", "Amazon CA")  # two pools, two units: one each
    assert patches(shop)[-1]["body"]["patches"][0]["value"][0]["quantity"] == 1
    with open_for_writing(shop.db) as con:
        assert unmarked_movements(con, shop.marketplace.naive_now())["Amazon US"] == 1  # the sensor pushes it
    shop.ok("stock", "push", "--channel", "Amazon US")
    assert [(p["marketplaceIds"], p["body"]["patches"][0]["value"][0]["quantity"]) for p in patches(shop)][-1] == (
        [US],
        1,
    )
    shop.marketplace.advance(seconds=5)
    assert (listed(shop, "PEN-03", US), listed(shop, "PEN-03", CA)) == (1, 1)
