"""Packages shipped here, recorded for Amazon's shipment confirmation (#27).

A package is one parcel: its carrier, tracking number, ship date and units by Amazon's orderItemId. It is
recorded here first, in one transaction with its stock (the ledger's rule: units shipped here leave the shelf
once), then confirmed to Amazon by pipelines.outbound.shipments. Everything Amazon would refuse for a reason
this side can see is refused here first, with one line, before anything is written or sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.amazon.carriers import UnknownCarrier, carrier_for
from pipelines.backoffice.files import csv_rows
from pipelines.backoffice.orders import EntryRefused, book_order, find_order, is_canceled
from pipelines.clock import parse_instant
from pipelines.warehouse.connection import transaction

# a package on its way to Amazon: pending (not sent), sending (sent, answer not recorded), retrying (Amazon was
# unavailable or throttled), confirmed (204), refused (4xx: the clerk corrects and resends)
DUE_STATES = ("pending", "sending", "retrying")
# the shipment lines of an order marked shipped because its packages hold every unit: what Amazon had
# cancelled by then (the ledger returns no more of it), under the marking's id with this suffix
AT_SHIP = "-at-ship"


@dataclass
class PackageRequest:
    channel_order_id: str
    carrier: str
    tracking: str
    carrier_name: str | None = None
    service: str | None = None
    ship_date: str | datetime | None = None
    lines: list[tuple[str, int]] = field(default_factory=list)  # (SKU, units); empty: every unshipped unit
    channel: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Recorded:
    package_id: str
    package_reference_id: str
    order_id: str
    channel: str
    channel_order_id: str
    units: str  # "2 x MUG-01, 1 x PEN-03"


def _order(con, channel_order_id: str, channel: str | None) -> dict:
    order_id, status, is_shipped = find_order(con, channel_order_id, channel)
    row = con.execute(
        """
        select o.channel, o.fulfilled_by, o.has_cancel_request, s.is_canceled, s.is_pending
        from orders o left join order_statuses s on s.status = o.status where o.order_id = ?""",
        [order_id],
    ).fetchone()
    keys = ("channel", "fulfilled_by", "has_cancel_request", "is_canceled", "is_pending")
    return {"order_id": order_id, "status": status, "is_shipped": is_shipped, **dict(zip(keys, row))}


def _refuse_what_amazon_would(con, order: dict, channel_order_id: str, force: bool) -> None:
    if order["fulfilled_by"] == "AMAZON":
        raise EntryRefused(f"order {channel_order_id} is fulfilled by Amazon: Amazon ships it, not the warehouse")
    if order["is_canceled"]:
        raise EntryRefused(f"order {channel_order_id} is {order['status']} on Amazon; it cannot be shipped")
    if order["is_pending"]:
        raise EntryRefused(
            f"order {channel_order_id} is {order['status']} on Amazon: it cannot ship until Amazon "
            "confirms it (Unshipped)"
        )
    if order["has_cancel_request"] and not force:
        reasons = "; ".join(
            r
            for (r,) in con.execute(
                "select distinct coalesce(cancel_request_reason, 'no reason given') from order_lines "
                "where order_id = ? and has_cancel_request",
                [order["order_id"]],
            ).fetchall()
        )
        raise EntryRefused(
            f"the buyer asked Amazon to cancel order {channel_order_id} ({reasons}); "
            "cancel it on Amazon, or ship anyway with --force"
        )


def open_items(con, order_id: str, *, marked_shipped: bool, without: str | None = None) -> list[tuple]:
    """(orderItemId, SKU, units still to put in a package) of each product line, in line order.

    Units in packages (but `without`'s) are taken; so are units Amazon already reports shipped. For an order
    marked shipped here without packages (`ship` before carriers were recorded), what is left is what the
    packages have not yet told Amazon of it."""
    amazon_shipped = "0" if marked_shipped else "l.shipped_quantity"
    return con.execute(
        f"""
        with packed as (
            select amazon_order_item_id, sum(quantity) as units from package_lines
            where order_id = $order and package_id is distinct from $without group by all
        )
        select l.amazon_order_item_id, l.product_code,
               greatest(l.quantity - l.canceled_quantity - greatest({amazon_shipped}, coalesce(p.units, 0)), 0)
        from order_lines l left join packed p using (amazon_order_item_id)
        where l.order_id = $order and l.line_type = 'product' and l.amazon_order_item_id is not null
        order by l.line_number""",
        {"order": order_id, "without": without},
    ).fetchall()


def _plan(items: list[tuple], wanted: list[tuple[str, int]], channel_order_id: str) -> list[tuple[str, str, int]]:
    """The package's (orderItemId, SKU, units): every open unit, or the units asked for by SKU."""
    if not wanted:
        planned = [(item_id, sku, units) for item_id, sku, units in items if units > 0]
        if not planned:
            raise EntryRefused(f"order {channel_order_id} has no unit left to ship")
        return planned
    planned, totals = [], {}
    for sku, units in wanted:
        totals[sku] = totals.get(sku, 0) + units
    for sku, units in totals.items():
        if units < 1:
            raise EntryRefused(f"--quantity of {sku} must be at least 1 (got {units})")
        lines = [(item_id, units_open) for item_id, line_sku, units_open in items if line_sku == sku]
        if not lines:
            raise EntryRefused(f"SKU {sku!r} is not on order {channel_order_id}")
        available = sum(units_open for _, units_open in lines)
        if units > available:
            raise EntryRefused(f"cannot ship {units} x {sku} of order {channel_order_id}: {available} unshipped")
        for item_id, units_open in lines:
            take = min(units, units_open)
            if take:
                planned.append((item_id, sku, take))
                units -= take
    return planned


def _ship_date(value, now: datetime) -> datetime:
    if value is None or value == "":
        return now.replace(microsecond=0)
    moment = parse_instant(value, "--ship-date")
    return moment


def _carrier(request: PackageRequest) -> tuple[str, str | None]:
    if not (request.tracking or "").strip():
        raise EntryRefused("--tracking is empty: Amazon requires the carrier's tracking number")
    try:
        return carrier_for(request.carrier, request.carrier_name)
    except UnknownCarrier as error:
        raise EntryRefused(str(error)) from None


def _units(planned) -> str:
    totals: dict[str, int] = {}
    for _, sku, units in planned:
        totals[sku] = totals.get(sku, 0) + units
    return ", ".join(f"{units} x {sku}" for sku, units in totals.items())


def record(con: duckdb.DuckDBPyConnection, request: PackageRequest, now: datetime) -> Recorded:
    """Record one package (inside the caller's transaction): refused before anything is written."""
    order = _order(con, request.channel_order_id, request.channel)
    _refuse_what_amazon_would(con, order, request.channel_order_id, request.force)
    carrier_code, carrier_name = _carrier(request)
    ship_date = _ship_date(request.ship_date, now)
    order_id, marked = order["order_id"], order["is_shipped"]
    # marked shipped by `ship` without a carrier (its shipment lines hold the units): packages then only tell
    # Amazon; marked by packages (their marking's lines hold none), the order has nothing left to ship
    bare = (
        marked
        and con.execute(
            "select coalesce(sum(l.shipped_quantity), 0) > 0 from shipments s join shipment_lines l using (shipment_id) "
            "where s.order_id = ?",
            [order_id],
        ).fetchone()[0]
    )
    if marked and not bare:
        raise EntryRefused(f"order {request.channel_order_id} is already marked shipped")
    planned = _plan(open_items(con, order_id, marked_shipped=bare), request.lines, request.channel_order_id)
    number = con.execute(
        "select coalesce(max(package_reference_id::integer), 0) + 1 from packages where order_id = ?", [order_id]
    ).fetchone()[0]
    package_id = con.execute("select shipment_id_for(?) || '-' || ?", [order_id, number]).fetchone()[0]
    con.execute(
        "insert into packages (package_id, order_id, package_reference_id, carrier_code, carrier_name, "
        "shipping_method, tracking_number, ship_date, state, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, "
        "'pending', ?)",
        [
            package_id,
            order_id,
            str(number),
            carrier_code,
            carrier_name,
            (request.service or "").strip() or None,
            request.tracking.strip(),
            ship_date,
            now,
        ],
    )
    con.executemany(
        "insert into package_lines values (?, ?, ?, ?, ?)",
        [(package_id, order_id, item_id, sku, units) for item_id, sku, units in planned],
    )
    if not bare:  # units that leave the shelf here; an order marked shipped before already booked them
        _book_package(con, package_id, order_id)
        _mark_if_whole(con, order_id, now)
    return Recorded(package_id, str(number), order_id, order["channel"], request.channel_order_id, _units(planned))


def _book_package(con, package_id: str, order_id: str) -> None:
    """The package's units as shipment lines (the ledger's record of units shipped here), then the stock."""
    con.execute("delete from shipment_lines where shipment_id = ?", [package_id])
    con.execute(
        """
        insert into shipment_lines (shipment_id, order_id, product_code, canceled_quantity_at_ship, shipped_quantity)
        select package_id, order_id, product_code, 0, sum(quantity) from package_lines
        where package_id = ? group by all""",
        [package_id],
    )
    book_order(con, order_id)


def _mark_if_whole(con, order_id: str, now: datetime) -> None:
    """Once packages hold every unit not cancelled, the order is marked shipped here as `ship` marks it: a
    later cancellation by Amazon returns no stock beyond what it had cancelled by then."""
    if any(units for _, _, units in open_items(con, order_id, marked_shipped=False)):
        return
    if con.execute("select count(*) from shipments where order_id = ?", [order_id]).fetchone()[0]:
        return
    shipment_id = con.execute("select shipment_id_for(?)", [order_id]).fetchone()[0]
    con.execute("insert into shipments values (?, ?, ?)", [shipment_id, order_id, now])
    # what Amazon had cancelled by now (the units shipped are on the packages' lines), kept apart from the
    # marking's own lines, which `ship` without a carrier fills with the units it ships
    con.execute(
        """
        insert into shipment_lines
        select ?, order_id, product_code, sum(canceled_quantity), 0
        from order_lines where order_id = ? and line_type = 'product'
        group by order_id, product_code""",
        [shipment_id + AT_SHIP, order_id],
    )
    con.execute("update orders set is_shipped = true where order_id = ?", [order_id])
    book_order(con, order_id)


def record_package(con: duckdb.DuckDBPyConnection, request: PackageRequest, now: datetime) -> Recorded:
    with transaction(con):
        return record(con, request, now)


def refuse_bare_ship_of_packed_order(con, channel_order_id: str, channel: str | None) -> None:
    """`ship` without a carrier marks the whole order shipped: not once packages hold some of it."""
    order_id, _, _ = find_order(con, channel_order_id, channel)
    if con.execute("select count(*) from packages where order_id = ?", [order_id]).fetchone()[0]:
        raise EntryRefused(
            f"order {channel_order_id} has packages already: ship the rest with --carrier and "
            "--tracking (and --sku/--quantity)"
        )


# -- the warehouse's daily batch -----------------------------------------------------------------------
SHIPMENT_COLUMNS = ["order", "sku", "quantity", "carrier", "tracking", "date"]


def read_shipments_csv(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, row) of each shipment row; the first problem found refuses the whole file."""
    rows = []
    for line, row in csv_rows(path, SHIPMENT_COLUMNS, "shipments"):
        for name in SHIPMENT_COLUMNS:
            if not row[name]:
                raise EntryRefused(f"{path} line {line}: {name} is empty")
        if not row["quantity"].isascii() or not row["quantity"].isdigit() or int(row["quantity"]) < 1:
            raise EntryRefused(f"{path} line {line}: quantity {row['quantity']!r} is not a whole number of at least 1")
        try:
            parse_instant(row["date"], "date")
        except ValueError as error:
            raise EntryRefused(f"{path} line {line}: {error}") from None
        rows.append((line, row))
    if not rows:
        raise EntryRefused(f"{path}: no shipments in the file")
    return rows


def import_shipments(con: duckdb.DuckDBPyConnection, path: str | Path, now: datetime) -> list[Recorded]:
    """Each (order, carrier, tracking, date) of the file is one package; all of them or none."""
    rows = read_shipments_csv(path)
    packages: dict[tuple, list[tuple[int, dict]]] = {}
    for line, row in rows:
        packages.setdefault((row["order"], row["carrier"], row["tracking"], row["date"]), []).append((line, row))
    recorded = []
    with transaction(con):
        for (order, carrier, tracking, date), lines in packages.items():
            request = PackageRequest(
                order, carrier, tracking, ship_date=date, lines=[(row["sku"], int(row["quantity"])) for _, row in lines]
            )
            try:
                recorded.append(record(con, request, now))
            except EntryRefused as error:
                numbers = ", ".join(str(line) for line, _ in lines)
                raise EntryRefused(f"{Path(path)} line {numbers}: {error}; nothing imported") from None
    return recorded


# -- a refused package, corrected ----------------------------------------------------------------------
def correct_refused(
    con: duckdb.DuckDBPyConnection,
    channel_order_id: str,
    channel: str | None,
    *,
    reference: str | None = None,
    carrier: str | None = None,
    carrier_name: str | None = None,
    tracking: str | None = None,
    service: str | None = None,
    ship_date: str | None = None,
    lines: list[tuple[str, int]] | None = None,
    now: datetime,
) -> list[Recorded]:
    """The order's refused packages (or the one numbered `reference`), corrected as given and made pending
    again: the confirmation sends each with its packageReferenceId, which edits rather than adds on Amazon."""
    order = _order(con, channel_order_id, channel)
    order_id = order["order_id"]
    found = con.execute(
        "select package_id, package_reference_id, carrier_code, carrier_name, tracking_number, "
        "shipping_method, ship_date, state from packages where order_id = ? "
        "and (? is null or package_reference_id = ?) order by package_reference_id::integer",
        [order_id, reference, reference],
    ).fetchall()
    refused = [row for row in found if row[7] == "refused"]
    if not refused:
        what = f"package {reference} of order {channel_order_id}" if reference else f"order {channel_order_id}"
        raise EntryRefused(
            f"{what} has no package Amazon refused"
            + (f" (its packages are {', '.join(sorted({row[7] for row in found}))})" if found else "")
        )
    if lines and len(refused) > 1:
        raise EntryRefused(f"order {channel_order_id} has {len(refused)} refused packages: name one with --package")
    _refuse_what_amazon_would(con, order, channel_order_id, force=True)
    corrected = []
    with transaction(con):
        for package_id, number, code, name, old_tracking, method, old_date, _ in refused:
            # a corrected carrier is checked as a new one; the recorded one stays as it was sent
            if carrier is not None:
                code, name = _carrier(
                    PackageRequest(channel_order_id, carrier, tracking or old_tracking, carrier_name=carrier_name)
                )
            elif carrier_name is not None:
                name = carrier_name
            new_tracking = (tracking or old_tracking).strip()
            if not new_tracking:
                raise EntryRefused("--tracking is empty: Amazon requires the carrier's tracking number")
            new_date = _ship_date(ship_date, now) if ship_date else old_date
            con.execute(
                "update packages set carrier_code = ?, carrier_name = ?, tracking_number = ?, "
                "shipping_method = ?, ship_date = ?, state = 'pending', error_code = null, "
                "error_message = null where package_id = ?",
                [code, name, new_tracking, service if service is not None else method, new_date, package_id],
            )
            if lines:
                bare = not con.execute(
                    "select count(*) from shipment_lines where shipment_id = ?", [package_id]
                ).fetchone()[0]
                items = open_items(con, order_id, marked_shipped=bare, without=package_id)
                planned = _plan(items, lines, channel_order_id)
                con.execute("delete from package_lines where package_id = ?", [package_id])
                con.executemany(
                    "insert into package_lines values (?, ?, ?, ?, ?)",
                    [(package_id, order_id, item_id, sku, units) for item_id, sku, units in planned],
                )
                if not bare:
                    _unmark_if_not_whole(con, order_id)
                    _book_package(con, package_id, order_id)
                    _mark_if_whole(con, order_id, now)
            units = con.execute(
                "select product_code, sum(quantity) from package_lines where package_id = ? group by all order by all",
                [package_id],
            ).fetchall()
            corrected.append(
                Recorded(
                    package_id,
                    number,
                    order_id,
                    order["channel"],
                    channel_order_id,
                    ", ".join(f"{u} x {sku}" for sku, u in units),
                )
            )
    return corrected


def _unmark_if_not_whole(con, order_id: str) -> None:
    """A marking that packages made (its lines ship nothing themselves) goes when a correction leaves units open."""
    shipment_id = con.execute("select shipment_id_for(?)", [order_id]).fetchone()[0]
    made_by_packages = con.execute(
        "select count(*) > 0 from shipment_lines where shipment_id = ?", [shipment_id + AT_SHIP]
    ).fetchone()[0]
    if made_by_packages:
        con.execute("delete from shipment_lines where shipment_id = ?", [shipment_id + AT_SHIP])
        con.execute("delete from shipments where shipment_id = ?", [shipment_id])
        con.execute("update orders set is_shipped = false where order_id = ?", [order_id])


# -- what is due, and what Amazon said ----------------------------------------------------------------
def due_packages(con, channel: str, *, skip: tuple[str, ...] = (), limit: int = 50) -> list[dict]:
    """Packages of the channel still to send (pending, sending, retrying), oldest first, with their request."""
    rows = con.execute(
        """
        select p.package_id, o.channel_order_id, o.marketplace_id, p.package_reference_id, p.carrier_code,
               p.carrier_name, p.shipping_method, p.tracking_number, p.ship_date,
               list({'orderItemId': l.amazon_order_item_id, 'quantity': l.quantity} order by l.amazon_order_item_id)
        from packages p join orders o using (order_id) join package_lines l using (package_id)
        where o.channel = $channel and p.state in ('pending', 'sending', 'retrying')
          and not list_contains($skip, p.package_id)
        group by all order by min(p.created_at), p.package_id limit $limit""",
        {"channel": channel, "skip": list(skip), "limit": limit},
    ).fetchall()
    due = []
    for package_id, order, marketplace, reference, code, name, method, tracking, date, items in rows:
        detail = {
            "packageReferenceId": reference,
            "carrierCode": code,
            "trackingNumber": tracking,
            "shipDate": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orderItems": [{"orderItemId": item["orderItemId"], "quantity": item["quantity"]} for item in items],
        }
        if name:
            detail["carrierName"] = name
        if method:
            detail["shippingMethod"] = method
        due.append(
            {
                "package_id": package_id,
                "channel_order_id": order,
                "body": {"marketplaceId": marketplace, "packageDetail": detail},
            }
        )
    return due


def mark_sending(con, package_ids: list[str], now: datetime) -> None:
    """Recorded before the requests go: a run killed after Amazon's 204 and before its answer is kept sends the
    package again, with the same packageReferenceId, which edits it on Amazon rather than adding one."""
    with transaction(con):
        con.execute(
            "update packages set state = 'sending', attempts = attempts + 1, sent_at = ? "
            "where list_contains(?, package_id)",
            [now, package_ids],
        )


def record_outcomes(con, outcomes: list[tuple[str, str, str | None, str | None]], now: datetime) -> None:
    """(package_id, state, error code, error message) as Amazon answered."""
    with transaction(con):
        con.executemany(
            "update packages set state = ?, error_code = ?, error_message = ?, "
            "confirmed_at = if(? = 'confirmed', ?, confirmed_at) where package_id = ?",
            [(state, code, message, state, now, package_id) for package_id, state, code, message in outcomes],
        )


def refused_packages(con, channel: str | None = None) -> list[tuple]:
    """(channel, order, package, error code, message, since) of each package Amazon refused."""
    return con.execute(
        """
        select o.channel, o.channel_order_id, p.package_reference_id, p.error_code, p.error_message, p.sent_at
        from packages p join orders o using (order_id)
        where p.state = 'refused' and ($channel is null or o.channel = $channel) order by p.sent_at""",
        {"channel": channel},
    ).fetchall()


# Read back: the order version the warehouse shows lists Amazon's packages; ours is there by packageReferenceId.


# -- marked shipped here, without a package for Amazon --------------------------------------------------------


def mark_shipped(
    con: duckdb.DuckDBPyConnection, channel_order_id: str, channel: str | None = None, *, force: bool = False
) -> str:
    order_id, status, is_shipped = find_order(con, channel_order_id, channel)
    if is_canceled(con, status):
        raise EntryRefused(f"order {channel_order_id} is {status} on Amazon; it cannot be shipped")
    if is_shipped:
        raise EntryRefused(f"order {channel_order_id} is already marked shipped")
    fulfilled_by, has_cancel_request = con.execute(
        "select fulfilled_by, has_cancel_request from orders where order_id = ?", [order_id]
    ).fetchone()
    if fulfilled_by == "AMAZON":
        raise EntryRefused(f"order {channel_order_id} is fulfilled by Amazon: Amazon ships it, not the warehouse")
    if has_cancel_request and not force:
        reasons = "; ".join(
            r
            for (r,) in con.execute(
                "select distinct coalesce(cancel_request_reason, 'no reason given') from order_lines "
                "where order_id = ? and has_cancel_request",
                [order_id],
            ).fetchall()
        )
        raise EntryRefused(
            f"the buyer asked Amazon to cancel order {channel_order_id} ({reasons}); "
            "cancel it on Amazon, or ship anyway with --force"
        )
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
        con.execute(
            "update orders set shipped_at = coalesce(shipped_at, (select shipped_at from shipments "
            "where order_id = $1)) where order_id = $1",
            [order_id],
        )
        book_order(con, order_id)
    return shipment_id
