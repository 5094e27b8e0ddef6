"""`make demo`: a simulated marketplace walked through a few syncs, showing what each one changed."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines import clock
from pipelines.backoffice.orders import EntryRefused
from pipelines.backoffice.products import import_products
from pipelines.backoffice.returns import create_return, receive_return
from pipelines.backoffice.shipments import PackageRequest, mark_shipped, record_package
from pipelines.cli.ui import SANDBOX_CREDENTIALS
from pipelines.clock import CLOCK_URL_VARIABLE
from pipelines.orchestration.instance import dagster_home
from pipelines.orchestration.runs import run_confirmations, run_returns_import, run_sync
from pipelines.sandbox import Buyer, Item, Marketplace, SandboxServer
from pipelines.warehouse.channels import add_channel
from pipelines.warehouse.connection import open_for_reading, open_for_writing, warehouse_path
from pipelines.warehouse.status import PACKAGES_OF_ORDER, table

CATALOG = """product_code,product_name,list_price,on_hand
MUG-01,Stoneware mug,12.50,20
TEA-02,Green tea (100 g),8.00,15
PEN-03,Fountain pen,24.00,5
"""
ORDERS = """
select o.channel_order_id, o.status, o.payment_status, a.account_name, o.currency, o.total_amount,
       string_agg(l.quantity || ' x ' || coalesce(l.product_code, 'gift wrap'), ', ' order by l.line_number) as lines
from orders o join accounts a using (account_id) join order_lines l using (order_id)
group by all order by min(o.purchased_at), o.channel_order_id  -- ties listed by id, the same every run
"""
STOCK = """
select p.product_code, p.product_name, p.is_placeholder, coalesce(i.on_hand, 0) as on_hand
from products p left join (select * from inventory where location = 'warehouse') i using (product_code)
order by p.product_code
"""
MONEY = """
select channel_order_id, currency, items_amount, shipping_amount, tax_amount, discount_amount, total_amount,
       unreconciled_amount
from orders where channel_order_id = ?
"""
RETURNS = """
select r.return_id, o.channel_order_id, r.source, r.status, r.location, coalesce(r.disposition, '') as disposition,
       l.quantity || ' x ' || l.product_code as units, l.is_restocked, coalesce(r.reason, '') as reason
from sales_returns r join sales_return_lines l using (return_id) join orders o using (order_id)
order by r.return_id
"""
PEN = """
select o.channel_order_id, o.status, o.payment_status, a.account_name, o.total_amount, i.on_hand as pens_on_hand,
       i.reserved_quantity as pens_reserved,
       (select count(*) from inventory_movements m where m.order_id = o.order_id) as stock_movements
