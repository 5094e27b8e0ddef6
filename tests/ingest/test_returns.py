"""Customer returns from Amazon's returns reports (Reports API 2021-06-30, through the real client over HTTP):
the report lifecycle, windows, CANCELLED and FATAL reports, returns counted once, a clerk's return matched,
each disposition's restock, quarantine, and the sandbox's rules."""

from __future__ import annotations

import gzip
import hashlib
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sp_api.base.exceptions import SellingApiBadRequestException

from pipelines.amazon import client as amazon
from pipelines.ingest.returns import FBA_RETURNS, MERCHANT_RETURNS, ReportFetcher, read_lines
from pipelines.sandbox import Buyer, Item, SandboxServer
from pipelines.sandbox.reports import DOCUMENTS_PATH, DOWNLOAD_PATH, REPORTS_PATH
from pipelines.sandbox.server import TOKEN_PATH
from pipelines.warehouse.channels import get_channel
from pipelines.warehouse.connection import connect

US = "ATVPDKIKX0DER"
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


def shipped_order(shop, sku="MUG-01", quantity=2, fulfilled_by="MERCHANT") -> str:
    order_id = shop.place(Item(sku, quantity, "12.50"), fulfilled_by=fulfilled_by, buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.marketplace.advance(hours=1)
    shop.marketplace.ship(order_id)
    shop.sync()
    return order_id


def import_returns(shop, *args) -> str:
    shop.marketplace.advance(minutes=3)  # a report's window ends two minutes before now
    return shop.ok("returns", "import", *args)


def stock(shop, location="warehouse", sku="MUG-01") -> int:
    return shop.one(
        "select coalesce(sum(quantity_delta), 0) from inventory_movements where location = ? and product_code = ?",
        [location, sku],
    )


def sales_returns(shop) -> list[tuple]:
    return shop.query(
        "select r.source, r.status, r.location, r.disposition, l.product_code, l.quantity, "
        "l.is_restocked from sales_returns r join sales_return_lines l using (return_id) order by all"
    )


def created_reports(server) -> list[dict]:
    return [r["params"] for r in server.requests if r["method"] == "POST" and r["path"] == REPORTS_PATH]


def test_a_report_is_created_polled_until_done_and_its_gzip_document_read(shop):
    shop.add_channel()
    order_id = shipped_order(shop, fulfilled_by="AMAZON")
    key = shop.marketplace.return_item(order_id, "MUG-01", disposition="SELLABLE")
    shop.marketplace.advance(minutes=3)
    with connect(shop.db, read_only=True) as con:
        channel = get_channel(con, "Amazon US")
    # Amazon's pace: the report is IN_QUEUE for 1 s and IN_PROGRESS for 2 s of the marketplace's time, which
    # only the fetcher's sleeps move (real time stands still for this server, however slow the machine)
    with SandboxServer(shop.marketplace, real_clock=lambda: 0.0) as amazon_pace:
        channel = channel.__class__(
            channel.name, channel.marketplace_ids, channel.start_at, amazon_pace.url, amazon_pace.token_url
        )
        slept = []

        def sleep(seconds):
            slept.append(seconds)
            shop.marketplace.advance(seconds=seconds)

        report = ReportFetcher(channel, sleep=sleep).fetch(
            FBA_RETURNS, channel.start_at, shop.marketplace.naive_now() - timedelta(minutes=2)
        )
        served = [(r["method"], r["path"].rsplit("/", 1)[0]) for r in amazon_pace.requests if r["path"] != TOKEN_PATH]
    assert report.status == "DONE"
    assert slept == [1.0, 2.0]  # polled at 0 s (IN_QUEUE), 1 s (IN_PROGRESS) and 3 s (DONE)
    assert served == [
        ("POST", "/reports/2021-06-30"),
        *[("GET", REPORTS_PATH)] * 3,
        ("GET", DOCUMENTS_PATH),
        ("GET", DOWNLOAD_PATH),
    ]
    lines = [line.split("\t") for _, line in read_lines(report.download, "utf-8", "strict", 10**6, hashlib.sha256())]
    rows = [dict(zip(lines[0], values)) for values in lines[1:]]
    assert report.download.compression == "GZIP"
    assert [(row["order-id"], row["license-plate-number"], row["detailed-disposition"]) for row in rows] == [
        (order_id, key, "SELLABLE")
    ]


def test_windows_of_at_most_30_days_walk_a_longer_span_and_a_second_run_changes_nothing(shop):
    start = shop.marketplace.now
    shop.add_channel(start=start)
    returned = []
    for _ in range(3):  # a return 10, 40 and 70 days after the channel's start
        order_id = shipped_order(shop)
        shop.marketplace.advance(days=10)
        returned.append((order_id, shop.marketplace.return_item(order_id, "MUG-01")))
        shop.marketplace.advance(days=20)
    out = import_returns(shop)
    assert "3 return(s) imported" in out
    windows = [(r["reportType"], r["dataStartTime"], r["dataEndTime"]) for r in created_reports(shop.sandbox)]
    for kind in (MERCHANT_RETURNS, FBA_RETURNS):
        mine = [(s, e) for t, s, e in windows if t == kind]
        assert mine[0][0] == start.strftime("%Y-%m-%dT%H:%M:%SZ") and len(mine) == 4  # 90 days and a bit
        assert all(a[1] == b[0] for a, b in zip(mine, mine[1:]))  # consecutive, no gap
        assert all(amazon_span(s, e) <= timedelta(days=30) for s, e in mine)
    assert sorted(shop.query("select channel_order_id, return_key from amazon_returns")) == sorted(returned)
    assert shop.one("select count(*) from sales_returns where source = 'amazon' and status = 'awaiting_receipt'") == 3

    tables = "select * exclude (imported_at) from amazon_returns order by all"
    before = (shop.query(tables), sales_returns(shop), shop.query("select * from inventory_movements order by all"))
    shop.marketplace.advance(hours=6)
    out = import_returns(shop)
    assert "0 return(s) imported" in out
    assert (
        shop.query(tables),
        sales_returns(shop),
        shop.query("select * from inventory_movements order by all"),
    ) == before


def amazon_span(start: str, end: str) -> timedelta:
    from pipelines.clock import parse_instant

    return parse_instant(end) - parse_instant(start)


def test_a_window_without_returns_is_cancelled_and_the_watermark_moves_on(shop):
    shop.add_channel()
    shop.marketplace.advance(days=2)
    out = import_returns(shop)
    assert "0 return(s) imported" in out
    assert shop.query("select report_type, processing_status, document from raw_report_documents order by all") == [
        (FBA_RETURNS, "CANCELLED", None),
        (MERCHANT_RETURNS, "CANCELLED", None),
    ]
    reached = shop.one("select min(reached_until) from returns_sync_state")
    assert reached == shop.marketplace.naive_now() - timedelta(minutes=2)


def test_a_fatal_report_ends_the_import_with_one_line_and_leaves_the_watermark(shop):
    shop.add_channel()
    order_id = shipped_order(shop)
    shop.marketplace.return_item(order_id, "MUG-01")
    shop.sandbox.reports.fatal_next = 1  # the first report, the merchant-fulfilled one
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("returns", "import")
    assert code == 1
    assert err.count("\n") == 1 and "ended FATAL at Amazon; the returns watermark stays" in err, err
    assert shop.query("select * from returns_sync_state") == []
    assert shop.one("select processing_status from raw_report_documents") == "FATAL"
    assert shop.one("select count(*) from sales_returns") == 0
    out = import_returns(shop)  # Amazon makes it this time
    assert "1 return(s) imported" in out
    assert shop.one("select count(*) from returns_sync_state") == 2


def test_overlapping_windows_and_a_return_listed_twice_count_once(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=3, fulfilled_by="AMAZON")
    key = shop.marketplace.return_item(order_id, "MUG-01", disposition="SELLABLE", relist_after=timedelta(days=2))
    import_returns(shop)
    shop.marketplace.advance(days=3)  # the second listing falls in the next import's window
    import_returns(shop, "--until", shop.marketplace.naive_now().isoformat())
    listings = shop.query(
        "select r.report_id from raw_report_rows r join raw_report_documents d using (report_id) "
        "where d.report_type = ? and r.fields ->> 'license-plate-number' = ?",
        [FBA_RETURNS, key],
    )
    assert len(listings) >= 2  # listed in two reports (the lookback re-reads the first listing, too)
    assert shop.one("select count(*) from amazon_returns") == 1
    assert sales_returns(shop) == [("amazon", "received", "amazon_fba", "SELLABLE", "MUG-01", 1, True)]


def test_each_fba_disposition_and_the_snapshot_agree_with_amazon(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=3, fulfilled_by="AMAZON")
    before = stock(shop, "amazon_fba")
    shop.marketplace.return_item(order_id, "MUG-01", disposition="SELLABLE")
    shop.marketplace.return_item(order_id, "MUG-01", disposition="CUSTOMER_DAMAGED")
    shop.marketplace.return_item(order_id, "MUG-01", disposition="DEFECTIVE")
    out = import_returns(shop)
    assert "3 return(s) imported" in out and "1 restocked at amazon_fba" in out
    assert sales_returns(shop) == [
        ("amazon", "received", "amazon_fba", "CUSTOMER_DAMAGED", "MUG-01", 1, False),
        ("amazon", "received", "amazon_fba", "DEFECTIVE", "MUG-01", 1, False),
        ("amazon", "received", "amazon_fba", "SELLABLE", "MUG-01", 1, True),
    ]
    assert stock(shop, "amazon_fba") == before + 1
    # Amazon's own count took the sellable unit back too: the next snapshot needs no adjustment for it
    adjustments = shop.one("select count(*) from inventory_movements where reason = 'adjustment'")
    shop.marketplace.touch(order_id)
    shop.sync()
    assert shop.one("select count(*) from inventory_movements where reason = 'adjustment'") == adjustments
    fulfillable = shop.marketplace.fba_inventory(US)[0]["inventoryDetails"]
    assert stock(shop, "amazon_fba") == fulfillable["fulfillableQuantity"]
    assert fulfillable["unfulfillableQuantity"]["totalUnfulfillableQuantity"] == 2


def test_a_merchant_fulfilled_return_awaits_receipt_until_received(shop):
    shop.add_channel()
    shop.ok("products", "import", str(catalog(shop, 10)))
    order_id = shipped_order(shop, quantity=2)
    shop.marketplace.return_item(order_id, "MUG-01", quantity=2)
    import_returns(shop)
    assert stock(shop) == 8  # nothing back yet: the parcel is on its way
    return_id = shop.one("select return_id from sales_returns where status = 'awaiting_receipt'")
    assert return_id in shop.ok("status") and "awaiting receipt" in shop.ok("status")
    out = shop.ok("returns", "receive", return_id)
    assert f"sales return {return_id} of order {order_id} received: 2 x MUG-01, back in stock" in out
    assert stock(shop) == 10
    code, _, err = shop.run("returns", "receive", return_id)
    assert code == 1 and "is not awaiting receipt: it was received on" in err
    assert stock(shop) == 10
    code, _, err = shop.run("returns", "receive", "RET-999999")
    assert code == 1 and "no sales return 'RET-999999'" in err


def test_a_damaged_parcel_is_received_without_restock(shop):
    shop.add_channel()
    order_id = shipped_order(shop)
    shop.marketplace.return_item(order_id, "MUG-01")
    import_returns(shop)
    before = stock(shop)
    return_id = shop.one("select return_id from sales_returns")
    assert "not restocked" in shop.ok("returns", "receive", return_id, "--no-restock")
    assert stock(shop) == before
    assert shop.one("select status, is_restocked from sales_returns join sales_return_lines using (return_id)") == (
        "received",
        False,
    )


def catalog(shop, on_hand):
    path = shop.db + ".catalog.csv"
    with open(path, "w") as file:
        file.write(f"product_code,product_name,list_price,on_hand\nMUG-01,Mug,12.50,{on_hand}\n")
    return path


def test_a_clerks_return_entered_before_is_matched_not_doubled(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=2)
    shop.ok("return", order_id, "--sku", "MUG-01", "--quantity", "1")
    after_clerk = stock(shop)
    shop.marketplace.return_item(order_id, "MUG-01")
    out = import_returns(shop)
    assert "1 return(s) imported (1 matched to a clerk's" in out
    assert shop.one("select count(*) from sales_returns") == 1
    assert shop.one("select is_matched, return_id from amazon_returns") == (True, "RET-000001")
    assert stock(shop) == after_clerk


def test_a_clerks_return_entered_after_confirms_amazons(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=2)
    shop.marketplace.return_item(order_id, "MUG-01")
    import_returns(shop)
    before = stock(shop)
    out = shop.ok("return", order_id, "--sku", "MUG-01", "--quantity", "1")
    assert "came from Amazon's returns report" in out
    assert shop.one("select count(*) from sales_returns") == 1
    assert shop.one("select status, confirmed_by_clerk from sales_returns") == ("received", True)
    assert stock(shop) == before + 1  # the clerk's entry received the parcel
    # the other unit can still be returned by hand, once
    assert "RET-000002" in shop.ok("return", order_id, "--sku", "MUG-01", "--quantity", "1")
    code, _, err = shop.run("return", order_id, "--sku", "MUG-01", "--quantity", "1")
    assert code == 1 and "2 already returned" in err


def test_a_return_the_warehouse_does_not_hold_is_quarantined_then_retried(shop):
    early = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)  # before the channel's start: never imported
    shop.marketplace.confirm(early)
    shop.marketplace.ship(early)
    shop.marketplace.advance(minutes=5)
    shop.add_channel()
    shop.marketplace.return_item(early, "MUG-01")
    order_id = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)  # shipped, returned, but not synced yet
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id)
    shop.marketplace.return_item(order_id, "MUG-01")
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("returns", "import")
    # nothing of the run could be imported: it says so and fails, rather than "0 imported" and success
    assert code == 1 and err.strip().endswith(
        "amazon-orders: Amazon US: no return imported, 2 row(s) quarantined "
        "(amazon-orders status lists them with their reasons)"
    )
    assert sorted(shop.query("select reason from returns_quarantine")) == sorted(
        [(f"order {early} is not in the warehouse",), (f"order {order_id} is not in the warehouse",)]
    )
    shop.sync()
    out = import_returns(shop)
    assert "1 return(s) imported" in out and "1 quarantined" in out
    assert shop.one("select reason from returns_quarantine") == f"order {early} is not in the warehouse"
    assert shop.one("select channel_order_id from amazon_returns") == order_id


