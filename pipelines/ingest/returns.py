"""Customer returns from Amazon's returns reports (Reports API 2021-06-30): each report requested, polled,
downloaded and read with the warehouse free; then its rows, its returns and the watermark committed under
the writer in one transaction. Each Amazon return becomes the sales return created from its sales order,
as a clerk's return does.

Two report types per channel, each with its own watermark: merchant-fulfilled returns and FBA returns. A
window is at most 30 days. Amazon lists a return again when its status changes, and lists some late, so
every import re-reads the last days before the watermark: a return line is one row of amazon_returns
whatever the number of its listings. A return line is a return's key and the SKU: the Amazon RMA ID
(merchant-fulfilled; a returnless refund has none, so its key is its return request date, as Amazon
advises) or the license plate number (FBA), with the order and the SKU.

A document is read as a stream with bounds: at most AMAZON_ORDERS_MAX_REPORT_MB (default 100) MB
downloaded and as many decompressed (and no more than 200 times its compressed size), at most 131,072
characters a line. A document over a bound is refused
with one line naming the report, kept in `<warehouse>.refused-reports/`, and not fetched again for the same
window until the bound is raised. A document without a column this import decides on is refused naming it;
the columns it only stores may be missing (Amazon.ae's FBA report has no `status`).

A row that cannot be read, or a return the warehouse cannot hold (an order it does not have, more units
than were shipped), is quarantined with its reason. One that cannot be read stays so until someone acts;
one the warehouse cannot hold yet is tried again when its order has changed. Nothing is invented, and
nothing is quiet: `status` and the asset check show what stays in quarantine.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.amazon import client as amazon
from pipelines.amazon.calls import CallPolicy
from pipelines.amazon.limits import REPORT_MOST_DAYS, REPORTS_USAGE_PLANS
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.backoffice.returns import (
    AmazonReturn,
    NotHeld,
    book_amazon_returns,
    decide,
    last_return_number,
    load_ledger,
)
from pipelines.clock import iso, parse_instant
from pipelines.events import Event
from pipelines.warehouse.channels import Channel
from pipelines.warehouse.connection import transaction

MERCHANT_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
REPORT_TYPES = (MERCHANT_RETURNS, FBA_RETURNS)
# the columns read from each document (../shared/amazon-models/README.md, "Report columns"); a document
# without one of them is refused, except the OPTIONAL ones, which are only stored
COLUMNS = {
    MERCHANT_RETURNS: {
        "order": "Order ID",
        "sku": "Merchant SKU",
        "key": "Amazon RMA ID",
        "quantity": "Return quantity",
        "date": "Return request date",
        "reason": "Return Reason",
        "status": "Return request status",
    },
    FBA_RETURNS: {
        "order": "order-id",
        "sku": "sku",
        "key": "license-plate-number",
        "quantity": "quantity",
        "date": "return-date",
        "reason": "reason",
        "status": "status",
        "disposition": "detailed-disposition",
    },
}
OPTIONAL = {"reason", "status"}
FULFILLED_BY = {MERCHANT_RETURNS: "MERCHANT", FBA_RETURNS: "AMAZON"}

RELISTING_LOOKBACK = timedelta(days=3)
END_MARGIN = timedelta(minutes=2)  # as for orders: Amazon's data of the last minutes is still settling
# the usage plans of reports_2021-06-30.json
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 1.0, 30.0
MAX_REPORT_WAIT = timedelta(minutes=45)
TERMINAL = ("DONE", "CANCELLED", "FATAL")

MAX_REPORT_MB_VARIABLE = "AMAZON_ORDERS_MAX_REPORT_MB"
DEFAULT_MAX_REPORT_MB = 100
# A tab-separated report compresses about ten to one; a document that inflates two hundred times its size
# (beyond a floor) is a gzip bomb, whatever the bound.
MAX_INFLATION, INFLATION_FLOOR = 200, 16 * 1024 * 1024
MAX_LINE_CHARS = 131_072
MAX_QUANTITY = 1_000_000  # a return line of more units is a misreading, not a return
ROWS_PER_BATCH = 10_000  # rows staged, and booked, at a time: memory stays bounded whatever the document's size


class ReturnsReportError(RuntimeError):
    """One line: which channel, report and window, and what went wrong (no credentials in it)."""


class DocumentRefused(ReturnsReportError):
    """A document that is not read: over a bound (`too_large`), or without a column this import needs."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


