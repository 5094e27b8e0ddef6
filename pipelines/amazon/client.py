"""The SP-API clients for a channel (Orders v2026-01-01, FBA Inventory v1, Reports 2021-06-30, Notifications v1),
built on python-amazon-sp-api, and what its failures mean.

Three quirks of the client are handled here rather than worked around at call sites:
- `SP_API_DEFAULT_MARKETPLACE` silently replaces the marketplace passed in: the endpoint and
  marketplace are set again after construction, and marketplaceIds are always sent explicitly.
- the default HTTP timeout is 5 s, too short for a 100-order page: a longer one is passed.
- a 429 (or any error) without an `errors` JSON body raises nothing and returns an empty payload:
  `search_orders_page` treats a response without `orders` as a failed call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from sp_api.api import Inventories, Notifications, OrdersV0, OrdersV20260101, ReportsV2
from sp_api.auth import AccessTokenClient
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import Marketplaces
from sp_api.base import exceptions as spe
from sp_api.base.credential_provider import MissingCredentials

# Amazon's marketplace table: id -> the region whose endpoint serves it
REGIONS = {marketplace.marketplace_id: marketplace.region for marketplace in Marketplaces}
# PACKAGES: the packages a confirmed shipment made, and when a merchant-fulfilled order's left (orders.shipped_at)
INCLUDED_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "CANCELLATION", "PACKAGES"]
HTTP_TIMEOUT_SECONDS = 30.0


class Seller(Protocol):
    """What a client needs of a channel: its marketplaces and, for a sandbox, where to reach it."""

    marketplace_ids: tuple[str, ...]
    endpoint: str | None
    token_url: str | None


@dataclass(frozen=True)
class Endpoint:
    """What python-amazon-sp-api reads from a marketplace: any object with these three fields."""

    endpoint: str
    marketplace_id: str
    region: str


@dataclass(frozen=True)
class Page:
    orders: list
    next_token: str | None
    rate_limit: str | None  # x-amzn-RateLimit-Limit, when Amazon sends it


class MalformedResponse(RuntimeError):
    """The server answered without a usable searchOrders body (empty, truncated or not JSON)."""


def _region_endpoint(marketplace_id: str) -> Endpoint:
    for marketplace in Marketplaces:
        if marketplace.marketplace_id == marketplace_id:
            return Endpoint(marketplace.endpoint, marketplace_id, marketplace.region)
    raise ValueError(f"unknown Amazon marketplace id {marketplace_id!r}")


def _token_client_class(token_url: str) -> type[AccessTokenClient]:
    """An LWA token client that talks to `token_url` instead of api.amazon.com."""
    parts = urlsplit(token_url)

    class LocalTokenClient(AccessTokenClient):
        scheme = f"{parts.scheme}://"
        host = parts.netloc
        path = parts.path or "/auth/o2/token"

        def _get_cache_key(self, token_flavor=""):
            # Tokens are cached per refresh token process-wide; a different server issues its own.
            return super()._get_cache_key(token_flavor + token_url)

    return LocalTokenClient


def orders_client(channel: Seller, account: str = "default") -> OrdersV20260101:
    return _client(OrdersV20260101, channel, account)


def inventory_client(channel: Seller, account: str = "default") -> Inventories:
    return _client(Inventories, channel, account)


def reports_client(channel: Seller, account: str = "default") -> ReportsV2:
    return _client(ReportsV2, channel, account)


def notifications_client(channel: Seller, account: str = "default") -> Notifications:
    return _client(Notifications, channel, account)


def orders_v0_client(channel: Seller, account: str = "default") -> OrdersV0:
    """Orders API v0, for confirmShipment only (v0's read operations are deprecated; this one is not)."""
    return _client(OrdersV0, channel, account)


def confirm_shipment(client: OrdersV0, order_id: str, body: dict) -> str | None:
    """confirmShipment; returns the x-amzn-RateLimit-Limit Amazon sent. Success is a 204 and nothing else:
    python-amazon-sp-api returns normally from a 429 or 5xx without an `errors` body (its payload then lacks
    the status_code it records for an empty 2xx), which is a failed call here."""
    response = client.confirm_shipment(order_id=order_id, **body)
    status = response.payload.get("status_code") if isinstance(response.payload, dict) else None
    if not (isinstance(status, int) and 200 <= status < 300):
        raise MalformedResponse("confirmShipment answered without a 204 (a throttle or failure without a body)")
    return response.rate_limit


def delete_subscription(client: Notifications, notification_type: str, subscription_id: str) -> None:
    """deleteSubscriptionById, which the model calls grantless: python-amazon-sp-api's own
    delete_notification_subscription sends the seller's token instead, so the request is made here."""
    client._request_grantless_operation(
        f"/notifications/v1/subscriptions/{notification_type}/{subscription_id}", params={"method": "DELETE"}
    )


def _client(api: type, channel: Seller, account: str):
    marketplace = _region_endpoint(channel.marketplace_ids[0]) if not channel.endpoint else None
    target = Endpoint(
        endpoint=(channel.endpoint or marketplace.endpoint).rstrip("/"),
        marketplace_id=channel.marketplace_ids[0],
        region=marketplace.region if marketplace else "us-east-1",
    )
    kwargs = {"account": account, "timeout": HTTP_TIMEOUT_SECONDS, "verify": tls_context()}
    if channel.token_url:
        kwargs["auth_token_client_class"] = _token_client_class(channel.token_url)
    client = api(marketplace=target, **kwargs)
    client.endpoint, client.marketplace_id, client.region = target.endpoint, target.marketplace_id, target.region
    return client


@functools.cache
def tls_context():
    """httpx's default TLS verification (certifi's CAs, or SSL_CERT_FILE/SSL_CERT_DIR), built once a process: each
    client would otherwise build its own, reading the CA bundle again (20 ms), and a run builds a client per call site."""
    return httpx.create_ssl_context()


def forget_access_token(client) -> None:
    """Drop the cached access token so the next call fetches a fresh one (after a 403)."""
    from sp_api.auth.access_token_client import cache

    cache.pop(client._auth._get_cache_key(), None)


def search_orders_page(client: OrdersV20260101, params: dict) -> Page:
    response = client.search_orders(**params)
    payload = response.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
        raise MalformedResponse("the response had no 'orders' list (empty, truncated or not JSON)")
    return Page(payload["orders"], response.next_token, response.rate_limit)


def inventory_summaries_page(
    client: Inventories, marketplace_id: str, next_token: str | None
) -> tuple[list, str | None]:
    """A page of getInventorySummaries for one marketplace, with details; a later page repeats the
    first page's parameters beside its nextToken."""
    params = {
        "granularityType": "Marketplace",
        "granularityId": marketplace_id,
        "marketplaceIds": [marketplace_id],
        "details": "true",
    }
    if next_token:
        params["nextToken"] = next_token
    response = client.get_inventory_summary_marketplace(**params)
    payload = response.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("inventorySummaries"), list):
        raise MalformedResponse("the response had no 'inventorySummaries' list (empty, truncated or not JSON)")
    return payload["inventorySummaries"], response.next_token


