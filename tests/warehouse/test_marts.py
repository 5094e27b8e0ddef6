"""The marts (sql/marts/): rows in, rows out for each, on a real warehouse file; then the demo's numbers, checked
against what the test computes by hand from Amazon's order JSON."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pipelines.warehouse.connection import connect
from pipelines.warehouse.marts import build_marts, marts

US, UK = "ATVPDKIKX0DER", "A1F83G8C2ARO7P"
AS_OF = datetime(2026, 3, 12, 12, 0)
D = Decimal


def order(
    con,
    order_id,
    status,
    purchased_at,
    *,
    marketplace=US,
    currency="USD",
    total=None,
    fulfilled_by="MERCHANT",
    shipped_at=None,
    ingest_id=0,
    marketplace_name=None,
):
    con.execute(
        "insert into orders (order_id, channel, channel_order_id, marketplace_id, marketplace_name, status, "
        "payment_status, account_id, fulfilled_by, currency, total_amount, purchased_at, amazon_updated_at, is_shipped, "
        "is_business, source_ingest_id, shipped_at) values (?, 'Amazon', ?, ?, ?, ?, ?, 'ACC-1', ?, ?, ?, ?, ?, false, "
        "false, ?, ?)",
        [
            order_id,
            order_id.replace("SO-", "111-"),
            marketplace,
            marketplace_name or {US: "Amazon.com", UK: "Amazon.co.uk"}[marketplace],
            status,
            "Unpaid" if currency is None else "Paid",
            fulfilled_by,
            currency,
            total,
            purchased_at,
            purchased_at,
            ingest_id,
            shipped_at,
        ],
    )


def line(con, order_id, number, sku, quantity, unit_price, *, canceled=0, shipping=0, tax=0, discount=0):
    amount = None if unit_price is None else D(unit_price) * quantity
    net = None if unit_price is None else D(unit_price) * (quantity - canceled)
    con.execute(
        "insert into order_lines (order_id, line_number, line_type, product_id, product_code, quantity, canceled_quantity, "
        "unit_price, line_amount, shipping_amount, tax_amount, discount_amount, net_line_amount) "
        "values (?, ?, 'product', 'PRD-' || ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [order_id, number, sku, sku, quantity, canceled, unit_price, amount, shipping, tax, discount, net],
    )


def returned(con, return_id, order_id, sku, quantity):
    con.execute(
        "insert into sales_returns (return_id, order_id, created_at) values (?, ?, ?)", [return_id, order_id, AS_OF]
    )
    con.execute("insert into sales_return_lines values (?, 1, ?, ?, true)", [return_id, sku, quantity])


def raw(con, ingest_id, payload):
    con.execute(
        "insert into raw_amazon_orders (ingest_id, channel, amazon_order_id, payload, payload_hash, fetched_at) "
        "values (?, 'Amazon', 'x', ?, 'h', ?)",
        [ingest_id, json.dumps(payload), AS_OF],
    )


@pytest.fixture
def warehouse(db):
    """Rows in: a shipped order with a return, a cancelled one, one cancelled in part (all placed on 9 March,
    Pacific time), one on Amazon.co.uk, one pending and one pre-order."""
    con = connect(db)
    # 06:00 UTC on 10 March is 23:00 on 9 March in Los Angeles (daylight saving time began on 8 March)
    order(
        con,
        "SO-A",
        "Shipped",
        datetime(2026, 3, 10, 6),
        total=D("30.00"),
        shipped_at=datetime(2026, 3, 10, 20),
        ingest_id=1,
    )
    line(con, "SO-A", 1, "MUG-01", 2, "10.00", shipping=D("5.00"), tax=D("5.00"))
    returned(con, "RET-1", "SO-A", "MUG-01", 1)
    raw(
        con,
        1,
        {
            "fulfillment": {"shipByWindow": {"latestDateTime": "2026-03-10T10:00:00Z"}},
            "packages": [{"packageReferenceId": "P1", "shipTime": "2026-03-10T20:00:00Z"}],
        },
    )
    order(con, "SO-B", "Canceled", datetime(2026, 3, 9, 20), total=D("24.00"), ingest_id=2)
    line(con, "SO-B", 1, "PEN-03", 1, "24.00", canceled=1)
    order(con, "SO-C", "Unshipped", datetime(2026, 3, 9, 20), total=D("37.40"), ingest_id=3)
    line(con, "SO-C", 1, "MUG-01", 1, "10.00", tax=D("1.00"))
    line(con, "SO-C", 2, "PEN-03", 1, "24.00", canceled=1, tax=D("2.40"))
    raw(con, 3, {"fulfillment": {"shipByWindow": {"latestDateTime": "2026-03-11T20:00:00Z"}}})
    # 23:30 UTC is 23:30 in London in March
    order(
        con,
        "SO-D",
        "Shipped",
        datetime(2026, 3, 9, 23, 30),
        marketplace=UK,
        currency="GBP",
        total=D("12.00"),
        shipped_at=datetime(2026, 3, 10, 11, 30),
        ingest_id=4,
    )
    line(con, "SO-D", 1, "TEA-02", 1, "10.00", tax=D("2.00"))
    con.execute("insert into shipments values ('SHP-D', 'SO-D', ?)", [datetime(2026, 3, 10, 11, 30)])
    order(con, "SO-E", "Pending", datetime(2026, 3, 11), currency=None, ingest_id=5)
    line(con, "SO-E", 1, "MUG-01", 3, None)
    order(con, "SO-F", "Pending Availability", datetime(2026, 3, 12, 11, 30), currency=None, ingest_id=6)
    line(con, "SO-F", 1, "LAMP-99", 1, None)
    build_marts(con, AS_OF)
    yield con
    con.close()


def rows(con, mart: str) -> list[tuple]:
    return con.execute(f"select * from {mart} order by all").fetchall()


def test_daily_sales_are_net_of_cancellations_and_refunds_by_the_marketplaces_day(warehouse):
    assert rows(warehouse, "daily_sales") == [
        # A and C sold, B cancelled whole; C's pen cancelled (26.40 with its tax); one of A's mugs returned (15.00
        # of its 30.00: half its price, shipping and tax)
        (
            "Amazon",
            UK,
            "Amazon.co.uk",
            "GBP",
            date(2026, 3, 9),
            1,
            0,
            1,
            0,
            D("12.00"),
            D("0.00"),
            D("0.00"),
            D("12.00"),
        ),
        (
            "Amazon",
            US,
            "Amazon.com",
            "USD",
            date(2026, 3, 9),
            2,
            1,
            3,
            1,
            D("91.40"),
            D("50.40"),
            D("15.00"),
            D("26.00"),
        ),
    ]


def test_sku_performance_counts_units_sold_and_returned_per_month(warehouse):
    assert rows(warehouse, "sku_performance") == [
        (date(2026, 3, 1), "MUG-01", "MUG-01", "USD", 2, 3, 1, 0.3333, D("30.00"), D("10.00"), D("20.00")),
        (date(2026, 3, 1), "PEN-03", "PEN-03", "USD", 0, 0, 0, None, D("0.00"), D("0.00"), D("0.00")),
        (date(2026, 3, 1), "TEA-02", "TEA-02", "GBP", 1, 1, 0, 0.0, D("10.00"), D("0.00"), D("10.00")),
    ]


def test_fulfilment_tells_who_shipped_how_fast_and_whether_late(warehouse):
    got = {row[0]: row[5:] for row in rows(warehouse, "order_fulfilment")}
    assert got == {
        # status, purchased, latest ship, shipped, by, hours, late, overdue
        "SO-A": (
            "Shipped",
            datetime(2026, 3, 10, 6),
            datetime(2026, 3, 10, 10),
            datetime(2026, 3, 10, 20),
            "amazon package",
            14.0,
            True,
            False,
        ),
        "SO-B": ("Canceled", datetime(2026, 3, 9, 20), None, None, None, None, None, False),
        "SO-C": ("Unshipped", datetime(2026, 3, 9, 20), datetime(2026, 3, 11, 20), None, None, None, None, True),
        "SO-D": (
            "Shipped",
            datetime(2026, 3, 9, 23, 30),
            None,
            datetime(2026, 3, 10, 11, 30),
            "marked here",
            12.0,
            None,
            False,
        ),
    }


def test_pending_orders_are_banded_by_age_at_the_time_the_marts_are_built(warehouse):
    assert rows(warehouse, "pending_orders_by_age") == [
        ("Amazon", "Amazon.com", "Pending", "1 to 3 days", 1, 3, datetime(2026, 3, 11)),
        ("Amazon", "Amazon.com", "Pending Availability", "under 1 hour", 1, 1, datetime(2026, 3, 12, 11, 30)),
    ]


def test_every_mart_and_column_is_described_in_the_warehouse(warehouse):
    for mart in marts():
        columns = [
            name
            for (name,) in warehouse.execute(
                "select column_name from duckdb_columns() where table_name = ? order by column_index", [mart.name]
            ).fetchall()
        ]
        assert [name for name, _ in mart.columns] == columns, mart.name
        assert warehouse.execute(
            "select count(*) from duckdb_columns() where table_name = ? and comment is null", [mart.name]
        ).fetchall() == [(0,)]
        assert mart.description


def test_building_the_marts_twice_changes_nothing(warehouse):
    before = {mart.name: rows(warehouse, mart.name) for mart in marts()}
    build_marts(warehouse, AS_OF)
    assert {mart.name: rows(warehouse, mart.name) for mart in marts()} == before


# -- the demo's numbers, by hand ------------------------------------------------------------------------------------


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _item_total(item: dict) -> Decimal:
    """What an item cost the buyer: the sum of its proceeds (price, shipping, gift wrap, tax, promotions)."""
    return sum((D(b["subtotal"]["amount"]) for b in item.get("proceeds", {}).get("breakdowns", [])), D(0))


def test_the_demos_marts_match_what_its_orders_json_says(demo_made):
    db, output = demo_made
    con = connect(db, read_only=True)
    try:
        versions = con.execute("select amazon_order_id, ingest_id, payload from raw_amazon_orders").fetchall()
        returns = con.execute(
            "select o.channel_order_id, l.product_code, sum(l.quantity) from sales_returns r "
            "join sales_return_lines l using (return_id) join orders o using (order_id) "
            "group by all"
        ).fetchall()
        shipments = dict(
            con.execute(
                "select o.channel_order_id, s.shipped_at from shipments s join orders o using (order_id)"
            ).fetchall()
        )
        daily = con.execute(
            "select sales_date, orders, canceled_orders, units_sold, units_refunded, gross_sales_amount, "
            "canceled_amount, refunded_amount, net_sales_amount from daily_sales"
        ).fetchall()
        skus = {
            row[0]: row[1:]
            for row in con.execute(
                "select product_code, units_sold, units_returned, revenue_amount, refunded_amount from sku_performance"
            ).fetchall()
        }
        fulfilment = {
            row[0]: row[1:]
            for row in con.execute(
                "select channel_order_id, shipped_at, latest_ship_at, hours_to_ship, is_shipped_late from order_fulfilment"
            ).fetchall()
        }
    finally:
        con.close()

    # every order as its newest version shows it, and when Amazon first said it shipped
    newest, first_shipped = {}, {}
    for amazon_order_id, ingest_id, payload in sorted(versions, key=lambda v: v[1]):
        doc = json.loads(payload)
        key = (doc["lastUpdatedTime"], ingest_id)
        if amazon_order_id not in newest or key > newest[amazon_order_id][0]:
            newest[amazon_order_id] = (key, doc)
        if doc["fulfillment"]["fulfillmentStatus"] in ("SHIPPED", "PARTIALLY_SHIPPED"):
            moment = _time(doc["lastUpdatedTime"])
            first_shipped[amazon_order_id] = min(moment, first_shipped.get(amazon_order_id, moment))
    refunded_units = {(order_id, sku): units for order_id, sku, units in returns}

    pacific = ZoneInfo("America/Los_Angeles")  # Amazon.com's day
    day = defaultdict(lambda: defaultdict(Decimal))
    sku = defaultdict(lambda: defaultdict(Decimal))
    for order_id, (_, doc) in newest.items():
        if "grandTotal" not in doc.get("proceeds", {}):
            continue  # pending: no prices yet
        sold_on = datetime.fromisoformat(doc["createdTime"].replace("Z", "+00:00")).astimezone(pacific).date()
        totals = day[sold_on]
        cancelled_whole = doc["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
        totals["orders" if not cancelled_whole else "canceled_orders"] += 1
        totals["gross"] += D(doc["proceeds"]["grandTotal"]["amount"])
        if cancelled_whole:
            totals["canceled"] += D(doc["proceeds"]["grandTotal"]["amount"])
        for item in doc["orderItems"]:
            ordered = int(item["quantityOrdered"])
            shipped = int(item.get("fulfillment", {}).get("quantityFulfilled", 0) or 0)
            cancelled = (
                ordered - shipped if cancelled_whole or "cancellationExecution" in item.get("cancellation", {}) else 0
            )
            sold = ordered - cancelled
            back = min(refunded_units.get((order_id, item["product"]["sellerSku"]), 0), sold)
            totals["units_sold"] += sold
            totals["units_refunded"] += back
            if not cancelled_whole:
                totals["canceled"] += (_item_total(item) * cancelled / ordered).quantize(D("0.01"))
            totals["refunded"] += (_item_total(item) * back / ordered).quantize(D("0.01"))
            price = D(item["product"]["price"]["unitPrice"]["amount"])
            per_sku = sku[item["product"]["sellerSku"]]
            per_sku["sold"] += sold
            per_sku["returned"] += back
            per_sku["revenue"] += price * sold
            per_sku["refunded"] += price * back
    expected_daily = sorted(
        (
            when,
            t["orders"],
            t["canceled_orders"],
            t["units_sold"],
            t["units_refunded"],
            t["gross"],
            t["canceled"],
            t["refunded"],
            t["gross"] - t["canceled"] - t["refunded"],
        )
        for when, t in day.items()
    )
    assert sorted(daily) == expected_daily
    # the issue's own figures: sum(total_amount) is 271.06, 193.30 of it not cancelled
    assert sum(row[5] for row in daily) == D("271.06")
    assert sum(row[5] - row[6] for row in daily) == D("193.30")
    assert skus == {code: (s["sold"], s["returned"], s["revenue"], s["refunded"]) for code, s in sku.items()}

    for order_id, (_, doc) in newest.items():
        if doc["fulfillment"]["fulfillmentStatus"] in ("PENDING", "PENDING_AVAILABILITY"):
            assert order_id not in fulfilment
            continue
        packages = [_time(p["shipTime"]) for p in doc.get("packages", []) if "shipTime" in p]
        shipped_at = min(packages) if packages else first_shipped.get(order_id) or shipments.get(order_id)
        latest = _time(doc["fulfillment"]["shipByWindow"]["latestDateTime"])
        purchased = _time(doc["createdTime"])
        hours = None if shipped_at is None else round((shipped_at - purchased) / timedelta(hours=1), 1)
        assert fulfilment[order_id] == (shipped_at, latest, hours, None if shipped_at is None else shipped_at > latest)
    assert sum(1 for values in fulfilment.values() if values[0] is not None) >= 3  # FBA, on Amazon, marked here


def test_the_demo_ends_with_the_charts_file_name(demo_made):
    db, output = demo_made
    last = output.strip().splitlines()[-1]
    chart = db.with_name("demo.daily-sales.svg")
    assert last.endswith(str(chart))
    svg = chart.read_text()
    assert svg.startswith("<svg") and "Amazon.com (USD)" in svg
