"""The blocking asset checks catch what breaks the table contracts, at any size."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from pipelines.sandbox import Buyer, Item
from pipelines.warehouse.connection import connect
from pipelines.warehouse.contracts import SCHEMAS, Orders, check_table, failing_rows


def test_the_orders_check_fails_on_a_duplicate_key_and_an_unknown_status(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "5.00"))
    shop.place(Item("TEA-02", 1, "5.00"))
    shop.sync()
    con = connect(shop.db)
    try:
        assert check_table(con, "orders").passed
        con.execute("insert into orders select * from orders limit 1")
        con.execute(
            "update orders set status = 'Lost in space' where channel_order_id = "
            "(select max(channel_order_id) from orders)"
        )
        result = check_table(con, "orders")
    finally:
        con.close()
    assert not result.passed
    assert len(result.failures) >= 2
    checks = set(result.failures["check"])
    assert "duplicate key" in checks and any("isin" in check for check in checks)


def test_chunked_validation_finds_a_bad_row_in_a_later_chunk(shop):
    con = connect(shop.db)
    try:
        con.execute(
            "create temp table many as select 'PRD-' || i as product_id, 'SKU-' || i as product_code, "
            "'Mug' as product_name, 1.0 as list_price, false as is_placeholder from range(250000) t(i)"
        )
        con.execute("update many set list_price = -1 where product_code = 'SKU-249999'")
        failures = list(failing_rows(con, "select * from many", "products", chunk_rows=50_000))
    finally:
        con.close()
    assert [(row["product_code"], column) for row, _, column in failures] == [("SKU-249999", "list_price")]


class CappedOrders(Orders):
    total_amount: Series[float] = pa.Field(nullable=True, ge=0, le=100)


def test_a_version_the_table_contract_refuses_leaves_its_order_as_it_was(shop, tmp_path, monkeypatch):
    # the SQL rules cover today's contract, so a stricter one stands in for a rule they miss
    monkeypatch.setitem(SCHEMAS, "orders", CappedOrders)
    shop.add_channel()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("product_code,product_name,list_price,on_hand\nMUG-01,Mug,50.00,10\n")
    shop.ok("products", "import", str(catalog))
    large = shop.place(Item("MUG-01", 3, "50.00"), buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"))
    small = shop.place(Item("MUG-01", 1, "50.00"), buyer=Buyer("Alan Turing", "alan@marketplace.amazon.com"))
    shop.sync()
    shop.marketplace.confirm(large)
    shop.marketplace.confirm(small)
    shop.sync()

    orders = dict(shop.query("select channel_order_id, status || ' ' || payment_status from orders"))
    assert orders == {large: "Pending Unpaid", small: "Unshipped Paid"}
    assert (
        shop.one("select unit_price from order_lines join orders using (order_id) where channel_order_id = ?", [large])
        is None
    )
    assert shop.one("select reason from quarantine") == "orders.total_amount: less_than_or_equal_to(100)"
    # the refused version books nothing: the pending order's reservation stands
    assert shop.one("select on_hand from inventory where product_code = 'MUG-01'") == 10 - 3 - 1

    # a rebuild has no older rows to keep (a known limit: it does not fall back to an older version),
    # so the refused order is left out, quarantined with the same reason, and reserves nothing
    shop.ok("rebuild")
    assert dict(shop.query("select channel_order_id, status from orders")) == {small: "Unshipped"}
    assert shop.one("select reason from quarantine") == "orders.total_amount: less_than_or_equal_to(100)"
    assert shop.one("select on_hand from inventory where product_code = 'MUG-01'") == 10 - 1


def test_the_ui_shows_each_core_tables_columns_as_docs_yml_describes_them():
    from pipelines.definitions import defs
    from pipelines.warehouse import tables

    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for table in tables.CORE_TABLES:
        columns = specs[table].metadata["dagster/column_schema"].columns
        assert [(c.name, c.description) for c in columns] == [
            (c.name, c.description or None) for c in tables.table(table).columns
        ]
        assert specs[table].description == tables.table(table).description
    assert (
        "Amazon's grand total"
        in dict((c.name, c.description) for c in specs["orders"].metadata["dagster/column_schema"].columns)[
            "total_amount"
        ]
    )
