"""The sandbox's Feeds API 2021-06-30 for JSON_LISTINGS_FEED: createFeedDocument, the upload to its presigned URL,
createFeed, getFeed, getFeedDocument and the processing report's download.

Rules quote models/feeds_2021-06-30.json and the listings feed schemas beside it (listings-feed-schema-v2.json,
listings-feed-processing-report-schema-v2.json). A feed moves IN_QUEUE -> IN_PROGRESS -> DONE as time passes
(the marketplace's, or real time times the server's speedup, whichever has moved further), and its messages'
patches are applied to the listings when it is DONE. A document that is not the listings feed's JSON ends
FATAL, as Amazon ends a feed it cannot read. `stall_next` keeps the next feeds IN_QUEUE (Amazon's queue has
been seen to hold a feed for hours).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .listings import DEFAULT_CHANNEL, mfn_pool
from .reference import MARKETPLACES, format_time, json_object

FEEDS_PATH = "/feeds/2021-06-30/feeds"
FEED_DOCUMENTS_PATH = "/feeds/2021-06-30/documents"
UPLOAD_PATH = "/_feeds/uploads"  # the presigned upload URL's path (Amazon's is on S3)
RESULT_PATH = "/_feeds/results"
FEEDS_MODEL = json.loads((Path(__file__).parent / "models" / "feeds_2021-06-30.json").read_text())
FEED_SCHEMA = json.loads((Path(__file__).parent / "models" / "listings-feed-schema-v2.json").read_text())
MESSAGE_SCHEMA = json.loads((Path(__file__).parent / "models" / "listings-feed-message-schema-v2.json").read_text())
_SPEC = FEEDS_MODEL["definitions"]["CreateFeedSpecification"]
# marketplaceIds: "minItems": 1, "maxItems": 25
_MARKETPLACE_ITEMS = (
    _SPEC["properties"]["marketplaceIds"]["minItems"],
    _SPEC["properties"]["marketplaceIds"]["maxItems"],
)
# CreateFeedDocumentResponse.url: "The presigned URL for uploading the feed contents. This URL expires after 5 minutes."
URL_TTL = timedelta(minutes=5)
# header.version: "const": "2.0"
FEED_VERSION = FEED_SCHEMA["properties"]["header"]["properties"]["version"]["const"]
OPERATION_TYPES = ("UPDATE", "PARTIAL_UPDATE", "DELETE", "PATCH")
LISTINGS_FEED = "JSON_LISTINGS_FEED"


class InvalidFeedRequest(Exception):
    """Answered 400 InvalidInput."""


@dataclass
class _Document:
    content_type: str
    secret: str
    issued: datetime
    body: bytes | None = None


@dataclass
class _Feed:
    feed_id: str
    marketplace_ids: list[str]
    created: datetime
    created_real: float
    outcome: str  # DONE or FATAL
    report: dict | None
    stalled: bool


class FeedsService:
    def __init__(self, server, *, queued_seconds: float = 1.0, processing_seconds: float = 2.0):
        self.server = server
        self.queued_seconds, self.processing_seconds = queued_seconds, processing_seconds
        self.stall_next = 0
        self.feeds: dict[str, _Feed] = {}
        self._documents: dict[str, _Document] = {}
        self._results: dict[str, tuple[str, str]] = {}  # result document id -> (feed id, secret)
        self._lock = threading.Lock()

    def _elapsed(self, feed: _Feed) -> float:
        simulated = (self.server.now - feed.created).total_seconds()
        return max(simulated, (self.server.real_clock() - feed.created_real) * self.server.speedup)

    def create_document(self, body: bytes) -> dict:
        spec = json_object(body, InvalidFeedRequest)
        # CreateFeedDocumentSpecification: "required": ["contentType"]
        if not isinstance(spec.get("contentType"), str) or not spec["contentType"]:
            raise InvalidFeedRequest("contentType")
        document_id = "amzn1.tortuga.4.na." + secrets.token_hex(12)
        with self._lock:
            self._documents[document_id] = _Document(spec["contentType"], secrets.token_urlsafe(16), self.server.now)
        return {
            "feedDocumentId": document_id,
            "url": f"{self.server.url}{UPLOAD_PATH}/{document_id}?signature={self._documents[document_id].secret}",
        }

    def upload(self, document_id: str, params: dict, body: bytes) -> bool:
        with self._lock:
            document = self._documents.get(document_id)
            if (
                document is None
                or params.get("signature") != document.secret
                or self.server.now - document.issued > URL_TTL
            ):
                return False
            document.body = body
        return True

    def create_feed(self, body: bytes) -> dict:
        spec = json_object(body, InvalidFeedRequest)
        if any(name not in spec for name in _SPEC["required"]):  # inputFeedDocumentId, feedType, marketplaceIds
            raise InvalidFeedRequest("required")
        markets = spec["marketplaceIds"]
        if (
            not isinstance(markets, list)
            or not _MARKETPLACE_ITEMS[0] <= len(markets) <= _MARKETPLACE_ITEMS[1]
            or any(m not in MARKETPLACES for m in markets)
        ):
            raise InvalidFeedRequest("marketplaceIds")
        if spec["feedType"] != LISTINGS_FEED:  # the only feed type this sandbox processes
            raise InvalidFeedRequest("feedType")
        with self._lock:
            document = self._documents.get(spec["inputFeedDocumentId"])
            if document is None or document.body is None:  # "Upload the feed document contents before calling"
                raise InvalidFeedRequest("inputFeedDocumentId")
            stalled = self.stall_next > 0
            self.stall_next -= stalled
            feed_id = str(60000000000 + len(self.feeds) + 1)
        report = self._process(feed_id, markets, document.body)
        with self._lock:
            self.feeds[feed_id] = _Feed(
                feed_id,
                markets,
                self.server.now,
                self.server.real_clock(),
                "FATAL" if report is None else "DONE",
                report,
                stalled,
            )
        return {"feedId": feed_id}

    def _process(self, feed_id: str, markets: list[str], body: bytes) -> dict | None:
        """The processing report, and the accepted messages' patches handed to the listings (applied when the
        feed is done); None when the document cannot be read (the feed ends FATAL)."""
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        header = document.get("header") if isinstance(document, dict) else None
        messages = document.get("messages") if isinstance(document, dict) else None
        # the feed schema: "required": ["header", "messages"]; header "required": ["sellerId", "version"]
        if (
            not isinstance(header, dict)
            or not isinstance(messages, list)
            or header.get("version") != FEED_VERSION
            or not isinstance(header.get("sellerId"), str)
        ):
            return None
        listings = self.server.listings
        issues, accepted, invalid = [], 0, 0
        delay = self.queued_seconds + self.processing_seconds
        for message in messages:
            problem = None
            message_id = message.get("messageId") if isinstance(message, dict) else None
            sku = message.get("sku") if isinstance(message, dict) else None
            # message schema: messageId "minimum": 1, sku "minLength": 1, operationType's enum; PATCH needs
            # productType and patches
            if (
                not isinstance(message_id, int)
                or message_id < 1
                or not isinstance(sku, str)
                or not sku
                or message.get("operationType") not in OPERATION_TYPES
            ):
                problem = {"code": "BAD_REQUEST", "severity": "ERROR", "message": "Invalid parameters provided."}
            elif (
                message["operationType"] != "PATCH"
                or not isinstance(message.get("productType"), str)
                or not isinstance(message.get("patches"), list)
                or not message["patches"]
            ):
                # the sandbox applies PATCH messages only; the others are not the stock push's to send
                problem = {"code": "BAD_REQUEST", "severity": "ERROR", "message": "Invalid parameters provided."}
            else:
                found = listings.accept(header["sellerId"], sku, markets, message["patches"], delay)
                if found:
                    problem = {k: v for k, v in found[0].items() if k in ("code", "severity", "message")}
            if problem:
                invalid += 1
                issues.append(
                    {
                        **({"messageId": message_id} if isinstance(message_id, int) else {}),
                        **({"sku": sku} if isinstance(sku, str) and sku else {}),
                        **problem,
                    }
                )
            else:
                accepted += 1
        return {
            "header": {"sellerId": header["sellerId"], "version": FEED_VERSION, "feedId": feed_id},
            "issues": issues,
            "summary": {
                "errors": len(issues),
                "warnings": 0,
                "messagesProcessed": len(messages),
                "messagesAccepted": accepted,
                "messagesInvalid": invalid,
            },
        }

    def get(self, feed_id: str) -> dict:
        with self._lock:
            feed = self.feeds[feed_id]  # KeyError: 404
        elapsed = self._elapsed(feed)
        status = (
            "IN_QUEUE"
            if feed.stalled or elapsed < self.queued_seconds
            else "IN_PROGRESS"
            if elapsed < self.queued_seconds + self.processing_seconds
            else feed.outcome
        )
        answer = {
            "feedId": feed_id,
            "feedType": LISTINGS_FEED,
            "marketplaceIds": feed.marketplace_ids,
            "createdTime": format_time(feed.created),
            "processingStatus": status,
        }
        if status != "IN_QUEUE":
            answer["processingStartTime"] = format_time(feed.created + timedelta(seconds=self.queued_seconds))
        if status in ("DONE", "FATAL"):
            answer["processingEndTime"] = format_time(
                feed.created + timedelta(seconds=self.queued_seconds + self.processing_seconds)
            )
        if status == "DONE":
            result_id = f"amzn1.tortuga.4.na.result.{feed_id}"
            with self._lock:
                self._results.setdefault(result_id, (feed_id, secrets.token_urlsafe(16)))
            answer["resultFeedDocumentId"] = result_id
        return answer

    def document(self, document_id: str) -> dict:
        with self._lock:
            _, secret = self._results[document_id]  # KeyError: 404
        return {
            "feedDocumentId": document_id,
            "url": f"{self.server.url}{RESULT_PATH}/{document_id}?signature={secret}",
        }

    def download(self, document_id: str, params: dict) -> bytes | None:
        with self._lock:
            feed_id, secret = self._results.get(document_id, (None, None))
            if feed_id is None or params.get("signature") != secret:
                return None
            return json.dumps(self.feeds[feed_id].report).encode("utf-8")


__all__ = [
    "FEEDS_PATH",
    "FEED_DOCUMENTS_PATH",
    "UPLOAD_PATH",
    "RESULT_PATH",
    "FEEDS_MODEL",
    "FeedsService",
    "InvalidFeedRequest",
    "DEFAULT_CHANNEL",
    "mfn_pool",
]
