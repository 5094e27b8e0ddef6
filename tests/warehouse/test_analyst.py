"""An analyst's numbers without reading JSON (#28): revenue net of cancellations and refunds, the
marketplace's name and local day, and when an order shipped, whoever shipped it.

Each test goes through the product as an analyst meets it: orders on the sandbox, a sync, then a
read-only query on the warehouse."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pipelines.sandbox import Buyer, Item

ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
GRACE = Buyer("Grace Hopper", "grace@marketplace.amazon.com")


def test_revenue_leaves_out_cancelled_orders(shop):
    shop.add_channel()
    kept = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    cancelled = shop.place(Item("PEN-03", 1, "24.00"), buyer=GRACE)
    for order in (kept, cancelled):
        shop.marketplace.confirm(order)
    shop.marketplace.cancel(cancelled)
    shop.sync()

    kept_total = shop.one("select total_amount from orders where channel_order_id = ?", [kept])
    # what the README suggested counts the cancelled order too
    assert shop.one("select sum(total_amount) from orders") > kept_total
    assert shop.one("select sum(net_sales_amount) from daily_sales") == kept_total
    assert shop.one("select sum(canceled_amount) from daily_sales") == shop.one(
        "select total_amount from orders where channel_order_id = ?", [cancelled]
    )


def test_a_lines_net_amount_leaves_out_its_cancelled_units(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 2, "12.50"), Item("PEN-03", 1, "24.00"), buyer=ADA)
    shop.marketplace.confirm(order)
    shop.marketplace.cancel_item(order, "PEN-03")
    shop.sync()

    lines = dict(shop.query("select product_code, net_line_amount from order_lines order by line_number"))
    assert lines == {"MUG-01": Decimal("25.00"), "PEN-03": Decimal("0.00")}
    # line_amount stays what was ordered, as Agiliron shows it
    assert shop.one("select line_amount from order_lines where product_code = 'PEN-03'") == Decimal("24.00")


def test_orders_name_their_marketplace(shop):
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
    shop.sync()
    assert shop.one("select marketplace_name from orders") == "Amazon.com"


def test_a_day_of_sales_is_the_marketplaces_local_day(shop):
    shop.add_channel()
    # 2026-01-01 03:00 UTC is still the last evening of 2025 in Amazon.com's time zone (Pacific)
    shop.marketplace.advance(hours=3)
    assert shop.marketplace.now.date() == datetime(2026, 1, 1).date()
    order = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.marketplace.confirm(order)
    shop.sync()
    assert shop.one("select purchased_at::date from orders") == datetime(2026, 1, 1).date()
    assert shop.one("select sales_date from daily_sales") == datetime(2025, 12, 31).date()


def test_every_shipped_order_says_when_it_shipped(shop):
    shop.add_channel()
    by_amazon = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA, fulfilled_by="AMAZON")
    on_amazon = shop.place(Item("TEA-02", 1, "8.00"), buyer=GRACE)
    here = shop.place(Item("PEN-03", 1, "24.00"), buyer=GRACE)
    for order in (by_amazon, on_amazon, here):
        shop.marketplace.confirm(order)
    shop.sync()
    shop.marketplace.advance(hours=5)
    shop.marketplace.ship(by_amazon)
    shipped_on_amazon_at = shop.marketplace.now.replace(microsecond=0, tzinfo=None)
    shop.marketplace.ship(on_amazon)
    shop.marketplace.advance(hours=1)
    shop.ok("ship", here)
    shop.sync()

    shipped = dict(shop.query("select channel_order_id, shipped_at from orders"))
    # Amazon's FBA order: the time of the first version Amazon reported it shipped
    assert shipped[by_amazon] == shipped_on_amazon_at
    # a merchant-fulfilled order shipped on Amazon: its package's shipTime
    assert shipped[on_amazon] == shipped_on_amazon_at
    # marked shipped here: the shipment's time
    assert shipped[here] == shop.one("select shipped_at from shipments")
    assert all(moment is not None for moment in shipped.values())
