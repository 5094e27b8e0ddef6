"""Stock pushed back to Amazon (issue #26), through the real python-amazon-sp-api client over HTTP against the
sandbox's Listings Items API: the listings found, one merge patch with DEFAULT per changed SKU, nothing sent when
unchanged, FBA never sent, INVALID kept and shown, a 429 storm paced, a pooled EU quantity counted once, a sale on
one channel lowering the other's listing, and a SIGKILL mid-push converging on the next push."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import ROOT

from pipelines.outbound.stock import push_stock
from pipelines.sandbox import Buyer, Item, SandboxServer
from pipelines.sandbox.marketplace import OrderRefused
from pipelines.warehouse.channels import get_channel
from pipelines.warehouse.connection import open_for_writing

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
DE, FR = "A1PA6795UKMFR9", "A13V1IB3VIYZZH"
SELLER = "A3TH9S8BH6GOGM"
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
AMAZON_ORDERS = str(ROOT / ".venv" / "bin" / "amazon-orders")


def catalog(shop, tmp_path, rows: dict[str, int]) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "product_code,product_name,list_price,on_hand\n"
        + "".join(f"{sku},{sku} name,9.99,{units}\n" for sku, units in rows.items())
    )
    shop.ok("products", "import", str(path))


def seller_channel(shop, name="Amazon US", marketplaces=(US,)) -> None:
    shop.add_channel(name, marketplaces=marketplaces)
    shop.ok("channel", "set", name, "--seller-id", SELLER)


def listed_and_pushed(shop, tmp_path, on_hand: dict[str, int]) -> None:
    """Each SKU listed on Amazon at 0 and counted `on_hand` here, the seller's channel added, and a first push."""
    for sku in on_hand:
        shop.sandbox.listings.list_item(sku, 0)
    catalog(shop, tmp_path, on_hand)
    seller_channel(shop)
    shop.ok("stock", "push")


def listed_on_two_channels(shop, tmp_path, sku: str, on_hand: int) -> None:
    """The SKU listed at 0 in the US and in Canada, each marketplace a channel of the seller's, `on_hand` here."""
    for marketplace_id in (US, CA):
        shop.sandbox.listings.list_item(sku, 0, marketplace_id=marketplace_id)
    catalog(shop, tmp_path, {sku: on_hand})
    seller_channel(shop, "Amazon US", (US,))
    seller_channel(shop, "Amazon CA", (CA,))


def patches(shop, since: int = 0) -> list[dict]:
    return shop.sandbox.listings.patches[since:]


def pushes(shop) -> list[tuple]:
    return shop.query(
        "select channel, pool, seller_sku, quantity, status from stock_pushes order by pushed_at, seller_sku"
    )


def listed(shop, sku, marketplace=US) -> int | None:
    return shop.sandbox.listings.quantity(sku, marketplace)


def test_listed_skus_get_one_merge_patch_each_with_default_and_nothing_when_unchanged(shop, tmp_path):
    listings = shop.sandbox.listings
    listings.list_item("MUG-01", 0, handling_days=3)
    listings.list_item("CUP-02", 0)
    listings.list_item("FBA-03", 40, fulfillment_channel_code="AMAZON_NA")
    listings.list_item("OTHER-09", 7)  # a listing of something the catalog does not hold: left alone
    catalog(shop, tmp_path, {"MUG-01": 10, "CUP-02": 5, "FBA-03": 8, "SHELF-04": 3})
    seller_channel(shop)

    out = shop.ok("stock", "push", "--channel", "Amazon US")
    assert "2 pushed" in out
    # the listings found on Amazon: merchant-fulfilled or not, with what they showed
    assert shop.query("select seller_sku, is_merchant_fulfilled, listed_quantity from amazon_listings order by 1") == [
        ("CUP-02", True, 0),
        ("FBA-03", False, None),
        ("MUG-01", True, 0),
        ("OTHER-09", True, 7),
    ]
    sent = patches(shop)
    assert sorted(p["sku"] for p in sent) == ["CUP-02", "MUG-01"]  # one each; FBA-03 and OTHER-09 never
    for patch in sent:
        assert patch["status"] == "ACCEPTED" and patch["marketplaceIds"] == [US]
        assert patch["body"]["patches"] == [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [
                    {"fulfillment_channel_code": "DEFAULT", "quantity": {"MUG-01": 10, "CUP-02": 5}[patch["sku"]]}
                ],
            }
        ]
    shop.marketplace.advance(seconds=5)  # Amazon applies what it accepted
    assert (listed(shop, "MUG-01"), listed(shop, "CUP-02"), listed(shop, "OTHER-09")) == (10, 5, 7)
    # merge kept the handling time; the FBA listing has its one entry, never a DEFAULT beside it
    assert listings.entries("MUG-01") == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 10, "lead_time_to_ship_max_days": 3}
    ]
    assert listings.entries("FBA-03") == [{"fulfillment_channel_code": "AMAZON_NA", "quantity": 40}]
    assert shop.query("select submission_id is not null from stock_pushes") == [(True,), (True,)]

    # nothing moved: nothing sent
    shop.ok("stock", "push")
    assert len(patches(shop)) == 2

    # a merchant order for 2 mugs: Amazon lowers its listing, the sync books the order and pushes the mug once
    shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    assert listed(shop, "MUG-01") == 8
    out = shop.sync()
    assert "Amazon US: stock 1 pushed" in out
    assert [(p["sku"], p["body"]["patches"][0]["value"][0]["quantity"]) for p in patches(shop, 2)] == [("MUG-01", 8)]
    table = shop.ok("stock", "show", "--sku", "MUG-01")
    assert table.splitlines()[2].split()[:8] == ["Amazon", "US", "MUG-01", "10", "2", "8", "ATVPDKIKX0DER", "True"]
    assert shop.query("select count(*) from stock_marks") == [(0,)]
    # the order's SKUs on the listings: available here, as Amazon listed it when last read (before the push), pushed
    order = shop.ok("order", "show", shop.one("select channel_order_id from orders"))
    assert "Its SKUs on each channel's Amazon listings" in order
    assert [line.split()[:8] for line in order.splitlines() if line.startswith("Amazon US") and "MUG-01" in line] == [
        ["Amazon", "US", "MUG-01", "8", "ATVPDKIKX0DER", "0", "8", "ACCEPTED"]
    ]


