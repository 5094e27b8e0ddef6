"""The catalog, imported from a CSV: products, their names and prices, and the shelf's count as stock."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from pipelines.backoffice.files import csv_rows
from pipelines.backoffice.orders import EntryRefused
from pipelines.warehouse.connection import transaction
from pipelines.warehouse.ledger import append_movements


@dataclass(frozen=True)
class CatalogRow:
    product_code: str
    product_name: str
    list_price: Decimal | None
    on_hand: int | None


CATALOG_COLUMNS = ["product_code", "product_name", "list_price", "on_hand"]


def read_catalog(path: str | Path) -> list[CatalogRow]:
    """Parse and check a catalog CSV; the first problem found refuses the whole file."""
    rows, seen = [], set()
    for line, record in csv_rows(path, CATALOG_COLUMNS, "catalog"):
        code, name = record["product_code"], record["product_name"]
        if not code:
            raise EntryRefused(f"{path} line {line}: product_code is empty")
        if code in seen:
            raise EntryRefused(f"{path} line {line}: product_code {code!r} appears twice")
        if not name:
            raise EntryRefused(f"{path} line {line}: product_name is empty")
        price = record["list_price"]
        try:
            list_price = Decimal(price) if price else None
        except InvalidOperation:
            raise EntryRefused(f"{path} line {line}: list_price {price!r} is not a number") from None
        if list_price is not None and (not list_price.is_finite() or list_price < 0):
            raise EntryRefused(f"{path} line {line}: list_price {price!r} must be zero or more")
        stock = record["on_hand"]
        if stock and not stock.lstrip("-").isdigit():
            raise EntryRefused(f"{path} line {line}: on_hand {stock!r} is not a whole number")
        seen.add(code)
        rows.append(CatalogRow(code, name, list_price, int(stock) if stock else None))
    if not rows:
        raise EntryRefused(f"{path}: no products in the file")
    return rows


def import_products(con: duckdb.DuckDBPyConnection, path: str | Path) -> dict:
    """Upsert the catalog; a placeholder with the same code becomes the real product."""
    rows = read_catalog(path)
    with transaction(con):
        con.execute(
            "create or replace temp table catalog_import (product_code varchar, product_name varchar, "
            "list_price decimal(18, 2), on_hand integer)"
        )
        con.executemany(
            "insert into catalog_import values (?, ?, ?, ?)",
            [(r.product_code, r.product_name, r.list_price, r.on_hand) for r in rows],
        )
        replaced = con.execute(
            "select count(*) from products semi join catalog_import using (product_code) where is_placeholder"
        ).fetchone()[0]
        con.execute(
            """
            merge into products using (
                select product_id_for(product_code) as product_id, product_code, product_name,
                       list_price, false as is_placeholder
                from catalog_import
            ) as incoming
            on products.product_code = incoming.product_code
            when matched then update set product_name = incoming.product_name,
                list_price = incoming.list_price, is_placeholder = false
            when not matched then insert by name
            """
        )
        # Amazon's data stays in a line's notes only while its product is a placeholder
        con.execute(
            "update order_lines set notes = null "
            "where line_type = 'product' and product_code in (select product_code from catalog_import)"
        )
        # on_hand in the file is the physical count: what open orders reserve of it is not available
        adjusted = append_movements(
            con,
            """
            select product_id_for(c.product_code), c.product_code, null,
                   c.on_hand - coalesce(i.reserved_quantity, 0) - coalesce(i.on_hand, 0), 'adjustment',
                   'warehouse', null
            from catalog_import as c
            left join (select * from inventory where location = 'warehouse') as i using (product_code)
            where c.on_hand is not null and c.on_hand - coalesce(i.reserved_quantity, 0) <> coalesce(i.on_hand, 0)
            """,
        )
    return {"products": len(rows), "placeholders_replaced": replaced, "stock_adjustments": adjusted}
