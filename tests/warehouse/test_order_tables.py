"""The order-management tables: Agiliron's rules for Amazon orders, each shown through real syncs."""

from __future__ import annotations

import json
from decimal import Decimal

from conftest import CORE_SNAPSHOT, catalog, on_hand, pending_and_confirmed, snapshot

from pipelines.sandbox import Buyer, Item
from pipelines.warehouse.channels import add_channel
from pipelines.warehouse.connection import connect
from pipelines.warehouse.transform import transform


def test_a_pending_order_shows_up_unpaid_under_the_pending_account_and_reserves_stock(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(Item("MUG-01", 3, "12.50"))
    shop.sync()
    status, payment, account, total = shop.one(
        "select o.status, o.payment_status, a.account_name, o.total_amount from orders o join accounts a using (account_id)"
    )
    assert (status, payment, account, total) == ("Pending", "Unpaid", "Amazon Pending Account", None)
    assert shop.one("select is_placeholder from accounts where account_id = 'ACC-PENDING'") is True
    assert shop.one("select quantity, unit_price from order_lines") == (3, None)
    assert shop.one("select channel, channel_order_id from orders") == ("Amazon US", order)
    assert on_hand(shop, "MUG-01") == 7


def test_when_amazon_fills_in_the_details_the_same_order_is_updated_in_place(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(Item("MUG-01", 3, "12.50"), buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"))
    shop.sync()
    pending_id = shop.one("select order_id from orders")
    shop.marketplace.confirm(order)
    shop.sync()
    row = shop.one("select order_id, status, payment_status, total_amount > 0 from orders")
    assert row == (pending_id, "Unshipped", "Paid", True)
    assert shop.one("select a.account_name from orders join accounts a using (account_id)") == "Ada Lovelace"
    assert shop.one("select full_name, email from contacts") == ("Ada Lovelace", "ada@marketplace.amazon.com")
    assert shop.one("select unit_price from order_lines") == 12.5
    assert shop.one("select count(*) from orders") == 1
    assert on_hand(shop, "MUG-01") == 7  # not booked twice


def test_the_same_buyer_reuses_the_account_and_a_business_order_belongs_to_the_company(shop):
    shop.add_channel()
    ada = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
    first = shop.place(Item("A", 1, "1.00"), buyer=ada)
    second = shop.place(Item("B", 1, "1.00"), buyer=ada)
    firm = shop.place(
        Item("C", 1, "1.00"), buyer=Buyer("Bob Buyer", "bob@marketplace.amazon.com", company="Acme GmbH"), business=True
    )
    for order in (first, second, firm):
        shop.marketplace.confirm(order)
    shop.sync()
    accounts = shop.query("select channel_order_id, account_id from orders order by purchased_at")
    assert accounts[0][1] == accounts[1][1]
    assert shop.one("select count(*) from contacts where email = 'ada@marketplace.amazon.com'") == 1
    name, is_business = shop.one(
        "select a.account_name, o.is_business from orders o join accounts a using (account_id) where channel_order_id = ?",
        [firm],
    )
    assert (name, is_business) == ("Acme GmbH", True)


def test_an_unknown_sku_gets_one_generic_placeholder_that_the_real_product_replaces(shop, tmp_path):
    shop.add_channel()
    for _ in range(2):
        order = shop.place(Item("NEW-SKU", 1, "4.50", title="Brand new thing", asin="B0TEST0001"))
        shop.marketplace.confirm(order)
    shop.sync()
    shop.marketplace.advance(minutes=10)
    shop.marketplace.touch(order)
    shop.sync()
    assert shop.query("select product_name, is_placeholder from products") == [("Generic Product", True)]
    notes = shop.query("select notes from order_lines")
    assert all(
        n[0].startswith("SKU: NEW-SKU; ASIN: B0TEST0001; Title: Brand new thing; Unit price: 4.50 USD") for n in notes
    )
    product_id = shop.one("select product_id from products")
    shop.ok("products", "import", catalog(tmp_path, "NEW-SKU,The new thing,4.50,5"))
    assert shop.query("select product_id, product_name, is_placeholder from products") == [
        (product_id, "The new thing", False)
    ]
    assert shop.query("select distinct product_id, notes from order_lines") == [(product_id, None)]


def test_gift_wrap_is_its_own_line_right_after_the_item_with_the_message_exactly_as_sent(shop):
    shop.add_channel()
    message = "Joyeux anniversaire 🎉 — 生日快乐\nLove, Zoë"
    order = shop.place(
        Item("MUG-01", 1, "10.00"),
        Item("TEA-02", 2, "3.00", gift_message=message, gift_wrap_level="Premium", gift_wrap_charge="2.99"),
        Item("PEN-03", 1, "1.00", gift_message="Hi", gift_wrap_level="Basic"),
    )
    shop.marketplace.confirm(order)
    shop.sync()
    lines = shop.query(
        "select line_number, line_type, product_code, line_amount, notes from order_lines order by line_number"
    )
    assert [line[:3] for line in lines] == [
        (1, "product", "MUG-01"),
        (2, "product", "TEA-02"),
        (3, "gift_wrap", None),
        (4, "product", "PEN-03"),
        (5, "gift_wrap", None),
    ]
    assert lines[2][3] == Decimal("2.99") and lines[4][3] == 0
    assert lines[2][4] == f"Gift message: {message}\nGift wrap level: Premium"


def test_a_cancelled_order_returns_its_stock_unless_it_was_shipped_here_first(shop, tmp_path):
    cancelled, shipped_then_cancelled = pending_and_confirmed(shop, tmp_path, 2, 3)
    assert on_hand(shop, "MUG-01") == 5
    shop.ok("ship", shipped_then_cancelled)
    shop.marketplace.cancel(cancelled)
    shop.marketplace.cancel(shipped_then_cancelled)
    shop.sync()
    assert shop.query("select status from orders order by channel_order_id") == [("Canceled",), ("Canceled",)]
    assert on_hand(shop, "MUG-01") == 7  # only the unshipped order's 2 came back
    assert shop.query("select order_id, quantity_delta from inventory_movements where reason = 'cancel'") == [
        (shop.one("select order_id from orders where channel_order_id = ?", [cancelled]), 2)
    ]
    code, _, err = shop.run("ship", cancelled)
    assert code == 1 and "Canceled" in err


def test_an_item_cancelled_alone_returns_only_that_quantity(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    order = shop.place(Item("MUG-01", 2, "12.50"), Item("TEA-02", 4, "3.00"))
    shop.marketplace.confirm(order)
    shop.sync()
    shop.marketplace.cancel_item(order, "TEA-02")
    shop.sync()
    assert shop.one("select status from orders") == "Unshipped"
    assert shop.query("select product_code, canceled_quantity from order_lines order by line_number") == [
        ("MUG-01", 0),
        ("TEA-02", 4),
    ]
    assert (on_hand(shop, "MUG-01"), on_hand(shop, "TEA-02")) == (8, 10)


def order_versions(shop) -> tuple[str, list[dict]]:
    """Three versions of one order as Amazon would send them: pending, paid, an item cancelled."""
    order = shop.place(Item("MUG-01", 2, "5.00"), Item("TEA-02", 1, "3.00"))
    versions = [shop.marketplace.order(order)]
    shop.marketplace.advance(minutes=1)
    shop.marketplace.confirm(order)
    versions.append(shop.marketplace.order(order))
    shop.marketplace.advance(minutes=1)
    shop.marketplace.cancel_item(order, "MUG-01")
    versions.append(shop.marketplace.order(order))
    return order, versions


def land_in_order(path, versions: list[dict], arrival: list[int]) -> dict:
    """Land the versions one by one in the given order, transforming after each, and snapshot the tables."""
    con = connect(path)
    add_channel(con, "Amazon US", ["ATVPDKIKX0DER"], start="2025-01-01T00:00:00Z")
    for index in arrival:
        text = json.dumps(versions[index], sort_keys=True)
        con.execute(
            "insert into raw_amazon_orders (channel, amazon_order_id, last_updated_time, payload, payload_hash, fetched_at) "
            "values ('Amazon US', ?, ?, ?, md5(?), now()::timestamp)",
            [versions[index]["orderId"], versions[index]["lastUpdatedTime"], text, text],
        )
        transform(con)
    tables = {name: con.execute(sql).fetchall() for name, sql in CORE_SNAPSHOT.items() if name != "quarantine"}
    con.close()
    return tables


def test_an_older_version_never_overwrites_a_newer_one(shop, tmp_path):
    _, versions = order_versions(shop)
    newest_last = land_in_order(tmp_path / "a.duckdb", versions, [0, 1, 2])
    pending_last = land_in_order(tmp_path / "b.duckdb", versions, [2, 1, 0])
    assert pending_last == newest_last
    status = [row[4] for row in pending_last["orders"]]
    assert status == ["Unshipped"]


def test_versions_received_in_any_order_give_the_same_ledger(shop, tmp_path):
    _, versions = order_versions(shop)
    runs = [
        land_in_order(tmp_path / f"{n}.duckdb", versions, arrival)
        for n, arrival in enumerate([[0, 1, 2], [1, 0, 2], [2, 0, 1], [1, 2, 0]])
    ]
    assert all(run == runs[0] for run in runs)
    assert runs[0]["inventory"] == [("TEA-02", "warehouse", None, -1, 1)]  # on hand, and reserved by the open order


def test_a_rebuild_from_raw_equals_the_incremental_tables_and_keeps_local_ids(shop, tmp_path):
    shop.add_channel(marketplaces=("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"))
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,50", "TEA-02,Tea,3.00,50"))
    shop.marketplace.simulate(
        hours=3,
        orders_per_hour=40,
        skus=["MUG-01", "TEA-02", "NEW-9"],
        cancel_rate=0.1,
        item_cancel_rate=0.05,
        gift_rate=0.2,
        business_rate=0.2,
    )
    shop.sync()
    shipped = shop.one("select channel_order_id from orders where status = 'Unshipped' limit 1")
    shop.ok("ship", shipped)
    shop.marketplace.simulate(hours=2, orders_per_hour=40, skus=["MUG-01", "TEA-02", "NEW-9"], cancel_rate=0.1)
    shop.sync()
    incremental = snapshot(shop)
    assert len(incremental["orders"]) > 150
    shop.ok("rebuild")
    assert snapshot(shop) == incremental


def test_running_the_same_sync_twice_changes_nothing(shop):
    shop.add_channel()
    shop.marketplace.simulate(hours=2, orders_per_hour=30, skus=["MUG-01", "TEA-02"])
    shop.sync()
    first = snapshot(shop)
    movements = shop.one("select count(*) from inventory_movements")
    shop.ok("sync")
    assert snapshot(shop) == first
    assert shop.one("select count(*) from inventory_movements") == movements


def test_a_bad_catalog_is_refused_whole_with_its_line_number(shop, tmp_path):
    shop.add_channel()
    code, _, err = shop.run("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,cheap,5"))
    assert code == 1
    assert "line 3: list_price 'cheap' is not a number" in err
    assert shop.one("select count(*) from products") == 0


def test_a_bad_version_is_quarantined_with_its_reason_and_the_checks_say_so(shop):
    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance

    shop.add_channel()
    good = shop.place(Item("MUG-01", 1, "5.00"))
    bad = shop.marketplace.order(shop.place(Item("MUG-01", 1, "5.00")))
    shop.marketplace._orders.pop(bad["orderId"])
    bad["orderItems"][0]["quantityOrdered"] = -2
    shop.marketplace.put_raw(bad)
    shop.ok("sync")  # registers the channel partition
    shop.marketplace.advance(minutes=3)
    shop.ok("rebuild")
    result = defs.resolve_job_def("sync_job").execute_in_process(instance=get_instance(), partition_key="Amazon US")
    assert result.success
    assert shop.query("select channel_order_id from orders") == [(good,)]
    assert shop.query("select amazon_order_id, reason from quarantine") == [
        (bad["orderId"], "item 1: quantityOrdered '-2' is not a whole number of at least 1")
    ]
    assert shop.one("select count(*) from raw_amazon_orders where amazon_order_id = ?", [bad["orderId"]]) == 1
    evaluations = {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "matches_schema"
    }
    assert set(evaluations) == {
        "orders",
        "order_lines",
        "accounts",
        "contacts",
        "products",
        "inventory_movements",
        "inventory",
    }
    assert all(e.passed for e in evaluations.values())
    metadata = evaluations["orders"].metadata
    assert metadata["quarantined_versions"].value == 1 and metadata["rows_failed"].value == 0


def test_a_buyer_whose_email_changes_leaves_no_contact_or_account_behind(shop):
    """The old contact and account have no order left to serve: they go, so incremental equals rebuild and no
    stale name, email or address stays in the warehouse."""
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "5.00"), buyer=Buyer("Ada Lovelace", "ada.old@marketplace.amazon.com"))
    shop.marketplace.confirm(order)
    keeps = shop.place(Item("MUG-01", 1, "5.00"), buyer=Buyer("Alan Turing", "alan@marketplace.amazon.com"))
    shop.marketplace.confirm(keeps)
    shop.sync()
    changed = shop.marketplace.order(order)
    changed["buyer"]["buyerEmail"] = "ada.new@marketplace.amazon.com"
    shop.marketplace.advance(minutes=5)
    changed["lastUpdatedTime"] = shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.marketplace.put_raw(changed)
    shop.sync()
    assert sorted(e for (e,) in shop.query("select email from contacts")) == [
        "ada.new@marketplace.amazon.com",
        "alan@marketplace.amazon.com",
    ]
    assert shop.one("select count(*) from accounts where not is_placeholder") == 2
    incremental = snapshot(shop)
    shop.ok("rebuild")
    assert snapshot(shop) == incremental


# -- money, stock by location, order states (Amazon's model) ------------------------------------------
def test_simulated_orders_carry_every_kind_of_money_and_each_adds_up_to_amazons_total(shop):
    shop.add_channel(marketplaces=("ATVPDKIKX0DER", "A1AM78C64UM0Y8"))
    shop.marketplace.simulate(
        hours=24,
        orders_per_hour=40,
        skus=["MUG-01", "TEA-02", "PEN-03"],
        pending_rate=0,
        marketplaces=("ATVPDKIKX0DER", "A1AM78C64UM0Y8"),
        cod_rate=0.5,
        delivery_tip_rate=0.3,
    )
    shop.sync()
    totals = shop.one("""
        select count(*) filter (where shipping_amount > 0), count(*) filter (where tax_amount > 0),
               count(*) filter (where discount_amount < 0), count(*) filter (where other_amount > 0),
               count(*) filter (where unreconciled_amount <> 0), count(*) filter (where total_amount is not null)
        from orders""")
    shipping, tax, promotions, other, unreconciled, priced = totals
    assert priced > 300 and shipping > priced / 3 and tax > priced / 2 and promotions > 20 and other > 10
    assert unreconciled == 0
    # the lines add up to the order, category by category
    assert (
        shop.query("""
        select o.channel_order_id from orders o join order_lines l using (order_id)
        where o.total_amount is not null
        group by o.channel_order_id, o.shipping_amount, o.tax_amount, o.discount_amount
        having sum(l.shipping_amount) <> o.shipping_amount or sum(l.tax_amount) <> o.tax_amount
            or sum(l.discount_amount) <> o.discount_amount""")
        == []
    )


def test_a_version_whose_amounts_do_not_add_up_is_imported_flagged_and_counted_by_a_check(shop):
    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance

    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "10.00"))
    shop.marketplace.confirm(order)
    shop.ok("sync")
    odd = shop.marketplace.order(order)
    odd["proceeds"]["grandTotal"]["amount"] = "99.00"
    shop.marketplace.advance(minutes=1)
    odd["lastUpdatedTime"] = shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.marketplace.put_raw(odd)
    shop.marketplace.advance(minutes=3)
    result = defs.resolve_job_def("sync_job").execute_in_process(instance=get_instance(), partition_key="Amazon US")
    assert shop.one("select total_amount, unreconciled_amount from orders") == (Decimal("99.00"), Decimal("88.20"))
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "totals_reconcile"]
    assert not check.passed and check.metadata["unreconciled_orders"].value == 1
    assert order in check.metadata["orders"].value and "88.2" in check.metadata["orders"].value
    assert order in shop.ok("status")


