"""Customer returns from Amazon's returns reports (Reports API 2021-06-30): each report requested, polled,
downloaded and kept raw; each row staged with its line number; each Amazon return becoming the sales
return created from its sales order, as a clerk's return does.

Two report types per channel, each with its own watermark: merchant-fulfilled returns (keyed by Amazon
RMA ID) and FBA returns (keyed by license plate number). A window is at most 30 days. Amazon lists a
return again when its status changes, and lists some late, so every import re-reads the last days
before the watermark: a return is one row of amazon_returns whatever the number of its listings.

A row that cannot be read, or a return the warehouse cannot hold (an order it does not have, more
units than were shipped), is quarantined with its reason and retried on every import: the order may
arrive with the next sync. Nothing is invented.

Per window, the requests go out first; the document, its rows, the returns and the watermark are then
written in one transaction, so a killed import loses nothing and doubles nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from pipelines import amazon
from pipelines.calls import CallPolicy
from pipelines.channels import Channel
from pipelines.events import Event
from pipelines.ledger import append_movements
from pipelines.operations import OperationError, book_order, next_return_id, returnable_units
from pipelines.ratelimit import TokenBucket
from pipelines.timeutil import iso, parse_instant
from pipelines.warehouse import transaction

MERCHANT_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
REPORT_TYPES = (MERCHANT_RETURNS, FBA_RETURNS)
# the columns read from each document (../shared/amazon-models/README.md, "Report columns")
COLUMNS = {
    MERCHANT_RETURNS: {"order": "Order ID", "sku": "Merchant SKU", "key": "Amazon RMA ID",
                       "quantity": "Return quantity", "date": "Return request date", "reason": "Return Reason",
                       "status": "Return request status"},
    FBA_RETURNS: {"order": "order-id", "sku": "sku", "key": "license-plate-number", "quantity": "quantity",
                  "date": "return-date", "reason": "reason", "status": "status",
                  "disposition": "detailed-disposition"},
}
FULFILLED_BY = {MERCHANT_RETURNS: "MERCHANT", FBA_RETURNS: "AMAZON"}
RESTOCKED_DISPOSITIONS = {"SELLABLE"}

MAX_WINDOW = timedelta(days=30)  # "an order report covers at most about 30 days per request"
RELISTING_LOOKBACK = timedelta(days=3)
END_MARGIN = timedelta(minutes=2)  # as for orders: Amazon's data of the last minutes is still settling
# the usage plans of reports_2021-06-30.json
USAGE_PLANS = {"createReport": (0.0167, 15), "getReport": (2.0, 15), "getReportDocument": (0.0167, 15)}
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 1.0, 30.0
MAX_REPORT_WAIT = timedelta(minutes=45)
TERMINAL = ("DONE", "CANCELLED", "FATAL")


class ReturnsReportError(RuntimeError):
    """One line: which channel, report and window, and what went wrong (no credentials in it)."""


@dataclass(frozen=True)
class Report:
    report_id: str
    report_type: str
    start: datetime
    end: datetime
    status: str
    document_id: str | None = None
    document: bytes | None = None


@dataclass
class ImportCounts:
    reports: int = 0
    cancelled: int = 0
    imported: int = 0
    matched: int = 0
    awaiting_receipt: int = 0
    restocked: int = 0
    quarantined: int = 0
    reached: dict[str, datetime] = field(default_factory=dict)

    def add(self, other: "ImportCounts") -> None:
        for name in ("reports", "cancelled", "imported", "matched", "awaiting_receipt", "restocked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantined = other.quarantined  # what stays quarantined after the latest pass
        self.reached.update(other.reached)


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end] cut into consecutive windows of at most MAX_WINDOW."""
    cuts = []
    while start < end:
        cuts.append((start, min(start + MAX_WINDOW, end)))
        start = cuts[-1][1]
    return cuts


def span_to_read(con: duckdb.DuckDBPyConnection, channel: Channel, report_type: str, until: datetime | None,
                 now: datetime) -> tuple[datetime, datetime]:
    """From a little before the watermark (the channel's start at first) to `until` or now."""
    reached = con.execute("select reached_until from returns_sync_state where channel = ? and report_type = ?",
                          [channel.name, report_type]).fetchone()
    start = max(channel.start_at, reached[0] - RELISTING_LOOKBACK) if reached else channel.start_at
    end = min(until or now, now - END_MARGIN)
    return start, max(start, end)


