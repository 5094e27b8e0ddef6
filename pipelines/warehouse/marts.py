"""The marts (sql/marts/): the questions analysts ask, answered from the core tables, and the copy of the core
tables and marts that any tool may read while the next sync writes (`<warehouse>.published.duckdb`).

A mart is one select in one file, rebuilt whole after the core tables change. Its first comment line is its
grain (the table's description), each `-- column: text` line after it a column's description. A mart may use
`$as_of` (the product's clock) for what depends on the time it is built at, such as an order's age. A step
marts share is an intermediate model (sql/intermediate/) over declared tables, materialised for the build.

Readers never meet the writer: the published copy is written to a temporary file beside it and moved over
it in one rename, so a reader opens the old copy or the new one, never a half-written one, and never waits
for a lock (DuckDB locks the warehouse file itself, not this one). It carries no buyer's name, email, phone or
street address: the PII purge need not chase it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import duckdb

from pipelines.sql import SQL_DIR, quote, read_sql
from pipelines.warehouse import models, tables
from pipelines.warehouse.connection import WarehouseError, owner_only_files, transaction, warehouse_path

MARTS_FOLDER = "marts"
_DOC = re.compile(r"^--\s*([a-z_][a-z0-9_]*):\s*(.*)$")


@dataclass(frozen=True)
class Mart:
    name: str
    description: str
    columns: tuple[tuple[str, str], ...]  # (column, description), as the file's header says

    @property
    def sql(self) -> str:
        return read_sql(f"{MARTS_FOLDER}/{self.name}.sql")

    def parameters(self, values: dict) -> dict | None:
        used = {name: value for name, value in values.items() if re.search(rf"\${name}\b", self.sql)}
        return used or None


def _read_header(name: str) -> Mart:
    description, columns = "", []
    for line in read_sql(f"{MARTS_FOLDER}/{name}.sql").splitlines():
        found = _DOC.match(line)
        if not found:
            break
        key, text = found.groups()
        if key == "grain":
            description = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
        else:
            columns.append((key, text))
    return Mart(name, description, tuple(columns))


@cache
def marts() -> tuple[Mart, ...]:
    """Every mart, in file-name order; each reads the core tables, the reference tables and intermediate models
    over those only."""
    found = tuple(_read_header(path.stem) for path in sorted((SQL_DIR / MARTS_FOLDER).glob("*.sql")))
    declared = tables.declared_relations()
    shareable = {
        model.relation for model in models.models() if model.layer == "intermediate" and model.reads <= declared
    }
    for mart in found:
        unknown = tables.relations_read(mart.sql) - declared - shareable
        if unknown:
            raise LookupError(
                f"mart {mart.name} reads {', '.join(sorted(unknown))}, which sql/warehouse/ does not declare"
            )
    return found


@cache
def shared_models() -> tuple[models.Model, ...]:
    """The intermediate models the marts read, materialised for their build."""
    read = set().union(*(tables.relations_read(mart.sql) for mart in marts()))
    return tuple(model for model in models.models() if model.relation in read)


def build_marts(con: duckdb.DuckDBPyConnection, as_of: datetime) -> dict[str, int]:
    """Rebuild every mart from the core tables in one transaction; return each one's row count."""
    counts = {}
    with transaction(con):
        for model in shared_models():
            con.execute(f"create or replace temp table {model.relation} as {model.sql}")
        for mart in marts():
            con.execute(f"create or replace table {mart.name} as {mart.sql}", mart.parameters({"as_of": as_of}))
            con.execute(f"comment on table {mart.name} is {quote(mart.description)}")
            for column, text in mart.columns:
                con.execute(f"comment on column {mart.name}.{column} is {quote(text)}")
            counts[mart.name] = con.execute(f"select count(*) from {mart.name}").fetchall()[0][0]
    for model in shared_models():
        con.execute(f"drop table {model.relation}")  # a temp table's memory comes back outside a transaction
    return counts


# -- the published copy ----------------------------------------------------------------------------

# What the published copy holds of each core table: all of it, but the buyers' personal details.
PUBLISHED_CORE = {
    "orders": "select * from orders",
    "order_lines": "select * from order_lines",
    "accounts": "select * replace (if(is_business or is_placeholder, account_name, null) as account_name) from accounts",
    "contacts": "select contact_id, account_id, city, state, country_code, source_updated_at from contacts",
    "products": "select * from products",
    "inventory_movements": "select * from inventory_movements",
    "inventory": "select * from inventory",
    "sales_returns": "select * from sales_returns",
    "sales_return_lines": "select * from sales_return_lines",
    "marketplaces": "select * from marketplaces",
}


