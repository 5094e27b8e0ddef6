"""The DuckDB warehouse: where it lives, how it is opened, and who may write or read when.

One writer at a time, for one commit's worth of work: a sync lands each page, a transform each batch, a
listener each batch of messages, a clerk each command, under the writer lock, and lets it go between them
(Amazon is asked with the warehouse free). Writers take turns: one that runs many commits (a sync, a
backfill's transform) steps aside after each for the writers waiting, so a waiting writer waits for at
most one other commit. The holder's name is written into the lock file, so a wait names who holds the
warehouse. This product's readers (`status`, `sql`) take a shared lock, so a writer waits for a query to
finish (bounded, and saying so) instead of failing on DuckDB's own file lock. A process of another program
that holds the file open is waited for the same way.

Nothing is written to a file that is not a warehouse: an empty or text file, a SQLite database or
another program's DuckDB database is refused before DuckDB opens it for writing.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.sql import schema_sql

DEFAULT_DB = "data/warehouse.duckdb"
WRITER_WAIT_SECONDS = 600.0
READER_WAIT_SECONDS = 60.0  # a writer of ours holds the warehouse for a commit, a few seconds at most
# another program that has the file open for writing (a notebook, the duckdb CLI) may keep it for hours
OTHER_PROGRAM_WAIT_SECONDS = 2.0
POLL_SECONDS = 0.02
# Tables every warehouse has had since its first version: how one is told from another program's database.
WAREHOUSE_TABLES = {"channels", "raw_amazon_orders"}
# DuckDB fetches an extension it needs (say, to read a SQLite file) from the internet unless told not to.
NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message is the one line the user sees."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse for longer than we wait."""


class NotAWarehouse(WarehouseError):
    """The file is something else; nothing was written to it."""


def warehouse_path(db: str | os.PathLike | None = None) -> Path:
    return Path(db or os.environ.get("AMAZON_ORDERS_DB") or DEFAULT_DB)


def refused_reports_folder(db: str | os.PathLike | None = None) -> Path:
    """Where report documents refused as too large are kept for the operator, beside the warehouse file."""
    path = warehouse_path(db)
    return path.with_name(path.name + ".refused-reports")


