"""Sales returns, whatever brought them: a clerk's entry (`create_return`, `receive_return`) or Amazon's returns
reports, each of whose return lines becomes the sales return created from its sales order (or confirms the one a
clerk entered), when the warehouse can hold it.

A batch of lines is judged against what the warehouse holds for its orders and SKUs (`load_ledger`), one line
at a time (`decide`: which order, how many units, what became of them), then written at once
(`book_amazon_returns`). A line the warehouse cannot hold raises NotHeld with the reason the import quarantines
it under."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from pipelines.backoffice.orders import EntryRefused, book_order, find_order
from pipelines.warehouse.connection import transaction
from pipelines.warehouse.ledger import append_movements, book_orders

RESTOCKED_DISPOSITIONS = {"SELLABLE"}


@dataclass(frozen=True)
class AmazonReturn:
    report_type: str
    key: str
    channel_order_id: str
    sku: str
    quantity: int
    returned_at: datetime
    reason: str | None
    disposition: str | None
    status: str | None

    @property
    def is_returnless(self) -> bool:
        return self.key.startswith("returnless:")

    @property
    def row_key(self) -> str:
        """What identifies a return line: the return's key, the order and the SKU."""
        return f"{self.key}|{self.channel_order_id}|{self.sku}"


@dataclass
class Ledger:
    """What the warehouse holds for the orders and SKUs of a batch, kept current as the batch is booked."""

    orders: dict  # channel_order_id -> (order_id, fulfilled_by)
    shipped: dict  # (order_id, sku) -> units shipped, on Amazon or here
    returned: dict  # (order_id, sku) -> units returned so far
    clerk: dict  # (order_id, sku) -> [units a clerk entered and no Amazon return matched yet, a clerk return id]
    known: set  # row keys of the return lines already imported
    counted: tuple  # (when the channel's latest FBA count was taken, the SKUs it listed)


def load_ledger(con, channel: str, report_type: str, found: list[AmazonReturn]) -> Ledger:
    if not found:
        return Ledger({}, {}, {}, {}, set(), (None, set()))
    batch = pa.table({"cid": [f.channel_order_id for f in found], "sku": [f.sku for f in found]})  # noqa: F841 - DuckDB reads it by name in the SQL
    con.execute("create or replace temp table returns_batch as select * from batch")
    params = {"channel": channel}
    orders = {
        cid: (order_id, by)
        for cid, order_id, by in con.execute(
            "select channel_order_id, order_id, fulfilled_by from orders where channel = $channel "
            "and channel_order_id in (select cid from returns_batch)",
            params,
        ).fetchall()
    }
    con.execute(
        "create or replace temp table returns_batch_orders as select distinct o.order_id, b.sku "
        "from returns_batch b join orders o on o.channel = $channel and o.channel_order_id = b.cid",
        params,
    )
    # units shipped, on Amazon or marked shipped here, of each SKU on the batch's orders
    shipped = {
        (o, s): max(amazon_units, here or 0)
        for o, s, amazon_units, here in con.execute(
            """
        with on_amazon as (
            select l.order_id, l.product_code, sum(l.shipped_quantity) as units
            from order_lines l join returns_batch_orders b on l.order_id = b.order_id and l.product_code = b.sku
            where l.line_type = 'product'
            group by all
        ),
        here as (
            select x.order_id, x.product_code, sum(x.shipped_quantity) as units
            from shipment_lines x join returns_batch_orders b on x.order_id = b.order_id and x.product_code = b.sku
            group by all
        )
        select order_id, product_code, on_amazon.units, here.units
        from on_amazon left join here using (order_id, product_code)
        """
        ).fetchall()
    }
    returned = {
        (o, s): units
        for o, s, units in con.execute(
            "select r.order_id, l.product_code, sum(l.quantity) from sales_return_lines l "
            "join sales_returns r using (return_id) "
            "join returns_batch_orders b on r.order_id = b.order_id and l.product_code = b.sku group by all"
        ).fetchall()
    }
    clerk = {
        (o, s): [units, return_id]
        for o, s, units, return_id in con.execute(
            """
        with entered as (
            select r.order_id, l.product_code, sum(l.quantity) as units, max(r.return_id) as return_id
            from sales_returns r join sales_return_lines l using (return_id)
            join returns_batch_orders b on r.order_id = b.order_id and l.product_code = b.sku
            where r.source = 'clerk'
            group by all
        ),
        matched as (
            select o.order_id, a.seller_sku as product_code, sum(a.quantity) as units
            from amazon_returns a join orders o on o.channel = a.channel and o.channel_order_id = a.channel_order_id
            where a.channel = $channel and a.is_matched and o.order_id in (select order_id from entered)
            group by all
        )
        select order_id, product_code, entered.units - coalesce(matched.units, 0), return_id
        from entered left join matched using (order_id, product_code)
        """,
            params,
        ).fetchall()
    }
    known = {
        row
        for (row,) in con.execute(
            "select return_key || '|' || channel_order_id || '|' || seller_sku from amazon_returns "
            "where channel = $channel and report_type = $type and channel_order_id in (select cid from returns_batch)",
            params | {"type": report_type},
        ).fetchall()
    }
    counted = con.execute(
        "select s.counted_at, list(distinct i.seller_sku) from fba_snapshots s "
        "left join fba_inventory i using (snapshot_id) "
        "where s.snapshot_id = (select max(snapshot_id) from fba_snapshots where channel = $channel) group by all",
        params,
    ).fetchone() or (None, [])
    return Ledger(orders, shipped, returned, clerk, known, (counted[0], {sku for sku in counted[1] or [] if sku}))