from orders o join accounts a using (account_id), inventory i
where o.channel_order_id = ? and i.product_code = 'PEN-03' and i.location = 'warehouse'
"""
LOCATIONS = """
select product_code, location, channel, on_hand, reserved_quantity from inventory where product_code = 'MUG-01'
order by location desc
"""


def _show(db: str, title: str, sql: str, params=None) -> None:
    with open_for_reading(db) as con:
        print(f"\n{title}")
        print(table(con, sql, params))


def _step(db: str, marketplace: Marketplace, title: str) -> None:
    marketplace.advance(minutes=3)  # Amazon serves changes once they are two minutes old
    print(f"\n=== {title} ===")
    for report in run_sync(db, log_level="WARNING", launched_by="demo"):
        print(f"sync: {report['line']}")
    _show(db, "orders", ORDERS)


def _sandbox_channel(
    con, marketplace: Marketplace, sandbox: SandboxServer, name: str, marketplace_id: str, seller_id: str | None = None
) -> None:
    """A channel reaching the demo's sandbox, its orders from the marketplace's now on."""
    add_channel(
        con,
        name,
        [marketplace_id],
        start=marketplace.now,
        endpoint=sandbox.url,
        token_url=sandbox.token_url,
        seller_id=seller_id,
    )


def _notifications(db: str, marketplace: Marketplace, sandbox: SandboxServer) -> None:
    """ORDER_CHANGE notifications through an SQS queue (moto's server here, Amazon SQS for a seller)."""
    import logging
    import time

    from moto.server import ThreadedMotoServer

    from pipelines.amazon.queue import create_queue
    from pipelines.ingest.notifications import drain, subscribe, unsubscribe
    from pipelines.warehouse.channels import get_channel

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sqs_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    sqs_server.start()
    try:
        host, port = sqs_server.get_host_and_port()
        os.environ.update(AWS_ENDPOINT_URL_SQS=f"http://{host}:{port}", AWS_DEFAULT_REGION="us-east-1")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "demo")  # moto takes any
        url, arn = create_queue("amazon-orders-demo")
        with open_for_writing(db) as con:
            channel = get_channel(con, "Amazon Demo")
            subscribe(con, channel, arn, url, seller_id=sandbox.notifications.seller_id)
        print("\n=== 7. ORDER_CHANGE notifications through SQS: stock reserved seconds after an order ===")
        marketplace.advance(seconds=30)
        placed_at = time.monotonic()
        order_id = marketplace.place_order(
            [Item("PEN-03", 1, "24.00")], buyer=Buyer("Emmy Noether", "emmy@marketplace.amazon.com")
        )
        sandbox.notifications.flush()
        counts = drain(channel, url, lambda: open_for_writing(db), clock=marketplace.naive_now)
        print(
            f"order {order_id} placed; {counts.applied} notification applied {time.monotonic() - placed_at:.1f} s "
            "later, before any sync:"
        )
        _show(db, "the new order, Pending, already holds its pen", PEN, [order_id])
        marketplace.confirm(order_id)
        _step(
            db,
            marketplace,
            "8. Amazon fills the order in; the next sync brings the buyer and the money, and books no stock again",
        )
        _show(db, "the same order, complete", PEN, [order_id])
        with open_for_writing(db) as con:
            unsubscribe(con, channel)  # the demo's queue ends with it
    finally:
        sqs_server.stop()


def _stock_push(db: str, marketplace: Marketplace, sandbox: SandboxServer) -> None:
    """Stock back to Amazon (issue #26): a sale on Amazon.com lowers the Amazon.ca listing seconds later."""
    import time

    from pipelines.orchestration.runs import run_stock_push
    from pipelines.outbound.stock import stock_table
    from pipelines.warehouse.channels import remove_channel, set_seller_id
    from pipelines.warehouse.connection import transaction

    seller = "A2DEMOSELLER01"
    with open_for_writing(db) as con:
        with transaction(con):
            set_seller_id(con, "Amazon Demo", seller)
            _sandbox_channel(con, marketplace, sandbox, "Amazon Canada", "A2EUQ1WTGCTBG2", seller_id=seller)
    for marketplace_id in ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"):
        for sku in ("TEA-02", "PEN-03"):
            sandbox.listings.list_item(sku, 0, marketplace_id=marketplace_id)
    print("\n=== 9. stock back to Amazon: the same tea and pens listed on Amazon.com and Amazon.ca, one warehouse ===")
    for report in run_stock_push(db, log_level="WARNING", launched_by="demo"):
        print(f"stock push: {report['line']}")
    marketplace.advance(seconds=5)
    with open_for_reading(db) as con:
        print("\neach listing shows what the warehouse has available")
        print(
            stock_table(con)
            .filter("sku in ('TEA-02', 'PEN-03')")
            .df()
            .drop(columns=["physical", "reserved", "pool", "mfn", "pushed_at"])
            .to_markdown(index=False, tablefmt="simple")
        )
    sold_at = time.monotonic()
    before = sandbox.listings.quantity("TEA-02", "A2EUQ1WTGCTBG2")
    order_id = marketplace.place_order(
        [Item("TEA-02", 3, "8.00")], buyer=Buyer("Sophie Germain", "sophie@marketplace.amazon.com")
    )
    print(f"\na buyer on Amazon.com orders 3 x TEA-02 ({order_id}); Amazon.ca still shows {before}")
    marketplace.advance(minutes=3)
    for report in run_sync(db, "Amazon Demo", log_level="WARNING", launched_by="demo"):
        print(f"sync: {report['line']}")
    for report in run_stock_push(db, log_level="WARNING", launched_by="demo"):  # what `sync` does before it exits
        print(f"stock push: {report['line']}")
    marketplace.advance(seconds=5)  # Amazon applies what it accepted
    after = sandbox.listings.quantity("TEA-02", "A2EUQ1WTGCTBG2")
    print(
        f"Amazon.ca's TEA-02 listing: {before} -> {after}, {time.monotonic() - sold_at:.1f} s after the sale "
        "(real time; one sync and one push)"
    )
    with open_for_writing(db) as con:
        with transaction(con):
            remove_channel(con, "Amazon Canada")  # `make demo-ui` follows the demo channel alone


