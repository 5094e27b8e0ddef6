"""A full disk: every command ends with one line that names the cause ("No space left on device"), and once
there is room again the next sync lands everything, nothing lost or doubled.

The warehouse lives on a small tmpfs the test mounts (and grows with `remount`); where mounting is not
permitted (not root), the test is skipped, saying so. The published copy, written beside the warehouse after
its commits, meets a full disk of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import AMAZON_ORDERS, channel_add, warehouse_tables

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a small tmpfs here ({done.stderr.strip()}): disk-full not tested")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def amazon_orders(db: Path, *args: str):
    return subprocess.run(
        [AMAZON_ORDERS, "--db", str(db), *args], capture_output=True, text=True, env=os.environ.copy()
    )


def fill(path: Path) -> None:
    """Take every free byte of the disk."""
    with path.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def assert_one_line_naming_the_full_disk(done) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("amazon-orders: ") and "No space left on device" in line, done.stderr
    assert "Traceback" not in done.stderr and "cannot rollback" not in done.stderr


def test_a_full_disk_is_named_and_the_next_sync_after_it_loses_nothing(small_disk, tmp_path, marketplace, sandbox):
    full, reference = small_disk / "warehouse.duckdb", tmp_path / "reference.duckdb"
    start = marketplace.now.isoformat()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("product_code,product_name,list_price,on_hand\nSKU-A,A,1.00,100\n")
    for db in (full, reference):
        assert amazon_orders(db, *channel_add(sandbox, start=start)).returncode == 0
    skus = ["SKU-A", "SKU-B", "SKU-C"]
    marketplace.simulate(hours=24, orders_per_hour=20, skus=skus, marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    assert amazon_orders(full, "sync").returncode == 0  # shipped orders: purge-pii has work to do
    marketplace.simulate(hours=5, orders_per_hour=100, skus=skus, marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    fill(small_disk / "filler")

    sync = amazon_orders(full, "sync")
    assert_one_line_naming_the_full_disk(sync)
    for command in (["rebuild"], ["products", "import", str(catalog)], ["purge-pii", "--days", "0"], ["sync"]):
        assert_one_line_naming_the_full_disk(amazon_orders(full, *command))

    (small_disk / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert amazon_orders(full, "sync").returncode == 0
    assert amazon_orders(reference, "sync").returncode == 0
    assert warehouse_tables(full) == warehouse_tables(reference)
    assert warehouse_tables(full)["orders"]


def published_orders(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:  # as an analyst's tool reads it
        return con.execute("select * from orders order by order_id").fetchall()


def leave_free(mount: Path, free: int) -> None:
    """Take all but `free` bytes of the disk (the filler's blocks are reserved at once, not written)."""
    room = os.statvfs(mount)
    with (mount / "filler").open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, room.f_bavail * room.f_frsize - free)


def test_a_full_disk_while_publishing_names_the_disk_and_keeps_the_last_published_copy(
    small_disk, tmp_path, marketplace, sandbox
):
    db = small_disk / "warehouse.duckdb"
    published = small_disk / "warehouse.published.duckdb"
    assert amazon_orders(db, *channel_add(sandbox, start=marketplace.now)).returncode == 0
    marketplace.simulate(hours=2, orders_per_hour=10, skus=["SKU-A"], marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    assert amazon_orders(db, "sync").returncode == 0
    before = published_orders(published)
    assert before and published.stat().st_size > 512 * 1024
    # room for the sync's own commits (the warehouse grows by about half the published copy's size for these
    # orders), not for a new published copy beside the last one
    marketplace.simulate(hours=1, orders_per_hour=10, skus=["SKU-A"], marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    leave_free(small_disk, published.stat().st_size * 3 // 4)

    sync = amazon_orders(db, "sync")
    assert sync.returncode == 1, sync.stdout + sync.stderr
    line = sync.stderr.strip().splitlines()[-1]
    assert line.startswith("amazon-orders: ") and sync.stderr.count("amazon-orders: ") == 1, sync.stderr
    assert "No space left on device" in line and str(published) in line, line
    assert "CHECKPOINT" not in sync.stderr and "Traceback" not in sync.stderr
    assert published_orders(published) == before
    assert not [path.name for path in small_disk.iterdir() if "publish" in path.name and path != published]
    # a copy that keeps failing is never quiet: status names it and exits 1, until a copy is written again
    for _ in range(2):
        status = amazon_orders(db, "status")
        assert status.returncode == 1 and "PUBLISHED COPY NOT UPDATED" in status.stdout, status.stdout
        assert "has not been written since" in status.stderr and "No space left on device" in status.stderr
        marketplace.advance(minutes=3)
        amazon_orders(db, "sync")
    (small_disk / "filler").unlink()
    marketplace.simulate(hours=1, orders_per_hour=10, skus=["SKU-A"], marketplaces=("ATVPDKIKX0DER",))
    marketplace.advance(minutes=3)
    assert amazon_orders(db, "sync").returncode == 0
    status = amazon_orders(db, "status")
    assert status.returncode == 0 and "PUBLISHED COPY" not in status.stdout, status.stdout + status.stderr
    assert published_orders(published) != before
