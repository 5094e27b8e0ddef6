"""Random traffic on the simulated marketplace: orders arriving as a Poisson process, then confirmed, shipped,
cancelled, replaced or returned as a seeded plan says, and the random buyers they come from.

All of it draws from the marketplace's one seeded ``random.Random`` (returns from their own), so the same seed
and the same calls give the same orders. ``Traffic`` is mixed into ``Marketplace`` (marketplace.py): it moves
the marketplace only through the state machine's own steps (place_order, confirm, ship, cancel ...)."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from decimal import Decimal

from .records import Buyer, Item, OrderRefused
from .reference import MARKETPLACES, digest, quantize

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


class Traffic:
    """The random half of the Marketplace: ``simulate`` and the plan of follow-ups it keeps across calls."""

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
            base = Decimal(500 + digest("price:" + sku) % 9500) / 100
            item = Item(
                sku=sku,
                quantity=rng.choice([1, 1, 1, 1, 2, 2, 3]),
                unit_price=str(quantize(base * info.usd_rate, info.currency)),
            )
            if rng.random() < rates["gift"]:
                item.gift_message = rng.choice(GIFT_MESSAGES)
                item.gift_wrap_level = rng.choice(["STANDARD", "PREMIUM"])
                item.gift_wrap_charge = str(quantize(Decimal("4.99") * info.usd_rate, info.currency))
            if rng.random() < rates["shipping"]:
                item.shipping_charge = str(quantize(Decimal("3.99") * info.usd_rate, info.currency))
            if rng.random() < rates["promotion"]:
                item.discount = str(quantize(base * info.usd_rate * item.quantity / 10, info.currency))
                item.promotion_id = f"PROMO-{rng.randrange(100, 999)}"
            items.append(item)
        tip = (
            str(quantize(Decimal(rng.choice(["2.00", "3.00", "5.00"])) * info.usd_rate, info.currency))
            if info.country in DELIVERY_TIP_COUNTRIES and rng.random() < rates["delivery_tip"]
            else None
        )
        cod = (
            str(quantize(Decimal("1.50") * info.usd_rate, info.currency))
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