class NotHeld(Exception):
    """The warehouse cannot take this return (yet); the message is the quarantine reason."""


def decide(ledger: Ledger, fulfilled_by: str, found: AmazonReturn, next_number: int) -> tuple:
    """(order id, sales return id, whether a clerk's return covered it, what became of the units, units booked)."""
    order = ledger.orders.get(found.channel_order_id)
    if order is None:
        raise NotHeld(f"order {found.channel_order_id} is not in the warehouse")
    order_id, order_fulfilled_by = order
    if order_fulfilled_by != fulfilled_by:
        raise NotHeld(
            f"order {found.channel_order_id} is fulfilled by {order_fulfilled_by}, but this report lists "
            f"{fulfilled_by}-fulfilled returns"
        )
    line = (order_id, found.sku)
    if line not in ledger.shipped:
        raise NotHeld(f"SKU {found.sku!r} is not on order {found.channel_order_id}")
    covered, clerk_return = ledger.clerk.get(line, (0, None))
    rest = found.quantity - min(max(covered, 0), found.quantity)
    if rest == 0:
        ledger.clerk[line][0] -= found.quantity
        return order_id, clerk_return, True, "matched", 0
    shipped, returned = ledger.shipped[line], ledger.returned.get(line, 0)
    if rest > shipped - returned:
        raise NotHeld(
            f"{rest} unit(s) of {found.sku} returned on order {found.channel_order_id}, but "
            f"{shipped} shipped and {returned} already returned"
        )
    if rest < found.quantity:
        ledger.clerk[line][0] -= found.quantity
    ledger.returned[line] = returned + rest
    fba = fulfilled_by == "AMAZON"
    outcome = (
        "returnless_refund"
        if found.is_returnless
        else ("restocked" if found.disposition in RESTOCKED_DISPOSITIONS else "recorded")
        if fba
        else "awaiting_receipt"
    )
    return order_id, f"RET-{next_number + 1:06d}", rest < found.quantity, outcome, rest


