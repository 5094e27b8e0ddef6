"""A simulated Amazon marketplace whose orders follow the Orders API v2026-01-01 model.

Orders are kept as internal state and rendered on demand into the full model shape
(every dataset); the HTTP server projects them by ``includedData``. All randomness comes
from one seeded ``random.Random``, so the same seed and the same calls give the same orders.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["Buyer", "Item", "Marketplace", "MARKETPLACES", "PLACES", "STATUSES", "format_time", "parse_time"]

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

STATUSES = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)
_PENDING = ("PENDING", "PENDING_AVAILABILITY")

# The returns reports and their header columns (../shared/amazon-models/README.md, "Report columns")
MFN_RETURNS_REPORT = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS_REPORT = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
RETURNS_REPORTS = {
    MFN_RETURNS_REPORT: (
        "MFN",
        (
            "Order ID",
            "Order date",
            "Return request date",
            "Return request status",
            "Amazon RMA ID",
            "Merchant RMA ID",
            "Label type",
            "Label cost",
            "Currency code",
            "Return carrier",
            "Tracking ID",
            "Label to be paid by",
            "A-to-Z Claim",
            "Is prime",
            "ASIN",
            "Merchant SKU",
            "Item Name",
            "Return quantity",
            "Return Reason",
            "In policy",
            "Return type",
            "Resolution",
            "Invoice number",
            "Return delivery date",
            "Order Amount",
            "Order quantity",
            "SafeT Action reason",
            "SafeT claim id",
            "SafeT claim state",
            "SafeT claim creation time",
            "SafeT claim reimbursement amount",
            "Refunded Amount",
        ),
    ),
    FBA_RETURNS_REPORT: (
        "FBA",
        (
            "return-date",
            "order-id",
            "sku",
            "asin",
            "fnsku",
            "product-name",
            "quantity",
            "fulfillment-center-id",
            "detailed-disposition",
            "reason",
            "status",
            "license-plate-number",
            "customer-comments",
        ),
    ),
}
# How Amazon writes the returns reports, as seen in real documents (tests/corpus/README.md has each source):
# - the merchant-fulfilled flat file dates a return "14-Jul-2025" (a US document:
#   bowshygow/amazon-review-automation docs/amazon-sp-api.md @ b5544966);
# - the FBA returns report writes "2025-06-05T15:31:40+00:00" (aplotlib/PriceAnalysis9000 PA9.py @ 8a61887b);
# - Amazon.ae's FBA returns report has no `status` column (abuzuhri/Amazon-SP-API-CSharp PR #126);
# - documents are not all UTF-8: windows-1252 in the US, Canada, Brazil and Europe, windows-31j (cp932) in
#   Japan, UTF-8 in Australia and Singapore (saleweaver/python-amazon-sp-api PR #764), and a European download
#   says so in its header, "Content-Type: text/plain; charset=Cp1252" (amzn/selling-partner-api-models#2748).
MFN_RETURN_DATE = "%d-%b-%Y"
FBA_RETURN_DATE = "%Y-%m-%dT%H:%M:%S+00:00"
FBA_RETURNS_WITHOUT_STATUS = {"A2VIGQ35RCS4UG"}
DOCUMENT_ENCODINGS = {
    **dict.fromkeys(
        (
            "ATVPDKIKX0DER",
            "A2EUQ1WTGCTBG2",
            "A2Q3Y263D00KWC",
            "A1F83G8C2ARO7P",
            "A1PA6795UKMFR9",
            "A13V1IB3VIYZZH",
            "APJ6JRA9NG5V4",
            "A1RKKUPIHCS9HS",
            "A1805IZSGTT6HS",
        ),
        "cp1252",
    ),
    "A1VC38T7YXB528": "cp932",
}
# the download names its charset for Europe (models#2748); elsewhere nothing is known, so it does not
EUROPE = {"A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4", "A1RKKUPIHCS9HS", "A1805IZSGTT6HS"}
SHIP_BY = timedelta(days=2)  # the simulated seller's handling time: an order's ship-by window closes then
RETURN_DISPOSITIONS = ("SELLABLE", "DAMAGED", "CUSTOMER_DAMAGED", "DEFECTIVE", "CARRIER_DAMAGED", "EXPIRED")


@dataclass(frozen=True)
class _MarketplaceInfo:
    name: str
    country: str
    currency: str
    tax_rate: Decimal
    usd_rate: Decimal  # rough price level, used only to make simulated prices plausible
    email_domain: str


# Amazon's marketplaces (the ids of Amazon's marketplace table), with what the simulation needs of each.
MARKETPLACES = {
    # North America
    "ATVPDKIKX0DER": _MarketplaceInfo(
        "Amazon.com", "US", "USD", Decimal("0.08"), Decimal("1"), "marketplace.amazon.com"
    ),
    "A2EUQ1WTGCTBG2": _MarketplaceInfo(
        "Amazon.ca", "CA", "CAD", Decimal("0.13"), Decimal("1.35"), "marketplace.amazon.ca"
    ),
    "A1AM78C64UM0Y8": _MarketplaceInfo(
        "Amazon.com.mx", "MX", "MXN", Decimal("0.16"), Decimal("17"), "marketplace.amazon.com.mx"
    ),
    "A2Q3Y263D00KWC": _MarketplaceInfo(
        "Amazon.com.br", "BR", "BRL", Decimal("0.17"), Decimal("5"), "marketplace.amazon.com.br"
    ),
    # Europe, the Middle East, Africa and India
    "A1F83G8C2ARO7P": _MarketplaceInfo(
        "Amazon.co.uk", "GB", "GBP", Decimal("0.20"), Decimal("0.8"), "marketplace.amazon.co.uk"
    ),
    "A1PA6795UKMFR9": _MarketplaceInfo(
        "Amazon.de", "DE", "EUR", Decimal("0.19"), Decimal("0.92"), "marketplace.amazon.de"
    ),
    "A13V1IB3VIYZZH": _MarketplaceInfo(
        "Amazon.fr", "FR", "EUR", Decimal("0.20"), Decimal("0.92"), "marketplace.amazon.fr"
    ),
    "APJ6JRA9NG5V4": _MarketplaceInfo(
        "Amazon.it", "IT", "EUR", Decimal("0.22"), Decimal("0.92"), "marketplace.amazon.it"
    ),
    "A1RKKUPIHCS9HS": _MarketplaceInfo(
        "Amazon.es", "ES", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.es"
    ),
    "A1805IZSGTT6HS": _MarketplaceInfo(
        "Amazon.nl", "NL", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.nl"
    ),
    "AMEN7PMS3EDWL": _MarketplaceInfo(
        "Amazon.com.be", "BE", "EUR", Decimal("0.21"), Decimal("0.92"), "marketplace.amazon.com.be"
    ),
    "A28R8C7NBKEWEA": _MarketplaceInfo(
        "Amazon.ie", "IE", "EUR", Decimal("0.23"), Decimal("0.92"), "marketplace.amazon.ie"
    ),
    "A2NODRKZP88ZB9": _MarketplaceInfo(
        "Amazon.se", "SE", "SEK", Decimal("0.25"), Decimal("10.5"), "marketplace.amazon.se"
    ),
    "A1C3SOZRARQ6R3": _MarketplaceInfo(
        "Amazon.pl", "PL", "PLN", Decimal("0.23"), Decimal("4"), "marketplace.amazon.pl"
    ),
    "A33AVAJ2PDY3EV": _MarketplaceInfo(
        "Amazon.com.tr", "TR", "TRY", Decimal("0.20"), Decimal("34"), "marketplace.amazon.com.tr"
    ),
    "A2VIGQ35RCS4UG": _MarketplaceInfo(
        "Amazon.ae", "AE", "AED", Decimal("0.05"), Decimal("3.67"), "marketplace.amazon.ae"
    ),
    "A17E79C6D8DWNP": _MarketplaceInfo(
        "Amazon.sa", "SA", "SAR", Decimal("0.15"), Decimal("3.75"), "marketplace.amazon.sa"
    ),
    "ARBP9OOSHTCHU": _MarketplaceInfo(
        "Amazon.eg", "EG", "EGP", Decimal("0.14"), Decimal("48"), "marketplace.amazon.eg"
    ),
    "AE08WJ6YKNBMC": _MarketplaceInfo(
        "Amazon.co.za", "ZA", "ZAR", Decimal("0.15"), Decimal("18"), "marketplace.amazon.co.za"
    ),
    "A21TJRUUN4KGV": _MarketplaceInfo(
        "Amazon.in", "IN", "INR", Decimal("0.18"), Decimal("84"), "marketplace.amazon.in"
    ),
    # Far East
    "A1VC38T7YXB528": _MarketplaceInfo(
        "Amazon.co.jp", "JP", "JPY", Decimal("0.10"), Decimal("150"), "marketplace.amazon.co.jp"
    ),
    "A39IBJ37TRP1C6": _MarketplaceInfo(
        "Amazon.com.au", "AU", "AUD", Decimal("0.10"), Decimal("1.5"), "marketplace.amazon.com.au"
    ),
    "A19VAU5U5O7RUS": _MarketplaceInfo(
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


# (city, stateOrRegion, postalCode, phone prefix) per country, for generated buyers.
PLACES = {
    "US": [
        ("Seattle", "WA", "98101", "+1 206"),
        ("Austin", "TX", "78701", "+1 512"),
        ("Columbus", "OH", "43215", "+1 614"),
    ],
    "CA": [("Toronto", "ON", "M5V 2T6", "+1 416"), ("Vancouver", "BC", "V6B 1A1", "+1 604")],
    "MX": [("Ciudad de México", "CDMX", "06600", "+52 55"), ("Guadalajara", "JAL", "44100", "+52 33")],
    "BR": [("São Paulo", "SP", "01310-100", "+55 11"), ("Rio de Janeiro", "RJ", "20040-002", "+55 21")],
    "GB": [("London", "England", "SW1A 1AA", "+44 20"), ("Manchester", "England", "M1 1AE", "+44 161")],
    "DE": [("Berlin", "Berlin", "10115", "+49 30"), ("München", "Bayern", "80331", "+49 89")],
    "FR": [("Paris", "Île-de-France", "75001", "+33 1"), ("Lyon", "Auvergne-Rhône-Alpes", "69001", "+33 4")],
    "IT": [("Milano", "MI", "20121", "+39 02"), ("Roma", "RM", "00184", "+39 06")],
    "ES": [("Madrid", "Madrid", "28013", "+34 91"), ("Barcelona", "Barcelona", "08001", "+34 93")],
    "NL": [("Amsterdam", "Noord-Holland", "1012 JS", "+31 20")],
    "BE": [("Bruxelles", "Bruxelles", "1000", "+32 2")],
    "IE": [("Dublin", "Dublin", "D02 X285", "+353 1")],
    "SE": [("Stockholm", "Stockholm", "111 52", "+46 8")],
    "PL": [("Warszawa", "Mazowieckie", "00-001", "+48 22")],
    "TR": [("Istanbul", "Istanbul", "34430", "+90 212")],
    "AE": [("Dubai", "Dubai", "00000", "+971 4")],
    "SA": [("Riyadh", "Riyadh", "11564", "+966 11")],
    "EG": [("Cairo", "Cairo", "11511", "+20 2")],
    "ZA": [("Cape Town", "Western Cape", "8001", "+27 21")],
    "IN": [("Mumbai", "Maharashtra", "400001", "+91 22"), ("Bengaluru", "Karnataka", "560001", "+91 80")],
    "JP": [("Tokyo", "Tokyo", "100-0001", "+81 3"), ("Osaka", "Osaka", "530-0001", "+81 6")],
    "AU": [("Sydney", "NSW", "2000", "+61 2")],
    "SG": [("Singapore", "Singapore", "018956", "+65 6")],
}
FIRST_NAMES = ["Alex", "Maria", "Kenji", "Sofia", "Liam", "Emma", "Noah", "Yuki", "Lucas", "Chloe", "Mateo", "Anna"]
LAST_NAMES = ["Smith", "García", "Tanaka", "Müller", "Rossi", "Martin", "Brown", "Dubois", "Kowalski", "Silva"]
STREETS = ["Main Street", "Oak Avenue", "Station Road", "Market Street", "Park Lane", "High Street", "Hill Road"]
COMPANY_WORDS = ["Acme", "Northwind", "Blue Harbor", "Summit", "Greenfield", "Atlas", "Riverside"]
GIFT_MESSAGES = ["Happy birthday!", "Congratulations!", "Merry Christmas!", "With love", "Thank you!"]
# where buyers tip the driver, and where they can pay cash on delivery
DELIVERY_TIP_COUNTRIES = {"US"}
COD_COUNTRIES = {"IN", "AE", "SA", "EG", "JP", "MX"}


class OrderRefused(ValueError):
    """Amazon took no order: a listing showed fewer units than the buyer asked for."""


@dataclass
class Item:
    """One order line as placed by the buyer. ``title``/``asin`` default to values derived from the SKU."""

    sku: str
    quantity: int = 1
    unit_price: str = "19.99"
    title: str | None = None
    asin: str | None = None
    gift_message: str | None = None
    gift_wrap_level: str | None = None
    gift_wrap_charge: str | None = None
    shipping_charge: str | None = None  # what the buyer pays for shipping this item
    discount: str | None = None  # a promotion's amount off the item (a positive amount)
    promotion_id: str | None = None


@dataclass
class Buyer:
    """The buyer; becomes visible (buyer + recipient) only once the order is confirmed."""

    name: str
    email: str
    company: str | None = None
    phone: str = "+1 206-555-0100"
    address_line1: str = "410 Terry Ave N"
    city: str = "Seattle"
    state: str = "WA"
    postal_code: str = "98109"
    country_code: str = "US"


@dataclass
class _Line:
    item: Item
    order_item_id: str
    asin: str
    title: str
    cancellation: dict | None = None  # ItemCancellation: a buyer's request, then its execution
    shipped: int = 0  # units shipped so far

    @property
    def is_cancelled(self) -> bool:
        return bool(self.cancellation and "cancellationExecution" in self.cancellation)

    @property
    def open_quantity(self) -> int:
        """Units neither shipped nor cancelled."""
        return 0 if self.is_cancelled else self.item.quantity - self.shipped


@dataclass
class _Order:
    order_id: str
    marketplace_id: str
    fulfilled_by: str
    business: bool
    status: str
    created: str
    updated: str
    lines: list[_Line]
    buyer: Buyer | None = None
    confirmed: bool = False  # Amazon has filled in buyer, recipient and prices
    packages: list[dict] = field(default_factory=list)
    sales_channel: str = "AMAZON"  # NON_AMAZON: Amazon fulfils (FBA) another channel's order
    associated: dict | None = None  # AssociatedOrder: the original of a replacement or exchange
    delivery_tip: str | None = None
    cod_fee: str | None = None


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


def _dig(obj, *keys):
    """obj[k1][k2]... or None when any level is missing or not a dict (put_raw orders may be anything)."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _asin_for(sku: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number, chars = _digest("asin:" + sku), []
    for _ in range(8):
        number, digit = divmod(number, 36)
        chars.append(alphabet[digit])
    return "B0" + "".join(chars)


