"""What the back office enters by hand: the catalog, shipments and sales returns.

Each operation validates everything first and writes in one transaction, so a refused command
leaves the warehouse as it was.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from pipelines.warehouse.ledger import append_movements, book_orders
from pipelines.warehouse.connection import transaction


class OperationError(ValueError):
    """A refused command; the message is the one line the user sees."""


@dataclass(frozen=True)
class CatalogRow:
    product_code: str
    product_name: str
    list_price: Decimal | None
    on_hand: int | None


CATALOG_COLUMNS = ["product_code", "product_name", "list_price", "on_hand"]


def read_catalog(path: str | Path) -> list[CatalogRow]:
    """Parse and check a catalog CSV; the first problem found refuses the whole file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise OperationError(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise OperationError(f"{path} is not UTF-8 text; save the catalog as UTF-8 CSV") from None
    rows, seen = [], set()
    # strict: a quote left open is an error, not a field running to the end of the file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        missing = [c for c in CATALOG_COLUMNS if c not in header]
        if missing:
            raise OperationError(f"{path} line 1: missing column(s) {', '.join(missing)}; expected {','.join(CATALOG_COLUMNS)}")
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                raise OperationError(f"{path} line {line}: {len(fields)} fields, but the header has {len(header)}")
            record = dict(zip(header, fields))
            code = (record["product_code"] or "").strip()
            name = (record["product_name"] or "").strip()
            if not code:
                raise OperationError(f"{path} line {line}: product_code is empty")
            if code in seen:
                raise OperationError(f"{path} line {line}: product_code {code!r} appears twice")
            if not name:
                raise OperationError(f"{path} line {line}: product_name is empty")
            price = (record["list_price"] or "").strip()
            try:
                list_price = Decimal(price) if price else None
            except InvalidOperation:
                raise OperationError(f"{path} line {line}: list_price {price!r} is not a number") from None
            if list_price is not None and (not list_price.is_finite() or list_price < 0):
                raise OperationError(f"{path} line {line}: list_price {price!r} must be zero or more")
            stock = (record["on_hand"] or "").strip()
            if stock and not stock.lstrip("-").isdigit():
                raise OperationError(f"{path} line {line}: on_hand {stock!r} is not a whole number")
            seen.add(code)
            rows.append(CatalogRow(code, name, list_price, int(stock) if stock else None))
    except csv.Error as error:
        raise OperationError(f"{path} line {reader.line_num}: {error} (a quote left open?)") from None
    if not rows:
        raise OperationError(f"{path}: no products in the file")
    return rows


def import_products(con: duckdb.DuckDBPyConnection, path: str | Path) -> dict:
    """Upsert the catalog; a placeholder with the same code becomes the real product."""
    rows = read_catalog(path)
    with transaction(con):
        con.execute("create or replace temp table catalog_import (product_code varchar, product_name varchar, "
                    "list_price decimal(18, 2), on_hand integer)")
        con.executemany("insert into catalog_import values (?, ?, ?, ?)",
                        [(r.product_code, r.product_name, r.list_price, r.on_hand) for r in rows])
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


def find_order(con, channel_order_id: str, channel: str | None) -> tuple[str, str, bool]:
    """(order_id, status, is_shipped) of the order, or a refusal naming what was not found."""
    found = con.execute("select order_id, status, is_shipped, channel from orders where channel_order_id = ?",
                        [channel_order_id]).fetchall()
    if not found:
        raise OperationError(f"no order with Channel Order ID {channel_order_id!r}")
    if channel:
        elsewhere = sorted(row[3] for row in found if row[3] != channel)
        found = [row for row in found if row[3] == channel]
        if not found:
            raise OperationError(f"order {channel_order_id} is not on channel {channel!r} "
                                 f"(it is on {', '.join(map(repr, elsewhere))})")
    if len(found) > 1:
        raise OperationError(f"order {channel_order_id!r} exists on several channels; name one with --channel")
    return found[0][:3]


def book_order(con, order_id: str) -> int:
    return book_orders(con, "select ?", [order_id])


def next_return_id(con) -> str:
    number = con.execute("select coalesce(max(try_cast(substr(return_id, 5) as integer)), 0) + 1 "
                         "from sales_returns where return_id like 'RET-%'").fetchone()[0]
    return f"RET-{number:06d}"


def returnable_units(con, order_id: str, sku: str, channel_order_id: str) -> tuple[int, int]:
    """(units shipped, units already returned) of a SKU on an order."""
    shipped_on_amazon, shipped_here = con.execute(
        """
        select sum(shipped_quantity),
               (select sum(shipped_quantity) from shipment_lines where order_id = $order and product_code = $sku)
        from order_lines where order_id = $order and line_type = 'product' and product_code = $sku
        """,
        {"order": order_id, "sku": sku},
    ).fetchone()
    if shipped_on_amazon is None:
        raise OperationError(f"SKU {sku!r} is not on order {channel_order_id}")
    returned = con.execute(
        "select coalesce(sum(l.quantity), 0) from sales_return_lines l join sales_returns r using (return_id) "
        "where r.order_id = ? and l.product_code = ?",
        [order_id, sku],
    ).fetchone()[0]
    return max(shipped_on_amazon, shipped_here or 0), returned


def _is_canceled(con, status: str) -> bool:
    return con.execute("select is_canceled from order_statuses where status = ?", [status]).fetchone()[0]


def mark_shipped(con: duckdb.DuckDBPyConnection, channel_order_id: str, channel: str | None = None, *,
                 force: bool = False) -> str:
    order_id, status, is_shipped = find_order(con, channel_order_id, channel)
    if _is_canceled(con, status):
        raise OperationError(f"order {channel_order_id} is {status} on Amazon; it cannot be shipped")
    if is_shipped:
        raise OperationError(f"order {channel_order_id} is already marked shipped")
    fulfilled_by, has_cancel_request = con.execute(
        "select fulfilled_by, has_cancel_request from orders where order_id = ?", [order_id]).fetchone()
    if fulfilled_by == "AMAZON":
        raise OperationError(f"order {channel_order_id} is fulfilled by Amazon: Amazon ships it, not the warehouse")
    if has_cancel_request and not force:
        reasons = "; ".join(r for (r,) in con.execute(
            "select distinct coalesce(cancel_request_reason, 'no reason given') from order_lines "
            "where order_id = ? and has_cancel_request", [order_id]).fetchall())
        raise OperationError(f"the buyer asked Amazon to cancel order {channel_order_id} ({reasons}); "
                             "cancel it on Amazon, or ship anyway with --force")
    with transaction(con):
        shipment_id = con.execute("select shipment_id_for(?)", [order_id]).fetchone()[0]
        con.execute("insert into shipments values (?, ?, now()::timestamp)", [shipment_id, order_id])
        con.execute(
            """
            insert into shipment_lines
            select ?, order_id, product_code, sum(canceled_quantity), sum(quantity - canceled_quantity)
            from order_lines where order_id = ? and line_type = 'product'
            group by order_id, product_code
            """,
            [shipment_id, order_id],
        )
        con.execute("update orders set is_shipped = true where order_id = ?", [order_id])
        # what Amazon said of its shipping comes first (as the orders model has it): ours fills the gap
        con.execute("update orders set shipped_at = coalesce(shipped_at, (select shipped_at from shipments "
                    "where order_id = $1)) where order_id = $1", [order_id])
        book_order(con, order_id)
    return shipment_id


def create_return(
    con: duckdb.DuckDBPyConnection,
    channel_order_id: str,
    sku: str,
    quantity: int,
    *,
    reason: str | None = None,
    restock: bool = True,
    channel: str | None = None,
) -> str:
    """A sales return created from the sales order; restocked units go back on hand.

    Where Amazon's returns report already brought returns of this order and SKU, the clerk's entry is
    those returns, not a second one: they are confirmed (and, still awaiting receipt, received); only
    units beyond them make a return of the clerk's. The id is the first return the entry is."""
    if quantity < 1:
        raise OperationError(f"--quantity must be at least 1 (got {quantity})")
    order_id, status, _ = find_order(con, channel_order_id, channel)
    shipped, returned = returnable_units(con, order_id, sku, channel_order_id)
    # Amazon's returns of this order and SKU that no clerk has confirmed yet, as far as they cover `quantity`
    confirming, covered = [], 0
    for return_id, return_status, units in con.execute(
            "select r.return_id, r.status, l.quantity from sales_returns r join sales_return_lines l using (return_id) "
            "where r.order_id = ? and l.product_code = ? and r.source = 'amazon' and not r.confirmed_by_clerk "
            "order by r.created_at, r.return_id", [order_id, sku]).fetchall():
        if covered >= quantity:
            break
        confirming.append((return_id, return_status))
        covered += units
    rest = quantity - covered
    # only what left the warehouse can come back: units shipped on Amazon or marked shipped here
    if rest > shipped - returned:
        raise OperationError(
            f"cannot return {quantity} of {sku} on order {channel_order_id} ({status}): {shipped} shipped "
            f"(on Amazon or marked shipped here), {returned} already returned, so at most {shipped - returned}"
        )
    with transaction(con):
        for return_id, return_status in confirming:
            # Amazon's reason stays in `reason`; the clerk's is kept beside it (#28)
            con.execute("update sales_returns set confirmed_by_clerk = true, clerk_reason = coalesce(?, clerk_reason) "
                        "where return_id = ?", [reason, return_id])
            if return_status == "awaiting_receipt":
                _receive(con, return_id, restock)
        if rest > 0:
            return_id = next_return_id(con)
            # a unit of an Amazon-fulfilled order goes back to Amazon's centre, never the seller's shelf (#28)
            location, fba_channel = con.execute(
                "select if(fulfilled_by = 'AMAZON', 'amazon_fba', 'warehouse'), if(fulfilled_by = 'AMAZON', channel, null) "
                "from orders where order_id = ?", [order_id]).fetchone()
            con.execute("insert into sales_returns (return_id, order_id, created_at, reason, location, channel) "
                        "values (?, ?, now()::timestamp, ?, ?, ?)", [return_id, order_id, reason, location, fba_channel])
            con.execute("insert into sales_return_lines values (?, 1, ?, ?, ?)", [return_id, sku, rest, restock])
        book_order(con, order_id)
    return confirming[0][0] if confirming else return_id


def _receive(con, return_id: str, restock: bool) -> None:
    con.execute("update sales_returns set status = 'received', received_at = now()::timestamp where return_id = ?",
                [return_id])
    con.execute("update sales_return_lines set is_restocked = ? where return_id = ?", [restock, return_id])


def receive_return(con: duckdb.DuckDBPyConnection, return_id: str, *, restock: bool = True) -> dict:
    """A merchant-fulfilled return's parcel has arrived: its units go back on hand (unless not restocked)."""
    found = con.execute("select r.order_id, r.status, o.channel_order_id, r.received_at "
                        "from sales_returns r join orders o using (order_id) where r.return_id = ?",
                        [return_id]).fetchone()
    if found is None:
        raise OperationError(f"no sales return {return_id!r}")
    order_id, status, channel_order_id, received_at = found
    if status != "awaiting_receipt":
        when = f" on {received_at:%Y-%m-%d %H:%M}" if received_at else ""
        raise OperationError(f"sales return {return_id} of order {channel_order_id} is not awaiting receipt: "
                             f"it was received{when}")
    with transaction(con):
        _receive(con, return_id, restock)
        book_order(con, order_id)
    units = con.execute("select product_code, quantity from sales_return_lines where return_id = ?",
                        [return_id]).fetchall()
    return {"return_id": return_id, "channel_order_id": channel_order_id, "restocked": restock,
            "units": ", ".join(f"{quantity} x {sku}" for sku, quantity in units)}