def max_report_bytes() -> int:
    value = os.environ.get(MAX_REPORT_MB_VARIABLE, str(DEFAULT_MAX_REPORT_MB))
    if not (value.isascii() and value.isdigit() and int(value) > 0):
        raise ValueError(f"{MAX_REPORT_MB_VARIABLE} must be a whole number of megabytes, not {value!r}")
    return int(value) * 1024 * 1024


@dataclass(frozen=True)
class Report:
    report_id: str
    report_type: str
    start: datetime
    end: datetime
    status: str
    document_id: str | None = None
    download: amazon.Download | None = None
    refusal: str | None = None  # why the document was not read (over a bound)


@dataclass
class ImportCounts:
    reports: int = 0
    cancelled: int = 0
    imported: int = 0
    matched: int = 0
    awaiting_receipt: int = 0
    restocked: int = 0
    returnless: int = 0
    quarantined_now: int = 0  # rows this run set aside (new, or tried again and still failing)
    quarantined: int = 0  # what stays quarantined after the latest pass
    reached: dict[str, datetime] = field(default_factory=dict)
    error: str | None = None  # the one line of the report the import stopped at

    def add(self, other: ImportCounts) -> None:
        for name in (
            "reports",
            "cancelled",
            "imported",
            "matched",
            "awaiting_receipt",
            "restocked",
            "returnless",
            "quarantined_now",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantined = other.quarantined
        self.reached.update(other.reached)


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end] cut into consecutive windows of at most REPORT_MOST_DAYS."""
    cuts = []
    while start < end:
        cuts.append((start, min(start + REPORT_MOST_DAYS, end)))
        start = cuts[-1][1]
    return cuts


def span_to_read(
    con: duckdb.DuckDBPyConnection, channel: Channel, report_type: str, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """From a little before the watermark (the channel's start at first) to `until` or now."""
    reached = con.execute(
        "select reached_until from returns_sync_state where channel = ? and report_type = ?",
        [channel.name, report_type],
    ).fetchone()
    start = max(channel.start_at, reached[0] - RELISTING_LOOKBACK) if reached else channel.start_at
    end = min(until or now, now - END_MARGIN)
    return start, max(start, end)


def standing_refusal(
    con: duckdb.DuckDBPyConnection, channel: Channel, report_type: str, start: datetime, bound: int
) -> str | None:
    """The refusal of a document too large for `bound`, for a window starting at `start`: asking Amazon
    again would bring the same document back, so it is not asked until the bound is raised."""
    found = con.execute(
        "select report_id, refusal from raw_report_documents where channel = ? and report_type = ? and data_start = ? "
        "and refused_at_bound >= ? order by fetched_at desc limit 1",
        [channel.name, report_type, start, bound],
    ).fetchone()
    return (
        f"report {found[0]} {found[1]} (not asked again: raise {MAX_REPORT_MB_VARIABLE} to import it)"
        if found
        else None
    )


class ReportFetcher:
    """createReport, getReport until it ends, getReportDocument and the download, each paced to its usage plan."""

    def __init__(
        self,
        channel: Channel,
        account: str = "default",
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[Event], None] = lambda event: None,
        folder: str | None = None,
    ):
        self.channel, self.sleep = channel, sleep
        self.folder = folder  # where documents are downloaded (a temporary folder by default)
        self.client = amazon.reports_client(channel, account)
        self.policies = {
            operation: CallPolicy.for_client(
                self.client,
                TokenBucket.full(rate, burst, clock),
                sleep=sleep,
                on_event=on_event,
            )
            for operation, (rate, burst) in REPORTS_USAGE_PLANS.items()
        }

    @property
    def calls(self) -> int:
        return sum(policy.calls for policy in self.policies.values())

    def _call(self, operation: str, send, what: str):
        try:
            return self.policies[operation].call(send)
        except amazon.DocumentTooLarge:
            raise
        except Exception as error:
            raise ReturnsReportError(
                f"{self.channel.name}: {what}: {operation} failed: {amazon.describe(error)}"
            ) from None

    def fetch(self, report_type: str, start: datetime, end: datetime, max_bytes: int | None = None) -> Report:
        what = f"{report_type} for {iso(start)} .. {iso(end)}"
        report_id = self._call(
            "createReport",
            lambda: amazon.create_report(
                self.client, report_type, list(self.channel.marketplace_ids), iso(start), iso(end)
            ),
            what,
        )
        waited, interval = 0.0, FIRST_POLL_SECONDS
        while True:
            report = self._call("getReport", lambda: amazon.get_report(self.client, report_id), what)
            status = report["processingStatus"]
            if status in TERMINAL:
                break
            if waited >= MAX_REPORT_WAIT.total_seconds():
                raise ReturnsReportError(
                    f"{self.channel.name}: {what}: report {report_id} still {status} after "
                    f"{MAX_REPORT_WAIT.total_seconds() / 60:g} minutes; the next import asks again"
                )
            self.sleep(interval)
            waited, interval = waited + interval, min(MAX_POLL_SECONDS, interval * 2)
        if status != "DONE":  # CANCELLED: "no data to return"; FATAL: kept, then the import stops
            return Report(report_id, report_type, start, end, status)
        document_id = report.get("reportDocumentId")
        if not document_id:
            raise ReturnsReportError(f"{self.channel.name}: {what}: report {report_id} is DONE without a document")
        path = os.path.join(self.folder or tempfile.gettempdir(), f"amazon-orders-report-{report_id}")
        try:
            download = self._call(
                "getReportDocument",
                lambda: amazon.download_report_document(
                    self.client, document_id, path, max_bytes or max_report_bytes()
                ),
                what,
            )
        except amazon.DocumentTooLarge as error:
            return Report(
                report_id,
                report_type,
                start,
                end,
                status,
                document_id,
                amazon.Download(path, None, None, os.path.getsize(path) if os.path.exists(path) else 0),
                f"was refused: its document is {error}",
            )
        return Report(report_id, report_type, start, end, status, document_id, download)


