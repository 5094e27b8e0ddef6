"""What the marketplace keeps of an order: the lines and buyer as placed (Item, Buyer), and its own record of
each line and order (Line, Order) that the state machine (marketplace.py) moves and rendering.py writes as
Amazon's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field


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
class Line:
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
class Order:
    order_id: str
    marketplace_id: str
    fulfilled_by: str
    business: bool
    status: str
    created: str
    updated: str
    lines: list[Line]
    buyer: Buyer | None = None
    confirmed: bool = False  # Amazon has filled in buyer, recipient and prices
    packages: list[dict] = field(default_factory=list)
    sales_channel: str = "AMAZON"  # NON_AMAZON: Amazon fulfils (FBA) another channel's order
    associated: dict | None = None  # AssociatedOrder: the original of a replacement or exchange
    delivery_tip: str | None = None
    cod_fee: str | None = None
