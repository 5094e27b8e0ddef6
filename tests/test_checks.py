"""The blocking asset checks catch what breaks the table contracts, at any size."""

from __future__ import annotations

from assets.core import _check
from pipelines.sandbox import Item
from pipelines.warehouse import connect


def test_the_orders_check_fails_on_a_duplicate_key_and_an_unknown_status(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "5.00"))
    shop.place(Item("TEA-02", 1, "5.00"))
    shop.sync()
    con = connect(shop.db)
    try:
        assert _check(con, "orders").passed
        con.execute("insert into orders select * from orders limit 1")
        con.execute("update orders set status = 'Lost in space' where channel_order_id = "
                    "(select max(channel_order_id) from orders)")
        result = _check(con, "orders")
    finally:
        con.close()
    assert not result.passed
    assert result.metadata["rows_failed"].value >= 2
    failures = result.metadata["failures"].value
    assert "duplicate key" in failures and "isin" in failures


def test_chunked_validation_finds_a_bad_row_in_a_later_chunk(shop):
    from assets.schemas import SCHEMAS, failing_rows

    con = connect(shop.db)
    try:
        con.execute("create temp table many as select 'PRD-' || i as product_id, 'SKU-' || i as product_code, "
                    "'Mug' as product_name, 1.0 as list_price, false as is_placeholder from range(250000) t(i)")
        con.execute("update many set list_price = -1 where product_code = 'SKU-249999'")
        failures = list(failing_rows(con, "select * from many", SCHEMAS["products"], chunk_rows=50_000))
    finally:
        con.close()
    assert [(row["product_code"], column) for row, _, column in failures] == [("SKU-249999", "list_price")]
