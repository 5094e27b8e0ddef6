"""Does a generated payload look like what the sandbox serves and the extract stores?

Orders are grouped by the features that change their shape (status, who fulfils, buyer present,
company, gift wrap, item cancellation); within a group the set of key paths (with value types) of the
generated orders must equal that of sandbox orders in the same state, rendered by
``Marketplace.order`` and projected with the ``includedData`` the extract asks for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipelines.amazon.client import INCLUDED_DATA
from pipelines.sandbox import Item, Marketplace
from pipelines.sandbox.orders import project


def key_paths(value, prefix: str = "") -> set[str]:
    """'a.b[].c:str' for every leaf, and 'a:list' for empty lists."""
    if isinstance(value, dict):
        paths = set()
        for key, inner in value.items():
            paths |= key_paths(inner, f"{prefix}.{key}" if prefix else key)
        return paths
    if isinstance(value, list):
        if not value:
            return {f"{prefix}:list"}
        paths = set()
        for inner in value:
            paths |= key_paths(inner, prefix + "[]")
        return paths
    return {f"{prefix}:{type(value).__name__}"}


def category(order: dict) -> tuple:
    items = order.get("orderItems", [])
    return (
        order["fulfillment"]["fulfillmentStatus"],
        order["fulfillment"]["fulfilledBy"],  # Amazon gives no email or phone for an FBA order's buyer
        "buyer" in order,
        "buyerCompanyName" in order.get("buyer", {}),
        any("packing" in item.get("fulfillment", {}) for item in items),
        any("cancellationRequest" in item.get("cancellation", {}) for item in items),
    )


def sandbox_orders() -> list[dict]:
    """Sandbox orders in every state the generator produces, as the extract receives them."""
    market = Marketplace(seed=11, start=datetime(2026, 1, 1, tzinfo=UTC))
    orders = []
    included = set(INCLUDED_DATA)
    for business in (False, True):
        for gift in (False, True):
            for fba in (False, True):
                for state in (
                    "PENDING",
                    "PENDING_AVAILABILITY",
                    "UNSHIPPED",
                    "SHIPPED",
                    "CANCELLED_PENDING",
                    "CANCELLED",
                    "UNSHIPPED_ITEM_CANCEL",
                    "SHIPPED_ITEM_CANCEL",
                ):
                    items = [Item("SKU-A", 2, "12.50", shipping_charge="3.99", discount="2.50")]
                    items.append(
                        Item(
                            "SKU-B",
                            1,
                            "3.00",
                            gift_message="Hi" if gift else None,
                            gift_wrap_level="PREMIUM" if gift else None,
                            gift_wrap_charge="4.99" if gift else None,
                        )
                    )
                    status = "PENDING_AVAILABILITY" if state == "PENDING_AVAILABILITY" else "PENDING"
                    order_id = market.place_order(
                        items, business=business, status=status, fulfilled_by="AMAZON" if fba else "MERCHANT"
                    )
                    market.advance(minutes=1)
                    if state == "CANCELLED_PENDING":
                        market.cancel(order_id)
                    elif state not in ("PENDING", "PENDING_AVAILABILITY"):
                        market.confirm(order_id)
                        if "ITEM_CANCEL" in state:
                            market.cancel_item(order_id, "SKU-A")
                        if state.startswith("SHIPPED"):
                            market.ship(order_id)
                        if state == "CANCELLED":
                            market.cancel(order_id)
                    orders.append(project(market.order(order_id), included))
    return orders


def signatures(orders) -> dict[tuple, set[str]]:
    groups: dict[tuple, set[str]] = {}
    for order in orders:
        groups.setdefault(category(order), set()).update(key_paths(order))
    return groups


def compare(payloads: list[str]) -> dict:
    """Compare generated payload texts with the sandbox's orders; {'ok': bool, 'problems': [...]}."""
    problems = []
    generated = []
    for text in payloads:
        order = json.loads(text)
        if json.dumps(order, sort_keys=True, ensure_ascii=False) != text:
            problems.append(f"not in the extract's canonical form: {text[:80]}...")
            break
        generated.append(order)
    reference = signatures(sandbox_orders())
    mine = signatures(generated)
    for group, paths in sorted(mine.items()):
        if group not in reference:
            problems.append(f"no sandbox order in state {group}")
            continue
        missing, extra = reference[group] - paths, paths - reference[group]
        if missing or extra:
            problems.append(f"{group}: missing {sorted(missing)}, extra {sorted(extra)}")
    return {"ok": not problems, "groups_compared": len(mine), "orders_compared": len(generated), "problems": problems}
