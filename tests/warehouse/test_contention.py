"""Nobody waits for Amazon's rate limit but the extraction itself: while a rate-limited sync pages through a
window, the listener reserves stock, the clerk ships and returns, and readers read, each in its own
commit; the sync's tables are those of a quiet run; and a sync killed inside a page's commit or between two
transform batches converges to the same tables.

The sync runs as a subprocess against a sandbox whose usage plan makes it wait between pages. The sandbox
holds the answer to one of its requests until the test releases it, so the test knows the sync is in the
middle of its window, waiting on Amazon, whatever the machine's speed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import AMAZON_ORDERS, channel_notifications, cli_add_channel, warehouse_tables

from pipelines.cli import commands as cli
from pipelines.sandbox import Buyer, Item
from pipelines.warehouse.connection import open_for_reading

pytestmark = pytest.mark.slow

SKUS = [f"SKU-{n:02d}" for n in range(8)]
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


def add_channel(db, server, start) -> None:
    cli_add_channel(db, server, start, marketplaces=("ATVPDKIKX0DER",))


def start_sync(db, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [AMAZON_ORDERS, "--db", str(db), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | env,
    )


def finished(sync: subprocess.Popen) -> str:
    out, _ = sync.communicate(timeout=300)
    assert sync.returncode == 0, out
    return out


def test_during_a_rate_limited_sync_the_listener_the_clerk_and_readers_go_on(tmp_path, marketplace, paced, sqs, capsys):
    start = marketplace.now.replace(microsecond=0)
    db, quiet = tmp_path / "busy.duckdb", tmp_path / "quiet.duckdb"
    add_channel(db, paced, start)
    add_channel(quiet, paced, start)
    shipped = marketplace.place_order([Item("SKU-01", 2, "10.00")], buyer=ADA)
    marketplace.confirm(shipped)
    marketplace.advance(minutes=3)
    for warehouse in (db, quiet):
        assert cli.main(["--db", str(warehouse), "sync"]) == 0
    marketplace.simulate(hours=10, orders_per_hour=60, skus=SKUS, marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    assert cli.main(["--db", str(db), *channel_notifications(paced, sqs)]) == 0

    paced.hold("searchOrders", after=2)  # the third page's answer waits for the test
    sync = start_sync(db)
    assert paced.holding.wait(timeout=120), finished(sync)
    capsys.readouterr()

    def run(*args: str) -> str:
        code = cli.main(["--db", str(db), *args])
        out, err = capsys.readouterr()
        assert code == 0, f"{args}: {err}"
        assert "in use by" not in err  # nobody had to wait: the sync holds nothing while Amazon answers
        return out

    placed = marketplace.place_order([Item("SKU-02", 1, "5.00")], buyer=ADA)
    run("listen", "--once")
    with open_for_reading(db) as con:
        assert con.execute("select status from orders where channel_order_id = ?", [placed]).fetchone() == ("Pending",)
        assert con.execute(
            "select sum(quantity_delta) from inventory_movements where order_id = "
            "(select order_id from orders where channel_order_id = ?)",
            [placed],
        ).fetchone() == (-1,)
    run("ship", shipped)
    run("return", shipped, "--sku", "SKU-01", "--quantity", "1", "--reason", "too small")
    assert "orders" in run("sql", "select count(*) as orders from orders")
    assert shipped in run("order", "show", shipped)
    assert sync.poll() is None, "the sync ended before everyone else had their turn"
    paced.release()
    out = finished(sync)
    assert "page(s)" in out

    # the quiet warehouse: the same sync alone, then the same clerk's work; then both see the order placed
    assert cli.main(["--db", str(quiet), "sync"]) == 0
    assert cli.main(["--db", str(quiet), "ship", shipped]) == 0
    assert (
        cli.main(["--db", str(quiet), "return", shipped, "--sku", "SKU-01", "--quantity", "1", "--reason", "too small"])
        == 0
    )
    marketplace.advance(minutes=3)
    for warehouse in (db, quiet):  # the listener's order, completed by the poll in one, new in the other
        assert cli.main(["--db", str(warehouse), "sync"]) == 0
    assert warehouse_tables(db) == warehouse_tables(quiet)


def holder(db: Path) -> str:
    try:
        return db.with_name(db.name + ".lock").read_text()
    except OSError:
        return ""


def killed_and_reference(tmp_path, marketplace, server) -> tuple[Path, Path]:
    """Two warehouses with the same channel on `server`, and ten hours of orders for them to sync."""
    start = marketplace.now.replace(microsecond=0)
    db, reference = tmp_path / "killed.duckdb", tmp_path / "reference.duckdb"
    add_channel(db, server, start)
    add_channel(reference, server, start)
    marketplace.simulate(hours=10, orders_per_hour=60, skus=SKUS, marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    return db, reference


def test_a_sync_killed_inside_a_page_commit_converges(tmp_path, marketplace, paced):
    db, reference = killed_and_reference(tmp_path, marketplace, paced)
    served = len(paced.requests)
    sync = start_sync(db)
    # once the third page is served, the next hold of the writer lock is that page's commit
    while sum(r["path"].endswith("/orders") for r in paced.requests[served:]) < 3:
        assert sync.poll() is None
        time.sleep(0.001)
    while "the sync of channel" not in holder(db):
        assert sync.poll() is None
        time.sleep(0.0005)
    sync.send_signal(signal.SIGKILL)
    assert sync.wait(timeout=60) == -signal.SIGKILL
    finished(start_sync(db))
    assert cli.main(["--db", str(reference), "sync"]) == 0
    assert warehouse_tables(db) == warehouse_tables(reference)


def test_a_sync_killed_between_two_transform_batches_converges(tmp_path, marketplace, sandbox):
    db, reference = killed_and_reference(tmp_path, marketplace, sandbox)
    sync = start_sync(db, AMAZON_ORDERS_TRANSFORM_BATCH="100")
    while True:
        assert sync.poll() is None, finished(sync)
        if db.exists():
            # holding the reader lock, the sync cannot start its next batch: a kill now falls between two
            with open_for_reading(db) as con:
                done, landed = con.execute(
                    "select (select coalesce(max(last_ingest_id), 0) from transform_state), "
                    "(select count(*) from raw_amazon_orders)"
                ).fetchone()
                if 0 < done < landed:
                    sync.send_signal(signal.SIGKILL)
                    assert sync.wait(timeout=60) == -signal.SIGKILL
                    break
        time.sleep(0.01)
    finished(start_sync(db))
    assert cli.main(["--db", str(reference), "sync"]) == 0
    assert warehouse_tables(db) == warehouse_tables(reference)


def test_a_reader_waits_for_a_writers_commit_and_names_who_holds_the_warehouse(shop, monkeypatch):
    import threading

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.runs import summarise_run
    from pipelines.warehouse import connection as warehouse

    shop.add_channel()
    shop.sync()  # registers the channel's partition
    holding, done = threading.Event(), threading.Event()

    def listener_commit(seconds: float) -> None:
        with warehouse.open_for_writing(shop.db, who="the notifications of channel 'Amazon US'"):
            holding.set()
            done.wait(seconds)

    # a commit of a few seconds: the reader waits for it, saying for whom, and then reads
    thread = threading.Thread(target=listener_commit, args=(3,))
    thread.start()
    holding.wait()
    code, out, err = shop.run("status")
    thread.join()
    assert code == 0 and "Channels" in out
    assert "in use by the notifications of channel 'Amazon US' (pid" in err

    # held past the wait: one line naming the holder, no class path, whether read by a command or in a run
    monkeypatch.setattr(warehouse, "READER_WAIT_SECONDS", 0.5)
    holding.clear()
    thread = threading.Thread(target=listener_commit, args=(60,))
    thread.start()
    holding.wait()
    try:
        code, out, err = shop.run("status")
        line = err.strip().splitlines()[-1]
        assert code == 1 and "is busy: the notifications of channel 'Amazon US' (pid" in line, err
        result = defs.resolve_job_def("sync_job").execute_in_process(
            instance=get_instance(), partition_key="Amazon US", raise_on_error=False
        )
        line = summarise_run(result, "Amazon US")["line"]
        assert line.startswith("Amazon US: FAILED: warehouse ") and "is busy: the notifications of channel" in line
        assert "pipelines." not in line and "WarehouseBusy" not in line and "a sync" not in line
    finally:
        done.set()
        thread.join()
