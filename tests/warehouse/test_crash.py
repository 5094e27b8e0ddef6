"""Crashes: `amazon-orders sync` killed with SIGKILL at random points of the extraction and the transforms,
then synced again to completion, ends with the tables of a run that was never interrupted.

The sync runs as a subprocess against a sandbox served from the test process. Its server answers every
API request after 0.15 s, so the pages of a window land one by one; a kill is aimed at the first page's
progress line plus a random delay (now and then at the start), which spreads kills over paging, landing and
the transform. Between kills the marketplace moves on, so every killed sync has work in hand. The default
suite kills 3 syncs; `make test-crash` (pytest -m crash) kills 21 more.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import AMAZON_ORDERS, CHANNEL, cli_add_channel, cli_ok, simulate_orders, warehouse_tables

from pipelines.sandbox import SandboxServer
from pipelines.warehouse.connection import connect

pytestmark = pytest.mark.slow

SKUS = [f"SKU-{n:02d}" for n in range(12)]


def differences(got: dict, expected: dict, limit: int = 6) -> str:
    lines = []
    for table in expected:
        extra, missing = set(got[table]) - set(expected[table]), set(expected[table]) - set(got[table])
        lines += [f"{table} extra:   {row}" for row in sorted(extra, key=str)[:limit]]
        lines += [f"{table} missing: {row}" for row in sorted(missing, key=str)[:limit]]
    return "\n".join(lines)


def populate(marketplace, hours, per_hour=25.0):
    simulate_orders(marketplace, hours, per_hour, SKUS)
    marketplace.advance(minutes=3)


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def phase(db) -> str:
    """Where a killed sync had got to, as far as the warehouse tells."""
    if not db.exists():
        return "nothing written"
    con = connect(db, read_only=True)
    try:
        cursor = con.execute("select next_token from channel_sync_state").fetchall()
        raw = con.execute("select coalesce(max(ingest_id), 0) from raw_amazon_orders").fetchone()[0]
        done = con.execute("select coalesce(max(last_ingest_id), 0) from transform_state").fetchone()[0]
    finally:
        con.close()
    if cursor and cursor[0][0]:
        return "mid-window"
    return "transformed" if raw == done else "extracted, not transformed"


class Killer:
    """Run `amazon-orders sync` as a subprocess and SIGKILL it `delay` seconds after its `page`-th progress line
    (page 0: after its start)."""

    def __init__(self, db):
        self.db = db
        self.kills = 0
        self.missed = 0
        self.phases: list[str] = []

    def run(self, page: int, delay: float) -> bool:
        process = subprocess.Popen(
            [AMAZON_ORDERS, "--db", str(self.db), "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ.copy(),
        )
        output: list[str] = []
        trigger = threading.Event()
        if page == 0:
            trigger.set()

        def read():
            for line in process.stdout:
                output.append(line)
                if f"{CHANNEL}: page {page}," in line:
                    trigger.set()
            trigger.set()  # the process ended before the line came: nothing left to aim at

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        trigger.wait(timeout=120)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=120)
        reader.join(timeout=10)
        killed = code == -signal.SIGKILL
        if killed:
            self.kills += 1
        else:  # it finished first
            self.missed += 1
            assert code == 0, "".join(output)
        return killed


@pytest.fixture
def slow_server(marketplace):
    """Every API answer after 0.15 s (well within the client's timeout): the pages of a window land one by one."""
    with SandboxServer(marketplace, speedup=5000, fault_rates={"slow": 1.0}) as server:
        server.slow_seconds = 0.15
        yield server


def crash_and_recover(tmp_path, marketplace, sandbox, slow_server, *, seed: int, kills: int) -> Killer:
    """Marketplace activity, then a sync killed at a random point, until `kills` syncs have been killed; then
    one sync to completion, compared with a warehouse synced once, never interrupted."""
    rng = random.Random(seed)
    start = marketplace.now.replace(microsecond=0)
    reference, crashed = tmp_path / "reference.duckdb", tmp_path / "crashed.duckdb"
    cli_add_channel(reference, sandbox, start)
    cli_add_channel(crashed, slow_server, start)
    killer = Killer(crashed)
    # after the first page has landed, anywhere within the next `reach` seconds: later pages come every ~0.2 s
    # and the transform takes most of a second after the last one; now and then right after the start instead
    # (startup, token, first request). A sync that finished first shortens the reach (a faster machine).
    reach = 0.9
    while killer.kills < kills:
        assert killer.missed <= 2 * kills, f"too many syncs finished before their kill: {killer.phases}"
        # new orders and changes to earlier ones: every attempt has pages to fetch and orders to transform
        populate(marketplace, hours=8 if not killer.phases else rng.uniform(3, 5))
        page, delay = (0, rng.uniform(0, 3)) if rng.random() < 0.1 else (1, rng.uniform(0, reach))
        killed = killer.run(page=page, delay=delay)
        killer.phases.append(f"page {page} + {delay:.2f} s: " + (phase(crashed) if killed else "missed"))
        if not killed:
            reach *= 0.7
        for path in (crashed, crashed.with_name(crashed.name + ".wal")):
            if path.exists():
                assert owner_only(path), f"{path.name} is readable by others after a crash"
    cli_ok(crashed, "sync")  # to completion
    cli_ok(reference, "sync")  # never interrupted
    got, expected = warehouse_tables(crashed), warehouse_tables(reference)
    assert got == expected, f"tables differ after kills at {killer.phases}:\n{differences(got, expected)}"
    con = connect(crashed, read_only=True)
    try:
        assert con.execute("select count(*) - count(distinct payload_hash) from raw_amazon_orders").fetchone() == (0,)
        assert con.execute("select count(*) - count(distinct order_id) from orders").fetchone() == (0,)
        assert con.execute("select count(*) from orders").fetchone()[0] > 200
        assert con.execute("select count(*) from channel_sync_state where next_token is not null").fetchone() == (0,)
    finally:
        con.close()
    return killer


def test_sigkill_during_sync_then_a_full_sync(tmp_path, marketplace, sandbox, slow_server):
    crash_and_recover(tmp_path, marketplace, sandbox, slow_server, seed=1, kills=3)


@pytest.mark.crash
@pytest.mark.parametrize("seed", range(2, 9))
def test_many_sigkills(tmp_path, marketplace, sandbox, slow_server, seed):
    """7 seeds x 3 kills: 21 syncs killed, and each seed's warehouse recovered in one sync."""
    crash_and_recover(tmp_path, marketplace, sandbox, slow_server, seed=seed, kills=3)


def purge_killed(db: Path, delay: float) -> bool:
    """`amazon-orders purge-pii --days 0`, killed `delay` seconds after it starts rewriting the file."""
    process = subprocess.Popen(
        [AMAZON_ORDERS, "--db", str(db), "purge-pii", "--days", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    for line in process.stdout:
        if "rewriting warehouse" in line:
            time.sleep(delay)
            break
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    code = process.wait(timeout=120)
    process.stdout.close()
    return code == -signal.SIGKILL


def kill_purges(tmp_path, marketplace, sandbox, *, seed: int, kills: int) -> None:
    """Kills during purge-pii's rewrite leave a warehouse that opens whole; the next purge finishes the job."""
    rng = random.Random(seed)
    start = marketplace.now.replace(microsecond=0)
    reference, killed = tmp_path / "reference.duckdb", tmp_path / "killed.duckdb"
    for db in (reference, killed):
        cli_add_channel(db, sandbox, start)
    populate(marketplace, hours=40, per_hour=60)
    for db in (reference, killed):
        cli_ok(db, "sync")
    con = connect(killed, read_only=True)
    emails = [
        e
        for (e,) in con.execute("""
        select distinct email from contacts
        where email is not null and contact_id in (select contact_id from orders where status in ('Shipped', 'Canceled'))
            and contact_id not in (select contact_id from orders where status not in ('Shipped', 'Canceled')
                                   and contact_id is not null)""").fetchall()
    ]
    con.close()
    cli_ok(reference, "purge-pii", "--days", "0")
    done = 0
    while done < kills:
        if purge_killed(killed, rng.uniform(0, 0.1)):
            done += 1
            for path in killed.parent.glob(killed.name + "*"):
                assert owner_only(path), path.name
            warehouse_tables(killed)  # opens, and reads whole
        else:
            break  # it finished: nothing left to interrupt
    assert done >= 1, "no purge was killed during its rewrite"
    cli_ok(killed, "purge-pii", "--days", "0")
    assert warehouse_tables(killed) == warehouse_tables(reference)
    data = killed.read_bytes()
    assert len(emails) > 50 and [e for e in emails if e.encode() in data] == []


def test_sigkill_during_the_purge_rewrite(tmp_path, marketplace, sandbox):
    kill_purges(tmp_path, marketplace, sandbox, seed=1, kills=2)


@pytest.mark.crash
@pytest.mark.parametrize("seed", range(2, 6))
def test_many_sigkills_during_the_purge_rewrite(tmp_path, marketplace, sandbox, seed):
    kill_purges(tmp_path, marketplace, sandbox, seed=seed, kills=3)