class ReportFetcher:
    """createReport, getReport until it ends, getReportDocument and the download, each paced to its usage plan."""

    def __init__(self, channel: Channel, account: str = "default", *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, on_event: Callable[[Event], None] = lambda event: None):
        self.channel, self.sleep = channel, sleep
        self.client = amazon.reports_client(channel, account)
        self.policies = {
            operation: CallPolicy(TokenBucket(rate=rate, burst=burst, tokens=burst, clock=clock), sleep=sleep,
                                  emit=on_event, refresh_access_token=lambda: amazon.forget_access_token(self.client))
            for operation, (rate, burst) in USAGE_PLANS.items()
        }

    @property
    def calls(self) -> int:
        return sum(policy.calls for policy in self.policies.values())

    def _call(self, operation: str, send, what: str):
        try:
            return self.policies[operation].call(send)
        except Exception as error:
            raise ReturnsReportError(f"{self.channel.name}: {what}: {operation} failed: {amazon.describe(error)}") from None

    def fetch(self, report_type: str, start: datetime, end: datetime) -> Report:
        what = f"{report_type} for {iso(start)} .. {iso(end)}"
        report_id = self._call("createReport", lambda: amazon.create_report(
            self.client, report_type, list(self.channel.marketplace_ids), iso(start), iso(end)), what)
        waited, interval = 0.0, FIRST_POLL_SECONDS
        while True:
            report = self._call("getReport", lambda: amazon.get_report(self.client, report_id), what)
            status = report["processingStatus"]
            if status in TERMINAL:
                break
            if waited >= MAX_REPORT_WAIT.total_seconds():
                raise ReturnsReportError(f"{self.channel.name}: {what}: report {report_id} still {status} after "
                                         f"{MAX_REPORT_WAIT.total_seconds() / 60:g} minutes; the next import asks again")
            self.sleep(interval)
            waited, interval = waited + interval, min(MAX_POLL_SECONDS, interval * 2)
        if status != "DONE":  # CANCELLED: "no data to return"; FATAL: kept, then the import stops
            return Report(report_id, report_type, start, end, status)
        document_id = report.get("reportDocumentId")
        if not document_id:
            raise ReturnsReportError(f"{self.channel.name}: {what}: report {report_id} is DONE without a document")
        document = self._call("getReportDocument",
                              lambda: amazon.download_report_document(self.client, document_id), what)
        return Report(report_id, report_type, start, end, status, document_id, document)


# -- reading a document ------------------------------------------------------------------------

def _decode(document: bytes) -> str:
    try:
        return document.decode("utf-8-sig")
    except UnicodeDecodeError:  # Amazon's flat files of some marketplaces are Windows-1252
        return document.decode("cp1252", errors="replace")