def test_an_unreadable_row_is_quarantined_with_its_line_while_the_rest_imports(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=2)
    shop.marketplace.return_item(order_id, "MUG-01")
    shop.marketplace.return_item(order_id, "MUG-01")
    mangle = shop.marketplace.returns_report

    def with_a_bad_quantity(report_type, *args):
        rows = mangle(report_type, *args)
        if report_type == MERCHANT_RETURNS and len(rows) > 2:
            rows[2][rows[0].index("Return quantity")] = "two"
        return rows

    shop.marketplace.returns_report = with_a_bad_quantity
    out = import_returns(shop)
    assert "1 return(s) imported" in out
    assert shop.one("select line_number, reason from returns_quarantine") == (
        3,
        "line 3: Return quantity 'two' is not a positive whole number",
    )
    assert shop.one("select count(*) from raw_report_rows") == 2  # both rows kept as sent


def test_the_sandbox_refuses_what_the_model_forbids(shop):
    shop.add_channel()
    with connect(shop.db, read_only=True) as con:
        client = amazon.reports_client(get_channel(con, "Amazon US"))
    now = shop.marketplace.naive_now()
    iso = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731 - a one-line helper of this test

    def create(**spec):
        body = {"reportType": FBA_RETURNS, "marketplaceIds": [US], **spec}
        try:
            return client.create_report(**{k: v for k, v in body.items() if v is not None}).payload["reportId"]
        except SellingApiBadRequestException as error:
            return error.amzn_code

    assert create().isdigit()
    assert [
        create(reportType=None),  # "required": ["marketplaceIds", "reportType"]
        create(marketplaceIds=[]),  # minItems 1
        create(marketplaceIds=[US] * 26),  # maxItems 25
        create(marketplaceIds=["NOT-A-MARKETPLACE"]),
        create(reportType="GET_SOMETHING_ELSE"),
        create(dataEndTime=iso(now + timedelta(hours=1))),  # "must be prior to or equal to the current date and time"
        create(dataStartTime=iso(now - timedelta(days=31)), dataEndTime=iso(now)),  # about 30 days a report
        create(dataStartTime=iso(now), dataEndTime=iso(now - timedelta(days=1))),
    ] == ["InvalidInput"] * 8