def _owner_only(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            os.chmod(file, 0o600)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _refuse_what_is_not_a_warehouse(path: Path) -> None:
    """Look at the file's first bytes before DuckDB does: it would write a header into an empty file."""
    if not path.exists():
        return  # created on first use
    if path.is_dir():
        raise NotAWarehouse(f"{path} is a folder, not a warehouse file")
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise NotAWarehouse(f"{path} is an empty file, not a warehouse; remove it or pick another --db")
    if head.startswith(b"SQLite format 3\0"):
        raise NotAWarehouse(f"{path} is a SQLite database, not an amazon-orders warehouse")
    if head[8:12] != b"DUCK":
        raise NotAWarehouse(f"{path} is not a DuckDB database, so not an amazon-orders warehouse")


def _refuse_cut_off(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file shorter than DuckDB's three headers and the blocks it has in use was cut off: refuse it
    before anything is written to it."""
    block_size, used_blocks = con.execute("select block_size, used_blocks from pragma_database_size()").fetchone()
    size = path.stat().st_size
    if size < 3 * 4096 + used_blocks * block_size:
        con.close()
        raise WarehouseError(
            f"warehouse {path} is truncated ({size:,} bytes, but {used_blocks} blocks of "
            f"{block_size:,} in use): restore it from a copy; nothing was written to it"
        )


def _refuse_other_programs_database(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }
    if tables and not WAREHOUSE_TABLES <= tables:
        con.close()
        raise NotAWarehouse(
            f"{path} is another program's DuckDB database (it has no {' or '.join(sorted(WAREHOUSE_TABLES))} "
            "table); nothing was written to it"
        )


def _holder(path: Path) -> str:
    """Who holds the lock file at `path`, as its holder wrote it (readers write nothing)."""
    try:
        return path.read_text().strip() or "a reader (status, sql or an analyst's query)"
    except OSError:
        return "another process"


def _this_process() -> str:
    """The command this process runs, as its user typed it (`amazon-orders ship ...`), without --db."""
    words, skip = [os.path.basename(sys.argv[0] or "python")], False
    for word in sys.argv[1:]:
        if skip or word == "--db":
            skip = not skip
            continue
        words.append(word)
    return " ".join(words[:3])


@contextmanager
def _locked(
    path: Path,
    mode: int,
    wait_seconds: float,
    on_wait: Callable[[str], None] | None,
    busy: str,
    who: str | None = None,
    step_aside: bool = False,
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    waiting = None
    try:
        deadline = time.monotonic() + wait_seconds
        if step_aside:
            _let_waiting_writers_go_first(path, deadline)
        announced = False
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waiting is None:  # others who step aside see that someone waits
                    waiting = os.open(path.with_name(path.name + ".waiting"), os.O_RDWR | os.O_CREAT, 0o600)
                    fcntl.flock(waiting, fcntl.LOCK_SH)
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(busy.format(path=path, seconds=wait_seconds, holder=_holder(lock))) from None
                if on_wait and not announced:
                    on_wait(f"warehouse {path} is in use by {_holder(lock)}; waiting for it to finish")
                    announced = True
                time.sleep(POLL_SECONDS)
        if waiting is not None:
            os.close(waiting)
            waiting = None
        # the holder's name for those who wait (a reader's lock is shared: it leaves none, nor the name of a
        # writer killed before it could take its own away)
        os.ftruncate(fd, 0)
        if mode == fcntl.LOCK_EX:
            os.pwrite(fd, f"{who or _this_process()} (pid {os.getpid()})".encode(), 0)
        try:
            yield
        finally:
            if mode == fcntl.LOCK_EX:
                os.ftruncate(fd, 0)
    finally:
        if waiting is not None:
            os.close(waiting)
        os.close(fd)  # closing releases the lock


def _let_waiting_writers_go_first(path: Path, deadline: float) -> None:
    """Wait until no one waits for the writer lock: each waiter holds `.waiting` shared until it has its turn."""
    fd = os.open(path.with_name(path.name + ".waiting"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(POLL_SECONDS)
    finally:
        os.close(fd)


def writer_lock(
    path: Path,
    wait_seconds: float = WRITER_WAIT_SECONDS,
    on_wait=None,
    *,
    who: str | None = None,
    step_aside: bool = False,
):
    """One writer per warehouse, and no reader of ours while it writes. `who` names the holder to those who
    wait; a writer of many commits steps aside (`step_aside`) for those already waiting."""
    return _locked(
        path,
        fcntl.LOCK_EX,
        wait_seconds,
        on_wait,
        "warehouse {path} is busy: {holder} has held it for over {seconds:.0f} s",
        who,
        step_aside,
    )


def reader_lock(path: Path, wait_seconds: float | None = None, on_wait=None):
    return _locked(
        path,
        fcntl.LOCK_SH,
        READER_WAIT_SECONDS if wait_seconds is None else wait_seconds,
        on_wait,
        "warehouse {path} is busy: {holder} has held it for over {seconds:.0f} s; try again",
    )


@contextmanager
def run_lock(db, name: str, on_wait=None) -> Iterator[None]:
    """One run at a time of what `name` says (a channel's sync), beside the writer lock: it does not keep
    other writers out between its commits."""
    path = warehouse_path(db)
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    with _locked(
        path.with_name(f"{path.name}.run-{digest}"),
        fcntl.LOCK_EX,
        WRITER_WAIT_SECONDS,
        on_wait,
        "warehouse {path} is busy: {holder} has run for over {seconds:.0f} s",
        name,
    ):
        yield


@dataclass
class Holds:
    """How long a run held the warehouse: all its commits together, and the longest one."""

    seconds: float = 0.0
    longest: float = 0.0
    commits: int = 0

    def timed(self, write: Callable[[], AbstractContextManager]) -> Callable[[], AbstractContextManager]:
        """`write`, each hold of the warehouse it gives counted here."""

        @contextmanager
        def held():
            with write() as con:
                started = time.perf_counter()
                try:
                    yield con
                finally:
                    elapsed = time.perf_counter() - started
                    self.seconds, self.longest = self.seconds + elapsed, max(self.longest, elapsed)
                    self.commits += 1

        return held

    def metadata(self) -> dict:
        return {
            "seconds_holding_the_warehouse": round(self.seconds, 2),
            "longest_hold_of_the_warehouse_seconds": round(self.longest, 2),
        }


@contextmanager
def owner_only_files() -> Iterator[None]:
    """Files DuckDB creates meanwhile (the database, each new .wal) are readable by their owner only."""
    old_umask = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old_umask)


def _open(path: Path, *, read_only: bool, wait_seconds: float, on_wait) -> duckdb.DuckDBPyConnection:
    """DuckDB's connection, waiting (bounded) while another program holds the file."""
    config = dict(NO_EXTENSIONS)
    if not read_only:
        config.update(
            memory_limit=os.environ.get("AMAZON_ORDERS_MEMORY_LIMIT", "1GB"),  # spills beyond it
            preserve_insertion_order=False,
        )
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as error:
            # DuckDB lets no writer in while another process has the file open, and no reader while one writes
            if "lock" not in str(error).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {_first_line(error)}") from None
            if time.monotonic() >= deadline:
                if read_only:
                    raise WarehouseBusy(
                        f"warehouse {path} is busy: another process is writing to it; try again when it ends"
                    ) from None
                raise WarehouseBusy(
                    f"warehouse {path} is busy: another process has held it open for over {wait_seconds:.0f} s"
                ) from None
            if on_wait and not announced:
                on_wait(f"warehouse {path} is held open by another process; waiting for it to close it")
                announced = True
            time.sleep(0.2)
        except duckdb.Error as error:
            raise WarehouseError(f"cannot open warehouse {path}: {_first_line(error)}") from None


def connect(
    db: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    busy_wait_seconds: float | None = None,
    on_wait=None,
) -> duckdb.DuckDBPyConnection:
    """Open (and on first use create) the warehouse, readable by its owner only."""
    path = warehouse_path(db)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: add a channel or run a sync first")
    _refuse_what_is_not_a_warehouse(path)
    wait = (
        busy_wait_seconds
        if busy_wait_seconds is not None
        else (OTHER_PROGRAM_WAIT_SECONDS if read_only else WRITER_WAIT_SECONDS)
    )
    if read_only:
        con = _open(path, read_only=True, wait_seconds=wait, on_wait=on_wait)
        _refuse_cut_off(con, path)
        _refuse_other_programs_database(con, path)
    else:
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with owner_only_files():
            con = _open(path, read_only=False, wait_seconds=wait, on_wait=on_wait)
            if existed:
                _refuse_cut_off(con, path)
            _refuse_other_programs_database(con, path)
            try:
                _apply_schema(con)
            except duckdb.Error as error:
                con.close()
                raise WarehouseError(f"cannot prepare warehouse {path}: {_first_line(error)}") from None
        _owner_only(path)
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")  # a query's progress is no one's output
    return con


@functools.cache
def _schema_digest() -> str:
    """The digest of the schema (sql/warehouse/) a warehouse records when it is applied: read once a process (a
    warehouse is opened for every commit)."""
    return hashlib.sha256(schema_sql().encode()).hexdigest()


@functools.cache
def _temp_tables() -> str:
    """The schema's temp work tables' statements, parsed once a process: a writer's connection declares them."""
    return ";\n".join(
        statement.query
        for statement in duckdb.extract_statements(schema_sql())
        if statement.type == duckdb.StatementType.CREATE and "create temp table" in statement.query.lower()
    )


def _schema_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    applied = (
        con.execute("select table_name from duckdb_tables() where table_name = 'applied_schema'").fetchall()
        and con.execute("select digest from applied_schema").fetchall()
    )
    return applied == [(_schema_digest(),)]


def _apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Migrate the warehouse to the schema when sql/warehouse/ changed since it was applied; declare this
    connection's temp work tables either way (applying the whole file takes a tenth of a second)."""
    if _schema_is_current(con):
        con.execute(_temp_tables())
        return
    con.execute(schema_sql())
    con.execute("delete from applied_schema")
    con.execute("insert into applied_schema values (?)", [_schema_digest()])


@contextmanager
def open_for_writing(
    db=None, *, on_wait=None, who: str | None = None, step_aside: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    path = warehouse_path(db)
    with writer_lock(path, on_wait=on_wait, who=who, step_aside=step_aside), owner_only_files():
        con = connect(path, on_wait=on_wait)
        try:
            yield con
        finally:
            con.close()
            _owner_only(path)


@contextmanager
def open_for_reading(db=None, *, on_wait=None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that a writer of ours waits for rather than fails on."""
    path = warehouse_path(db)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: add a channel or run a sync first")
    for upgraded in (False, True):
        with reader_lock(path, on_wait=on_wait):
            con = connect(path, read_only=True)
            if upgraded or _schema_is_current(con):
                try:
                    yield con
                finally:
                    con.close()
                return
            con.close()
        # a warehouse last written by an older version of this program: a reader cannot migrate it, so the
        # writer does, once, and the reader then finds the tables it asks for
        with open_for_writing(path, on_wait=on_wait, who="a schema upgrade"):
            pass


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a refused or failed step leaves the warehouse as it was."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass  # the failure (a full disk, say) already ended the transaction: its cause is what matters
        raise
    con.execute("commit")