def test_a_partial_shipment_then_a_cancellation_gives_back_only_what_had_not_shipped(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    order = shop.place(
        Item("MUG-01", 3, "12.50", gift_message="For you", gift_wrap_charge="2.00"), Item("TEA-02", 2, "3.00")
    )
    shop.marketplace.confirm(order)
    shop.marketplace.ship(order, "MUG-01", 2)
    shop.sync()
    assert shop.one("select status from orders") == "Partially Shipped"
    shop.marketplace.cancel(order)
    shop.sync()
    assert shop.one("select status from orders") == "Shipped"  # what shipped shipped; the rest was cancelled
    lines = shop.query(
        "select line_type, product_code, quantity, shipped_quantity, canceled_quantity "
        "from order_lines order by line_number"
    )
    # the wrap stays: its item shipped in part
    assert lines == [("product", "MUG-01", 3, 2, 1), ("gift_wrap", None, 1, 1, 0), ("product", "TEA-02", 2, 0, 2)]
    assert (on_hand(shop, "MUG-01"), on_hand(shop, "TEA-02")) == (8, 10)


def test_a_buyers_cancellation_request_shows_and_stops_a_shipment_until_forced(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "12.50"), Item("TEA-02", 1, "3.00"))
    shop.marketplace.confirm(order)
    shop.marketplace.request_cancel(order, "MUG-01", reason="Ordered by mistake")
    shop.sync()
    assert shop.one("select has_cancel_request from orders") is True
    assert shop.query("select product_code, cancel_request_reason from order_lines where has_cancel_request") == [
        ("MUG-01", "Ordered by mistake")
    ]
    assert "Orders the buyer asked to cancel" in shop.ok("status") and order in shop.ok("status")
    code, out, err = shop.run("ship", order)
    assert code == 1 and err.strip() == (
        f"amazon-orders: the buyer asked Amazon to cancel order {order} (Ordered by "
        "mistake); cancel it on Amazon, or ship anyway with --force"
    )
    assert shop.one("select count(*) from shipments") == 0
    shop.marketplace.cancel(order)  # Amazon carries it out: the ordinary cancellation rules apply
    shop.sync()
    assert shop.one("select status, has_cancel_request from orders") == ("Canceled", False)