def test_a_document_url_expires_after_five_minutes(shop, tmp_path):
    shop.add_channel()
    order_id = shipped_order(shop)
    shop.marketplace.return_item(order_id, "MUG-01")
    shop.marketplace.advance(minutes=3)
    with connect(shop.db, read_only=True) as con:
        client = amazon.reports_client(get_channel(con, "Amazon US"))
    now = shop.marketplace.naive_now()
    report_id = amazon.create_report(
        client, MERCHANT_RETURNS, [US], (now - timedelta(days=1)).isoformat() + "Z", now.isoformat() + "Z"
    )
    document_id = amazon.get_report(client, report_id)["reportDocumentId"]
    url = client.get_report_document(document_id).payload["url"]
    assert gzip.decompress(httpx.get(url).content).decode().startswith("Order ID\t")
    shop.marketplace.advance(minutes=6)
    assert httpx.get(url).status_code == 403
    # the client asks for the document again whenever it downloads: a fresh URL
    fresh = amazon.download_report_document(client, document_id, str(tmp_path / "document"), 10**6)
    assert gzip.decompress(Path(fresh.path).read_bytes()).decode().count(order_id) == 1


RETURNS_TABLES = {
    "amazon_returns": "select * exclude (report_id, line_number, imported_at) from amazon_returns order by all",
    "sales_returns": "select * exclude (received_at) from sales_returns order by all",
    "sales_return_lines": "select * from sales_return_lines order by all",
    "movements": "select product_code, order_id, quantity_delta, reason, location, channel "
    "from inventory_movements order by all",
    "returns_sync_state": "select * from returns_sync_state order by all",
}


