"""Concurrency: two `amazon-orders sync` processes started at once on one warehouse. One waits for the other
(the writer lock of pipelines/warehouse/connection.py); both succeed and the tables are those of a single clean run."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import AMAZON_ORDERS, MARKETPLACES, ROOT, warehouse_tables
from conftest import cli_add_channel as add_channel

from pipelines.cli import commands as cli
from pipelines.sandbox import Item, SandboxServer
from pipelines.warehouse.connection import connect

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_server(marketplace):
    """Answers after 0.1 s each, so the two syncs overlap for certain."""
    with SandboxServer(marketplace, speedup=5000, fault_rates={"slow": 1.0}) as server:
        server.slow_seconds = 0.1
        yield server


def test_two_syncs_at_once(tmp_path, marketplace, sandbox, slow_server):
    start = marketplace.now.replace(microsecond=0)
    shared, reference = tmp_path / "shared.duckdb", tmp_path / "reference.duckdb"
    add_channel(shared, slow_server, start)
    add_channel(reference, sandbox, start)
    marketplace.simulate(
        hours=10,
        orders_per_hour=25,
        skus=[f"SKU-{n:02d}" for n in range(10)],
        marketplaces=MARKETPLACES,
        gift_rate=0.2,
        cancel_rate=0.1,
    )
    marketplace.advance(minutes=3)

    syncs = [
        subprocess.Popen(
            [AMAZON_ORDERS, "--db", str(shared), "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(2)
    ]
    outputs = [sync.communicate(timeout=300) for sync in syncs]
    for sync, (out, err) in zip(syncs, outputs):
        assert sync.returncode == 0, out + err
        assert "FAILED" not in out and "Traceback" not in err

    assert cli.main(["--db", str(reference), "sync"]) == 0
    assert warehouse_tables(shared) == warehouse_tables(reference)

    con = connect(shared, read_only=True)
    try:
        runs = con.execute("select started_at, finished_at, status from sync_runs order by started_at").fetchall()
        duplicates = con.execute("select count(*) - count(distinct payload_hash) from raw_amazon_orders").fetchone()
        orders = con.execute("select count(*) from orders").fetchone()[0]
    finally:
        con.close()
    assert [status for _, _, status in runs] == ["ok", "ok"]
    # the extracts took turns: the second started only once the first had finished
    assert runs[0][1] <= runs[1][0]
    assert duplicates == (0,)
    assert orders > 200
    # the second one found the first one's orders already there
    assert any("no new order versions" in out for out, _ in outputs)


def test_reading_while_a_sync_writes_gives_one_clear_line(tmp_path, capsys):
    db = tmp_path / "warehouse.duckdb"
    connect(db).close()
    # another process with the warehouse open for writing, as a running sync has it
    writer = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-c",
            "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        capsys.readouterr()
        for command in (["status"], ["sql", "select count(*) from orders"]):
            code = cli.main(["--db", str(db), *command])
            err = capsys.readouterr().err
            assert code == 1 and len(err.strip().splitlines()) == 1 and "busy" in err
    finally:
        writer.communicate(input="", timeout=30)


SLOW_QUERY = "select sum(hash(range)) as total from range(800000000)"  # a few seconds of work


def reader_holds(db: Path) -> bool:
    """Whether a reader of ours holds the warehouse (its shared lock), without waiting."""
    import fcntl

    fd = os.open(str(db) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_sync_waits_for_an_analysts_query_and_then_succeeds(shop, capsys):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "1.00"))
    shop.marketplace.advance(minutes=3)
    db = Path(shop.db)
    query = subprocess.Popen(
        [AMAZON_ORDERS, "--db", shop.db, "sql", SLOW_QUERY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while not reader_holds(db):
        assert query.poll() is None and time.monotonic() < deadline, query.communicate()
        time.sleep(0.05)
    code, out, err = shop.run("sync")
    query_out, query_err = query.communicate(timeout=120)
    assert query.returncode == 0 and "total" in query_out, query_err
    assert code == 0, err
    assert "waiting for it to finish" in err
    assert shop.one("select count(*) from orders") == 1


def test_a_query_is_stopped_at_its_timeout_with_one_line(shop):
    shop.add_channel()
    code, out, err = shop.run("sql", "--timeout", "0.5", SLOW_QUERY.replace("800000000", "20000000000"))
    assert code == 1 and err.strip() == (
        "amazon-orders: query stopped after 0.5 s (--timeout): syncs wait for queries, so a query may not run longer"
    )
