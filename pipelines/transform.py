"""Derive the core tables from the raw layer: incrementally by default, or from scratch (rebuild).

Only the order versions landed since the last transform are read: for each order, the newest valid
one replaces what the tables hold when it is newer. Everything a run writes commits in one
transaction together with the position it reached in the raw layer.

The staging and intermediate models are materialised as temp tables before that transaction: they
are scratch, and DuckDB gives back the memory of a dropped temp table only outside a transaction.
The caller's writer lock keeps the warehouse still throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.warehouse import transaction
from sql import read_sql

# Materialised in this order as temp tables named after their file, before the transaction.
STAGING_MODELS = [
    "staging/stg_amazon__order_versions",
    "staging/stg_amazon__order_items",
    "intermediate/int_order_version_issues",
    "intermediate/int_current_order_versions",
    "intermediate/int_order_buyers",
]
# pandera validates the new rows of these before they count
ORDER_TABLES = ["orders", "order_lines"]


@dataclass
class TransformResult:
    orders_changed: int = 0
    orders_added: int = 0
    orders_updated: int = 0
    versions_quarantined: int = 0
    placeholders_created: int = 0
    movements_booked: int = 0


def _model(name: str) -> str:
    return read_sql(f"core/{name}.sql")


def _materialise(con: duckdb.DuckDBPyConnection, model: str, params: dict) -> None:
    sql = read_sql(model + ".sql")
    # DuckDB refuses parameters a statement does not use
    used = {name: value for name, value in params.items() if f"${name}" in sql}
    con.execute(f"create or replace temp table {Path(model).name} as {sql}", used or None)


def _pandera_failures(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Validate the changed orders' new rows; return {order_id: reason} for failures."""
    from assets.schemas import SCHEMAS, failing_rows  # pandas and pandera only when there is something to check

    failures: dict[str, str] = {}
    for table in ORDER_TABLES:
        # only the columns the contract speaks of: moving rows into pandas is the costly part
        columns = ", ".join(SCHEMAS[table].to_schema().columns)
        for row, check, column in failing_rows(con, f"select {columns} from {table}_changed", SCHEMAS[table]):
            if row.get("order_id"):
                failures.setdefault(row["order_id"], f"{table}.{column or 'row'}: {check}")
    return failures


def append_movements(con: duckdb.DuckDBPyConnection, movements: str) -> int:
    """Append the rows of a query (product_id, product_code, order_id, quantity_delta, reason) to the ledger.

    Ids carry on from the largest so far: a sequence would hand them out one row at a time, and
    the writer lock already makes the writer the only one.
    """
    return con.execute(
        "insert into inventory_movements "
        "(movement_id, product_id, product_code, order_id, quantity_delta, reason, created_at) "
        "select (select coalesce(max(movement_id), 0) from inventory_movements) + row_number() over (), "
        f"*, now()::timestamp from ({movements})"
    ).fetchone()[0]


def book_ledger(con: duckdb.DuckDBPyConnection) -> int:
    """Book the stock difference for the orders in temp table `ledger_orders` (inside a transaction)."""
    return append_movements(con, read_sql("core/inventory_movements.sql"))


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    """Forget everything derived from the raw layer; local inputs (catalog, shipments, returns) stay."""
    con.execute("delete from orders")
    con.execute("delete from order_lines")
    con.execute("delete from quarantine")
    con.execute("delete from accounts where not is_placeholder")
    con.execute("delete from contacts")
    con.execute("delete from products where is_placeholder")
    con.execute("delete from inventory_movements where reason <> 'adjustment'")
    con.execute("delete from transform_state")


