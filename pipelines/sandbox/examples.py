"""Amazon's own example orders and static sandbox cases, read from the Orders API model.

The model documents requests and their responses under `x-amzn-api-sandbox` (the static cases
Amazon's sandbox endpoint answers), plus response `examples`. Their orders seed a simulated
marketplace so the same requests can be replayed against this sandbox.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .marketplace import Marketplace
from .orders import MODEL


@dataclass(frozen=True)
class StaticCase:
    operation: str  # searchOrders or getOrder
    params: dict  # the documented request's parameters (lists as lists)
    status: int
    response: dict


def static_cases() -> list[StaticCase]:
    cases = []
    for operations in MODEL["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                for case in (response.get("x-amzn-api-sandbox") or {}).get("static", []):
                    params = {name: value["value"] for name, value in case["request"]["parameters"].items()}
                    cases.append(StaticCase(operation["operationId"], params, int(status), case["response"]))
    return cases


def example_orders() -> list[dict]:
    """Every order the model shows, in a static case or an example, once each (in the model's order)."""
    found: dict[str, dict] = {}
    for operations in MODEL["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                bodies = [case["response"] for case in (response.get("x-amzn-api-sandbox") or {}).get("static", [])]
                bodies += list((response.get("examples") or {}).values())
                for body in bodies:
                    for order in body.get("orders", []) + ([body["order"]] if "order" in body else []):
                        found.setdefault(order["orderId"], copy.deepcopy(order))
    return list(found.values())


def seed(marketplace: Marketplace) -> list[str]:
    """Put Amazon's example orders on the marketplace, verbatim; returns their ids."""
    orders = example_orders()
    for order in orders:
        marketplace.put_raw(order)
    return [order["orderId"] for order in orders]
