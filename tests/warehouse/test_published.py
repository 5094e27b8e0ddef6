"""Readers never meet the writer (#28): the core tables and marts are published to <warehouse>.published.duckdb after
each sync, swapped in whole, so duckdb (a notebook, the CLI, a BI tool) reads them while the next sync runs; and
`amazon-orders report` draws the daily sales as a file a person opens."""

from __future__ import annotations

import duckdb

from pipelines.backoffice.privacy import CONTACT_PII
from pipelines.cli import commands as cli
from pipelines.sandbox import Buyer, Item
from pipelines.warehouse.marts import published_path

SKUS = [f"SKU-{n:02d}" for n in range(4)]
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


def read_published(path) -> tuple:
    """What an analyst's tool does: open the published file read-only, query the marts and a core table."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select (select count(*) from orders), (select coalesce(sum(net_sales_amount), 0) "
            "from daily_sales), (select count(*) from order_fulfilment)"
        ).fetchone()
    finally:
        con.close()


def test_the_published_tables_are_read_twenty_times_during_a_running_sync(tmp_path, marketplace, paced):
    from test_contention import add_channel, finished, start_sync

    db = tmp_path / "warehouse.duckdb"
    add_channel(db, paced, marketplace.now.replace(microsecond=0))
    marketplace.confirm(marketplace.place_order([Item("SKU-01", 2, "10.00")], buyer=ADA))
    marketplace.advance(minutes=3)
    assert cli.main(["--db", str(db), "sync"]) == 0
    published = published_path(db)
    before = read_published(published)
    assert before[0] == 1 and before[1] > 0

    marketplace.simulate(hours=6, orders_per_hour=60, skus=SKUS, marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    paced.hold("searchOrders", after=1)  # the second page's answer waits for the test: the sync is mid-window
    sync = start_sync(db)
    assert paced.holding.wait(timeout=120), finished(sync)
    reads = [read_published(published) for _ in range(20)]
    assert reads == [before] * 20  # the last sync's tables, whole, while this one lands pages
    paced.release()
    # and on while it transforms, builds the marts and swaps the new copy in: every read finds a whole copy
    while sync.poll() is None:
        read_published(published)
    finished(sync)
    after = read_published(published)
    assert after[0] > before[0] and after[2] >= before[2]
    assert not list(tmp_path.glob(".*.tmp*"))  # no half-written copy left behind


def test_a_reader_keeps_its_copy_while_a_new_one_is_published(shop):
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
    shop.sync()
    reader = duckdb.connect(str(published_path(shop.db)), read_only=True)
    try:
        assert reader.execute("select count(*) from orders").fetchone() == (1,)
        shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
        shop.sync()
        assert reader.execute("select count(*) from orders").fetchone() == (1,)  # its snapshot, still whole
    finally:
        reader.close()
    assert duckdb.connect(str(published_path(shop.db)), read_only=True).execute(
        "select count(*) from orders"
    ).fetchone() == (2,)


def test_the_published_copy_holds_no_buyers_personal_details(shop):
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
    shop.sync()
    assert shop.one("select count(*) from contacts where email = 'ada@marketplace.amazon.com'") == 1
    con = duckdb.connect(str(published_path(shop.db)), read_only=True)
    try:
        columns = {
            name
            for (name,) in con.execute(
                "select column_name from duckdb_columns() where table_name in ('contacts', 'accounts')"
            ).fetchall()
        }
        assert not columns & set(CONTACT_PII)  # the details the purge redacts are never published
        assert con.execute("select account_name from accounts where not is_placeholder").fetchall() == [(None,)]
        # documented as the warehouse documents them
        assert (
            con.execute(
                "select comment from duckdb_columns() where table_name = 'daily_sales' "
                "and column_name = 'net_sales_amount'"
            )
            .fetchone()[0]
            .startswith("Gross less")
        )
    finally:
        con.close()
    assert b"ada@marketplace" not in published_path(shop.db).read_bytes()


def test_report_draws_the_daily_sales_as_a_file_a_person_opens(shop, tmp_path):
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA))
    shop.sync()
    out = shop.ok("report", "--out", str(tmp_path / "sales.svg"))
    assert out.strip() == f"daily sales chart: {tmp_path / 'sales.svg'}"
    svg = (tmp_path / "sales.svg").read_text()
    assert svg.startswith("<svg") and "Amazon.com (USD)" in svg and "last 30 days" in svg
    # without --out, beside the warehouse
    assert shop.ok("report").strip().endswith("warehouse.daily-sales.svg")
    code, _, err = shop.run("report", "--days", "0")
    assert code == 1 and err.strip() == "amazon-orders: --days must be at least 1, not 0"


def test_report_on_a_warehouse_without_marts_says_what_to_run(shop):
    shop.add_channel()  # a warehouse, never synced
    code, _, err = shop.run("report")
    assert code == 1
    assert err.strip() == (
        "amazon-orders: no daily_sales mart in this warehouse yet: run `amazon-orders sync` (or `rebuild`)"
    )


def test_a_sync_that_brought_nothing_new_publishes_nothing(shop):
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
    shop.sync()
    published = published_path(shop.db)
    written = published.stat().st_mtime_ns, published.stat().st_ino
    shop.sync()  # no new order version: the core tables, and so the marts, are skipped
    assert (published.stat().st_mtime_ns, published.stat().st_ino) == written


def test_a_publish_failure_lasts_in_status_until_a_rebuild_or_a_sync_writes_the_copy(shop):
    """`rebuild` publishes through the same step as a sync's marts: its failure is kept, and its copy ends it."""
    shop.add_channel()
    shop.marketplace.confirm(shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA))
    shop.sync()
    published = published_path(shop.db)
    published.unlink()
    published.mkdir()  # the copy cannot be swapped in over a folder
    code, _, err = shop.run("rebuild")
    assert code == 1 and "Is a directory" in err, err
    code, out, _ = shop.run("status")
    assert code == 1 and "PUBLISHED COPY NOT UPDATED" in out, out
    published.rmdir()
    shop.ok("rebuild")
    code, out, err = shop.run("status")
    assert code == 0 and "PUBLISHED COPY" not in out, out + err
    assert read_published(published)[0] == 1