def book_amazon_returns(
    con, channel: str, report_type: str, fba: bool, now: datetime, imported, returns, lines, adjustments
) -> None:
    """A batch of Amazon's return lines, as `decide` judged them, written a table at a time: the sales returns
    and their lines, Amazon's lines (amazon_returns), the FBA adjustments taken back, and the orders' stock."""
    if returns:
        _insert(
            con,
            "sales_returns (return_id, order_id, created_at, reason, source, status, location, channel, "
            "disposition, received_at)",
            {
                "return_id": [r[0] for r in returns],
                "order_id": [r[1] for r in returns],
                "created_at": [r[2].returned_at for r in returns],
                "reason": [r[2].reason for r in returns],
                "source": ["amazon"] * len(returns),
                "status": [
                    "received" if fba else "returnless_refund" if r[3] == "returnless_refund" else "awaiting_receipt"
                    for r in returns
                ],
                "location": ["amazon_fba" if fba else "warehouse"] * len(returns),
                "channel": [channel if fba else None] * len(returns),
                "disposition": [r[2].disposition for r in returns],
                "received_at": [r[2].returned_at if fba else None for r in returns],
            },
        )
        _insert(
            con,
            "sales_return_lines",
            {
                "return_id": [r[0] for r in lines],
                "line_number": [1] * len(lines),
                "product_code": [r[1] for r in lines],
                "quantity": [r[2] for r in lines],
                "is_restocked": [r[3] for r in lines],
            },
        )
    if imported:
        _insert(
            con,
            "amazon_returns",
            {
                "channel": [channel] * len(imported),
                "report_type": [report_type] * len(imported),
                "return_key": [f.key for f, *_ in imported],
                "channel_order_id": [f.channel_order_id for f, *_ in imported],
                "seller_sku": [f.sku for f, *_ in imported],
                "quantity": [f.quantity for f, *_ in imported],
                "returned_at": [f.returned_at for f, *_ in imported],
                "reason": [f.reason for f, *_ in imported],
                "disposition": [f.disposition for f, *_ in imported],
                "amazon_status": [f.status for f, *_ in imported],
                "report_id": [r[1] for r in imported],
                "line_number": [r[2] for r in imported],
                "return_id": [r[3] for r in imported],
                "is_matched": [r[4] for r in imported],
                "imported_at": [now] * len(imported),
            },
        )
    if adjustments:
        taken_back = pa.table(  # noqa: F841 - DuckDB reads it by name in the SQL
            {
                "sku": [a[0] for a in adjustments],
                "order_id": [a[1] for a in adjustments],
                "units": [a[2] for a in adjustments],
            }
        )
        con.execute("create or replace temp table returns_adjustments as select * from taken_back")
        append_movements(
            con,
            "select product_id_for(sku), sku, order_id, -units, 'adjustment', 'amazon_fba', $channel "
            "from returns_adjustments",
            {"channel": channel},
        )
    if returns:
        booked = pa.table({"order_id": sorted({r[1] for r in returns})})  # noqa: F841 - DuckDB reads it by name in the SQL
        con.execute("create or replace temp table returns_booked as select * from booked")
        book_orders(con, "select order_id from returns_booked")


def _insert(con, table: str, columns: dict) -> None:
    rows = pa.table(columns)  # noqa: F841 - DuckDB reads it by name in the SQL below
    con.execute(f"insert into {table} select * from rows")


# -- a clerk's return ---------------------------------------------------------------------------------------


def last_return_number(con) -> int:
    """The number of the newest RET- id (0 before the first): sales return ids are RET-000001, RET-000002 ..."""
    return con.execute(
        "select coalesce(max(try_cast(substr(return_id, 5) as integer)), 0) from sales_returns "
        "where return_id like 'RET-%'"
    ).fetchone()[0]


