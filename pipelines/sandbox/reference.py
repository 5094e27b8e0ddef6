"""What the sandbox knows of Amazon itself, whatever the API: its marketplaces (currency, tax, which FBA stock
each sells from), how it writes times and reads a request's JSON body, and the ASIN and title a simulated SKU
stands for."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class MarketplaceInfo:
    name: str
    country: str
    currency: str
    tax_rate: Decimal
    usd_rate: Decimal  # rough price level, used only to make simulated prices plausible
    email_domain: str


# Amazon's marketplaces (the ids of Amazon's marketplace table), with what the simulation needs of each.
MARKETPLACES = {
    # North America
    "ATVPDKIKX0DER": MarketplaceInfo(
        "Amazon.com", "US", "USD", Decimal("0.08"), Decimal("1"), "marketplace.amazon.com"
    ),
    "A2EUQ1WTGCTBG2": MarketplaceInfo(
        "Amazon.ca", "CA", "CAD", Decimal("0.13"), Decimal("1.35"), "marketplace.amazon.ca"
    ),
    "A1AM78C64UM0Y8": MarketplaceInfo(
        "Amazon.com.mx", "MX", "MXN", Decimal("0.16"), Decimal("17"), "marketplace.amazon.com.mx"
    ),
    "A2Q3Y263D00KWC": MarketplaceInfo(
        "Amazon.com.br", "BR", "BRL", Decimal("0.17"), Decimal("5"), "marketplace.amazon.com.br"
    ),
    # Europe, the Middle East, Africa and India
    "A1F83G8C2ARO7P": MarketplaceInfo(
        "Amazon.co.uk", "GB", "GBP", Decimal("0.20"), Decimal("0.8"), "marketplace.amazon.co.uk"
    ),
    "A1PA6795UKMFR9": MarketplaceInfo(
        "Amazon.de", "DE", "EUR", Decimal("0.19"), Decimal("0.92"), "marketplace.amazon.de"
    ),
    "A13V1IB3VIYZZH": MarketplaceInfo(
        "Amazon.fr", "FR", "EUR", Decimal("0.20"), Decimal("0.92"), "marketplace.amazon.fr"
    ),
    "APJ6JRA9NG5V4": MarketplaceInfo(
        "Amazon.it", "IT", "EUR", Decimal("0.22"), Decimal("0.92"), "marketplace.amazon.it"
    ),
    "A1RKKUPIHCS9HS": MarketplaceInfo(
        "Amazon.es", "ES", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.es"
    ),
    "A1805IZSGTT6HS": MarketplaceInfo(
        "Amazon.nl", "NL", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.nl"
    ),
    "AMEN7PMS3EDWL": MarketplaceInfo(
        "Amazon.com.be", "BE", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.com.be"
    ),
    "A28R8C7NBKEWEA": MarketplaceInfo(
        "Amazon.ie", "IE", "EUR", Decimal("0.23"), Decimal("0.92"), "marketplace.amazon.ie"
    ),
    "A2NODRKZP88ZB9": MarketplaceInfo(
        "Amazon.se", "SE", "SEK", Decimal("0.25"), Decimal("10.5"), "marketplace.amazon.se"
    ),
    "A1C3SOZRARQ6R3": MarketplaceInfo("Amazon.pl", "PL", "PLN", Decimal("0.23"), Decimal("4"), "marketplace.amazon.pl"),
    "A33AVAJ2PDY3EV": MarketplaceInfo(
        "Amazon.com.tr", "TR", "TRY", Decimal("0.20"), Decimal("34"), "marketplace.amazon.com.tr"
    ),
    "A2VIGQ35RCS4UG": MarketplaceInfo(
        "Amazon.ae", "AE", "AED", Decimal("0.05"), Decimal("3.67"), "marketplace.amazon.ae"
    ),
    "A17E79C6D8DWNP": MarketplaceInfo(
        "Amazon.sa", "SA", "SAR", Decimal("0.15"), Decimal("3.75"), "marketplace.amazon.sa"
    ),
    "ARBP9OOSHTCHU": MarketplaceInfo("Amazon.eg", "EG", "EGP", Decimal("0.14"), Decimal("48"), "marketplace.amazon.eg"),
    "AE08WJ6YKNBMC": MarketplaceInfo(
        "Amazon.co.za", "ZA", "ZAR", Decimal("0.15"), Decimal("18"), "marketplace.amazon.co.za"
    ),
    "A21TJRUUN4KGV": MarketplaceInfo("Amazon.in", "IN", "INR", Decimal("0.18"), Decimal("84"), "marketplace.amazon.in"),
    # Far East
    "A1VC38T7YXB528": MarketplaceInfo(
        "Amazon.co.jp", "JP", "JPY", Decimal("0.10"), Decimal("150"), "marketplace.amazon.co.jp"
    ),
    "A39IBJ37TRP1C6": MarketplaceInfo(
        "Amazon.com.au", "AU", "AUD", Decimal("0.10"), Decimal("1.5"), "marketplace.amazon.com.au"
    ),
    "A19VAU5U5O7RUS": MarketplaceInfo(
        "Amazon.sg", "SG", "SGD", Decimal("0.09"), Decimal("1.35"), "marketplace.amazon.sg"
    ),
}

# Pan-European FBA: one stock for the EU marketplaces, and getInventorySummaries "returns the same values for
# each EU marketplace - a sum of inventory quantities from all the EU marketplaces (except the UK and other
# marketplaces, which technically fall under the "EU" definition, but aren't part of the Pan-EU FBA
# programme)" (amzn/selling-partner-api-models#452; #360: "this operation returns a sum of inventory quantities
# from all the EU marketplaces"). The UK keeps its own stock (Amazon's Pan-European FBA help: since Brexit no
# FBA stock moves between the UK and the EU; amzn/selling-partner-api-docs#129 saw the UK answer differently).
# Amazon.ie and Amazon.com.tr keep their own too: no source says they are pooled. Every other marketplace is
# a stock of its own.
PAN_EUROPEAN = frozenset(
    {
        "A1PA6795UKMFR9",
        "A13V1IB3VIYZZH",
        "APJ6JRA9NG5V4",
        "A1RKKUPIHCS9HS",
        "A1805IZSGTT6HS",
        "A1C3SOZRARQ6R3",
        "A2NODRKZP88ZB9",
        "AMEN7PMS3EDWL",
    }
)


def fba_pool(marketplace_id: str) -> str:
    """The FBA stock a marketplace sells from: "EU" for the Pan-European ones, else its own."""
    return "EU" if marketplace_id in PAN_EUROPEAN else marketplace_id


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with second precision, the way Amazon writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
