"""What the sandbox knows of Amazon itself, whatever the API: its marketplaces (currency, tax, which FBA stock
each sells from), how it writes times and reads a request's JSON body, and the ASIN and title a simulated SKU
stands for."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path


@dataclass(frozen=True)
class MarketplaceInfo:
    name: str
    country: str
    currency: str
    tax_rate: Decimal
    usd_rate: Decimal  # rough price level, used only to make simulated prices plausible
    email_domain: str


# Amazon's marketplaces and the Pan-European FBA pool, with their sources: data, beside this module.
_DATA = tomllib.loads((Path(__file__).parent / "marketplaces.toml").read_text())
MARKETPLACES = {
    marketplace_id: MarketplaceInfo(
        fields["name"],
        fields["country"],
        fields["currency"],
        Decimal(fields["tax_rate"]),
        Decimal(fields["usd_rate"]),
        fields["email_domain"],
    )
    for marketplace_id, fields in _DATA["marketplaces"].items()
}
# The marketplaces that answer one pooled FBA stock (their sources: marketplaces.toml).
PAN_EUROPEAN = frozenset(_DATA["fba"]["pan_european"])


def fba_pool(marketplace_id: str) -> str:
    """The FBA stock a marketplace sells from: "EU" for the Pan-European ones, else its own."""
    return "EU" if marketplace_id in PAN_EUROPEAN else marketplace_id


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with second precision, the way Amazon writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# the models' `"format": "date-time"`: RFC 3339, its offset included (a naive time is refused)
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def date_time(value) -> datetime | None:
    """A request's date-time as the models ask for it, in UTC; None if it is not one."""
    return parse_time(value) if isinstance(value, str) and DATE_TIME.fullmatch(value) else None


def csv_list(value: str | None) -> list[str] | None:
    """A comma-separated list parameter; None when absent or empty."""
    return [part.strip() for part in (value or "").split(",") if part.strip()] or None


def parse_time(value) -> datetime | None:
    """Parse an ISO 8601 string into an aware UTC datetime; None if it is not one (naive means UTC)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def digest(text: str) -> int:
    """A stable number for a text: the same every run, unlike hash()."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def asin_for(sku: str) -> str:
    """The ASIN a simulated SKU stands for, the same every run."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number, chars = digest("asin:" + sku), []
    for _ in range(8):
        number, digit = divmod(number, 36)
        chars.append(alphabet[digit])
    return "B0" + "".join(chars)


def title_for(sku: str) -> str:
    return f"Sandbox Product {sku}"


def quantize(amount: Decimal, currency: str) -> Decimal:
    """An amount to its currency's smallest unit (whole yen, else cents), half up."""
    step = Decimal("1") if currency == "JPY" else Decimal("0.01")
    return amount.quantize(step, rounding=ROUND_HALF_UP)


def json_object(body: bytes, invalid: type[Exception]) -> dict:
    """A request's JSON body, which every API here wants an object; else the API's `invalid` (a 400)."""
    try:
        found = json.loads(body or b"null")
    except ValueError:
        raise invalid("body") from None
    if not isinstance(found, dict):
        raise invalid("body")
    return found