def create_report(client: ReportsV2, report_type: str, marketplace_ids: list[str], start: str, end: str) -> str:
    payload = client.create_report(
        reportType=report_type, marketplaceIds=marketplace_ids, dataStartTime=start, dataEndTime=end
    ).payload
    if not isinstance(payload, dict) or not isinstance(payload.get("reportId"), str):
        raise MalformedResponse("the createReport response had no reportId")
    return payload["reportId"]


def get_report(client: ReportsV2, report_id: str) -> dict:
    payload = client.get_report(report_id).payload
    if not isinstance(payload, dict) or not isinstance(payload.get("processingStatus"), str):
        raise MalformedResponse("the getReport response had no processingStatus")
    return payload


class DocumentDownloadFailed(RuntimeError):
    """The presigned document URL answered other than 200 (it expires after 5 minutes)."""


class DocumentTooLarge(RuntimeError):
    """A report document is bigger than the bound this side accepts; nothing of it is kept in memory."""


@dataclass(frozen=True)
class Download:
    """A report document as Amazon serves it, streamed to a file: still compressed when Amazon compressed it."""

    path: str
    compression: str | None  # "GZIP" or None, as getReportDocument said
    charset: str | None  # from the download's Content-Type, when Amazon names one
    size: int  # bytes on disk