def test_a_buffer_holds_units_back_and_is_pushed(shop, tmp_path):
    shop.sandbox.listings.list_item("MUG-01", 0)
    shop.sandbox.listings.list_item("CUP-02", 0)
    catalog(shop, tmp_path, {"MUG-01": 20, "CUP-02": 3})
    seller_channel(shop)
    shop.ok("stock", "buffer", "Amazon US", "--units", "1", "--percent", "10")  # 20 - 1 - 2 = 17; 3 - 1 - 1 = 1
    shop.ok("stock", "buffer", "Amazon US", "--sku", "MUG-01", "--max-listed", "12")
    shop.ok("stock", "push")
    assert {p["sku"]: p["body"]["patches"][0]["value"][0]["quantity"] for p in patches(shop)} == {
        "MUG-01": 12,
        "CUP-02": 1,
    }
    shop.ok("stock", "buffer", "Amazon US", "--units", "5")  # never below 0; the mug still at its maximum
    shop.ok("stock", "push")
    assert [(p["sku"], p["body"]["patches"][0]["value"][0]["quantity"]) for p in patches(shop, 2)] == [("CUP-02", 0)]
    code, _, err = shop.run("stock", "buffer", "Amazon US", "--percent", "150")
    assert code == 1 and err.strip() == "amazon-orders: --percent 150 is not between 0 and 100"
    code, _, err = shop.run("stock", "buffer", "Amazon US", "--sku", "NOPE", "--units", "1")
    assert code == 1 and "not a catalog product" in err


def test_a_channel_without_seller_id_pushes_nothing_and_says_so(shop, tmp_path):
    shop.sandbox.listings.list_item("MUG-01", 0)
    catalog(shop, tmp_path, {"MUG-01": 4})
    shop.add_channel()
    code, out, err = shop.run("stock", "push", "--channel", "Amazon US")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "has no seller id" in err and "channel set" in err
    assert "Stock is NOT pushed to Amazon for 'Amazon US'" in shop.ok("status")
    shop.sync()  # syncs as before, and sends nothing
    assert patches(shop) == [] and not [r for r in shop.sandbox.requests if r["path"].startswith("/listings/")]
    code, _, err = shop.run("channel", "set", "Amazon US", "--seller-id", "not a token")
    assert code == 1 and "is not a seller id" in err


