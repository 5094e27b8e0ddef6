"""The stock push's loose ends (issue #26): a channel removed with its orders leaves no stock rows behind, `channel
check` probes the Listings Items and Feeds APIs too, and a SKU Amazon keeps refusing backs off rather than being
sent every few seconds forever. Through the real python-amazon-sp-api client over HTTP against the sandbox."""

from __future__ import annotations

from test_stock_push import ADA, catalog, seller_channel

from pipelines.sandbox import Item

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
