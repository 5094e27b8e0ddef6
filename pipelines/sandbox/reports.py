"""The sandbox's Reports API 2021-06-30: createReport, getReport, getReportDocument, and the presigned
document downloads, over the marketplace's returns.

Every rule quotes models/reports_2021-06-30.json (or, for the report documents the model does not
describe, models/README.md). A report is made from the marketplace as it is when it is created and
moves IN_QUEUE -> IN_PROGRESS -> DONE (CANCELLED when its window holds no returns, FATAL when a test
asks for it) as time passes: simulated time, or real time scaled by the server's speedup, whichever
has moved further, so a client polling in real time sees it finish as a client moving the
marketplace's clock does. A slower machine only makes a report finish sooner, never fail.

Rules that end something (a document URL's five minutes) follow the marketplace's clock alone: a test
moves it past the limit, and a busy machine's real seconds never expire a URL under a client's feet.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .reference import MARKETPLACES, date_time, format_time, json_object
from .rendering import DOCUMENT_ENCODINGS, EUROPE, RETURNS_REPORTS

REPORTS_PATH = "/reports/2021-06-30/reports"
DOCUMENTS_PATH = "/reports/2021-06-30/documents"
DOWNLOAD_PATH = "/_reports/documents"  # the presigned URL's path (Amazon's is on S3)

REPORTS_MODEL = json.loads((Path(__file__).parent / "models" / "reports_2021-06-30.json").read_text())
_SPECIFICATION = REPORTS_MODEL["definitions"]["CreateReportSpecification"]


def usage_plan(operation_id: str, model: dict = REPORTS_MODEL) -> tuple[float, int]:
    """(rate, burst) from the operation's "Usage Plan" table in the model."""
    for methods in model["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                rate, burst = re.search(r"\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|", operation["description"]).groups()
                return float(rate), int(burst)
    raise KeyError(operation_id)


# "marketplaceIds ... minItems: 1, maxItems: 25"
_MARKETPLACES_ITEMS = (
    _SPECIFICATION["properties"]["marketplaceIds"]["minItems"],
    _SPECIFICATION["properties"]["marketplaceIds"]["maxItems"],
)
# README: "an order report covers at most about 30 days per request" (taken strictly: 30 days)
MAX_REPORT_SPAN = timedelta(days=30)
# ReportDocument.url: "This URL expires after 5 minutes."
DOCUMENT_URL_TTL = timedelta(minutes=5)


class InvalidReportRequest(Exception):
    """Answered 400 InvalidInput."""


@dataclass
class _Report:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    start: datetime
    end: datetime
    created: datetime  # simulated
    created_real: float  # the server's real_clock()
    outcome: str  # DONE, CANCELLED or FATAL, once processed
    document: bytes | None  # gzip of the tab-separated rows
    content_type: str  # of the download


class ReportsService:
    def __init__(self, server, *, queued_seconds: float = 1.0, processing_seconds: float = 2.0):
        self.server = server
        self.queued_seconds, self.processing_seconds = queued_seconds, processing_seconds
        self.fatal_next = 0  # the next N reports created end FATAL
        # documents a test hands in, served by the next reports of their type (a real document of Amazon's,
        # one built to hurt): report type -> [(bytes as downloaded, content type)]
        self._handed_in: dict[str, list[tuple[bytes, str]]] = {}
        self._reports: dict[str, _Report] = {}
        self._documents: dict[str, tuple[str, str]] = {}  # document id -> (report id, download secret)
        self._issued: dict[str, datetime] = {}  # download secret -> when its URL was handed out (simulated)
        self._lock = threading.Lock()

    def serve_next(
        self, report_type: str, document: bytes, *, content_type: str = "text/plain", compressed: bool = False
    ) -> None:
        """The next report of `report_type` ends DONE with `document` (gzipped here unless `compressed`)."""
        with self._lock:
            self._handed_in.setdefault(report_type, []).append(
                (document if compressed else gzip.compress(document), content_type)
            )

    def _elapsed(self, simulated_since: datetime, real_since: float) -> float:
        simulated = (self.server.now - simulated_since).total_seconds()
        return max(simulated, (self.server.real_clock() - real_since) * self.server.speedup)

    def _date(self, body: dict, key: str) -> datetime:
        # "The default is now. The value must be prior to or equal to the current date and time."
        if key not in body:
            return self.server.now
        value = body[key]
        moment = date_time(value)
        if moment is None or moment > self.server.now:
            raise InvalidReportRequest(key)
        return moment

    def create(self, body: bytes) -> dict:
        spec = json_object(body, InvalidReportRequest)
        # "required": ["marketplaceIds", "reportType"]
        if any(name not in spec for name in _SPECIFICATION["required"]):
            raise InvalidReportRequest("required")
        markets, low_high = spec["marketplaceIds"], _MARKETPLACES_ITEMS
        if (
            not isinstance(markets, list)
            or not low_high[0] <= len(markets) <= low_high[1]
            or any(m not in MARKETPLACES for m in markets)
        ):
            raise InvalidReportRequest("marketplaceIds")
        if spec["reportType"] not in RETURNS_REPORTS:  # the only report types this sandbox makes
            raise InvalidReportRequest("reportType")
        start, end = self._date(spec, "dataStartTime"), self._date(spec, "dataEndTime")
        if start > end or end - start > MAX_REPORT_SPAN:
            raise InvalidReportRequest("dataStartTime")
        rows = self.server.marketplace.returns_report(spec["reportType"], markets, start, end)
        with self._lock:
            report_id = str(50000000000 + len(self._reports) + 1)
            fatal = self.fatal_next > 0
            self.fatal_next -= fatal
            handed_in = self._handed_in.get(spec["reportType"])
            if handed_in:
                document, content_type = handed_in.pop(0)
                outcome = "FATAL" if fatal else "DONE"
            else:
                outcome = "FATAL" if fatal else "DONE" if len(rows) > 1 else "CANCELLED"  # "no data to return"
                text = "".join("\t".join(row) + "\n" for row in rows)
                document = gzip.compress(text.encode(DOCUMENT_ENCODINGS.get(markets[0], "utf-8")))
                content_type = "text/plain; charset=Cp1252" if markets[0] in EUROPE else "text/plain"
            self._reports[report_id] = _Report(
                report_id,
                spec["reportType"],
                markets,
                start,
                end,
                self.server.now,
                self.server.real_clock(),
                outcome,
                document if outcome == "DONE" else None,
                content_type,
            )
        return {"reportId": report_id}

    def get(self, report_id: str) -> dict:
        with self._lock:
            report = self._reports[report_id]  # KeyError: 404
        elapsed = self._elapsed(report.created, report.created_real)
        status = (
            "IN_QUEUE"
            if elapsed < self.queued_seconds
            else "IN_PROGRESS"
            if elapsed < self.queued_seconds + self.processing_seconds
            else report.outcome
        )
        answer = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": report.marketplace_ids,
            "dataStartTime": format_time(report.start),
            "dataEndTime": format_time(report.end),
            "createdTime": format_time(report.created),
            "processingStatus": status,
        }
        if status != "IN_QUEUE":
            answer["processingStartTime"] = format_time(report.created + timedelta(seconds=self.queued_seconds))
        if status in ("DONE", "CANCELLED", "FATAL"):
            answer["processingEndTime"] = format_time(
                report.created + timedelta(seconds=self.queued_seconds + self.processing_seconds)
            )
        if status == "DONE":
            document_id = f"amzn1.spdoc.1.4.na.{report.report_id}"
            with self._lock:
                self._documents.setdefault(document_id, (report.report_id, secrets.token_urlsafe(16)))
            answer["reportDocumentId"] = document_id
        return answer

    def document(self, document_id: str) -> dict:
        with self._lock:
            _, secret = self._documents[document_id]  # KeyError: 404
            self._issued[secret] = self.server.now
        return {
            "reportDocumentId": document_id,
            "compressionAlgorithm": "GZIP",
            "url": f"{self.server.url}{DOWNLOAD_PATH}/{document_id}?signature={secret}",
        }

    def download(self, document_id: str, params: dict) -> tuple[bytes, str] | None:
        """The document's bytes and content type, or None when the URL is not one handed out in the last 5 minutes."""
        with self._lock:
            report_id, secret = self._documents.get(document_id, (None, None))
            issued = self._issued.get(params.get("signature", ""))
            if report_id is None or params.get("signature") != secret or issued is None:
                return None
            report = self._reports[report_id]
        if self.server.now - issued > DOCUMENT_URL_TTL:
            return None
        return report.document, report.content_type
