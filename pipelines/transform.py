"""Derive the core tables from the raw layer: incrementally by default, or from scratch (rebuild).

Only the order versions landed since the last transform are read: for each order, the newest valid
one replaces what the tables hold when it is newer. Everything a run writes commits in one
transaction together with the position it reached in the raw layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from assets.schemas import SCHEMAS, failing_rows
from pipelines.warehouse import transaction
from sql import read_sql

# Materialised in this order as temp tables named after their file (core models get `_changed`).
STAGING_MODELS = [
    "staging/stg_amazon__order_versions",
    "staging/stg_amazon__order_items",
    "intermediate/int_order_version_issues",
    "intermediate/int_current_order_versions",
    "intermediate/int_order_buyers",
]
ORDER_MODELS = ["core/orders", "core/order_lines"]
# these read the order models once pandera has passed them
BUYER_MODELS = ["core/accounts", "core/contacts"]


@dataclass
class TransformResult:
    orders_changed: int = 0
    orders_added: int = 0
    orders_updated: int = 0
    versions_quarantined: int = 0
    placeholders_created: int = 0
    movements_booked: int = 0


def _temp_name(model: str) -> str:
    folder, name = model.split("/")
    return f"{name}_changed" if folder == "core" else name


def _materialise(con: duckdb.DuckDBPyConnection, model: str, params: dict | None = None) -> None:
    sql = read_sql(model + ".sql")
    # DuckDB refuses parameters a statement does not use
    used = {name: value for name, value in (params or {}).items() if f"${name}" in sql}
    con.execute(f"create or replace temp table {_temp_name(model)} as {sql}", used or None)


def _drop(con: duckdb.DuckDBPyConnection, *models: str) -> None:
    """Temp tables live in memory: dropping each once nothing reads it keeps later steps from spilling."""
    for model in models:
        con.execute(f"drop table {_temp_name(model)}")


def _pandera_failures(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Validate the candidate rows of each order table; return {order_id: reason} for failures."""
    failures: dict[str, str] = {}
    for table in ("orders", "order_lines"):
        # only the columns the contract speaks of: moving rows into pandas is the costly part
        columns = ", ".join(SCHEMAS[table].to_schema().columns)
        for row, check, column in failing_rows(con, f"select {columns} from {table}_changed", SCHEMAS[table]):
            if row.get("order_id"):
                failures.setdefault(row["order_id"], f"{table}.{column or 'row'}: {check}")
    return failures


def book_ledger(con: duckdb.DuckDBPyConnection) -> int:
    """Book the stock difference for the orders in temp table `ledger_orders` (inside a transaction)."""
    return con.execute(
        "insert into inventory_movements (product_id, product_code, order_id, quantity_delta, reason, created_at) "
        f"select *, now()::timestamp from ({read_sql('core/inventory_movements.sql')})"
    ).fetchone()[0]


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


def transform(con: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> TransformResult:
    """Stage and validate the new versions, then write what they change in one transaction.

    The staging runs before the transaction: its temp tables are scratch, and DuckDB gives back the
    memory of a dropped one only outside a transaction (inside it they would all spill to disk).
    The caller's writer lock keeps the warehouse still meanwhile.
    """
    result = TransformResult()
    last = 0 if rebuild else con.execute(
        "select coalesce(max(last_ingest_id), 0) from transform_state where name = 'core'"
    ).fetchone()[0]
    upto = con.execute("select coalesce(max(ingest_id), 0) from raw_amazon_orders").fetchone()[0]
    window = {"last_ingest_id": last, "upto_ingest_id": upto}
    for model in STAGING_MODELS:
        _materialise(con, model, window)
    _drop(con, "staging/stg_amazon__order_versions")
    for model in ORDER_MODELS:
        _materialise(con, model)
    _drop(con, "staging/stg_amazon__order_items")
    rejected = _pandera_failures(con)
    # a version the SQL rules let through but the table contract refuses: the tables keep its order's old rows
    con.execute("create or replace temp table rejected(order_id varchar, reason varchar)")
    if rejected:
        con.executemany("insert into rejected values (?, ?)", list(rejected.items()))
        for table in ("orders", "order_lines"):
            con.execute(f"delete from {table}_changed where order_id in (select order_id from rejected)")
    for model in BUYER_MODELS:
        _materialise(con, model)

    with transaction(con):
        if rebuild:
            _reset(con)
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
        # placeholders are looked up after the reset, which removes them
        _materialise(con, "core/products")

        result.orders_changed = con.execute("select count(*) from orders_changed").fetchone()[0]
        result.orders_updated = con.execute(
            "select count(*) from orders_changed semi join orders using (order_id)"
        ).fetchone()[0]
        result.orders_added = result.orders_changed - result.orders_updated
        result.placeholders_created = con.execute("select count(*) from products_changed").fetchone()[0]

        con.execute("delete from orders where order_id in (select order_id from orders_changed)")
        con.execute("insert into orders by name select * from orders_changed")
        con.execute("delete from order_lines where order_id in (select order_id from orders_changed)")
        con.execute("insert into order_lines by name select * from order_lines_changed")
        con.execute("insert into products by name select * from products_changed")
        for table, key in (("accounts", "account_id"), ("contacts", "contact_id")):
            # the newest order wins, whatever order the versions arrive in
            con.execute(
                f"""
                merge into {table} using {table}_changed as incoming
                on {table}.{key} = incoming.{key}
                when matched and incoming.source_updated_at >= {table}.source_updated_at then update
                when not matched then insert by name
                """
                if not rebuild
                # after the reset nothing matches: a plain insert does the same, faster
                else f"insert into {table} by name select * from {table}_changed"
            )
        con.execute("create or replace temp table ledger_orders as select order_id from orders_changed")
        result.movements_booked = book_ledger(con)

        con.execute(
            "insert into transform_state values ('core', ?) on conflict (name) do update set last_ingest_id = excluded.last_ingest_id",
            [upto],
        )
        result.versions_quarantined = con.execute(
            "select count(*) from quarantine where ingest_id > ? and ingest_id <= ?", [last, upto]
        ).fetchone()[0]
        con.execute("create or replace table last_transform_orders as select order_id from orders_changed")
    _drop(con, *STAGING_MODELS[2:], *ORDER_MODELS, *BUYER_MODELS, "core/products")
    return result