def next_return_id(con) -> str:
    return f"RET-{last_return_number(con) + 1:06d}"


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
        raise EntryRefused(f"SKU {sku!r} is not on order {channel_order_id}")
    returned = con.execute(
        "select coalesce(sum(l.quantity), 0) from sales_return_lines l join sales_returns r using (return_id) "
        "where r.order_id = ? and l.product_code = ?",
        [order_id, sku],
    ).fetchone()[0]
    return max(shipped_on_amazon, shipped_here or 0), returned


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
        raise EntryRefused(f"--quantity must be at least 1 (got {quantity})")
    order_id, status, _ = find_order(con, channel_order_id, channel)
    shipped, returned = returnable_units(con, order_id, sku, channel_order_id)
    # Amazon's returns of this order and SKU that no clerk has confirmed yet, as far as they cover `quantity`
    confirming, covered = [], 0
    for return_id, return_status, units in con.execute(
        "select r.return_id, r.status, l.quantity from sales_returns r join sales_return_lines l using (return_id) "
        "where r.order_id = ? and l.product_code = ? and r.source = 'amazon' and not r.confirmed_by_clerk "
        "order by r.created_at, r.return_id",
        [order_id, sku],
    ).fetchall():
        if covered >= quantity:
            break
        confirming.append((return_id, return_status))
        covered += units
    rest = quantity - covered
    # only what left the warehouse can come back: units shipped on Amazon or marked shipped here
    if rest > shipped - returned:
        raise EntryRefused(
            f"cannot return {quantity} of {sku} on order {channel_order_id} ({status}): {shipped} shipped "
            f"(on Amazon or marked shipped here), {returned} already returned, so at most {shipped - returned}"
        )
    with transaction(con):
        for return_id, return_status in confirming:
            # Amazon's reason stays in `reason`; the clerk's is kept beside it (#28)
            con.execute(
                "update sales_returns set confirmed_by_clerk = true, clerk_reason = coalesce(?, clerk_reason) "
                "where return_id = ?",
                [reason, return_id],
            )
            if return_status == "awaiting_receipt":
                _receive(con, return_id, restock)
        if rest > 0:
            return_id = next_return_id(con)
            # a unit of an Amazon-fulfilled order goes back to Amazon's centre, never the seller's shelf (#28)
            location, fba_channel = con.execute(
                "select if(fulfilled_by = 'AMAZON', 'amazon_fba', 'warehouse'), if(fulfilled_by = 'AMAZON', channel, null) "
                "from orders where order_id = ?",
                [order_id],
            ).fetchone()
            con.execute(
                "insert into sales_returns (return_id, order_id, created_at, reason, location, channel) "
                "values (?, ?, now()::timestamp, ?, ?, ?)",
                [return_id, order_id, reason, location, fba_channel],
            )
            con.execute("insert into sales_return_lines values (?, 1, ?, ?, ?)", [return_id, sku, rest, restock])
        book_order(con, order_id)
    return confirming[0][0] if confirming else return_id


def _receive(con, return_id: str, restock: bool) -> None:
    con.execute(
        "update sales_returns set status = 'received', received_at = now()::timestamp where return_id = ?", [return_id]
    )
    con.execute("update sales_return_lines set is_restocked = ? where return_id = ?", [restock, return_id])


def receive_return(con: duckdb.DuckDBPyConnection, return_id: str, *, restock: bool = True) -> dict:
    """A merchant-fulfilled return's parcel has arrived: its units go back on hand (unless not restocked)."""
    found = con.execute(
        "select r.order_id, r.status, o.channel_order_id, r.received_at "
        "from sales_returns r join orders o using (order_id) where r.return_id = ?",
        [return_id],
    ).fetchone()
    if found is None:
        raise EntryRefused(f"no sales return {return_id!r}")
    order_id, status, channel_order_id, received_at = found
    if status != "awaiting_receipt":
        when = f" on {received_at:%Y-%m-%d %H:%M}" if received_at else ""
        raise EntryRefused(
            f"sales return {return_id} of order {channel_order_id} is not awaiting receipt: it was received{when}"
        )
    with transaction(con):
        _receive(con, return_id, restock)
        book_order(con, order_id)
    units = con.execute(
        "select product_code, quantity from sales_return_lines where return_id = ?", [return_id]
    ).fetchall()
    return {
        "return_id": return_id,
        "channel_order_id": channel_order_id,
        "restocked": restock,
        "units": ", ".join(f"{quantity} x {sku}" for sku, quantity in units),
    }