def test_invalid_is_kept_per_sku_with_its_issues_and_shown(shop, tmp_path):
    listings = shop.sandbox.listings
    listed_and_pushed(shop, tmp_path, {"MUG-01": 6, "CUP-02": 2})
    # the seller closes the cup's listing on Amazon; the push still knows it from its hour-old read
    listings.delist("CUP-02")
    shop.place(Item("CUP-02", 1, "5.00"), buyer=ADA, fulfilled_by="AMAZON")  # not from the warehouse
    catalog(shop, tmp_path, {"MUG-01": 6, "CUP-02": 1})  # a recount
    out = shop.ok("stock", "push")
    assert "1 INVALID" in out
    assert shop.query(
        "select seller_sku, quantity, status, issues->>'$[0].code' from stock_pushes where status <> 'ACCEPTED'"
    ) == [("CUP-02", 1, "INVALID", "4000001")]
    status = shop.ok("status")
    assert "STOCK PUSHES AMAZON REFUSED" in status
    assert [line.split()[3:6] for line in status.splitlines() if "CUP-02" in line and "INVALID" in line] == [
        ["CUP-02", "1", "INVALID"]
    ]
    assert "4000001 The provided value for 'SKU' is invalid." in status
    # not sent again for the same quantity until the SKU moves
    shop.ok("stock", "push")
    assert len(patches(shop)) == 3


def test_a_pooled_european_quantity_is_pushed_once_per_sku(shop, tmp_path):
    listings = shop.sandbox.listings
    listings.list_item("MUG-01", 0, marketplace_id=DE)
    listings.list_item("MUG-01", 0, marketplace_id=FR)
    catalog(shop, tmp_path, {"MUG-01": 9})
    seller_channel(shop, "Amazon EU", marketplaces=(DE, FR))
    shop.ok("stock", "push")
    assert [(p["sku"], sorted(p["marketplaceIds"])) for p in patches(shop)] == [("MUG-01", sorted([DE, FR]))]
    assert shop.query("select pool, seller_sku, quantity from stock_pushes") == [("EU", "MUG-01", 9)]
    shop.marketplace.advance(seconds=5)
    assert listed(shop, "MUG-01", DE) == listed(shop, "MUG-01", FR) == 9
    shop.place(Item("MUG-01", 4, "9.00"), buyer=ADA, marketplace_id=FR)  # one quantity: both show it
    assert listed(shop, "MUG-01", DE) == 5
    assert shop.one("select count(*) from amazon_listings") == 1


def test_a_sale_on_one_channel_lowers_the_other_channels_listing(shop, tmp_path):
    listed_on_two_channels(shop, tmp_path, "MUG-01", 5)
    shop.ok("stock", "push")
    shop.marketplace.advance(seconds=5)
    assert listed(shop, "MUG-01", US) == listed(shop, "MUG-01", CA) == 5
    shop.place(Item("MUG-01", 4, "12.50"), buyer=ADA, marketplace_id=US)
    assert listed(shop, "MUG-01", CA) == 5  # Amazon knows nothing of the other marketplace's sale
    shop.sync("--channel", "Amazon US")
    shop.marketplace.advance(seconds=5)
    assert listed(shop, "MUG-01", CA) == 1
    # the buyer in Canada can no longer order what the shelf does not have
    with pytest.raises(OrderRefused):
        shop.marketplace.place_order([Item("MUG-01", 2, "16.00")], marketplace_id=CA, buyer=ADA)