def _write_orders(con: duckdb.DuckDBPyConnection, *, rebuild: bool) -> int:
    """Write the changed orders' rows and return how many of those orders the tables held already.

    An order whose new rows break the table contract keeps the rows it had (none after a reset).
    """
    for table in ORDER_TABLES:
        if rebuild:
            # the reset emptied the table: the rows go straight in, and all of them are changed rows
            con.execute(f"insert into {table} by name {_model(table)}")
            con.execute(f"create or replace temp view {table}_changed as select * from {table}")
        else:
            # a few rows, staged: an order's old rows give way only to new rows that pass
            con.execute(f"create or replace temp table {table}_changed as {_model(table)}")
    rejected = _pandera_failures(con)
    con.execute("create or replace temp table rejected(order_id varchar, reason varchar)")
    if rejected:
        # a version the SQL rules let through but the table contract refuses
        con.executemany("insert into rejected values (?, ?)", list(rejected.items()))
        con.execute("delete from changed_orders where order_id in (select order_id from rejected)")
    if rebuild:
        for table in ORDER_TABLES if rejected else []:
            con.execute(f"delete from {table} where order_id in (select order_id from rejected)")
        return 0
    updated = con.execute("select count(*) from changed_orders semi join orders using (order_id)").fetchone()[0]
    for table in ORDER_TABLES:
        con.execute(f"delete from {table} where order_id in (select order_id from changed_orders)")
        con.execute(f"insert into {table} by name select * from {table}_changed semi join changed_orders using (order_id)")
    return updated


def transform(con: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> TransformResult:
    result = TransformResult()
    last = 0 if rebuild else con.execute(
        "select coalesce(max(last_ingest_id), 0) from transform_state where name = 'core'"
    ).fetchone()[0]
    upto = con.execute("select coalesce(max(ingest_id), 0) from raw_amazon_orders").fetchone()[0]
    if upto == last and not rebuild:
        return result  # no new versions: nothing to derive
    window = {"last_ingest_id": last, "upto_ingest_id": upto}
    for model in STAGING_MODELS:
        _materialise(con, model, window)
        if model == "staging/stg_amazon__order_items":
            # the items live on here, unnested: dropping their column from the versions frees its memory
            con.execute("alter table stg_amazon__order_versions drop column items")
    # read by nothing further
    con.execute("drop table stg_amazon__order_versions")

    with transaction(con):
        if rebuild:
            _reset(con)
        con.execute("create or replace temp table changed_orders as select order_id from int_current_order_versions")
        result.orders_updated = _write_orders(con, rebuild=rebuild)
        con.execute(
            """
            insert into quarantine
            select ingest_id, raw.channel, raw.amazon_order_id, issues.reason, now()::timestamp
            from int_order_version_issues as issues
            inner join raw_amazon_orders as raw using (ingest_id)
            union all
            select ingest_id, channel, amazon_order_id, rejected.reason, now()::timestamp
            from rejected
            inner join int_current_order_versions using (order_id)
            union all
            select ingest_id, channel, null, 'orderId is missing or not a string', now()::timestamp
            from raw_amazon_orders
            where ingest_id > ? and ingest_id <= ? and amazon_order_id is null
            """,
            [last, upto],
        )
        result.orders_changed = con.execute("select count(*) from changed_orders").fetchone()[0]
        result.orders_added = result.orders_changed - result.orders_updated
        result.placeholders_created = con.execute(f"insert into products by name {_model('products')}").fetchone()[0]
        for table, key in (("accounts", "account_id"), ("contacts", "contact_id")):
            # the newest order wins, whatever order the versions arrive in: a row gives way to a newer
            # one and stays when the incoming one is older (a merge that updates whole rows is far slower)
            incoming = _model(table)
            if not rebuild:
                con.execute(f"""
                    delete from {table} where {key} in (
                        select {key} from ({incoming}) as incoming inner join {table} using ({key})
                        where incoming.source_updated_at >= {table}.source_updated_at
                    )
                """)
            con.execute(f"insert into {table} by name select * from ({incoming}) as incoming anti join {table} using ({key})")
        con.execute("create or replace temp table ledger_orders as select order_id from changed_orders")
        result.movements_booked = book_ledger(con)

        con.execute(
            "insert into transform_state values ('core', ?) on conflict (name) do update set last_ingest_id = excluded.last_ingest_id",
            [upto],
        )
        result.versions_quarantined = con.execute(
            "select count(*) from quarantine where ingest_id > ? and ingest_id <= ?", [last, upto]
        ).fetchone()[0]
        con.execute("create or replace table last_transform_orders as select order_id from changed_orders")
    for model in STAGING_MODELS[1:]:
        con.execute(f"drop table {Path(model).name}")
    for table in ORDER_TABLES:
        con.execute(f"drop {'view' if rebuild else 'table'} {table}_changed")
    return result
