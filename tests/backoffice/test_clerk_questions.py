"""The clerk's everyday questions in one command each (#28): orders by status, age, buyer, SKU and channel;
returns awaiting receipt; an order by either id; returns of Amazon-fulfilled orders; shipped by whom."""

from __future__ import annotations

import json

import pytest
from conftest import catalog, on_hand, refused

from pipelines.sandbox import Buyer, Item


@pytest.fixture
def day_of_orders(shop, tmp_path):
    """A pending order two days old, a pre-order (Pending Availability) two days old, a paid order of Ada's
    a day and a half old, and a fresh pending order of TEA-02."""
    shop.add_channel(start=shop.marketplace.now)
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    old_pending = shop.place(Item("MUG-01", 1, "12.50"))
    pre_order = shop.place(Item("MUG-01", 1, "12.50"), status="PENDING_AVAILABILITY")
    shop.marketplace.advance(hours=12)
    paid = shop.place(Item("MUG-01", 2, "12.50"), buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"))
    shop.marketplace.confirm(paid)
    shop.marketplace.advance(hours=36)
    fresh = shop.place(Item("TEA-02", 1, "3.00"))
    shop.sync()
    return {"old_pending": old_pending, "pre_order": pre_order, "paid": paid, "fresh": fresh}


def listed(shop, *args) -> list[str]:
    rows = json.loads(shop.ok("orders", "list", "--format", "json", *args))
    return sorted(row["channel_order_id"] for row in rows)


def test_pending_covers_amazons_pending_kinds_whatever_the_case(shop, day_of_orders):
    pending = sorted([day_of_orders["old_pending"], day_of_orders["pre_order"], day_of_orders["fresh"]])
    assert listed(shop, "--status", "pending") == pending
    assert listed(shop, "--status", "PENDING") == pending
    assert listed(shop, "--status", "pending availability") == [day_of_orders["pre_order"]]
    assert listed(shop, "--status", "unshipped") == [day_of_orders["paid"]]
    assert "--status 'shipping' is not an order status" in refused(
        shop.capsys, "--db", shop.db, "orders", "list", "--status", "shipping"
    )


def test_orders_older_than_a_day_of_a_buyer_a_sku_and_a_channel(shop, day_of_orders):
    assert listed(shop, "--status", "pending", "--older-than", "1d") == sorted(
        [day_of_orders["old_pending"], day_of_orders["pre_order"]]
    )
    assert listed(shop, "--older-than", "40h") == sorted([day_of_orders["old_pending"], day_of_orders["pre_order"]])
    assert listed(shop, "--buyer", "lovelace") == [day_of_orders["paid"]]
    assert listed(shop, "--buyer", "ADA@marketplace") == [day_of_orders["paid"]]
    assert listed(shop, "--sku", "tea-02") == [day_of_orders["fresh"]]
    assert len(listed(shop, "--channel", "Amazon US")) == 4
    assert "no channel named 'Amazon EU'" in refused(
        shop.capsys, "--db", shop.db, "orders", "list", "--channel", "Amazon EU"
    )
    assert "--older-than 'yesterday'" in refused(
        shop.capsys, "--db", shop.db, "orders", "list", "--older-than", "yesterday"
    )
    table = shop.ok("orders", "list", "--status", "pending", "--older-than", "1d")
    assert day_of_orders["pre_order"] in table and "Pending Availability" in table
    assert day_of_orders["fresh"] not in table


def test_returns_alone_lists_them_and_awaiting_receipt_only_those(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order, other = shop.place(Item("MUG-01", 3, "12.50")), shop.place(Item("MUG-01", 1, "12.50"))
    for placed in (order, other):
        shop.marketplace.confirm(placed)
        shop.marketplace.ship(placed)
    shop.sync()
    shop.ok("return", order, "--sku", "MUG-01", "--quantity", "1", "--reason", "chipped")
    shop.marketplace.return_item(other, "MUG-01", 1, reason="DEFECTIVE")
    shop.marketplace.advance(hours=1)
    shop.ok("returns", "import")
    everything = shop.ok("returns")
    assert "RET-000001" in everything and "RET-000002" in everything
    assert shop.ok("returns", "list") == everything
    awaiting = shop.ok("returns", "list", "--awaiting-receipt")
    assert "RET-000002" in awaiting and "RET-000001" not in awaiting and "awaiting_receipt" in awaiting


def test_order_show_takes_our_id_and_amazons_with_stray_spaces(shop, day_of_orders):
    order = day_of_orders["paid"]
    order_id = shop.one("select order_id from orders where channel_order_id = ?", [order])
    by_amazon = shop.ok("order", "show", order)
    assert shop.ok("order", "show", f" {order} ") == by_amazon
    assert shop.ok("order", "show", order_id) == by_amazon
    assert shop.ok("order", "show", f"{order_id}\t") == by_amazon


def test_order_show_names_the_nearest_orders_when_none_matches(shop, day_of_orders):
    order = day_of_orders["paid"]
    typo = order[:-1] + ("0" if order[-1] != "0" else "1")
    line = refused(shop.capsys, "--db", shop.db, "order", "show", typo)
    assert f"no order with Channel Order ID {typo!r}" in line and "nearest" in line and order in line


@pytest.fixture
def fba_order(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(Item("MUG-01", 2, "12.50"), fulfilled_by="AMAZON")
    shop.marketplace.confirm(order)
    shop.marketplace.ship(order)
    shop.sync()
    return order


def test_a_clerks_return_of_an_amazon_fulfilled_order_never_restocks_the_shelf(shop, fba_order):
    shelf = on_hand(shop, "MUG-01")
    out = shop.ok("return", fba_order, "--sku", "MUG-01", "--quantity", "1", "--reason", "broken")
    assert len(out.strip().splitlines()) == 1 and "fulfilled by Amazon" in out and "amazon_fba" in out
    assert on_hand(shop, "MUG-01") == shelf  # the warehouse's shelf
    assert shop.one("select location, channel from sales_returns") == ("amazon_fba", "Amazon US")


def test_a_return_matched_to_amazons_keeps_the_clerks_reason(shop, tmp_path):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "12.50"))
    shop.marketplace.confirm(order)
    shop.marketplace.ship(order)
    shop.sync()
    shop.marketplace.return_item(order, "MUG-01", 1, reason="DEFECTIVE")
    shop.marketplace.advance(hours=1)
    shop.ok("returns", "import")
    shop.ok("return", order, "--sku", "MUG-01", "--quantity", "1", "--reason", "handle came off")
    assert shop.one("select reason, clerk_reason from sales_returns") == ("DEFECTIVE", "handle came off")
    assert "handle came off" in shop.ok("order", "show", order)


def header(out: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in out.split("\n\n")[0].splitlines() if len(line.split(None, 1)) == 2)


def test_order_show_tells_shipped_by_amazon_from_marked_shipped_here(shop, fba_order, tmp_path):
    shown = header(shop.ok("order", "show", fba_order))
    assert shown["shipped"].startswith("shipped by Amazon")
    assert shown["is_shipped"] != "False"  # never a bare False for an order Amazon shipped
    merchant = shop.place(Item("MUG-01", 1, "12.50"))
    shop.marketplace.confirm(merchant)
    shop.sync()
    assert header(shop.ok("order", "show", merchant))["shipped"] == "not shipped"
    shop.ok("ship", merchant)
    assert header(shop.ok("order", "show", merchant))["shipped"].startswith("marked shipped here")