CHUNK_BYTES = 1 << 16


def download_report_document(client: ReportsV2, document_id: str, path: str, max_bytes: int) -> Download:
    """The report document's bytes, streamed to `path` as they come (at most `max_bytes` of them).

    The URL is fetched here rather than with the client's download=True, which neither checks the
    download's HTTP status (an expired URL's error page would be read as the report) nor bounds its size
    (it holds the whole document, twice, in memory).
    """
    payload = client.get_report_document(document_id).payload
    if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
        raise MalformedResponse("the getReportDocument response had no url")
    size = 0
    with httpx.stream("GET", payload["url"], timeout=HTTP_TIMEOUT_SECONDS, verify=tls_context()) as response:
        if response.status_code != 200:
            raise DocumentDownloadFailed(f"the document URL answered HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise DocumentTooLarge(f"{int(declared):,} bytes to download, over the bound of {max_bytes:,}")
        with open(path, "wb") as file:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise DocumentTooLarge(f"over {max_bytes:,} bytes to download, the bound")
                file.write(chunk)
        charset = response.charset_encoding
    compression = payload.get("compressionAlgorithm")
    return Download(path, compression if compression == "GZIP" else None, charset, size)


# -- what a failure means --------------------------------------------------------------------------
# Decided from the HTTP status (the exception class python-amazon-sp-api raises for it), never from
# the words of Amazon's message, which are terse and may change.
THROTTLED = "throttled"  # 429: wait for the usage plan
TRANSIENT = "transient"  # 5xx, timeouts, broken connections, unreadable bodies: back off and retry
FORBIDDEN = "forbidden"  # 403: the access token may have expired
INVALID = "invalid"  # 400: Amazon refused the request's parameters
FINAL = "final"  # anything else (404, 413, 415, a refused refresh token, no credentials)

_BY_EXCEPTION = [
    (spe.SellingApiRequestThrottledException, THROTTLED),
    (spe.SellingApiForbiddenException, FORBIDDEN),
    (spe.SellingApiBadRequestException, INVALID),
    (
        (
            spe.SellingApiServerException,
            spe.SellingApiTemporarilyUnavailableException,
            spe.SellingApiGatewayTimeoutException,
            MalformedResponse,
            DocumentDownloadFailed,
            httpx.TimeoutException,
            httpx.TransportError,
        ),
        TRANSIENT,
    ),
    (
        (
            spe.SellingApiNotFoundException,
            spe.SellingApiStateConflictException,
            spe.SellingApiTooLargeException,
            spe.SellingApiUnsupportedFormatException,
        ),
        FINAL,
    ),
    # an HTTP status python-amazon-sp-api has no class for (502, say) is the server's trouble
    (spe.SellingApiException, TRANSIENT),
]


def classify(error: BaseException) -> str:
    if isinstance(error, AuthorizationError):
        # LWA answering 429 or 5xx is as transient as the Orders API doing so; a 4xx (a revoked
        # refresh token, say) is final
        status = error.status_code if isinstance(error.status_code, int) else 0
        return TRANSIENT if status == 429 or status >= 500 else FINAL
    for kinds, meaning in _BY_EXCEPTION:
        if isinstance(error, kinds):
            return meaning
    return FINAL


def describe(error: BaseException) -> str:
    """The cause of a failed call in one line, without anything from the credentials."""
    if isinstance(error, spe.SellingApiException):
        status = getattr(error, "code", "?")
        return f"HTTP {status} {getattr(error, 'amzn_code', '') or ''}: {getattr(error, 'message', '') or ''}".strip()
    if isinstance(error, AuthorizationError):
        return f"LWA token request failed: HTTP {error.status_code} {error.error_code}"
    if isinstance(error, httpx.TimeoutException):
        # the timeout the client was built with (read at call time, as orders_client does)
        return f"no answer within {HTTP_TIMEOUT_SECONDS:g} s (timeout)"
    if isinstance(error, httpx.TransportError):
        return f"connection failed ({type(error).__name__})"
    if isinstance(error, MissingCredentials):
        return "no SP-API credentials: set LWA_APP_ID, LWA_CLIENT_SECRET and SP_API_REFRESH_TOKEN"
    return f"{type(error).__name__}: {error}"


# -- Listings Items 2021-08-01 and Feeds 2021-06-30 (stock pushed back to Amazon, issue #26) ----------------
def listings_client(channel: Seller, account: str = "default"):
    from sp_api.api import ListingsItemsV20210801

    return _client(ListingsItemsV20210801, channel, account)


def feeds_client(channel: Seller, account: str = "default"):
    from sp_api.api import FeedsV20210630

    return _client(FeedsV20210630, channel, account)


@dataclass(frozen=True)
class ListingsPage:
    items: list
    next_token: str | None
    rate_limit: str | None


def search_listings_page(
    client, seller_id: str, marketplace_ids: list[str], page_token: str | None, skus: list[str] | None = None
) -> ListingsPage:
    """A page of searchListingsItems (20 items, the model's maximum) with the fulfilment availability; `skus`
    (at most 20) looks those seller SKUs up instead of listing every item."""
    params = {
        "marketplaceIds": ",".join(marketplace_ids),
        "includedData": "summaries,fulfillmentAvailability",
        "pageSize": 20,
    }
    if skus:
        params.update(identifiers=",".join(skus), identifiersType="SKU")
    if page_token:
        params["pageToken"] = page_token
    response = client.search_listings_items(seller_id, **params)
    payload = response.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        # a 429 without an `errors` body raises nothing and returns an empty payload
        raise MalformedResponse("the searchListingsItems response had no 'items' list")
    token = response.next_token or ((payload.get("pagination") or {}).get("nextToken"))
    return ListingsPage(payload["items"], token, response.rate_limit)


def patch_listing_quantity(client, seller_id: str, sku: str, marketplace_ids: list[str], quantity: int):
    """patchListingsItem, `merge` on fulfillment_availability with the merchant's own channel code (DEFAULT):
    `replace` would drop the handling time, and another code would add a second entry. Returns the payload
    (status ACCEPTED or INVALID, which the client raises nothing for) and the rate limit Amazon sent."""
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": int(quantity)}],
            }
        ],
    }
    response = client.patch_listings_item(seller_id, sku, marketplaceIds=",".join(marketplace_ids), body=body)
    payload = response.payload
    if not isinstance(payload, dict) or payload.get("status") not in ("ACCEPTED", "INVALID", "VALID"):
        raise MalformedResponse("the patchListingsItem response had no submission status")
    return payload, response.rate_limit