# -- reading a document ------------------------------------------------------------------------

# Java's names, which Amazon's downloads use ("charset=Cp1252"), and Japan's documents (windows-31j)
_CHARSETS = {"windows-31j": "cp932", "ms932": "cp932", "shift_jis": "cp932", "x-sjis": "cp932"}
JAPAN = "A1VC38T7YXB528"


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = _CHARSETS.get(charset.strip().lower(), charset.strip().lower())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def encodings_to_try(download: amazon.Download, marketplace_id: str) -> list[tuple[str, str]]:
    """(codec, errors) in the order tried: the charset the download names; else UTF-8, then the legacy
    code page of the marketplace (windows-31j in Japan, windows-1252 elsewhere: python-amazon-sp-api PR #764)."""
    named = _codec(download.charset)
    if named:
        return [(named, "replace")]
    return [("utf-8-sig", "strict"), ("cp932" if marketplace_id == JAPAN else "cp1252", "replace")]


class _Bounded(io.RawIOBase):
    """A binary stream that refuses to yield more than `limit` bytes, and hashes what it yields."""

    def __init__(self, stream, limit: int, digest, why: str):
        self.stream, self.limit, self.digest, self.why, self.count = stream, limit, digest, why, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise amazon.DocumentTooLarge(f"over {self.limit:,} bytes decompressed, {self.why}")
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def read_lines(
    download: amazon.Download, encoding: str, errors: str, max_bytes: int, digest
) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each line; text is None for a line over MAX_LINE_CHARS, which is not kept."""
    raw = gzip.open(download.path, "rb") if download.compression == "GZIP" else open(download.path, "rb")
    why = "the bound"
    if download.compression and max(INFLATION_FLOOR, MAX_INFLATION * download.size) < max_bytes:
        max_bytes, why = (
            max(INFLATION_FLOOR, MAX_INFLATION * download.size),
            f"{MAX_INFLATION} times its {download.size:,} compressed bytes (a gzip bomb?)",
        )
    with raw:
        bounded = _Bounded(raw, max_bytes, digest, why)
        text = io.TextIOWrapper(io.BufferedReader(bounded, 1 << 16), encoding=encoding, errors=errors, newline="")
        number = 0
        while line := text.readline(MAX_LINE_CHARS + 2):
            number += 1
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                while line and not line.endswith("\n"):  # the rest of it, read and dropped
                    line = text.readline(MAX_LINE_CHARS)
                yield number, None
                continue
            yield number, line.rstrip("\r\n")


# Amazon's date styles in the returns reports, each as seen (tests/corpus/README.md has the sources):
# ISO 8601 with an offset, "2025-06-05T15:31:40+00:00" (the FBA returns report); "14-Jul-2025" (the
# merchant-fulfilled flat file, US); DD-MM-YYYY and DD-MON-YYYY (Seller Central's help on the FBA returns
# report for Australia, Italy, Brazil and Japan). A date without a time is the start of that day, UTC.
# "03/07/2021" could be March or July: refused as ambiguous rather than guessed.
_DAY_MONTH_NAME = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DAY_MONTH_YEAR = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}


def parse_return_date(value: str, column: str) -> datetime:
    if not value.isascii():
        raise ValueError(f"{column} {value!r} is not a date")
    found = _DAY_MONTH_NAME.fullmatch(value) or _DAY_MONTH_YEAR.fullmatch(value)
    if found:
        day, month, year = found.groups()
        month = _MONTHS.get(month.lower()) if month.isalpha() else int(month)
        try:
            return datetime(int(year), month or 0, int(day))
        except ValueError:
            raise ValueError(f"{column} {value!r} is not a date") from None
    if "/" in value:
        raise ValueError(f"{column} {value!r} is ambiguous: day and month cannot be told apart")
    try:
        return parse_instant(value, column)
    except ValueError:
        raise ValueError(
            f"{column} {value!r} is not a date in a style Amazon writes "
            "(2025-06-05T15:31:40+00:00, 14-Jul-2025, 14-07-2025)"
        ) from None


def read_return(report_type: str, fields: dict) -> AmazonReturn:
    """The return a row describes, or ValueError naming what is wrong with it."""
    columns = COLUMNS[report_type]
    extra = fields.get("")
    if isinstance(extra, str):  # a line over the bound, not kept
        raise ValueError(extra)
    if extra:
        raise ValueError(f"the row has {len(fields) - 1 + len(extra)} fields, more than the header's")
    value = {name: (fields.get(column) or "").strip() for name, column in columns.items()}
    for name in ("order", "sku"):
        if not value[name]:
            raise ValueError(f"{columns[name]} is empty")
    quantity = value["quantity"]
    if not (quantity.isascii() and quantity.isdigit()) or int(quantity) < 1:
        raise ValueError(f"{columns['quantity']} {quantity!r} is not a positive whole number")
    if int(quantity) > MAX_QUANTITY:
        raise ValueError(f"{columns['quantity']} {quantity!r} is over {MAX_QUANTITY:,}, more than a return line holds")
    returned_at = parse_return_date(value["date"], columns["date"])
    # "In case of returnless refunds you need to keep track of this information on your side by using order
    # id, asin/sku and return request date as unique identifier" (Amazon, selling-partner-api-models#4229)
    key = value["key"] or f"returnless:{returned_at:%Y-%m-%d}"
    if not value["key"] and report_type == FBA_RETURNS:
        raise ValueError(f"{columns['key']} is empty")
    return AmazonReturn(
        report_type,
        key,
        value["order"],
        value["sku"],
        int(quantity),
        returned_at,
        value["reason"] or None,
        value.get("disposition") or None,
        value["status"] or None,
    )


@dataclass(frozen=True)
class StagedDocument:
    """A document read into a Parquet file of its rows, ready to be committed."""

    path: str
    sha256: str
    header: list[str]
    encoding: str
    rows: int


_STAGED = pa.schema([("line_number", pa.int32()), ("fields", pa.string())])


def stage_document(report: Report, marketplace_id: str, max_bytes: int | None = None) -> StagedDocument:
    """Read a downloaded document into `<download>.parquet`, a batch of rows at a time, with its bounds.
    DocumentRefused when it is over a bound, or without a column this import needs."""
    bound = max_bytes or max_report_bytes()
    attempts = encodings_to_try(report.download, marketplace_id)
    for number, (encoding, errors) in enumerate(attempts, start=1):
        try:
            return _stage(report, encoding, errors, bound)
        except UnicodeDecodeError:
            if number == len(attempts):
                raise
    raise AssertionError("unreachable")


def _stage(report: Report, encoding: str, errors: str, bound: int) -> StagedDocument:
    path, digest = report.download.path + ".parquet", hashlib.sha256()
    header, batch, count = None, [], 0
    try:
        lines = read_lines(report.download, encoding, errors, bound, digest)
        with pq.ParquetWriter(path, _STAGED) as writer:
            for number, line in lines:
                if header is None:
                    if line is None:
                        raise DocumentRefused(f"was refused: its header line is over {MAX_LINE_CHARS:,} characters")
                    header = [column.strip() for column in line.split("\t")]
                    missing = [
                        column
                        for name, column in COLUMNS[report.report_type].items()
                        if name not in OPTIONAL and column not in header
                    ]
                    if missing:
                        raise DocumentRefused(f"was refused: its document lacks the column(s) {', '.join(missing)}")
                    continue
                if line is None:
                    fields = {"": f"the line is over {MAX_LINE_CHARS:,} characters; it is not kept"}
                elif not line.strip():
                    continue
                else:
                    values = line.split("\t")
                    fields = dict(zip(header, values))
                    if len(values) > len(header):
                        fields[""] = values[len(header) :]
                batch.append((number, json.dumps(fields, ensure_ascii=False)))
                count += 1
                if len(batch) == ROWS_PER_BATCH:
                    writer.write_table(_batch(batch))
                    batch = []
            if batch:
                writer.write_table(_batch(batch))
    except amazon.DocumentTooLarge as error:
        raise DocumentRefused(f"was refused: its document is {error}", too_large=True) from None
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DocumentRefused(f"was refused: its document cannot be read ({type(error).__name__})") from None
    return StagedDocument(path, digest.hexdigest(), header or [], encoding, count)


def _batch(rows: list[tuple[int, str]]) -> pa.Table:
    return pa.table({"line_number": [r[0] for r in rows], "fields": [r[1] for r in rows]}, schema=_STAGED)


# -- writing -----------------------------------------------------------------------------------


def record_report(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    report: Report,
    staged: StagedDocument | None,
    now: datetime,
    refused_at_bound: int | None = None,
) -> ImportCounts:
    """Keep the report, its rows and its returns, and move the watermark to the window's end; one transaction.
    A FATAL or refused report is kept and the watermark stays: ReturnsReportError after the commit.
    `refused_at_bound`: the byte bound a document too large was refused at (it is not asked for again below it)."""
    counts, now = ImportCounts(reports=1, cancelled=int(report.status == "CANCELLED")), now.replace(tzinfo=None)
    refusal = "ended FATAL at Amazon" if report.status == "FATAL" else report.refusal
    with transaction(con):
        con.execute(
            "insert or replace into raw_report_documents (report_id, channel, report_type, data_start, "
            "data_end, processing_status, report_document_id, sha256, fetched_at, header, encoding, "
            "document_bytes, refusal, refused_at_bound) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.report_id,
                channel.name,
                report.report_type,
                report.start,
                report.end,
                report.status,
                report.document_id,
                staged.sha256 if staged else None,
                now,
                json.dumps(staged.header) if staged else None,
                staged.encoding if staged else None,
                report.download.size if report.download else None,
                refusal,
                refused_at_bound,
            ],
        )
        if refusal is None:
            if staged is not None:
                con.execute(
                    "insert or ignore into raw_report_rows select ?, line_number, fields from read_parquet(?)",
                    [report.report_id, staged.path],
                )
            counts.add(_import_returns(con, channel, report, now))
            con.execute(
                "insert or replace into returns_sync_state values (?, ?, ?)",
                [channel.name, report.report_type, report.end],
            )
            counts.reached[report.report_type] = report.end
    if refusal:
        raise ReturnsReportError(
            f"{channel.name}: {report.report_type} report {report.report_id} for "
            f"{iso(report.start)} .. {iso(report.end)} {refusal}; the returns watermark stays"
        )
    return counts


# What a return the warehouse could not hold waits for: its order, as it stands now. When this changes (a new
# version, a shipment or a return entered here), the row is tried again; until then it is not read again.
_ORDER_STATE = """coalesce((select o.source_ingest_id::varchar || ':' || o.is_shipped
                              || ':' || (select count(*) from sales_returns r where r.order_id = o.order_id)
                            from orders o where o.channel = $channel and o.channel_order_id = $cid), 'absent')"""


def _import_returns(con, channel: Channel, report: Report, now: datetime) -> ImportCounts:
    """Book this report's rows, then the quarantined rows whose order has changed since they were tried."""
    counts = ImportCounts()
    con.execute(
        f"""
        create or replace temp table returns_retry as
        select q.row_key, q.report_id, q.line_number
        from returns_quarantine q
        where q.channel = $channel and q.report_type = $type and q.kind = 'not_held'
            and q.order_state <> {_ORDER_STATE.replace("$cid", "q.channel_order_id")}
        """,
        {"channel": channel.name, "type": report.report_type},
    )
    # this report's rows, then the ones tried again, numbered so that they are read a batch at a time
    con.execute(
        """
        create or replace temp table returns_todo as
        select row_number() over (order by attempt, report_id, line_number) as n, report_id, line_number, prior_key
        from (
            select 0 as attempt, report_id, line_number, null::varchar as prior_key
            from raw_report_rows where report_id = $report
            union all
            select 1, report_id, line_number, row_key from returns_retry
        )
        """,
        {"report": report.report_id},
    )
    total = con.execute("select count(*) from returns_todo").fetchone()[0]
    for first in range(0, total, ROWS_PER_BATCH):
        rows = con.execute(
            "select t.report_id, t.line_number, r.fields, t.prior_key from returns_todo t "
            "join raw_report_rows r using (report_id, line_number) where n > ? and n <= ? order by n",
            [first, first + ROWS_PER_BATCH],
        ).fetchall()
        _book(con, channel, report.report_type, rows, now, counts)
    con.execute("drop table returns_todo")
    con.execute("drop table returns_retry")
    counts.quarantined = con.execute(
        "select count(*) from returns_quarantine where channel = ?", [channel.name]
    ).fetchone()[0]
    return counts


