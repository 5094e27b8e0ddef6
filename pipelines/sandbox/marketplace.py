"""The simulated Amazon marketplace's state machine: its clock, its orders and their statuses and the steps
between them (placed, confirmed, shipped, cancelled, returned), the FBA stock they move, and the searches the
Orders API answers from. Orders are kept as records (records.py) and written as Amazon's JSON on demand
(rendering.py); the Orders API (orders.py) projects them by ``includedData``; random traffic (traffic.py) moves them
through the same steps as a test or the admin endpoints do.
"""

from __future__ import annotations

import copy
import itertools
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from .records import Buyer, Item, Line, Order, OrderRefused
from .reference import MARKETPLACES, PAN_EUROPEAN, asin_for, fba_pool, format_time, parse_time, title_for
from .rendering import (
    RETURNS_REPORTS,
    inventory_summary,
    leave_out_optional_of_order,
    leave_out_optional_of_summary,
    render_order,
    returns_report_rows,
)
from .traffic import Traffic

# Buyer, Item, OrderRefused and Amazon's reference data stay importable from here, where callers look for them
__all__ = [
    "Buyer",
    "Item",
    "Marketplace",
    "MARKETPLACES",
    "OrderRefused",
    "PAN_EUROPEAN",
    "STATUSES",
    "fba_pool",
    "format_time",
    "parse_time",
]

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

RETURN_DISPOSITIONS = ("SELLABLE", "DAMAGED", "CUSTOMER_DAMAGED", "DEFECTIVE", "CARRIER_DAMAGED", "EXPIRED")


def _dig(obj, *keys):
    """obj[k1][k2]... or None when any level is missing or not a dict (put_raw orders may be anything)."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _decimal(value: str, what: str) -> Decimal:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{what} must be a decimal string, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a non-negative decimal, got {value!r}")
    return amount


class Marketplace(Traffic):
    """The simulated marketplace: a clock you move by hand and orders that change over it."""

    def __init__(self, seed: int = 0, start: datetime | None = None):
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self._now = start.astimezone(UTC)
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._orders: dict[str, Order] = {}
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
        # asked (marketplace_id, fulfilled_by, items, order_id=) before an order is placed; may refuse it (OrderRefused)
        self.order_gates: list = []
        # called (order_id, marketplace_id, fulfilled_by, reason, {sku: units}) after units of an order are cancelled
        self.cancellation_listeners: list = []
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
                gate(marketplace_id, fulfilled_by, items, order_id=order_id)
            stamp = format_time(self._now)
            lines = [
                Line(
                    item=copy.copy(item),
                    order_item_id=self._new_item_id(),
                    asin=item.asin or asin_for(item.sku),
                    title=item.title or title_for(item.sku),
                )
                for item in items
            ]
            self._orders[order_id] = Order(
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
            cancelled = [(line, line.open_quantity) for line in order.lines if line.open_quantity]
            for line, _ in cancelled:
                line.cancellation = {
                    **(line.cancellation or {}),
                    "cancellationExecution": {"cancelledBy": cancelled_by, "cancelReason": reason},
                }
            order.status = "SHIPPED" if any(line.shipped for line in order.lines) else "CANCELLED"
            self._touch(order)
            self._cancelled(order, reason, cancelled)

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
            units = line.open_quantity
            line.cancellation = {
                "cancellationRequest": {"requester": "BUYER", "cancelReason": "Buyer requested cancellation"},
                "cancellationExecution": {"cancelledBy": "MERCHANT", "cancelReason": "Buyer requested cancellation"},
            }
            self._touch(order)
            self._cancelled(order, "Buyer requested cancellation", [(line, units)])

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
                summary = inventory_summary(
                    sku,
                    units=units,
                    held=held,
                    unsellable=unsellable,
                    inbound=inbound,
                    changed=self._fba_changed[place, sku],
                )
                summaries.append(leave_out_optional_of_summary(self._seed, summary) if as_served else summary)
            return summaries

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
        writes them (rendering.returns_report_rows)."""
        kind = RETURNS_REPORTS[report_type][0]
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
        return returns_report_rows(report_type, marketplace_ids[0], listed, titles)

    def _stock_for(self, order: Order) -> None:
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
            rendered = render_order(order)
            return (leave_out_optional_of_order(self._seed, order, rendered) if as_served else rendered), False

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
                hits.append((moment, o.order_id, render_order(o) if render else o.order_id, False))
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

    # -- internals ---------------------------------------------------------------------

    def _get(self, order_id: str) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"unknown order {order_id}") from None

    def _touch(self, order: Order) -> None:
        order.updated = format_time(self._now)
        self._changed(order.order_id)

    def _cancelled(self, order: Order, reason: str, cancelled: list[tuple[Line, int]]) -> None:
        units: dict[str, int] = {}
        for line, count in cancelled:
            units[line.item.sku] = units.get(line.item.sku, 0) + count
        for listener in self.cancellation_listeners:  # the listings, whose quantity the order took (listings.py)
            listener(order.order_id, order.marketplace_id, order.fulfilled_by, reason, units)

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

    def _package(self, order: Order, shipped: list[tuple[Line, int]]) -> dict:
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