def test_ship_force_ships_despite_a_request(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "12.50"))
    shop.marketplace.confirm(order)
    shop.marketplace.request_cancel(order)
    shop.sync()
    shop.ok("ship", order, "--force")
    assert shop.one("select is_shipped from orders") is True


def test_an_fba_order_books_at_amazons_stock_and_leaves_the_warehouse_alone(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(
        Item("MUG-01", 2, "12.50"), fulfilled_by="AMAZON", buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
    )
    shop.marketplace.confirm(order)
    shop.sync()
    # the sandbox's fulfilment centre had received a case of 24 for it: Amazon's count, less the order's 2
    assert shop.query("select location, channel, on_hand, reserved_quantity from inventory order by all") == [
        ("amazon_fba", "Amazon US", 22, 2),
        ("warehouse", None, 10, 0),
    ]
    # Amazon gives no email or phone for an FBA order's buyer: the contact holds what there is
    assert shop.one("select email, phone, full_name from contacts") == (None, None, "Ada Lovelace")
    code, _, err = shop.run("ship", order)
    assert code == 1 and "fulfilled by Amazon" in err


def test_another_channels_order_that_amazon_fulfils_is_kept_raw_and_counted_not_sold(shop):
    shop.add_channel()
    own = shop.place(Item("MUG-01", 1, "5.00"))
    other = shop.place(Item("MUG-01", 1, "5.00"), fulfilled_by="AMAZON", sales_channel="NON_AMAZON")
    shop.sync()
    assert shop.query("select channel_order_id from orders") == [(own,)]
    assert shop.one("select count(*) from raw_amazon_orders where amazon_order_id = ?", [other]) == 1
    assert "Other sales channels' orders (kept raw, not imported): 1" in shop.ok("status")
    assert shop.one("select count(*) from quarantine") == 0


def test_a_replacement_names_its_original_and_reserves_its_stock(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    original = shop.place(Item("MUG-01", 1, "12.50"), status="SHIPPED")
    replacement = shop.place(Item("MUG-01", 1, "0.00"), replaces=original, status="UNSHIPPED")
    shop.sync()
    assert shop.one(
        "select replaced_channel_order_id, replacement_type, total_amount from orders where channel_order_id = ?",
        [replacement],
    ) == (original, "REPLACEMENT", 0)
    assert on_hand(shop, "MUG-01") == 8


def test_an_order_amazon_cannot_fulfil_is_unfulfillable(shop):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "5.00"), fulfilled_by="AMAZON")
    shop.marketplace.confirm(order)
    shop.marketplace.unfulfillable(order)
    shop.sync()
    assert shop.one("select status from orders") == "Unfulfillable"


def test_a_detail_amazon_withdraws_later_does_not_blank_the_contact(shop):
    shop.add_channel()
    order = shop.place(
        Item("MUG-01", 1, "5.00"), buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com", phone="+1 206 555 0199")
    )
    shop.marketplace.confirm(order)
    shop.sync()
    later = shop.marketplace.order(order)
    del later["recipient"]["deliveryAddress"]["phone"]
    shop.marketplace.advance(minutes=5)
    later["lastUpdatedTime"] = shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.marketplace.put_raw(later)
    shop.sync()
    assert shop.one("select phone from contacts") == "+1 206 555 0199"
    incremental = snapshot(shop)
    shop.ok("rebuild")
    assert snapshot(shop) == incremental
