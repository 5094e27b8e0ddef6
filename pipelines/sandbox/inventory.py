"""The sandbox's FBA Inventory API v1: getInventorySummaries under fbaInventory.json's rules (one marketplace,
which is also the granularityId; at most 50 SKUs; a nextToken bound to its request and valid 30 s; a
startDateTime at most 18 months back), answering the simulated marketplace's fulfilment-centre stock."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from .marketplace import Marketplace
from .reference import MARKETPLACES, csv_list, date_time, parse_time

INVENTORY_PATH = "/fba/inventory/v1/summaries"
INVENTORY_MODEL = json.loads((Path(__file__).parent / "models" / "fbaInventory.json").read_text())
_INVENTORY_PARAMETERS = {p["name"]: p for p in INVENTORY_MODEL["paths"][INVENTORY_PATH]["get"]["parameters"]}
INVENTORY_PAGE_SIZE = 50
_INVENTORY_TOKEN_TTL = timedelta(seconds=30)
_INVENTORY_LOOKBACK = timedelta(days=548)
# "The date must be in ISO 8601 format", `"format": "date-time"`: RFC 3339, offset included


class InvalidInventoryRequest(Exception):
    """Answered 400 InvalidInput."""


def _date_time(params: dict, key: str) -> datetime:
    moment = date_time(params[key])
    if moment is None:
        raise InvalidInventoryRequest(key)
    return moment


class InventoryService:
    def __init__(self, marketplace: Marketplace, now: Callable[[], datetime]):
        self.marketplace, self._now = marketplace, now
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[datetime, tuple, int]] = {}  # token -> (made, request, offset)

    def summaries(self, params: dict) -> dict:
        """getInventorySummaries' answer, or InvalidInventoryRequest naming the parameter Amazon would refuse."""
        if params.get("granularityType") not in _INVENTORY_PARAMETERS["granularityType"]["enum"]:
            raise InvalidInventoryRequest("granularityType")
        markets = csv_list(params.get("marketplaceIds"))
        if (
            not markets
            or len(markets) > _INVENTORY_PARAMETERS["marketplaceIds"]["maxItems"]
            or markets[0] not in MARKETPLACES
            or params.get("granularityId") != markets[0]
        ):
            raise InvalidInventoryRequest("marketplaceIds")
        if params.get("details", "false") not in ("true", "false"):
            raise InvalidInventoryRequest("details")
        skus = csv_list(params.get("sellerSkus"))
        if skus and len(skus) > _INVENTORY_PARAMETERS["sellerSkus"]["maxItems"]:
            raise InvalidInventoryRequest("sellerSkus")
        since = None
        if "startDateTime" in params:
            since = _date_time(params, "startDateTime")
            if since < self._now() - _INVENTORY_LOOKBACK:
                raise InvalidInventoryRequest("startDateTime")
        request = tuple(sorted((k, v) for k, v in params.items() if k != "nextToken"))
        offset = 0
        if "nextToken" in params:
            with self._lock:
                made, bound_to, offset = self._tokens.get(params["nextToken"], (None, None, 0))
            if made is None or bound_to != request or self._now() - made > _INVENTORY_TOKEN_TTL:
                raise InvalidInventoryRequest("nextToken")
        summaries = self.marketplace.fba_inventory(markets[0], as_served=True)
        # what put_raw_fba_inventory gave may be anything: what cannot be filtered on is served
        if since is not None:  # "The sellerSkus and sellerSku parameters are ignored."
            moments = [parse_time(s.get("lastUpdatedTime")) if isinstance(s, dict) else None for s in summaries]
            summaries = [s for s, moment in zip(summaries, moments) if moment is None or moment > since]
        elif skus or params.get("sellerSku"):
            wanted = set(skus or [params["sellerSku"]])
            summaries = [s for s in summaries if not isinstance(s, dict) or s.get("sellerSku") in wanted]
        if params.get("details") != "true":
            # "This object will not appear if the details parameter in the request is false."
            summaries = [
                {k: v for k, v in s.items() if k != "inventoryDetails"} if isinstance(s, dict) else s for s in summaries
            ]
        page = summaries[offset : offset + INVENTORY_PAGE_SIZE]
        answer = {
            "payload": {
                "granularity": {"granularityType": params["granularityType"], "granularityId": markets[0]},
                "inventorySummaries": page,
            }
        }
        if offset + INVENTORY_PAGE_SIZE < len(summaries):
            token = secrets.token_urlsafe(24)
            with self._lock:
                for old in [t for t, (made, _, _) in self._tokens.items() if self._now() - made > _INVENTORY_TOKEN_TTL]:
                    del self._tokens[old]
                self._tokens[token] = (self._now(), request, offset + INVENTORY_PAGE_SIZE)
            answer["pagination"] = {"nextToken": token}
        return answer
