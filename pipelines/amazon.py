"""The SP-API Orders v2026-01-01 client for a channel, built on python-amazon-sp-api.

Three quirks of the client are handled here rather than worked around at call sites:
- `SP_API_DEFAULT_MARKETPLACE` silently replaces the marketplace passed in: the endpoint and
  marketplace are set again after construction, and marketplaceIds are always sent explicitly.
- the default HTTP timeout is 5 s, too short for a 100-order page: a longer one is passed.
- a 429 (or any error) without an `errors` JSON body raises nothing and returns an empty payload:
  `search_orders_page` treats a response without `orders` as a failed call.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sp_api.api import OrdersV20260101
from sp_api.auth import AccessTokenClient
from sp_api.base import Marketplaces

from pipelines.channels import Channel

INCLUDED_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "CANCELLATION"]
PAGE_SIZE = 100
HTTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Endpoint:
    """What python-amazon-sp-api reads from a marketplace: any object with these three fields."""

    endpoint: str
    marketplace_id: str
    region: str


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


def orders_client(channel: Channel, account: str = "default") -> OrdersV20260101:
    marketplace = _region_endpoint(channel.marketplace_ids[0]) if not channel.endpoint else None
    target = Endpoint(
        endpoint=(channel.endpoint or marketplace.endpoint).rstrip("/"),
        marketplace_id=channel.marketplace_ids[0],
        region=marketplace.region if marketplace else "us-east-1",
    )
    kwargs = {"account": account, "timeout": HTTP_TIMEOUT_SECONDS}
    if channel.token_url:
        kwargs["auth_token_client_class"] = _token_client_class(channel.token_url)
    client = OrdersV20260101(marketplace=target, **kwargs)
    client.endpoint, client.marketplace_id, client.region = target.endpoint, target.marketplace_id, target.region
    return client


def forget_access_token(client: OrdersV20260101) -> None:
    """Drop the cached access token so the next call fetches a fresh one (after a 403 'expired')."""
    from sp_api.auth.access_token_client import cache

    cache.pop(client._auth._get_cache_key(), None)


def search_orders_page(client: OrdersV20260101, params: dict) -> dict:
    response = client.search_orders(**params)
    payload = response.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
        raise MalformedResponse("the response had no 'orders' list (empty, truncated or not JSON)")
    return {
        "orders": payload["orders"],
        "next_token": response.next_token,
        "last_updated_before": payload.get("lastUpdatedBefore"),
        "rate_limit": response.rate_limit,
    }