def _title_for(sku: str) -> str:
    return f"Sandbox Product {sku}"


def _quantize(amount: Decimal, currency: str) -> Decimal:
    step = Decimal("1") if currency == "JPY" else Decimal("0.01")
    return amount.quantize(step, rounding=ROUND_HALF_UP)


def _decimal(value: str, what: str) -> Decimal:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{what} must be a decimal string, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a non-negative decimal, got {value!r}")
    return amount


class Marketplace:
    """The simulated marketplace: a clock you move by hand and orders that change over it."""

    def __init__(self, seed: int = 0, start: datetime | None = None):
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self._now = start.astimezone(UTC)
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._orders: dict[str, _Order] = {}
        self._raw: dict[str, dict] = {}  # put_raw orders, kept verbatim
        self._raw_seq = itertools.count()
        self._item_ids: set[str] = set()
        # Follow-ups planned by simulate() (time, seq, action, order_id, argument); kept across
        # calls so a later simulate() confirms and ships what an earlier one placed.
        self._schedule: list[tuple[datetime, int, str, str, str | None]] = []
        self._schedule_seq = itertools.count()
        # FBA stock: units in Amazon's fulfilment centres per (stock pool, SKU) (see fba_pool), and when each
        # last changed
        self._fba_units: dict[tuple[str, str], int] = {}
        self._fba_changed: dict[tuple[str, str], str] = {}
        self._fba_unsellable: dict[tuple[str, str], int] = {}
        self._fba_inbound: dict[tuple[str, str], int] = {}
        self._raw_fba: dict[str, list] = {}  # put_raw_fba_inventory answers per marketplace, kept verbatim
        self.listeners: list = []  # called with an order id after each change of that order
        # asked (marketplace_id, fulfilled_by, items) before an order is placed; may refuse it (OrderRefused)
        self.order_gates: list = []
        # customer returns, one entry per listing in Amazon's returns reports (a return can be listed twice)
        self._returns: list[dict] = []
        self._returns_rng = random.Random(f"returns:{seed}")  # its own, so returns leave the orders' draws alone

    # -- clock -------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    def naive_now(self) -> datetime:
        """The clock as naive UTC, the way a client that stores naive UTC times reads it."""
        return self.now.replace(tzinfo=None)

    def advance(self, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the simulated clock forward and return the new time."""
        step = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if step < timedelta(0):
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            self._now += step
            return self._now

    # -- order lifecycle ---------------------------------------------------------------

    def place_order(
        self,
        items: list[Item],
        *,
        marketplace_id: str = "ATVPDKIKX0DER",
        buyer: Buyer | None = None,
        fulfilled_by: str = "MERCHANT",
        business: bool = False,
        status: str = "PENDING",
        order_id: str | None = None,
        sales_channel: str = "AMAZON",
        replaces: str | None = None,
        association: str = "REPLACEMENT_ORIGINAL_ID",
        delivery_tip: str | None = None,
        cod_fee: str | None = None,
    ) -> str:
        """Place an order and return its id.

        ``status`` may be PENDING or PENDING_AVAILABILITY (a pre-order), or UNSHIPPED, SHIPPED
        or CANCELLED to place an order that has already gone through those steps. ``replaces``
        names the original of a replacement (or, with ``association`` EXCHANGE_ORIGINAL_ID, an
        exchange); ``sales_channel`` NON_AMAZON is another channel's order Amazon fulfils.
        """
        if not items:
            raise ValueError("an order needs at least one item")
        if marketplace_id not in MARKETPLACES:
            raise ValueError(f"unknown marketplace {marketplace_id!r}")
        if fulfilled_by not in ("MERCHANT", "AMAZON"):
            raise ValueError("fulfilled_by must be MERCHANT or AMAZON")
        if sales_channel not in ("AMAZON", "NON_AMAZON") or (
            sales_channel == "NON_AMAZON" and fulfilled_by != "AMAZON"
        ):
            raise ValueError("sales_channel must be AMAZON, or NON_AMAZON for an order Amazon fulfils")
        if status not in ("PENDING", "PENDING_AVAILABILITY", "UNSHIPPED", "SHIPPED", "CANCELLED"):
            raise ValueError(f"cannot place an order as {status}")
        for item in items:
            if not isinstance(item.quantity, int) or item.quantity < 1:
                raise ValueError(f"quantity of {item.sku!r} must be a positive integer")
            _decimal(item.unit_price, "unit_price")
            for name in ("gift_wrap_charge", "shipping_charge", "discount"):
                if getattr(item, name) is not None:
                    _decimal(getattr(item, name), name)
        with self._lock:
            if order_id is None:
                order_id = self._new_order_id()
            elif order_id in self._orders or order_id in self._raw:
                raise ValueError(f"order {order_id} already exists")
            for gate in self.order_gates:
                gate(marketplace_id, fulfilled_by, items)
            stamp = format_time(self._now)
            lines = [
                _Line(
                    item=copy.copy(item),
                    order_item_id=self._new_item_id(),
                    asin=item.asin or _asin_for(item.sku),
                    title=item.title or _title_for(item.sku),
                )
                for item in items
            ]
            self._orders[order_id] = _Order(
                order_id=order_id,
                marketplace_id=marketplace_id,
                fulfilled_by=fulfilled_by,
                business=business,
                status="PENDING_AVAILABILITY" if status == "PENDING_AVAILABILITY" else "PENDING",
                created=stamp,
                updated=stamp,
                lines=lines,
                buyer=buyer,
                sales_channel=sales_channel,
                associated={"orderId": replaces, "associationType": association} if replaces else None,
                delivery_tip=delivery_tip,
                cod_fee=cod_fee,
            )
            if fulfilled_by == "AMAZON":
                self._stock_for(self._orders[order_id])
            self._changed(order_id)
            if status in ("UNSHIPPED", "SHIPPED"):
                self.confirm(order_id)
            if status == "SHIPPED":
                self.ship(order_id)
            if status == "CANCELLED":
                self.cancel(order_id)
            return order_id

    def confirm(self, order_id: str) -> None:
        """PENDING -> UNSHIPPED: Amazon fills in buyer, recipient, prices and proceeds."""
        with self._lock:
            order = self._get(order_id)
            if order.status not in _PENDING:
                raise ValueError(f"order {order_id} is {order.status}, not pending")
            if order.buyer is None:
                order.buyer = self._random_buyer(order.marketplace_id, order.business)
            order.confirmed = True
            order.status = "UNSHIPPED"
            self._touch(order)

    def ship(self, order_id: str, sku: str | None = None, quantity: int | None = None) -> None:
        """Ship what is open (UNSHIPPED -> SHIPPED), or only `quantity` units of `sku`
        (-> PARTIALLY_SHIPPED while something stays open)."""
        with self._lock:
            order = self._get(order_id)
            if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                raise ValueError(f"order {order_id} is {order.status}, it cannot ship")
            if sku is None:
                shipping = {id(line): line.open_quantity for line in order.lines if line.open_quantity}
            else:
                line = next(
                    (candidate for candidate in order.lines if candidate.item.sku == sku and candidate.open_quantity),
                    None,
                )
                if line is None:
                    raise KeyError(f"order {order_id} has no open item with SKU {sku!r}")
                shipping = {id(line): min(quantity or line.open_quantity, line.open_quantity)}
            if not shipping:
                raise ValueError(f"every item of order {order_id} is cancelled")
            shipped = []
            for line in order.lines:
                if id(line) in shipping:
                    line.shipped += shipping[id(line)]
                    shipped.append((line, shipping[id(line)]))
            order.status = "SHIPPED" if not any(line.open_quantity for line in order.lines) else "PARTIALLY_SHIPPED"
            if order.fulfilled_by == "MERCHANT":  # the model has packages for seller-fulfilled orders only
                order.packages.append(self._package(order, shipped))
            else:  # the units leave Amazon's fulfilment centre
                for line, units in shipped:
                    self._move_fba(order.marketplace_id, line.item.sku, -units)
            self._touch(order)

    def cancel(self, order_id: str, reason: str = "Buyer requested cancellation") -> None:
        """Cancel what has not shipped; every such line gets a cancellationExecution (after a buyer's
        request, too). An order with nothing shipped becomes CANCELLED, a partly shipped one SHIPPED."""
        with self._lock:
            order = self._get(order_id)
            if order.status not in (*_PENDING, "UNSHIPPED", "PARTIALLY_SHIPPED"):
                raise ValueError(f"order {order_id} is {order.status}, it cannot be cancelled")
            # Sellers cannot act on pending orders, so Amazon is the one cancelling those.
            cancelled_by = "AMAZON" if order.status in _PENDING else "MERCHANT"
            for line in order.lines:
                if line.open_quantity:
                    line.cancellation = {
                        **(line.cancellation or {}),
                        "cancellationExecution": {"cancelledBy": cancelled_by, "cancelReason": reason},
                    }
            order.status = "SHIPPED" if any(line.shipped for line in order.lines) else "CANCELLED"
            self._touch(order)

    def cancel_item(self, order_id: str, sku: str) -> None:
        """Cancel one line at the buyer's request while the rest of the order goes on."""
        with self._lock:
            order = self._get(order_id)
            if order.status not in (*_PENDING, "UNSHIPPED"):
                raise ValueError(f"order {order_id} is {order.status}, its items cannot be cancelled")
            line = next(
                (candidate for candidate in order.lines if candidate.item.sku == sku and candidate.open_quantity), None
            )
            if line is None:
                raise KeyError(f"order {order_id} has no open item with SKU {sku!r}")
            line.cancellation = {
                "cancellationRequest": {"requester": "BUYER", "cancelReason": "Buyer requested cancellation"},
                "cancellationExecution": {"cancelledBy": "MERCHANT", "cancelReason": "Buyer requested cancellation"},
            }
            self._touch(order)

    def request_cancel(self, order_id: str, sku: str | None = None, reason: str = "No longer needed") -> None:
        """The buyer asks to cancel (one item, or every open one); nothing is cancelled until `cancel`."""
        with self._lock:
            order = self._get(order_id)
            if order.status not in (*_PENDING, "UNSHIPPED", "PARTIALLY_SHIPPED"):
                raise ValueError(f"order {order_id} is {order.status}, its buyer cannot ask to cancel")
            lines = [line for line in order.lines if line.open_quantity and (sku is None or line.item.sku == sku)]
            if not lines:
                raise KeyError(f"order {order_id} has no open item to cancel")
            for line in lines:
                line.cancellation = {"cancellationRequest": {"requester": "BUYER", "cancelReason": reason}}
            self._touch(order)

    def unfulfillable(self, order_id: str) -> None:
        """Amazon cannot fulfil an order (a multi-channel one, say) from its fulfilment centres."""
        with self._lock:
            order = self._get(order_id)
            if order.fulfilled_by != "AMAZON" or order.status not in (*_PENDING, "UNSHIPPED"):
                raise ValueError(
                    f"order {order_id} is {order.fulfilled_by}/{order.status}: not one Amazon fails to fulfil"
                )
            order.status = "UNFULFILLABLE"
            self._touch(order)

    def ship_inbound(self, sku: str, quantity: int, marketplace_id: str = "ATVPDKIKX0DER") -> None:
        """The seller sends ``quantity`` units of ``sku`` to Amazon: inbound (shipped) until received."""
        if not isinstance(quantity, int) or quantity < 1:
            raise ValueError("quantity must be a positive integer")
        with self._lock:
            place = (fba_pool(marketplace_id), sku)
            self._fba_inbound[place] = self._fba_inbound.get(place, 0) + quantity
            self._fba_units.setdefault(place, 0)
            self._fba_changed[place] = format_time(self._now)

    def receive_fba(self, sku: str, quantity: int, marketplace_id: str = "ATVPDKIKX0DER") -> None:
        """``quantity`` units of ``sku`` are received at Amazon's fulfilment centres (out of what was
        inbound, as far as it goes)."""
        if not isinstance(quantity, int) or quantity < 1:
            raise ValueError("quantity must be a positive integer")
        with self._lock:
            place = (fba_pool(marketplace_id), sku)
            self._fba_inbound[place] = max(0, self._fba_inbound.get(place, 0) - quantity)
            self._move_fba(marketplace_id, sku, quantity)

    def fba_inventory(self, marketplace_id: str, *, as_served: bool = False) -> list[dict]:
        """Amazon's InventorySummary (with details) of every SKU this marketplace's FBA stock has held: the
        pooled stock for a Pan-European marketplace (see PAN_EUROPEAN). `as_served`: as getInventorySummaries
        answers, some optional fields left out. What put_raw_fba_inventory gave a marketplace is answered
        verbatim instead."""
        with self._lock:
            if marketplace_id in self._raw_fba:
                return copy.deepcopy(self._raw_fba[marketplace_id])
            pool = fba_pool(marketplace_id)
            reserved: dict[str, int] = {}
            for order in self._orders.values():
                if order.fulfilled_by == "AMAZON" and fba_pool(order.marketplace_id) == pool:
                    for line in order.lines:
                        reserved[line.item.sku] = reserved.get(line.item.sku, 0) + line.open_quantity
            summaries = []
            for (place, sku), units in sorted(self._fba_units.items()):
                if place != pool:
                    continue
                held = min(reserved.get(sku, 0), units)
                unsellable, inbound = self._fba_unsellable.get((pool, sku), 0), self._fba_inbound.get((pool, sku), 0)
                summary = {
                    "asin": _asin_for(sku),
                    "fnSku": "X00" + _asin_for(sku)[3:],
                    "sellerSku": sku,
                    "condition": "NewItem",
                    "productName": _title_for(sku),
                    "lastUpdatedTime": self._fba_changed[(pool, sku)],
                    # "The total number of units in an inbound shipment or in Amazon fulfillment centers."
                    "totalQuantity": units + unsellable + inbound,
                    "inventoryDetails": {
                        "fulfillableQuantity": units - held,
                        "inboundWorkingQuantity": 0,
                        "inboundReceivingQuantity": 0,
                        "inboundShippedQuantity": inbound,
                        "reservedQuantity": {
                            "totalReservedQuantity": held,
                            "pendingCustomerOrderQuantity": held,
                            "pendingTransshipmentQuantity": 0,
                            "fcProcessingQuantity": 0,
                        },
                        "researchingQuantity": {"totalResearchingQuantity": 0, "researchingQuantityBreakdown": []},
                        "unfulfillableQuantity": {
                            "totalUnfulfillableQuantity": unsellable,
                            "customerDamagedQuantity": 0,
                            "warehouseDamagedQuantity": 0,
                            "distributorDamagedQuantity": 0,
                            "carrierDamagedQuantity": 0,
                            "defectiveQuantity": 0,
                            "expiredQuantity": 0,
                        },
                        # not in the model, but in Amazon's real answers (tests/corpus/fba_inventory/)
                        "futureSupplyQuantity": {"reservedFutureSupplyQuantity": 0, "futureSupplyBuyableQuantity": 0},
                    },
                    "stores": [],  # as in Amazon's real answer (tests/corpus/fba_inventory/)
                }
                summaries.append(self._leave_out_optional(summary) if as_served else summary)
            return summaries

    def _leave_out_optional(self, summary: dict) -> dict:
        """Amazon may leave out any field of a summary: the model's InventorySummary, InventoryDetails,
        ReservedQuantity, ResearchingQuantity and UnfulfillableQuantity list no required property. A seeded
        share of summaries (the same ones every run) comes without some: a quantity only where it is zero,
        so the answer still says how many units there are."""
        sku = summary["sellerSku"]

        def dropped(field: str) -> bool:
            return _digest(f"{self._seed}:omit:{sku}:{field}") % 3 == 0

        if _digest(f"{self._seed}:omit:{sku}") % 4:
            return summary  # three summaries in four come whole
        details = summary["inventoryDetails"]
        for parent in (
            details,
            details["reservedQuantity"],
            details["unfulfillableQuantity"],
            details["researchingQuantity"],
        ):
            for name, value in list(parent.items()):
                if value == 0 and dropped(name):
                    del parent[name]
        for name in ("researchingQuantity", "futureSupplyQuantity"):
            if dropped(name):
                del details[name]
        for name in ("fnSku", "condition", "productName", "totalQuantity", "stores", "lastUpdatedTime"):
            if dropped(name):
                del summary[name]
        return summary

    def put_raw_fba_inventory(self, marketplace_id: str, summaries: list) -> None:
        """Have getInventorySummaries answer exactly these summaries for the marketplace (for fault tests and
        Amazon's real documents); `None` goes back to the simulated stock."""
        with self._lock:
            if summaries is None:
                self._raw_fba.pop(marketplace_id, None)
            else:
                self._raw_fba[marketplace_id] = copy.deepcopy(list(summaries))

    def return_item(
        self,
        order_id: str,
        sku: str,
        quantity: int = 1,
        *,
        reason: str = "DEFECTIVE",
        disposition: str = "SELLABLE",
        relist_after: timedelta | None = None,
        comments: str = "",
        returnless: bool = False,
        key: str | None = None,
    ) -> str:
        """The buyer returns shipped units to Amazon; the return's key (Amazon RMA ID for a merchant-fulfilled
        order, license plate number for an FBA one). An FBA return is graded at the fulfilment centre: a
        SELLABLE unit goes back to fulfillable stock, any other disposition to unfulfillable. With
        ``relist_after`` the return is listed again that much later (Amazon's reports repeat returns whose
        status changes). A ``returnless`` refund of a merchant-fulfilled order has no Amazon RMA ID: "for
        returnless refunds, there seems to be no Amazon RMA ID provided" (amzn/selling-partner-api-models#4229);
        its key is then ''. ``key`` puts this SKU under an RMA already given (one authorisation, several SKUs).

        A listing again writes the FBA return under its new date ("FBA Customer return data has multiple return
        dates for one return", selling-partner-api-models#2940), the merchant-fulfilled one under the date the
        return was requested."""
        if disposition not in RETURN_DISPOSITIONS:
            raise ValueError(f"disposition must be one of {RETURN_DISPOSITIONS}")
        with self._lock:
            order = self._get(order_id)
            shipped = sum(line.shipped for line in order.lines if line.item.sku == sku)
            returned = sum(
                r["quantity"]
                for r in self._returns
                if r["order_id"] == order_id and r["sku"] == sku and not r["relisted"]
            )
            if not isinstance(quantity, int) or quantity < 1 or quantity > shipped - returned:
                raise ValueError(f"order {order_id} has {shipped - returned} shipped unit(s) of {sku} left to return")
            fba = order.fulfilled_by == "AMAZON"
            if returnless and fba:
                raise ValueError("a returnless refund here is a merchant-fulfilled order's")
            key = (
                key
                if key is not None
                else (
                    f"LPN{self._returns_rng.randrange(10**9):09d}"
                    if fba
                    else ""
                    if returnless
                    else f"D{self._returns_rng.randrange(10**8):08d}RRMA"
                )
            )
            ordered = sum(line.item.quantity for line in order.lines if line.item.sku == sku)
            entry = {
                "kind": "FBA" if fba else "MFN",
                "order_id": order_id,
                "sku": sku,
                "quantity": quantity,
                "returnless": returnless,
                "ordered": ordered,
                "marketplace_id": order.marketplace_id,
                "created": order.created,
                "key": key,
                "reason": reason,
                "disposition": disposition if fba else None,
                "date": self._now,
                "listed": self._now,
                "status": "Unit returned to inventory" if fba else "Approved",
                "relisted": False,
                "comments": comments,
            }
            self._returns.append(entry)
            if relist_after is not None:
                self._returns.append(
                    {
                        **entry,
                        "listed": self._now + relist_after,
                        "relisted": True,
                        "date": self._now + relist_after if fba else self._now,
                        "status": "Reimbursed" if fba else "Closed",
                    }
                )
            if fba:
                if disposition == "SELLABLE":
                    self._move_fba(order.marketplace_id, sku, quantity)
                else:
                    place = (fba_pool(order.marketplace_id), sku)
                    self._fba_unsellable[place] = self._fba_unsellable.get(place, 0) + quantity
                    self._fba_changed[place] = format_time(self._now)
            return key

    def returns_report(
        self, report_type: str, marketplace_ids: list[str], start: datetime, end: datetime
    ) -> list[list[str]]:
        """The rows (header first) of a returns report over returns dated in [start, end], written as Amazon
        writes them (see REPORT_VARIANTS)."""
        kind, header = RETURNS_REPORTS[report_type]
        marketplace = marketplace_ids[0]
        if kind == "FBA" and marketplace in FBA_RETURNS_WITHOUT_STATUS:
            header = tuple(column for column in header if column != "status")
        with self._lock:
            listed = sorted(
                (
                    r
                    for r in self._returns
                    if r["kind"] == kind and r["marketplace_id"] in marketplace_ids and start <= r["listed"] <= end
                ),
                key=lambda r: (r["listed"], r["key"]),
            )
            titles = {
                (r["order_id"], r["sku"]): next(
                    line.title for line in self._orders[r["order_id"]].lines if line.item.sku == r["sku"]
                )
                for r in listed
            }
        rows = [list(header)]
        for r in listed:
            asin, title = _asin_for(r["sku"]), titles[r["order_id"], r["sku"]]
            if kind == "FBA":
                values = {
                    "return-date": r["date"].strftime(FBA_RETURN_DATE),
                    "order-id": r["order_id"],
                    "sku": r["sku"],
                    "asin": asin,
                    "fnsku": "X00" + asin[3:],
                    "product-name": title,
                    "quantity": str(r["quantity"]),
                    "fulfillment-center-id": "PHX7",
                    "detailed-disposition": r["disposition"],
                    "reason": r["reason"],
                    "status": r["status"],
                    "license-plate-number": r["key"],
                    "customer-comments": r["comments"],
                }
                rows.append([values[column] for column in header])
            else:
                values = dict.fromkeys(header, "")
                values.update(
                    {
                        "Order ID": r["order_id"],
                        "Order date": parse_time(r["created"]).strftime(MFN_RETURN_DATE),
                        "Return request date": r["date"].strftime(MFN_RETURN_DATE),
                        "Return request status": r["status"],
                        "Amazon RMA ID": r["key"],
                        "Label type": "" if r["returnless"] else "AmazonPrePaidLabel",
                        "ASIN": asin,
                        "Merchant SKU": r["sku"],
                        "Item Name": title,
                        "Return quantity": str(r["quantity"]),
                        "Return Reason": r["reason"],
                        "In policy": "Y",
                        "Return type": "C-Returns",
                        "Resolution": "StandardRefund",
                        "Order quantity": str(r["ordered"]),
                    }
                )
                # the US document ends its row after "Order quantity" with a tab: the SafeT and refund columns
                # are left out, not written empty
                kept = header[: header.index("Order quantity") + 1]
                rows.append([values[column] for column in kept] + [""])
        return rows

    def _stock_for(self, order: _Order) -> None:
        # Amazon sells an FBA offer only from stock: where the centre has too little for a new order,
        # the seller's case of 24 (or more) arrived before it.
        pool = fba_pool(order.marketplace_id)
        held = {(line.item.sku): 0 for line in order.lines}
        for other in self._orders.values():
            if other.fulfilled_by == "AMAZON" and fba_pool(other.marketplace_id) == pool:
                for line in other.lines:
                    if line.item.sku in held:
                        held[line.item.sku] += line.open_quantity
        for sku, wanted in held.items():
            short = wanted - self._fba_units.get((pool, sku), 0)
            if short > 0:
                self._move_fba(order.marketplace_id, sku, max(24, short))

    def _move_fba(self, marketplace_id: str, sku: str, units: int) -> None:
        key = (fba_pool(marketplace_id), sku)
        self._fba_units[key] = self._fba_units.get(key, 0) + units
        self._fba_changed[key] = format_time(self._now)

    def put_raw(self, order: dict, *, replace: bool = True) -> None:
        """Store any dict as an order, verbatim (for fault tests); it replaces an order with the same id.

        With ``replace=False`` an order already stored under the same id stays, so a search
        serves both (the same order twice in a page); the new one is then not addressable.
        """
        with self._lock:
            order_id = order.get("orderId") if isinstance(order, dict) else None
            if isinstance(order_id, str) and (replace or (order_id not in self._orders and order_id not in self._raw)):
                self._orders.pop(order_id, None)
                key = order_id
            else:  # no usable id (or a kept duplicate): searchable but not addressable
                key = f"\0raw-{next(self._raw_seq)}"
            self._raw[key] = copy.deepcopy(order)

    def touch(self, order_id: str) -> None:
        """Bump lastUpdatedTime without any other change."""
        with self._lock:
            if order_id in self._raw:  # only dicts with a string orderId are addressable
                self._raw[order_id]["lastUpdatedTime"] = format_time(self._now)
            else:
                self._touch(self._get(order_id))

    def order(self, order_id: str, *, as_served: bool = False) -> dict:
        """The current order with every dataset (a copy); `as_served`: as the Orders API answers it, some
        optional fields left out."""
        return self.lookup(order_id, as_served=as_served)[0]

    def lookup(self, order_id: str, *, as_served: bool = False) -> tuple[dict, bool]:
        """(copy of the order, whether it was stored with put_raw); KeyError when unknown."""
        with self._lock:
            if order_id in self._raw:
                return copy.deepcopy(self._raw[order_id]), True
            order = self._get(order_id)
            rendered = self._render(order)
            return (self._leave_out_optional_of_order(order, rendered) if as_served else rendered), False

    def search(
        self,
        *,
        time_field: str,
        after: datetime,
        before: datetime,
        marketplace_ids: list[str] | None = None,
        statuses: list[str] | None = None,
        fulfilled_by: list[str] | None = None,
        render: bool = True,
    ) -> list[tuple[dict | str, bool]]:
        """Orders whose ``time_field`` (lastUpdatedTime or createdTime) is within [after, before],
        sorted by (that time, orderId), as (copy, is_raw) pairs.

        With ``render=False`` a simulated order comes as its id, to be rendered when it is served:
        rendering is what a search costs. A put_raw order is kept when a field cannot be read from
        it: an unparseable time, a missing marketplace or status never filters it out.
        """
        stamp = {"lastUpdatedTime": "updated", "createdTime": "created"}[time_field]
        filters = [
            (("salesChannel", "marketplaceId"), marketplace_ids),
            (("fulfillment", "fulfillmentStatus"), statuses),
            (("fulfillment", "fulfilledBy"), fulfilled_by),
        ]
        hits = []
        with self._lock:
            for o in self._orders.values():
                moment = parse_time(getattr(o, stamp))
                if not after <= moment <= before or any(
                    wanted is not None and value not in wanted
                    for value, wanted in (
                        (o.marketplace_id, marketplace_ids),
                        (o.status, statuses),
                        (o.fulfilled_by, fulfilled_by),
                    )
                ):
                    continue
                hits.append((moment, o.order_id, self._render(o) if render else o.order_id, False))
            raw = [copy.deepcopy(o) for o in self._raw.values()]
        for order in raw:
            moment = parse_time(_dig(order, time_field))
            if moment is not None and not after <= moment <= before:
                continue
            if any(
                wanted is not None and isinstance(_dig(order, *path), str) and _dig(order, *path) not in wanted
                for path, wanted in filters
            ):
                continue
            hits.append((moment, str(_dig(order, "orderId")), order, True))
        # Orders whose time cannot be read sort last.
        hits.sort(key=lambda hit: (hit[0] is None, hit[0] or after, hit[1]))
        return [(order, is_raw) for _, _, order, is_raw in hits]

    # -- simulation --------------------------------------------------------------------

    def simulate(
        self,
        *,
        hours: float,
        orders_per_hour: float,
        skus: list[str],
        unknown_sku_rate: float = 0.05,
        pending_rate: float = 0.02,
        cancel_rate: float = 0.03,
        item_cancel_rate: float = 0.01,
        gift_rate: float = 0.05,
        business_rate: float = 0.05,
        fba_rate: float = 0.1,
        shipping_rate: float = 0.6,
        promotion_rate: float = 0.2,
        delivery_tip_rate: float = 0.05,
        cod_rate: float = 0.3,
        partial_ship_rate: float = 0.05,
        cancel_request_rate: float = 0.02,
        replacement_rate: float = 0.01,
        other_channel_rate: float = 0.01,
        return_rate: float = 0.03,
        marketplaces: tuple[str, ...] = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"),
    ) -> dict:
        """Run ``hours`` of seeded random activity and return counts of what happened.

        Orders arrive as a Poisson process; most pending ones are confirmed a few minutes
        later, then shipped hours later (a few in two parcels); some are cancelled whole or per
        item, some buyers ask to cancel (and the request is carried out, or the order ships
        anyway). Most orders pay shipping, some have a promotion, a delivery tip (where Amazon has
        them) or a COD fee (where buyers pay on delivery); some are replacements of an earlier
        order, some other sales channels' orders that Amazon fulfils (a few of which it cannot).
        Follow-ups that fall after the end are kept for the next call. ``pending_rate`` is the
        share of orders never confirmed; ``unknown_sku_rate`` the share of lines whose SKU is not
        in ``skus``.
        """
        if hours < 0 or orders_per_hour < 0:
            raise ValueError("hours and orders_per_hour must not be negative")
        if not skus:
            raise ValueError("simulate needs SKUs")
        rates = dict(
            unknown_sku=unknown_sku_rate,
            pending=pending_rate,
            cancel=cancel_rate,
            item_cancel=item_cancel_rate,
            gift=gift_rate,
            business=business_rate,
            fba=fba_rate,
            shipping=shipping_rate,
            promotion=promotion_rate,
            delivery_tip=delivery_tip_rate,
            cod=cod_rate,
            partial_ship=partial_ship_rate,
            cancel_request=cancel_request_rate,
            replacement=replacement_rate,
            other_channel=other_channel_rate,
            returned=return_rate,
        )
        counts = dict.fromkeys(
            [
                "placed",
                "confirmed",
                "shipped",
                "partly_shipped",
                "cancelled",
                "items_cancelled",
                "cancel_requested",
                "unfulfillable",
                "returned",
                "unknown_sku_lines",
            ],
            0,
        )
        with self._lock:
            rng = self._rng
            end = self._now + timedelta(hours=hours)

            def arrival_after(moment: datetime) -> datetime | None:
                if not orders_per_hour:
                    return None
                return moment + timedelta(seconds=rng.expovariate(orders_per_hour / 3600))

            next_arrival = arrival_after(self._now)
            while True:
                next_event = self._schedule[0][0] if self._schedule else None
                due = [t for t in (next_arrival, next_event) if t is not None and t <= end]
                if not due:
                    break
                moment = min(due)
                # Follow-ups that fell due before the clock was moved by hand run now.
                self._now = max(self._now, moment)
                if moment == next_event:
                    _, _, action, order_id, argument = heapq.heappop(self._schedule)
                    if self._run_followup(action, order_id, argument):
                        counts[action] += 1
                    continue
                try:
                    order_id, unknown = self._random_order(skus, rates, marketplaces)
                except OrderRefused:  # the listing showed too little: the buyer could not order
                    counts["refused"] = counts.get("refused", 0) + 1
                    next_arrival = arrival_after(moment)
                    continue
                counts["placed"] += 1
                counts["unknown_sku_lines"] += unknown
                self._plan_followups(order_id, rates)
                next_arrival = arrival_after(moment)
            self._now = end
        return counts

    def _random_order(self, skus: list[str], rates: dict, marketplaces) -> tuple[str, int]:
        rng = self._rng
        marketplace_id = rng.choice(marketplaces)
        info = MARKETPLACES[marketplace_id]
        fba = rng.random() < rates["fba"]
        other_channel = fba and rng.random() < rates["other_channel"] / max(rates["fba"], 1e-9)
        replaced = None
        if not other_channel and rng.random() < rates["replacement"]:
            earlier = [
                o
                for o in self._orders.values()
                if o.marketplace_id == marketplace_id
                and o.status == "SHIPPED"
                and o.associated is None
                and o.sales_channel == "AMAZON"
            ]
            replaced = rng.choice(earlier) if earlier else None
        items, unknown = [], 0
        if replaced is not None:  # the same goods again, at no charge
            items = [Item(line.item.sku, line.item.quantity, "0.00") for line in replaced.lines]
        for sku in [] if replaced else rng.sample(skus, min(len(skus), rng.choice([1, 1, 1, 2, 2, 3]))):
            if rng.random() < rates["unknown_sku"]:
                sku, unknown = f"UNKNOWN-{rng.randrange(10**6):06d}", unknown + 1
            # A stable base price per SKU, scaled to the marketplace's price level.
            base = Decimal(500 + _digest("price:" + sku) % 9500) / 100
            item = Item(
                sku=sku,
                quantity=rng.choice([1, 1, 1, 1, 2, 2, 3]),
                unit_price=str(_quantize(base * info.usd_rate, info.currency)),
            )
            if rng.random() < rates["gift"]:
                item.gift_message = rng.choice(GIFT_MESSAGES)
                item.gift_wrap_level = rng.choice(["STANDARD", "PREMIUM"])
                item.gift_wrap_charge = str(_quantize(Decimal("4.99") * info.usd_rate, info.currency))
            if rng.random() < rates["shipping"]:
                item.shipping_charge = str(_quantize(Decimal("3.99") * info.usd_rate, info.currency))
            if rng.random() < rates["promotion"]:
                item.discount = str(_quantize(base * info.usd_rate * item.quantity / 10, info.currency))
                item.promotion_id = f"PROMO-{rng.randrange(100, 999)}"
            items.append(item)
        tip = (
            str(_quantize(Decimal(rng.choice(["2.00", "3.00", "5.00"])) * info.usd_rate, info.currency))
            if info.country in DELIVERY_TIP_COUNTRIES and rng.random() < rates["delivery_tip"]
            else None
        )
        cod = (
            str(_quantize(Decimal("1.50") * info.usd_rate, info.currency))
            if info.country in COD_COUNTRIES and rng.random() < rates["cod"]
            else None
        )
        order_id = self.place_order(
            items,
            marketplace_id=marketplace_id,
            fulfilled_by="AMAZON" if fba or replaced and replaced.fulfilled_by == "AMAZON" else "MERCHANT",
            business=rng.random() < rates["business"],
            sales_channel="NON_AMAZON" if other_channel else "AMAZON",
            replaces=replaced.order_id if replaced else None,
            delivery_tip=None if replaced else tip,
            cod_fee=None if replaced else cod,
        )
        return order_id, unknown

    def _plan_followups(self, order_id: str, rates: dict) -> None:
        rng = self._rng
        order = self._orders[order_id]

        def plan(delay_minutes: float, action: str, argument: str | None = None) -> datetime:
            moment = self._now + timedelta(minutes=delay_minutes)
            heapq.heappush(self._schedule, (moment, next(self._schedule_seq), action, order_id, argument))
            return moment

        if rng.random() < rates["pending"]:
            return
        confirmed_at = rng.uniform(1, 10)
        plan(confirmed_at, "confirmed")
        if order.sales_channel == "NON_AMAZON" and rng.random() < 0.2:
            plan(confirmed_at + rng.uniform(30, 240), "unfulfillable")
            return
        if rng.random() < rates["cancel"]:
            plan(confirmed_at + rng.uniform(10, 360), "cancelled")
            return
        lines = order.lines
        if len(lines) > 1 and rng.random() < rates["item_cancel"]:
            plan(confirmed_at + rng.uniform(5, 120), "items_cancelled", rng.choice(lines).item.sku)
        if rng.random() < rates["cancel_request"]:
            asked = plan(confirmed_at + rng.uniform(5, 60), "cancel_requested")
            if rng.random() < 0.5:  # carried out; otherwise the order ships anyway
                plan((asked - self._now).total_seconds() / 60 + rng.uniform(10, 120), "cancelled")
                return
        shipping_at = confirmed_at + rng.uniform(60, 1440)
        if len(lines) > 1 and rng.random() < rates["partial_ship"]:
            plan(shipping_at, "partly_shipped", lines[0].item.sku)
            shipping_at += rng.uniform(60, 1440)
        plan(shipping_at, "shipped")
        returns = self._returns_rng
        if returns.random() < rates["returned"]:  # a few days after delivery, one unit of one line
            plan(shipping_at + returns.uniform(2, 30) * 1440, "returned", returns.choice(lines).item.sku)

    def _run_followup(self, action: str, order_id: str, argument: str | None) -> bool:
        """Apply a planned step; False when the order moved on by other means meanwhile."""
        operation = {
            "confirmed": self.confirm,
            "shipped": self.ship,
            "partly_shipped": lambda oid: self.ship(oid, argument),
            "cancelled": self.cancel,
            "items_cancelled": lambda oid: self.cancel_item(oid, argument),
            "cancel_requested": self.request_cancel,
            "unfulfillable": self.unfulfillable,
            "returned": lambda oid: self._random_return(oid, argument),
        }[action]
        try:
            operation(order_id)
        except (KeyError, ValueError):
            return False
        return True

    def _random_return(self, order_id: str, sku: str) -> None:
        rng = self._returns_rng
        self.return_item(
            order_id,
            sku,
            reason=rng.choice(["DEFECTIVE", "NOT_AS_DESCRIBED", "UNWANTED_ITEM"]),
            disposition=rng.choice(["SELLABLE", "SELLABLE", "SELLABLE", "CUSTOMER_DAMAGED", "DEFECTIVE"]),
            relist_after=timedelta(days=rng.uniform(1, 10)) if rng.random() < 0.2 else None,
        )

    # -- internals ---------------------------------------------------------------------

    def _get(self, order_id: str) -> _Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"unknown order {order_id}") from None

    def _touch(self, order: _Order) -> None:
        order.updated = format_time(self._now)
        self._changed(order.order_id)

    def _changed(self, order_id: str) -> None:
        for listener in self.listeners:  # the server's notifications, once a subscription exists
            listener(order_id)

    def _new_order_id(self) -> str:
        rng = self._rng
        while True:
            order_id = f"{rng.randint(100, 999)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
            if order_id not in self._orders and order_id not in self._raw:
                return order_id

    def _new_item_id(self) -> str:
        while True:
            item_id = str(self._rng.randrange(10**13, 10**14))
            if item_id not in self._item_ids:
                self._item_ids.add(item_id)
                return item_id

    def _random_buyer(self, marketplace_id: str, business: bool) -> Buyer:
        rng = self._rng
        info = MARKETPLACES[marketplace_id]
        city, state, postal_code, phone_prefix = rng.choice(PLACES[info.country])
        local_part = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(14))
        return Buyer(
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            email=f"{local_part}@{info.email_domain}",
            company=f"{rng.choice(COMPANY_WORDS)} {rng.choice(['LLC', 'Ltd', 'GmbH', 'Inc'])}" if business else None,
            phone=f"{phone_prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            address_line1=f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
            city=city,
            state=state,
            postal_code=postal_code,
            country_code=info.country,
        )

    def _package(self, order: _Order, shipped: list[tuple[_Line, int]]) -> dict:
        stamp = format_time(self._now)
        return {
            "packageReferenceId": f"PKG-{order.order_id}-{len(order.packages) + 1}",
            "createdTime": stamp,
            "packageStatus": {"status": "SHIPPED"},
            "carrier": "UPS",
            "shipTime": stamp,
            "shippingService": "UPS Ground",
            "trackingNumber": "1Z" + "".join(self._rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16)),
            "packageItems": [{"orderItemId": line.order_item_id, "quantity": units} for line, units in shipped],
        }

    def _render(self, order: _Order) -> dict:
        """The order in the model's shape, with every dataset this simulator knows."""
        info = MARKETPLACES[order.marketplace_id]
        currency = info.currency

        def money(amount: Decimal) -> dict:
            return {"amount": str(_quantize(amount, currency)), "currencyCode": currency}

        totals: dict[str, Decimal] = {}
        items = []
        for index, line in enumerate(order.lines):
            item = line.item
            product = {
                "asin": line.asin,
                "title": line.title,
                "sellerSku": item.sku,
                "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            }
            doc_item = {"orderItemId": line.order_item_id, "quantityOrdered": item.quantity, "product": product}
            if order.confirmed:
                unit_price = _quantize(Decimal(item.unit_price), currency)
                product["price"] = {"unitPrice": money(unit_price)}
                breakdowns = self._item_proceeds(
                    item, unit_price, currency, info.tax_rate, cod_fee=order.cod_fee if index == 0 else None
                )
                for entry in breakdowns:
                    totals[entry["type"]] = totals.get(entry["type"], Decimal(0)) + Decimal(entry["subtotal"]["amount"])
                doc_item["proceeds"] = {
                    "proceedsTotal": money(sum(Decimal(e["subtotal"]["amount"]) for e in breakdowns)),
                    "breakdowns": breakdowns,
                }
                if item.promotion_id:
                    doc_item["promotion"] = {"breakdowns": [{"promotionId": item.promotion_id}]}
            if line.cancellation is not None:
                doc_item["cancellation"] = copy.deepcopy(line.cancellation)
            fulfillment = {"quantityFulfilled": line.shipped, "quantityUnfulfilled": line.open_quantity}
            gift = {"giftMessage": item.gift_message, "giftWrapLevel": item.gift_wrap_level}
            if any(gift.values()):
                fulfillment["packing"] = {"giftOption": {k: v for k, v in gift.items() if v is not None}}
            doc_item["fulfillment"] = fulfillment
            items.append(doc_item)

        programs = []
        if order.status == "PENDING_AVAILABILITY":
            programs.append("PREORDER")
        if order.business and order.confirmed:
            programs.append("AMAZON_BUSINESS")
        doc = {
            "orderId": order.order_id,
            "orderAliases": [],
            "createdTime": order.created,
            "lastUpdatedTime": order.updated,
            "programs": programs,
            "associatedOrders": [dict(order.associated)] if order.associated else [],
            "salesChannel": {
                "channelName": order.sales_channel,
                "marketplaceId": order.marketplace_id,
                "marketplaceName": info.name,
            },
        }
        if order.confirmed:
            buyer = order.buyer
            doc["buyer"] = {"buyerName": buyer.name}
            # the model: buyerEmail is "Only available for merchant-fulfilled (FBM) orders"
            if order.fulfilled_by == "MERCHANT":
                doc["buyer"]["buyerEmail"] = buyer.email
            address = {"name": buyer.name}
            if order.business and buyer.company:
                doc["buyer"]["buyerCompanyName"] = buyer.company
                address["companyName"] = buyer.company
            address.update(
                addressLine1=buyer.address_line1,
                city=buyer.city,
                stateOrRegion=buyer.state,
                postalCode=buyer.postal_code,
                countryCode=buyer.country_code,
            )
            if order.fulfilled_by == "MERCHANT":  # Amazon delivers FBA orders: the seller gets no phone
                address["phone"] = buyer.phone
            address["addressType"] = "COMMERCIAL" if order.business else "RESIDENTIAL"
            doc["recipient"] = {"deliveryAddress": address}
            order_level = [{"type": kind, "subtotal": money(amount)} for kind, amount in totals.items()]
            if order.delivery_tip is not None:  # "charged separately and not attributed to a specific item"
                order_level.append(
                    {"type": "DELIVERY_TIP", "status": "FINALIZED", "subtotal": money(Decimal(order.delivery_tip))}
                )
            grand_total = sum(Decimal(entry["subtotal"]["amount"]) for entry in order_level)
            doc["proceeds"] = {"grandTotal": money(grand_total), "breakdowns": order_level}
        doc["fulfillment"] = {
            "fulfillmentStatus": order.status,
            "fulfilledBy": order.fulfilled_by,
            "fulfillmentServiceLevel": "STANDARD",
            # the model: shipByWindow is "The promised time period within which the order must be shipped to
            # meet the customer's delivery expectations"; here a handling time of two days from the purchase
            "shipByWindow": {
                "earliestDateTime": order.created,
                "latestDateTime": format_time(parse_time(order.created) + SHIP_BY),
            },
        }
        doc["orderItems"] = items
        if order.packages:
            doc["packages"] = copy.deepcopy(order.packages)
        return doc

    def _leave_out_optional_of_order(self, order: _Order, doc: dict) -> dict:
        """Amazon may leave out what the model does not require: an Order needs only orderId, createdTime,
        lastUpdatedTime, salesChannel and orderItems, an OrderItem orderItemId, quantityOrdered and product,
        and ItemFulfillment lists no required property at all. A seeded share of orders (the same ones every
        run) comes without some of it: the items' counts (quantityFulfilled, quantityUnfulfilled) only where
        the status still tells them, that is where nothing has shipped, or a SHIPPED order each of whose items
        shipped whole or was cancelled before any of it shipped."""

        def dropped(field: str) -> bool:
            return _digest(f"{self._seed}:omit:{order.order_id}:{field}") % 2 == 0

        if _digest(f"{self._seed}:omit:{order.order_id}") % 4:
            return doc  # three orders in four come whole
        for name in ("orderAliases", "programs", "associatedOrders"):
            if not doc.get(name) and dropped(name):
                del doc[name]
        if dropped("marketplaceName"):
            del doc["salesChannel"]["marketplaceName"]
        if dropped("fulfillmentServiceLevel"):
            del doc["fulfillment"]["fulfillmentServiceLevel"]
        told_by_status = (
            not any(line.shipped for line in order.lines)
            if order.status != "SHIPPED"
            else all(line.shipped == (0 if line.is_cancelled else line.item.quantity) for line in order.lines)
        )
        if order.status != "PARTIALLY_SHIPPED" and told_by_status and dropped("counts"):
            for item in doc["orderItems"]:
                fulfillment = item["fulfillment"]
                del fulfillment["quantityFulfilled"], fulfillment["quantityUnfulfilled"]
                if not fulfillment:
                    del item["fulfillment"]
        for item in doc["orderItems"]:
            if dropped(f"condition:{item['orderItemId']}"):
                del item["product"]["condition"]
        return doc

    @staticmethod
    def _item_proceeds(
        item: Item, unit_price: Decimal, currency: str, tax_rate: Decimal, cod_fee: str | None
    ) -> list[dict]:
        """An item's proceeds breakdowns: its price, shipping, gift wrap, promotion (negative), COD fee,
        and tax on each, the tax's detailed breakdown saying which."""

        def money(amount: Decimal) -> dict:
            return {"amount": str(_quantize(amount, currency)), "currencyCode": currency}

        charged = {"ITEM": unit_price * item.quantity}
        for kind, amount in (("SHIPPING", item.shipping_charge), ("GIFT_WRAP", item.gift_wrap_charge)):
            if amount is not None:
                charged[kind] = _quantize(Decimal(amount), currency)
        discount = _quantize(Decimal(item.discount), currency) if item.discount else Decimal(0)
        taxed = dict(charged, ITEM=charged["ITEM"] - discount)
        tax = {kind: _quantize(amount * tax_rate, currency) for kind, amount in taxed.items()}
        breakdowns = [{"type": kind, "subtotal": money(amount)} for kind, amount in charged.items()]
        if discount:
            breakdowns.append(
                {
                    "type": "DISCOUNT",
                    "subtotal": money(-discount),
                    "detailedBreakdowns": [{"subtype": "ITEM", "value": money(-discount)}],
                }
            )
        if cod_fee is not None:
            breakdowns.append({"type": "COD_FEE", "subtotal": money(Decimal(cod_fee))})
        breakdowns.append(
            {
                "type": "TAX",
                "subtotal": money(sum(tax.values())),
                "detailedBreakdowns": [{"subtype": kind, "value": money(amount)} for kind, amount in tax.items()],
            }
        )
        return breakdowns