def _book(con, channel: Channel, report_type: str, rows: list[tuple], now: datetime, counts: ImportCounts) -> None:
    """Book a batch of report rows (report_id, line_number, fields, the key it was quarantined under)."""
    read, unreadable = [], []
    for report_id, number, fields, prior in rows:
        fields = json.loads(fields)
        try:
            read.append((report_id, number, prior, read_return(report_type, fields)))
        except ValueError as problem:
            row_key = "row:" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
            unreadable.append((report_id, number, prior, row_key, f"line {number}: {problem}"))
    ledger = load_ledger(con, channel.name, report_type, [found for *_, found in read])
    next_number = last_return_number(con)
    imported, returns, lines, adjustments, released = [], [], [], [], []
    quarantined = [
        (report_id, number, prior, row_key, "unreadable", None, None, reason)
        for report_id, number, prior, row_key, reason in unreadable
    ]
    for report_id, number, prior, found in read:
        if found.row_key in ledger.known:  # a listing of a return line already imported
            released += [found.row_key, *([prior] if prior else [])]
            continue
        try:
            order_id, return_id, matched, outcome, rest = decide(ledger, FULFILLED_BY[report_type], found, next_number)
        except NotHeld as reason:
            quarantined.append(
                (report_id, number, prior, found.row_key, "not_held", found.channel_order_id, found.sku, str(reason))
            )
            continue
        ledger.known.add(found.row_key)
        released += [found.row_key, *([prior] if prior else [])]
        if rest:
            next_number += 1
            returns.append((return_id, order_id, found, outcome))
            lines.append((return_id, found.sku, rest, outcome == "restocked"))
            if (
                outcome == "restocked"
                and ledger.counted[0] is not None
                and ledger.counted[0] > found.returned_at
                and found.sku in ledger.counted[1]
            ):
                # Amazon's count taken after the unit was back already put it on hand (as an adjustment): the
                # return is booked as what it is, and that adjustment taken back, so the unit counts once
                adjustments.append((found.sku, order_id, rest))
        imported.append((found, report_id, number, return_id, matched))
        counts.imported += 1
        counts.matched += matched
        counts.awaiting_receipt += outcome == "awaiting_receipt"
        counts.restocked += outcome == "restocked"
        counts.returnless += outcome == "returnless_refund"
    book_amazon_returns(
        con, channel.name, report_type, report_type == FBA_RETURNS, now, imported, returns, lines, adjustments
    )
    _quarantine(con, channel, report_type, now, quarantined, released)
    counts.quarantined_now += len(quarantined)


