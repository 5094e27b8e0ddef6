"""An item's counts (fulfillment.quantityFulfilled, quantityUnfulfilled) are optional in the Orders API v2026-01-01
model, so an order may come without them. A SHIPPED order ("All items have been shipped to the customer") then
shipped every unit its cancellations did not take; an order in any other status shipped nothing it does not name
(a PARTIALLY_SHIPPED one's next version says which). Through the real client over HTTP, the CLI and the ledger."""

from __future__ import annotations

from conftest import catalog

from pipelines.sandbox import Buyer, Item

ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


def without_counts(shop, order_id: str, status: str | None = None) -> dict:
    """Serve the order from now on as Amazon may send it: its items without counts (and in `status`)."""
    order = shop.marketplace.order(order_id)
    for item in order["orderItems"]:
        item["fulfillment"].pop("quantityFulfilled", None)
        item["fulfillment"].pop("quantityUnfulfilled", None)
    if status:
        order["fulfillment"]["fulfillmentStatus"] = status
    shop.marketplace.put_raw(order)
    return order


def lines(shop, order_id: str) -> list[tuple]:
    return shop.query(
        "select product_code, quantity, shipped_quantity, canceled_quantity from order_lines "
        "join orders using (order_id) where channel_order_id = ? and line_type = 'product' "
        "order by line_number",
        [order_id],
    )


def stock(shop) -> dict[str, tuple[int, int]]:
    return {
        sku: (on_hand, reserved)
        for sku, on_hand, reserved in shop.query(
            "select product_code, on_hand, reserved_quantity from inventory where location = 'warehouse'"
        )
    }


def test_a_shipped_order_without_item_counts_shipped_every_unit_and_can_be_returned(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order_id = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id)
    without_counts(shop, order_id)
    shop.sync()
    assert lines(shop, order_id) == [("MUG-01", 2, 2, 0)]
    assert stock(shop) == {"MUG-01": (8, 0)}  # gone from the shelf, nothing left reserved
    # the clerk's return of a unit that shipped
    out = shop.ok("return", order_id, "--sku", "MUG-01", "--quantity", "1", "--reason", "chipped")
    assert "1 x MUG-01" in out and "back in stock" in out
    assert stock(shop) == {"MUG-01": (9, 0)}
    code, _, err = shop.run("return", order_id, "--sku", "MUG-01", "--quantity", "2")
    assert code == 1 and "2 shipped (on Amazon or marked shipped here), 1 already returned, so at most 1" in err


def test_a_cancelled_item_of_a_shipped_order_without_counts_goes_back_and_the_rest_stays_gone(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    order_id = shop.place(Item("MUG-01", 2, "12.50"), Item("TEA-02", 3, "3.00"), buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.sync()
    assert stock(shop) == {"MUG-01": (8, 2), "TEA-02": (7, 3)}
    shop.marketplace.cancel_item(order_id, "TEA-02")  # the buyer cancels the tea before anything ships
    shop.marketplace.ship(order_id)
    without_counts(shop, order_id)
    shop.sync()
    assert lines(shop, order_id) == [("MUG-01", 2, 2, 0), ("TEA-02", 3, 0, 3)]
    assert stock(shop) == {"MUG-01": (8, 0), "TEA-02": (10, 0)}
    assert shop.ok("rebuild") and stock(shop) == {"MUG-01": (8, 0), "TEA-02": (10, 0)}


def test_a_partially_shipped_order_without_counts_ships_nothing_until_its_next_version_says(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    order_id = shop.place(Item("MUG-01", 2, "12.50"), Item("TEA-02", 1, "3.00"), buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id, "MUG-01")
    without_counts(shop, order_id)  # PARTIALLY_SHIPPED: which units left, the order does not say
    shop.sync()
    assert lines(shop, order_id) == [("MUG-01", 2, 0, 0), ("TEA-02", 1, 0, 0)]
    assert stock(shop) == {"MUG-01": (8, 2), "TEA-02": (9, 1)}  # still reserved, none invented as shipped
    code, _, err = shop.run("return", order_id, "--sku", "MUG-01", "--quantity", "1")
    assert code == 1 and "0 shipped" in err
    shop.marketplace.advance(minutes=1)
    shipped = without_counts(shop, order_id, status="SHIPPED")  # the rest ships; still no counts
    shipped["lastUpdatedTime"] = shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.marketplace.put_raw(shipped)
    shop.sync()
    assert lines(shop, order_id) == [("MUG-01", 2, 2, 0), ("TEA-02", 1, 1, 0)]
    assert stock(shop) == {"MUG-01": (8, 0), "TEA-02": (9, 0)}


def test_the_sandbox_serves_some_orders_without_counts_and_the_lines_match_amazons_own(shop):
    shop.add_channel()
    shop.marketplace.simulate(
        hours=6, orders_per_hour=40, skus=["MUG-01", "TEA-02", "PEN-03"], fba_rate=0.3, marketplaces=("ATVPDKIKX0DER",)
    )
    shop.sync()
    served = [shop.marketplace.order(o, as_served=True) for o in shop.marketplace._orders]
    bare = [
        o["orderId"]
        for o in served
        if any("quantityFulfilled" not in item.get("fulfillment", {}) for item in o["orderItems"])
    ]
    assert bare, "no order came without its items' counts"
    expected = []
    for order_id in shop.marketplace._orders:
        order = shop.marketplace.order(order_id)  # every field, counts included
        cancelled = order["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
        for item in order["orderItems"]:
            shipped = item["fulfillment"]["quantityFulfilled"]
            gone = cancelled or "cancellationExecution" in item.get("cancellation", {})
            expected.append((order_id, item["orderItemId"], shipped, item["quantityOrdered"] - shipped if gone else 0))
    assert sorted(
        shop.query(
            "select channel_order_id, amazon_order_item_id, shipped_quantity, canceled_quantity from order_lines "
            "join orders using (order_id) where line_type = 'product'"
        )
    ) == sorted(expected)
