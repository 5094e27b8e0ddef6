"""The DuckDB warehouse: where it lives, how it is opened, and the one-writer lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.sql import read_sql

DEFAULT_DB = "data/warehouse.duckdb"


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse's writer lock."""


def warehouse_path(db: str | os.PathLike | None = None) -> Path:
    return Path(db or os.environ.get("AMAZON_ORDERS_DB") or DEFAULT_DB)


def _owner_only(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            os.chmod(file, 0o600)


@contextmanager
def writer_lock(path: Path, wait_seconds: float = 600, on_wait=None) -> Iterator[None]:
    """One writer per warehouse: a sync from the CLI and one from the schedule queue up here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"warehouse {path} is busy: another sync has been writing for over {wait_seconds:.0f} s"
                    ) from None
                if on_wait and not announced:
                    on_wait(f"warehouse {path} is busy with another sync; waiting for it to finish")
                    announced = True
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _owner_only_files() -> Iterator[None]:
    """Files DuckDB creates meanwhile (the database, each new .wal) are readable by their owner only."""
    old_umask = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old_umask)


def connect(db: str | os.PathLike | None = None, *, read_only: bool = False,
            busy_wait_seconds: float = 2.0) -> duckdb.DuckDBPyConnection:
    """Open (and on first use create) the warehouse, readable by its owner only."""
    path = warehouse_path(db)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: add a channel or run a sync first")
        deadline = time.monotonic() + busy_wait_seconds
        while True:
            try:
                con = duckdb.connect(str(path), read_only=True)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    # DuckDB lets no reader in while another process writes
                    raise WarehouseBusy(f"warehouse {path} is busy with a sync; try again when it ends") from None
                time.sleep(0.2)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _owner_only_files():
            con = duckdb.connect(str(path), config={
                # bounded memory at any history size: DuckDB spills to <warehouse>.tmp beyond it
                "memory_limit": os.environ.get("AMAZON_ORDERS_MEMORY_LIMIT", "1GB"),
                "preserve_insertion_order": False,
            })
            con.execute(read_sql("warehouse/schema.sql"))
        _owner_only(path)
    con.execute("set TimeZone = 'UTC'")
    return con


@contextmanager
def open_for_writing(db=None, *, on_wait=None) -> Iterator[duckdb.DuckDBPyConnection]:
    path = warehouse_path(db)
    with writer_lock(path, on_wait=on_wait), _owner_only_files():
        con = connect(path)
        try:
            yield con
        finally:
            con.close()
            _owner_only(path)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a refused or failed step leaves the warehouse as it was."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")