def returns_tables(db) -> dict[str, list[tuple]]:
    with connect(db, read_only=True) as con:
        return {table: con.execute(query).fetchall() for table, query in RETURNS_TABLES.items()}


@pytest.mark.slow
def test_sigkill_during_a_returns_import_loses_and_doubles_nothing(tmp_path, marketplace, monkeypatch):
    """`amazon-orders returns import` over five months of returns, SIGKILLed three times at random points
    (a report takes about 0.3 s), then run to completion: the same returns, stock and watermarks as an
    import never interrupted."""
    import random
    import shutil
    import signal
    import subprocess
    import time

    from conftest import AMAZON_ORDERS, cli_add_channel, cli_ok, live_in_sandbox_time

    rng = random.Random(3)
    with SandboxServer(marketplace, speedup=5000, report_seconds=(500.0, 1000.0)) as server:
        live_in_sandbox_time(monkeypatch, server)
        crashed = tmp_path / "crashed.duckdb"
        cli_add_channel(crashed, server, marketplace.now)
        orders = []
        for n in range(30):
            marketplace.advance(minutes=1)
            orders.append(
                (
                    marketplace.place_order(
                        [Item(f"SKU-{n % 4}", 2, "9.00")],
                        buyer=ADA,
                        fulfilled_by="AMAZON" if n % 3 == 0 else "MERCHANT",
                    ),
                    f"SKU-{n % 4}",
                )
            )
            marketplace.confirm(orders[-1][0])
            marketplace.ship(orders[-1][0])
        marketplace.advance(minutes=3)
        cli_ok(crashed, "sync")
        for order_id, sku in orders:  # returns over 150 days, some listed twice
            marketplace.advance(days=5)
            marketplace.return_item(
                order_id,
                sku,
                disposition=rng.choice(["SELLABLE", "DAMAGED"]),
                relist_after=timedelta(days=6) if rng.random() < 0.3 else None,
            )
        marketplace.advance(days=1)
        reference = tmp_path / "reference.duckdb"
        shutil.copy(crashed, reference)
        kills = 0
        for _ in range(6):
            process = subprocess.Popen(
                [AMAZON_ORDERS, "--db", str(crashed), "returns", "import"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for line in process.stdout:  # aim after the first report has landed
                if "return(s) imported" in line:
                    break
            time.sleep(rng.uniform(0, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=120)
            process.stdout.close()
            if kills == 3:
                break
        assert kills == 3, "the imports finished before they could be killed"
        cli_ok(crashed, "returns", "import")
        cli_ok(reference, "returns", "import")
    got, expected = returns_tables(crashed), returns_tables(reference)
    assert len(expected["amazon_returns"]) == 30
    assert got == expected


def test_a_sellable_fba_return_amazon_counted_before_the_import_counts_once(shop):
    shop.add_channel()
    order_id = shipped_order(shop, quantity=3, fulfilled_by="AMAZON")
    shop.marketplace.return_item(order_id, "MUG-01", disposition="SELLABLE")
    shop.marketplace.touch(order_id)
    shop.sync()  # Amazon's count already has the unit back
    amazons = shop.marketplace.fba_inventory(US)[0]["inventoryDetails"]["fulfillableQuantity"]
    assert stock(shop, "amazon_fba") == amazons
    import_returns(shop)
    assert stock(shop, "amazon_fba") == amazons
    reasons = shop.query(
        "select reason, sum(quantity_delta) from inventory_movements where location = 'amazon_fba' "
        "group by all order by all"
    )
    assert ("return", 1) in reasons  # the ledger says what happened: a return, not only an adjustment