def published_path(db=None) -> Path:
    """Where the published copy of a warehouse is: data/warehouse.duckdb -> data/warehouse.published.duckdb."""
    path = warehouse_path(db)
    return path.with_name(f"{path.stem}.published{path.suffix or '.duckdb'}")


def _describe(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The warehouse's comments on a table and its columns, as statements for the copy."""
    statements = []
    for (comment,) in con.execute(
        "select comment from duckdb_tables() where table_name = ? and comment is not null "
        "and database_name = current_database() union all select comment from duckdb_views() "
        "where view_name = ? and comment is not null and database_name = current_database()",
        [table, table],
    ).fetchall():
        statements.append(f"comment on table published.{table} is {quote(comment)}")
    for column, comment in con.execute(
        "select column_name, comment from duckdb_columns() where table_name = ? "
        "and comment is not null and database_name = current_database() and column_name "
        "in (select column_name from duckdb_columns() where database_name = 'published' "
        "and table_name = ?)",
        [table, table],
    ).fetchall():
        statements.append(f"comment on column published.{table}.{column} is {quote(comment)}")
    return statements


def publish(con: duckdb.DuckDBPyConnection, at: datetime, db=None) -> Path:
    """Copy the core tables and marts to the published file, swapped in whole (see the module's docstring); a
    failure is kept until a copy is written, so one that lasts shows in status."""
    try:
        published = _write_copy(con, db)
    except Exception as error:
        _record_publish(con, at, error)
        raise
    _record_publish(con, at, None)
    return published


def _write_copy(con: duckdb.DuckDBPyConnection, db) -> Path:
    target = published_path(db)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    written = (temporary, temporary.with_name(temporary.name + ".wal"))
    for leftover in written:
        leftover.unlink(missing_ok=True)
    copied = {**PUBLISHED_CORE, **{mart.name: f"select * from {mart.name}" for mart in marts()}}
    with owner_only_files():  # it holds what the warehouse holds, but the buyers' details
        con.execute(f"attach {quote(str(temporary))} as published")
        try:
            for table, query in copied.items():
                con.execute(f"create table published.{table} as {query}")
                for statement in _describe(con, table):
                    con.execute(statement)
            con.execute("detach published")  # its checkpoint writes the copy, and may find the disk full
        except BaseException as error:
            with contextlib.suppress(duckdb.Error):
                con.execute("detach published")
            # asked before the half-written copy goes and frees its room
            disk_full = _no_room(target.parent) if isinstance(error, duckdb.IOException) else None
            for part in written:  # a half-written copy takes no room; readers keep the last whole one
                part.unlink(missing_ok=True)
            if disk_full:
                raise PublishFailed(
                    f"the disk holding {target} is full ({os.strerror(disk_full)}): nothing was published, "
                    "readers keep the last published copy"
                ) from None
            raise
    os.replace(temporary, target)
    return target


def _record_publish(con: duckdb.DuckDBPyConnection, at: datetime, error: BaseException | None) -> None:
    """Keep the published copy's failure until a copy is written (`error` None): status shows it."""
    if error is None:
        con.execute("delete from publish_failures")
        return
    at = at.replace(tzinfo=None)  # UTC, as every time in the warehouse
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    since = con.execute("select min(failed_since) from publish_failures").fetchone()[0] or at
    with transaction(con):
        con.execute("delete from publish_failures")
        con.execute("insert into publish_failures values (?, ?, ?)", [since, at, line])


def publish_failure(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The published copy's failure that lasts, if any."""
    row = con.execute("select failed_since, failed_at, error from publish_failures").fetchone()
    return dict(zip(("failed_since", "failed_at", "error"), row)) if row else None


class PublishFailed(WarehouseError):
    """The published copy could not be written; the last one stays."""


# DuckDB's block: a disk without room for one more cannot take the copy's next write
_BLOCK_BYTES = 256 * 1024


def _no_room(folder: Path) -> int | None:
    """ENOSPC (or EDQUOT) when `folder`'s disk cannot take one more block, else None. DuckDB's IOException
    carries no errno ("CHECKPOINT during DETACH failed" does not even name the cause): the disk is asked."""
    probe = folder / f".publish-room.{os.getpid()}"
    try:
        with probe.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, _BLOCK_BYTES)
    except OSError as error:
        return error.errno if error.errno in (errno.ENOSPC, errno.EDQUOT) else None
    finally:
        probe.unlink(missing_ok=True)
    return None