def parse_document(report_type: str, document: bytes) -> list[tuple[int, dict]]:
    """(line number, {column: value}) of each row after the header; a document without the columns
    this import reads is refused whole."""
    lines = list(csv.reader(io.StringIO(_decode(document), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = lines[0] if lines else []
    missing = [column for column in COLUMNS[report_type].values() if column not in header]
    if missing:
        raise ReturnsReportError(f"its document lacks the column(s) {', '.join(missing)}")
    return [(number, dict(zip(header, fields)) | ({"": fields[len(header):]} if len(fields) > len(header) else {}))
            for number, fields in enumerate(lines[1:], start=2) if any(fields)]


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


def read_return(report_type: str, fields: dict) -> AmazonReturn:
    """The return a row describes, or ValueError naming what is wrong with it."""
    columns = COLUMNS[report_type]
    if "" in fields or len(fields) < len(columns):
        raise ValueError("the row's fields do not match the header")
    value = {name: (fields.get(column) or "").strip() for name, column in columns.items()}
    for name in ("order", "sku", "key"):
        if not value[name]:
            raise ValueError(f"{columns[name]} is empty")
    if not value["quantity"].isdigit() or int(value["quantity"]) < 1:
        raise ValueError(f"{columns['quantity']} {value['quantity']!r} is not a positive whole number")
    returned_at = parse_instant(value["date"], columns["date"])
    return AmazonReturn(report_type, value["key"], value["order"], value["sku"], int(value["quantity"]),
                        returned_at, value["reason"] or None, value.get("disposition") or None, value["status"] or None)


# -- writing -----------------------------------------------------------------------------------

class _NotHeld(Exception):
    """The warehouse cannot take this return (yet); the message is the quarantine reason."""


def record_report(con: duckdb.DuckDBPyConnection, channel: Channel, report: Report, now: datetime) -> ImportCounts:
    """Keep the report raw and its rows staged, turn its returns (and those still quarantined) into sales
    returns, and move the watermark to the window's end; one transaction. A FATAL report is kept and the
    watermark stays: ReturnsReportError after the commit."""
    counts, now = ImportCounts(reports=1, cancelled=int(report.status == "CANCELLED")), now.replace(tzinfo=None)
    digest = hashlib.sha256(report.document).hexdigest() if report.document is not None else None
    refusal = None
    with transaction(con):
        known = digest and con.execute("select 1 from raw_report_documents where sha256 = ? and document is not null",
                                       [digest]).fetchone()
        con.execute("insert or replace into raw_report_documents values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [report.report_id, channel.name, report.report_type, report.start, report.end, report.status,
                     report.document_id, digest, None if known or report.document is None else _decode(report.document),
                     now])
        rows = []
        if report.status == "FATAL":
            refusal = "ended FATAL at Amazon"
        elif report.document is not None:
            try:
                rows = parse_document(report.report_type, report.document)
            except ReturnsReportError as error:
                refusal = str(error)
        if refusal is None and rows:
            con.executemany("insert or ignore into raw_report_rows values (?, ?, ?)",
                            [(report.report_id, number, json.dumps(fields)) for number, fields in rows])
        if refusal is None:
            counts.add(_import_returns(con, channel, report, rows, now))
            con.execute("insert or replace into returns_sync_state values (?, ?, ?)",
                        [channel.name, report.report_type, report.end])
            counts.reached[report.report_type] = report.end
    if refusal:
        raise ReturnsReportError(f"{channel.name}: {report.report_type} report {report.report_id} for "
                                 f"{iso(report.start)} .. {iso(report.end)} {refusal}; the returns watermark stays")
    return counts


def _import_returns(con, channel: Channel, report: Report, rows: list[tuple[int, dict]],
                    now: datetime) -> ImportCounts:
    # this report's rows first, then the ones quarantined by earlier imports (their order may be here now)
    listed = [(report.report_id, number, fields) for number, fields in rows]
    listed += [(report_id, number, json.loads(fields)) for report_id, number, fields in con.execute(
        "select q.report_id, q.line_number, r.fields from returns_quarantine q "
        "join raw_report_rows r using (report_id, line_number) "
        "where q.channel = ? and q.report_type = ? order by q.quarantined_at, q.report_id, q.line_number",
        [channel.name, report.report_type]).fetchall()]
    counts = ImportCounts()
    for report_id, number, fields in listed:
        try:
            found = read_return(report.report_type, fields)
        except ValueError as problem:
            _quarantine(con, channel, report.report_type, _row_hash(fields), report_id, number,
                        f"line {number}: {problem}", now)
            continue
        if con.execute("select 1 from amazon_returns where channel = ? and report_type = ? and return_key = ? "
                       "and channel_order_id = ? and seller_sku = ?",
                       [channel.name, found.report_type, found.key, found.channel_order_id, found.sku]).fetchone():
            _release(con, channel, found)  # a listing of a return already imported
            continue
        try:
            return_id, matched, outcome = _book_return(con, channel, found)
        except _NotHeld as reason:
            _quarantine(con, channel, report.report_type, found.key, report_id, number, str(reason), now)
            continue
        con.execute("insert into amazon_returns values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [channel.name, found.report_type, found.key, found.channel_order_id, found.sku, found.quantity,
                     found.returned_at, found.reason, found.disposition, found.status, report_id, number, return_id,
                     matched, now])
        _release(con, channel, found)
        counts.imported += 1
        counts.matched += matched
        counts.awaiting_receipt += outcome == "awaiting_receipt"
        counts.restocked += outcome == "restocked"
    counts.quarantined = con.execute("select count(*) from returns_quarantine where channel = ?",
                                     [channel.name]).fetchone()[0]
    return counts


def _row_hash(fields: dict) -> str:
    return "row:" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def _quarantine(con, channel: Channel, report_type: str, row_key: str, report_id: str, line: int, reason: str,
                now: datetime) -> None:
    # the first listing stays the one pointed at; the reason is the latest attempt's
    con.execute("insert into returns_quarantine values (?, ?, ?, ?, ?, ?, ?) on conflict do update set "
                "reason = excluded.reason",
                [channel.name, report_type, row_key, report_id, line, reason, now])


def _release(con, channel: Channel, found: AmazonReturn) -> None:
    con.execute("delete from returns_quarantine where channel = ? and report_type = ? and row_key = ?",
                [channel.name, found.report_type, found.key])


def _book_return(con, channel: Channel, found: AmazonReturn) -> tuple[str, bool, str]:
    """(sales return id, whether a clerk's return already covered it, what became of the units)."""
    order = con.execute("select order_id, fulfilled_by from orders where channel = ? and channel_order_id = ?",
                        [channel.name, found.channel_order_id]).fetchone()
    if order is None:
        raise _NotHeld(f"order {found.channel_order_id} is not in the warehouse")
    order_id, fulfilled_by = order
    if fulfilled_by != FULFILLED_BY[found.report_type]:
        raise _NotHeld(f"order {found.channel_order_id} is fulfilled by {fulfilled_by}, but this report lists "
                       f"{FULFILLED_BY[found.report_type]}-fulfilled returns")
    try:
        shipped, returned = returnable_units(con, order_id, found.sku, found.channel_order_id)
    except OperationError as refusal:
        raise _NotHeld(str(refusal)) from None
    # what a clerk entered for this order and SKU and no Amazon return has been matched to yet
    covered, clerk_return = con.execute(
        """
        select coalesce(sum(l.quantity), 0) - coalesce((select sum(quantity) from amazon_returns
                                                         where channel = $channel and channel_order_id = $cid
                                                         and seller_sku = $sku and is_matched), 0),
               max(r.return_id)
        from sales_returns r join sales_return_lines l using (return_id)
        where r.order_id = $order and l.product_code = $sku and r.source = 'clerk'
        """,
        {"channel": channel.name, "cid": found.channel_order_id, "sku": found.sku, "order": order_id},
    ).fetchone()
    rest = found.quantity - min(max(covered, 0), found.quantity)
    if rest == 0:
        return clerk_return, True, "matched"
    if rest > shipped - returned:
        raise _NotHeld(f"{rest} unit(s) of {found.sku} returned on order {found.channel_order_id}, but "
                       f"{shipped} shipped and {returned} already returned")
    fba = found.report_type == FBA_RETURNS
    restock = fba and found.disposition in RESTOCKED_DISPOSITIONS
    return_id = next_return_id(con)
    con.execute(
        "insert into sales_returns (return_id, order_id, created_at, reason, source, status, location, channel, "
        "disposition, received_at) values (?, ?, ?, ?, 'amazon', ?, ?, ?, ?, ?)",
        [return_id, order_id, found.returned_at, found.reason, "received" if fba else "awaiting_receipt",
         "amazon_fba" if fba else "warehouse", channel.name if fba else None, found.disposition,
         found.returned_at if fba else None])
    con.execute("insert into sales_return_lines values (?, 1, ?, ?, ?)", [return_id, found.sku, rest, restock])
    book_order(con, order_id)
    if restock and _counted_since(con, channel, found):
        # Amazon's count taken after the unit was back already put it on hand (as an adjustment): the
        # return is booked as what it is, and that adjustment taken back, so the unit counts once
        append_movements(con, "select product_id_for($sku), $sku, $order, -$units, 'adjustment', 'amazon_fba', "
                              "$channel", {"sku": found.sku, "order": order_id, "units": rest, "channel": channel.name})
    return return_id, rest < found.quantity, "restocked" if restock else "recorded" if fba else "awaiting_receipt"


def _counted_since(con, channel: Channel, found: AmazonReturn) -> bool:
    """Whether the channel's latest FBA count, taken after this return, listed its SKU."""
    return con.execute(
        """
        select exists (
            select 1 from fba_snapshots s join fba_inventory i using (snapshot_id)
            where s.snapshot_id = (select max(snapshot_id) from fba_snapshots where channel = $channel)
                and s.counted_at > $returned and i.seller_sku = $sku
        )
        """, {"channel": channel.name, "returned": found.returned_at, "sku": found.sku}).fetchone()[0]


def import_returns(con_for_reading, write, channel: Channel, fetcher: ReportFetcher, until: datetime | None,
                   now: datetime, say: Callable[[str], None] = lambda line: None) -> ImportCounts:
    """Every window of both report types up to `until` (or now): fetched without the writer lock, each
    recorded under it (`write` yields a writing connection). Stops at the first FATAL or failed report."""
    total = ImportCounts()
    for report_type in REPORT_TYPES:
        with con_for_reading() as con:
            start, end = span_to_read(con, channel, report_type, until, now)
        for window_start, window_end in windows(start, end):
            report = fetcher.fetch(report_type, window_start, window_end)
            with write() as con:
                counts = record_report(con, channel, report, now)
            total.add(counts)
            say(f"{channel.name}: {report_type} {iso(window_start)} .. {iso(window_end)}: {report.status}, "
                f"{counts.imported} return(s) imported")
    return total