LISTINGS_FEED = "JSON_LISTINGS_FEED"


def create_listings_feed(client, document: bytes, marketplace_ids: list[str]) -> str:
    """createFeedDocument, the upload, and createFeed for a JSON_LISTINGS_FEED; returns the feedId. The document is
    bytes already (UTF-8): python-amazon-sp-api encodes a `str` as Latin-1."""
    import io

    response = client.create_feed_document(io.BytesIO(document), "application/json; charset=UTF-8")
    payload = response.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("feedDocumentId"), str):
        raise MalformedResponse("the createFeedDocument response had no feedDocumentId")
    created = client.create_feed(LISTINGS_FEED, payload["feedDocumentId"], marketplaceIds=marketplace_ids).payload
    if not isinstance(created, dict) or not isinstance(created.get("feedId"), str):
        raise MalformedResponse("the createFeed response had no feedId")
    return created["feedId"]


def get_feed(client, feed_id: str) -> dict:
    payload = client.get_feed(feed_id).payload
    if not isinstance(payload, dict) or not isinstance(payload.get("processingStatus"), str):
        raise MalformedResponse("the getFeed response had no processingStatus")
    return payload


def feed_result(client, document_id: str) -> dict:
    """The processing report of a listings feed, as JSON."""
    import json

    text = client.get_feed_result_document(document_id)
    try:
        report = json.loads(text)
    except (TypeError, ValueError):
        raise MalformedResponse("the feed's processing report is not JSON") from None
    if not isinstance(report, dict):
        raise MalformedResponse("the feed's processing report is not a JSON object")
    return report