def _quarantine(con, channel: Channel, report_type: str, now: datetime, quarantined, released) -> None:
    # what was tried again leaves under the key it waited under (an older warehouse keyed a row by its RMA
    # alone); what still fails stays, or comes back, under its own with the reason of this attempt
    gone = released + [q[2] for q in quarantined if q[2] and q[2] != q[3]]
    if gone:
        released_keys = pa.table({"row_key": gone})  # noqa: F841 - DuckDB reads it by name in the SQL below
        con.execute("create or replace temp table returns_released as select * from released_keys")
        con.execute(
            "delete from returns_quarantine where channel = ? and report_type = ? "
            "and row_key in (select row_key from returns_released)",
            [channel.name, report_type],
        )
    if quarantined:
        set_aside = pa.table(  # noqa: F841 - DuckDB reads it by name in the SQL
            {
                "row_key": [q[3] for q in quarantined],
                "report_id": [q[0] for q in quarantined],
                "line_number": [q[1] for q in quarantined],
                "kind": [q[4] for q in quarantined],
                "cid": [q[5] for q in quarantined],
                "sku": [q[6] for q in quarantined],
                "reason": [q[7] for q in quarantined],
            }
        )
        con.execute("create or replace temp table returns_quarantined as select * from set_aside")
        # the first listing stays the one pointed at, and the first failure's time is kept: since when it fails
        con.execute(
            f"""
            insert into returns_quarantine
                (channel, report_type, row_key, report_id, line_number, reason, quarantined_at, kind,
                 channel_order_id, seller_sku, order_state, tried_at)
            select $channel, $type, row_key, report_id, line_number, reason, $now, kind, cid, sku,
                   {_ORDER_STATE.replace("$cid", "cid")}, $now
            from (select distinct on (row_key) * from returns_quarantined order by row_key, report_id, line_number)
            on conflict do update set reason = excluded.reason, kind = excluded.kind,
                order_state = excluded.order_state, tried_at = excluded.tried_at
            """,
            {"channel": channel.name, "type": report_type, "now": now},
        )


