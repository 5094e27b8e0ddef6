"""What the warehouse declares in sql/warehouse/, read from those files alone.

An in-memory warehouse built from the same file answers: which tables and views exist, each
column's type and description (docs.yml, applied as `comment on`, is the one description of each), the
rows of the reference tables, and which relations a query reads (DuckDB's own parser).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cache

import duckdb

from pipelines.sql import schema_sql

_lock = threading.Lock()

# The order-management tables analysts query, derived from the raw layer (and the catalog).
CORE_TABLES = ("orders", "order_lines", "accounts", "contacts", "products", "inventory_movements", "inventory")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]


@cache
def _declared() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(schema_sql())
    return con


def _query(sql: str, params=None) -> list[tuple]:
    with _lock:  # one cached connection, possibly used from several threads
        return _declared().execute(sql, params or []).fetchall()


@cache
def declared_relations() -> frozenset[str]:
    """Every table and view sql/warehouse/ declares (temp work tables included)."""
    rows = _query(
        "select table_name from duckdb_tables() union select view_name from duckdb_views() where not internal"
    )
    return frozenset(name for (name,) in rows)


@cache
def table(name: str) -> Table:
    rows = _query(
        """
        select column_name, data_type, coalesce(comment, '')
        from duckdb_columns() where table_name = ? order by column_index
        """,
        [name],
    )
    if not rows:
        raise KeyError(f"sql/warehouse/ declares no table {name!r}")
    description = _query(
        "select comment from duckdb_tables() where table_name = ? "
        "union all select comment from duckdb_views() where view_name = ?",
        [name, name],
    )[0][0]
    return Table(name, description or "", tuple(Column(*row) for row in rows))


@cache
def order_statuses() -> tuple[dict, ...]:
    """The order_statuses reference table: amazon_status, status, is_pending, is_final, is_canceled."""
    with _lock:
        relation = _declared().execute("select * from order_statuses")
        names = [column[0] for column in relation.description]
        return tuple(dict(zip(names, row)) for row in relation.fetchall())


def relations_read(sql: str) -> frozenset[str]:
    """The tables and views a query reads, without the CTEs it defines (a CTE may shadow a table:
    `orders as (select * from orders)` reads the table)."""
    tree = json.loads(_query("select json_serialize_sql(?::varchar)", [sql])[0][0])
    if tree.get("error"):
        raise ValueError(f"cannot parse the query: {tree.get('error_message')}")
    found: set[str] = set()

    def walk(node, scope: frozenset[str]) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child, scope)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "BASE_TABLE":
            name = node["table_name"]
            if name not in scope or node.get("schema_name"):
                found.add(name)
            return
        ctes = (node.get("cte_map") or {}).get("map") or []
        inner = scope
        for entry in ctes:
            # a CTE sees the CTEs before it, not itself (none of the models is recursive)
            walk(entry["value"], inner)
            inner = inner | {entry["key"]}
        for key, child in node.items():
            if key != "cte_map":
                walk(child, inner)

    for statement in tree["statements"]:
        walk(statement, frozenset())
    return frozenset(found)


def markdown_reference(names) -> str:
    """The README's table reference: each table's description, then its columns'."""
    lines = ["| table | column | meaning |", "|---|---|---|"]
    for name in names:
        described = table(name)
        lines.append(f"| `{name}` | | {described.description} |")
        lines += [f"| | `{column.name}` | {column.description} |" for column in described.columns if column.description]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m pipelines.warehouse.tables: docs/tables.md's table reference
    print(markdown_reference(CORE_TABLES))