def run_demo(db: str | None = None) -> None:
    dagster_home()  # a DAGSTER_HOME that cannot be used stops the demo before its first step, not in it
    db = str(warehouse_path(db or "data/demo.duckdb"))
    for leftover in (Path(db), Path(db + ".wal")):
        leftover.unlink(missing_ok=True)  # every demo starts from an empty warehouse
    for name, value in SANDBOX_CREDENTIALS.items():  # a real seller sets their own
        os.environ.setdefault(name, value)
    os.environ.pop("SP_API_DEFAULT_MARKETPLACE", None)

    # An hour back: the demo moves its clock a few minutes a step and still ends in the past, so the
    # live sandbox `make demo-ui` starts for the channel has the time since then to bring in.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    marketplace = Marketplace(seed=2026, start=start)
    with SandboxServer(marketplace, speedup=100) as sandbox:
        # the product lives in the marketplace's time, which the demo moves minutes at a time
        os.environ[CLOCK_URL_VARIABLE] = sandbox.url + "/_sandbox/clock"
        print(f"sandbox marketplace at {sandbox.url}; warehouse {db}")
        with open_for_writing(db) as con:
            _sandbox_channel(con, marketplace, sandbox, "Amazon Demo", "ATVPDKIKX0DER")
            with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
                handle.write(CATALOG)
            import_products(con, handle.name)
            os.unlink(handle.name)
        _show(db, "catalog imported", STOCK)

        marketplace.advance(minutes=1)
        ada = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
        paid_later = marketplace.place_order([Item("MUG-01", 2, "12.50")], buyer=ada)
        gift = marketplace.place_order(
            [
                Item(
                    "TEA-02",
                    1,
                    "8.00",
                    gift_message="Happy birthday, Grace! 🎂",
                    gift_wrap_level="Premium",
                    gift_wrap_charge="3.99",
                )
            ]
        )
        unknown = marketplace.place_order([Item("LAMP-99", 1, "45.00", title="Desk lamp, brass")])
        cancel_early = marketplace.place_order([Item("PEN-03", 1, "24.00")])
        cancel_late = marketplace.place_order([Item("PEN-03", 2, "24.00")])
        _step(db, marketplace, "1. five new orders arrive, all Pending: they reserve stock at once")
        _show(db, "stock", STOCK)

        for order in (paid_later, gift, unknown, cancel_early, cancel_late):
            marketplace.confirm(order)
        _step(db, marketplace, "2. Amazon fills in buyers and prices: the same orders become Paid")

        # the warehouse ships the mugs and confirms them to Amazon with carrier and tracking (#27)
        with open_for_writing(db) as con:
            package = record_package(
                con,
                PackageRequest(paid_later, "UPS", "1Z999AA10123456784", service="UPS Ground"),
                clock.from_environment()(),
            )
        for report in run_confirmations(db, ["Amazon Demo"], launched_by="demo", log_level="WARNING"):
            print(
                f"\namazon-orders ship {paid_later} --carrier UPS --tracking 1Z999AA10123456784: package "
                f"{package.package_reference_id} ({package.units}); {report['line']}"
            )
        marketplace.cancel(cancel_early)
        with open_for_writing(db) as con:
            mark_shipped(con, cancel_late)
        print(f"\nmarked shipped here: {cancel_late}; then the buyer cancels it on Amazon")
        marketplace.cancel(cancel_late)
        _step(db, marketplace, "3. one order ships, one is cancelled before shipping, one after shipping here")
        _show(db, "stock: the early cancellation came back, the one shipped here did not", STOCK)
        _show(
            db,
            "the package shipped here, read back from the sync's PACKAGES: confirmed on Amazon",
            PACKAGES_OF_ORDER,
            {"order": package.order_id},
        )

        with open_for_writing(db) as con:
            return_id = create_return(con, paid_later, "MUG-01", 1, reason="chipped")
        print(f"\n=== 4. the buyer returns one mug to Amazon: sales return {return_id} ===")
        _show(db, "stock after the return", STOCK)
        _show(
            db,
            "gift-wrap and placeholder lines keep Amazon's data in their notes",
            "select o.channel_order_id, l.line_type, l.product_code, l.line_amount, l.notes "
            "from order_lines l join orders o using (order_id) where l.notes is not null",
        )

        promoted = marketplace.place_order(
            [Item("MUG-01", 2, "12.50", shipping_charge="4.99", discount="2.50", promotion_id="MUGS-10")],
            buyer=Buyer("Grace Hopper", "grace@marketplace.amazon.com"),
        )
        marketplace.receive_fba("MUG-01", 12)  # the seller's case arrives at Amazon's fulfilment centre
        by_amazon = marketplace.place_order(
            [Item("MUG-01", 3, "12.50")],
            fulfilled_by="AMAZON",
            buyer=Buyer("Alan Turing", "alan@marketplace.amazon.com"),
        )
        asked = marketplace.place_order(
            [Item("TEA-02", 1, "8.00")], buyer=Buyer("Mary Somerville", "mary@marketplace.amazon.com")
        )
        for order in (promoted, by_amazon, asked):
            marketplace.confirm(order)
        marketplace.request_cancel(asked, reason="Ordered twice")
        _step(db, marketplace, "5. money, Amazon's own stock, and a buyer who asks to cancel")
        _show(db, "shipping, tax and a promotion add up to Amazon's grand total", MONEY, [promoted])
        _show(
            db,
            f"the FBA order {by_amazon} takes Amazon's stock, not the warehouse's; amazon_fba is "
            f"Amazon's own count (a case of 12 received, 3 held for the order)",
            LOCATIONS,
        )
        with open_for_writing(db) as con:
            try:
                mark_shipped(con, asked)
            except EntryRefused as refusal:
                print(f"\namazon-orders ship {asked}: {refusal}")

        # Amazon's returns reports: the mug the clerk entered in step 4, the other one, and one of the FBA
        # order's mugs, which Amazon's centre grades sellable
        marketplace.ship(by_amazon)
        marketplace.advance(minutes=5)
        marketplace.return_item(paid_later, "MUG-01", reason="DEFECTIVE")
        marketplace.return_item(paid_later, "MUG-01", reason="UNWANTED_ITEM")
        marketplace.return_item(by_amazon, "MUG-01", reason="UNWANTED_ITEM", disposition="SELLABLE")
        _step(db, marketplace, "6. Amazon's returns reports: returns without a clerk")
        for report in run_returns_import(db, log_level="WARNING", launched_by="demo"):
            print(f"returns import: {report['line']}")
        _show(
            db,
            "the clerk's return matched (not doubled), a merchant-fulfilled one awaiting its parcel, the FBA "
            "one restocked at Amazon",
            RETURNS,
        )
        with open_for_writing(db) as con:
            awaiting = con.execute("select return_id from sales_returns where status = 'awaiting_receipt'").fetchone()[
                0
            ]
            received = receive_return(con, awaiting)
        print(f"\namazon-orders returns receive {awaiting}: the parcel arrived, {received['units']} back in stock")
        _show(db, "stock of MUG-01: one back in the warehouse, one back at Amazon", LOCATIONS)
        _notifications(db, marketplace, sandbox)
        _stock_push(db, marketplace, sandbox)
    print(f'\ndone: query it with  .venv/bin/amazon-orders --db {db} sql "select * from orders"')
    print("or see it in Dagster's UI, with new orders arriving on a live sandbox:  make demo-ui")
    from pipelines.warehouse.chart import chart_path, write_chart
    from pipelines.warehouse.marts import published_path

    with open_for_reading(db) as con:
        chart = write_chart(con, chart_path(db), marketplace.naive_now())
    print(f"the marts and core tables, readable during any sync:  duckdb -readonly {published_path(db)}")
    print(f"net sales per marketplace and day, last 30 days (open it in a browser): {chart}")