def import_returns(
    con_for_reading,
    write,
    channel: Channel,
    fetcher: ReportFetcher,
    until: datetime | None,
    now: datetime,
    say: Callable[[str], None] = lambda line: None,
    refused_folder: str | os.PathLike | None = None,
) -> ImportCounts:
    """Every window of both report types up to `until` (or now): fetched and read without the writer lock,
    each recorded under it (`write` yields a writing connection). Stops at the first FATAL, refused or failed
    report, with its line in `error`; a document refused as too large is kept in `refused_folder`."""
    total, bound = ImportCounts(), max_report_bytes()
    try:
        for report_type in REPORT_TYPES:
            with con_for_reading() as con:
                start, end = span_to_read(con, channel, report_type, until, now)
                standing = standing_refusal(con, channel, report_type, start, bound)
            if standing:
                raise ReturnsReportError(f"{channel.name}: {report_type}: {standing}; the returns watermark stays")
            for window_start, window_end in windows(start, end):
                counts = _import_window(
                    write, channel, fetcher, report_type, window_start, window_end, now, bound, refused_folder
                )
                total.add(counts)
                say(
                    f"{channel.name}: {report_type} {iso(window_start)} .. {iso(window_end)}: "
                    f"{counts.imported} return(s) imported"
                )
    except ReturnsReportError as error:
        total.error = str(error)
    return total


def _import_window(
    write,
    channel: Channel,
    fetcher: ReportFetcher,
    report_type: str,
    start: datetime,
    end: datetime,
    now: datetime,
    bound: int,
    refused_folder,
) -> ImportCounts:
    report, staged, too_large = fetcher.fetch(report_type, start, end, bound), None, False
    try:
        if report.refusal:
            too_large = True  # refused while downloading
        elif report.download is not None:
            try:
                staged = stage_document(report, channel.marketplace_ids[0], bound)
            except DocumentRefused as refused:
                report, too_large = replace(report, refusal=str(refused)), refused.too_large
        if too_large and refused_folder is not None:
            _keep(report, Path(refused_folder))
        with write() as con:
            return record_report(con, channel, report, staged, now, bound if too_large else None)
    finally:
        for path in (report.download and report.download.path, staged and staged.path):
            if path and os.path.exists(path):
                os.unlink(path)


def _keep(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.path.exists(report.download.path):
        shutil.copyfile(
            report.download.path, folder / f"{report.report_id}{'.gz' if report.download.compression else ''}"
        )
