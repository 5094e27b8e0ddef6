"""The stock ledger: every change of stock is a movement in inventory_movements; on hand is their sum.

Bookings converge. For each order in `ledger_scope`, sql/ledger/inventory_movements.sql gives the
difference between the stock the order should hold (reserved, cancelled, returned) and what is
booked, so replays, versions arriving out of order and rebuilds all end at the same on hand.
"""

from __future__ import annotations

import duckdb

from pipelines.sql import read_sql


def append_movements(con: duckdb.DuckDBPyConnection, movements: str, params=None) -> int:
    """Append the rows of a query (product_id, product_code, order_id, quantity_delta, reason, location, channel).

    Ids carry on from the largest so far: a sequence would hand them out one row at a time, and
    the writer lock already makes the writer the only one.
    """
    return con.execute(
        "insert into inventory_movements "
        "(movement_id, product_id, product_code, order_id, quantity_delta, reason, location, channel, created_at) "
        "select (select coalesce(max(movement_id), 0) from inventory_movements) + row_number() over (), "
        f"*, now()::timestamp from ({movements})",
        params,
    ).fetchone()[0]


# Orders booked per statement: a rebuild books every order, and DuckDB's memory stays bounded this way.
BATCH_ORDERS = 500_000


def book_orders(con: duckdb.DuckDBPyConnection, orders: str, params=None) -> int:
    """Book the stock difference of the orders a query selects (order_id); inside a transaction."""
    con.execute(
        f"create or replace temp table ledger_candidates as select order_id, row_number() over () as n "
        f"from ({orders}) as picked(order_id)",
        params,
    )
    count = con.execute("select count(*) from ledger_candidates").fetchone()[0]
    booked = 0
    for first in range(0, count, BATCH_ORDERS):
        con.execute("delete from ledger_scope")
        con.execute(
            "insert into ledger_scope select order_id from ledger_candidates where n > ? and n <= ?",
            [first, first + BATCH_ORDERS],
        )
        booked += append_movements(con, read_sql("ledger/inventory_movements.sql"))
    con.execute("drop table ledger_candidates")
    return booked