class FakeTime:
    """Real time for the client's usage plan and the server's, moved only by the client's waits."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_429_storm_is_paced_by_the_usage_plan_and_amazons_header(marketplace, db, tmp_path, capsys, monkeypatch):
    from conftest import Shop, live_in_sandbox_time

    from pipelines.sandbox.server import _TokenBucket

    fake = FakeTime()
    with SandboxServer(marketplace, speedup=5000, real_clock=fake) as server:
        live_in_sandbox_time(monkeypatch, server)
        shop = Shop(db, marketplace, server, capsys)
        marketplace.advance(minutes=1)
        skus = {f"SKU-{n:02d}": n + 1 for n in range(20)}  # a first push of more goes as a feed
        for sku in skus:
            server.listings.list_item(sku, 0)
        catalog(shop, tmp_path, skus)
        seller_channel(shop)
        # this seller's plan is 1 request/s, burst 1 (x-amzn-RateLimit-Limit says so), and another application of
        # the seller's has just emptied it
        for operation in ("searchListingsItems", "patchListingsItem"):
            server._buckets[operation] = _TokenBucket(1.0, 1, fake)
            server._buckets[operation].tokens = 0
        with open_for_writing(db) as con:
            channel = get_channel(con, "Amazon US")
        result = push_stock(
            channel, lambda: open_for_writing(db), now=marketplace.naive_now, sleep=fake.sleep, clock=fake
        )
    assert result.pushed == 20 and result.failed == 0
    throttled = [r for r in server.requests if r["path"].startswith("/listings/") and r["status"] == 429]
    # the first request meets the empty bucket; once the header said 1/s, each request waits for its token
    assert 1 <= len(throttled) <= 2 and result.throttled == len(throttled), [
        (r["path"][-7:], r["status"]) for r in server.requests if r["path"].startswith("/listings/")
    ]
    assert len(server.listings.patches) == 20
    assert fake.now - 1000.0 >= 20  # 21 requests at 1/s


def test_a_push_killed_mid_way_leaves_whole_rows_and_the_next_push_converges(shop, tmp_path, monkeypatch):
    listings = shop.sandbox.listings
    skus = {f"SKU-{n:02d}": 3 + n for n in range(8)}
    for sku in skus:
        listings.list_item(sku, 0)
    catalog(shop, tmp_path, skus)
    seller_channel(shop)
    monkeypatch.setenv("AMAZON_ORDERS_DB", shop.db)
    shop.sandbox.hold("patchListingsItem", after=4)  # the fifth patch waits for Amazon
    process = subprocess.Popen(
        [AMAZON_ORDERS, "--db", shop.db, "stock", "push"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        assert shop.sandbox.holding.wait(120), "the push never reached its fifth patch"
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        shop.sandbox.release()
    rows = shop.query("select seller_sku, quantity, status, submission_id from stock_pushes order by seller_sku")
    assert len(rows) <= 5
    for sku, quantity, status, submission in rows:  # whole rows, each of an answer Amazon gave
        assert status == "ACCEPTED" and submission and quantity == skus[sku]
    assert shop.one("select count(*) from stock_marks") == len(skus) - len(rows)

    shop.ok("stock", "push")
    shop.marketplace.advance(seconds=5)
    assert {sku: listed(shop, sku) for sku in skus} == skus
    assert shop.one("select count(*) from stock_marks") == 0
    # each SKU was sent once, or twice when the kill came between Amazon's answer and its commit
    sent = [p["sku"] for p in patches(shop)]
    assert set(sent) == set(skus) and len(sent) <= len(skus) + 1
    shop.ok("stock", "push")
    assert len(patches(shop)) == len(sent)


def test_a_first_push_of_many_skus_goes_as_a_listings_feed_read_back_by_message_id(shop, tmp_path):
    listings = shop.sandbox.listings
    skus = {f"TASSE-É{n:02d}": n for n in range(24)}  # not Latin-1 safe once encoded: the document is UTF-8 bytes
    for sku in skus:
        listings.list_item(sku, 0)
    catalog(shop, tmp_path, skus)
    seller_channel(shop)
    listings.delist("TASSE-É05")
    listings.list_item("TASSE-É05", 0, fulfillment_channel_code="AMAZON_NA")  # FBA now: never in the feed
    listings.list_item("GONE", 0)
    catalog(shop, tmp_path, {**skus, "GONE": 2})
    # the listings are read, then one SKU is closed before the feed is processed: its message is refused
    shop.sandbox.hold("createFeed")
    import threading

    pushed = threading.Thread(target=lambda: shop.ok("stock", "push"))
    pushed.start()
    assert shop.sandbox.holding.wait(60)
    listings.delist("GONE")
    shop.sandbox.release()
    pushed.join(120)
    feeds = [r for r in shop.sandbox.requests if r["path"].startswith("/feeds/")]
    assert [r["path"] for r in feeds if r["method"] == "POST"] == [
        "/feeds/2021-06-30/documents",
        "/feeds/2021-06-30/feeds",
    ]
    assert patches(shop) and all(p["via"] == "feed" for p in patches(shop))
    assert shop.query("select feed_id is not null, status, skus from stock_feeds") == [(True, "DONE", 24)]
    answers = dict(
        (
            (sku, (q, status))
            for sku, q, status in shop.query("select seller_sku, quantity, status from stock_pushes where via = 'feed'")
        )
    )
    assert answers.pop("GONE") == (2, "INVALID")
    assert answers == {sku: (q, "ACCEPTED") for sku, q in skus.items() if sku != "TASSE-É05"}
    shop.marketplace.advance(seconds=10)
    assert listed(shop, "TASSE-É17") == 17 and listings.entries("TASSE-É05") == [
        {"fulfillment_channel_code": "AMAZON_NA", "quantity": 0}
    ]
    assert shop.one("select count(*) from stock_marks") == 0
    # then, one SKU at a time: a patch
    shop.place(Item("TASSE-É17", 1, "5.00"), buyer=ADA)
    shop.sync()
    # (GONE, refused a minute and more ago, is asked again with it: its backoff is over)
    assert [(p["sku"], p.get("via")) for p in patches(shop) if p["sku"] == "TASSE-É17"][-1:] == [("TASSE-É17", None)]


def test_a_feed_stuck_in_amazons_queue_is_reported_and_read_when_it_finishes(shop, tmp_path):
    listings = shop.sandbox.listings
    for n in range(3):
        listings.list_item(f"SKU-{n}", 0)
    catalog(shop, tmp_path, {f"SKU-{n}": 4 for n in range(3)})
    seller_channel(shop)
    shop.sandbox.feeds.stall_next = 1
    with open_for_writing(shop.db) as con:
        channel = get_channel(con, "Amazon US")
    result = push_stock(
        channel,
        lambda: open_for_writing(shop.db),
        now=shop.marketplace.naive_now,
        full=True,
        feed_wait_seconds=0,
        sleep=lambda seconds: None,
    )
    assert result.pushed == 0 and "still processing at Amazon" in result.errors[0]
    assert "LISTINGS FEEDS STUCK" not in shop.ok("status")
    shop.marketplace.advance(hours=3)
    status = shop.ok("status")
    assert "LISTINGS FEEDS STUCK at Amazon for over 2 h" in status
    assert [line.split()[2:3] for line in status.splitlines() if "IN_QUEUE" in line] == [["IN_QUEUE"]] or any(
        "IN_QUEUE" in line for line in status.splitlines()
    )
    shop.sandbox.feeds.feeds[next(iter(shop.sandbox.feeds.feeds))].stalled = False  # Amazon gets to it
    shop.ok("stock", "push")
    assert shop.query("select status from stock_feeds") == [("DONE",)]
    assert shop.query("select count(*) from stock_pushes where via = 'feed' and status = 'ACCEPTED'") == [(3,)]
    assert "LISTINGS FEEDS STUCK" not in shop.ok("status")


def test_the_sensor_starts_a_push_within_seconds_of_a_change_and_the_asset_tells_what_it_did(shop, tmp_path):
    from dagster import AssetKey, SkipReason, build_sensor_context

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.resources import WarehouseResource

    listed_and_pushed(shop, tmp_path, {"MUG-01": 3, "CUP-02": 4})
    sensor = defs.resolve_sensor_def("stock_push_sensor")
    assert sensor.minimum_interval_seconds <= 10  # "within seconds"

    def tick():
        with build_sensor_context(
            instance=get_instance(), resources={"warehouse": WarehouseResource(path=shop.db)}, definitions=defs
        ) as context:
            return sensor(context)

    assert isinstance(tick(), SkipReason)
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sync("--channel", "Amazon US")  # the sync pushed what it booked: nothing left for the sensor
    assert isinstance(tick(), SkipReason)
    catalog(shop, tmp_path, {"MUG-01": 3, "CUP-02": 1})  # a shelf recount moves the cup
    [request] = tick()
    assert request.partition_key == "Amazon US"
    result = defs.resolve_job_def("stock_push_job").execute_in_process(
        instance=get_instance(), partition_key="Amazon US", resources={"warehouse": WarehouseResource(path=shop.db)}
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("amazon_listings_stock")
    figures = {key: value.value for key, value in materialization.metadata.items()}
    assert (figures["pushed"], figures["failed"], figures["invalid"], figures["drifting"]) == (1, 0, 0, 0)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "listings_accept_pushed_stock" and check.passed
    assert isinstance(tick(), SkipReason)
    # the CLI's pushes are Dagster runs of the same asset, recorded in the instance
    records = get_instance().fetch_materializations(AssetKey("amazon_listings_stock"), limit=10).records
    assert len(records) >= 3
    schedule = defs.resolve_schedule_def("stock_push_job_schedule")
    assert schedule.cron_schedule == "0 2 * * *"


def test_drift_is_measured_by_reading_the_listings_back_and_shown(shop, tmp_path):
    listings = shop.sandbox.listings
    listed_and_pushed(shop, tmp_path, {"MUG-01": 6, "CUP-02": 6})
    shop.marketplace.advance(minutes=10)
    shop.place(Item("CUP-02", 2, "5.00"), buyer=ADA)  # Amazon's own decrement: not drift
    listings.list_item("MUG-01", 40)  # someone set 40 in Seller Central
    shop.sync()
    out = shop.ok("stock", "push", "--full")  # reads every listing back (and sends every quantity, nightly)
    assert "1 drifting" in out
    assert shop.query("select seller_sku, pushed, listed_quantity from stock_drift") == [("MUG-01", 6, 40)]
    status = shop.ok("status")
    assert "Listings DRIFTING from the last push" in status
    assert [
        line.split()[3:6]
        for line in status.splitlines()
        if line.startswith("Amazon US") and "MUG-01" in line and "40" in line
    ] == [["MUG-01", "6", "40"]]
    shop.marketplace.advance(seconds=10)
    assert listed(shop, "MUG-01") == 6  # the nightly push set it back
