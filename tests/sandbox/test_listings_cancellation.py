"""A cancelled merchant-fulfilled order gives the listing back the units it took, as Amazon does: "When a buyer
places an order, a reserve is placed on the associated SKU and the inventory count is decremented. If the buyer
contacts you and asks you to cancel their order, selecting "Buyer Cancelled" as a reason code will automatically
restore the inventory" (Amazon Seller Support blog, "Reason for cancellation - inside cancelling an order"),
unless the seller cancels for want of stock: "selecting "No Inventory" as a reason code will prevent the
inventory count from being restored"."""

from __future__ import annotations

import httpx
import pytest

from pipelines.sandbox import Item, Marketplace, SandboxServer

US, DE, FR = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A13V1IB3VIYZZH"
SELLER = "A3TH9S8BH6GOGM"


@pytest.fixture
def server():
    with SandboxServer(Marketplace(seed=5), listing_apply_seconds=0) as served:
        served.listings.seller_id = SELLER
        yield served


def listed(server, sku: str, marketplace_id: str = US) -> int:
    """The quantity getListingsItem answers for the SKU's merchant-fulfilled offer."""
    token = httpx.post(
        server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "z", "client_id": "x", "client_secret": "y"},
    ).json()["access_token"]
    item = httpx.get(
        f"{server.url}/listings/2021-08-01/items/{SELLER}/{sku}",
        params={"marketplaceIds": marketplace_id, "includedData": "fulfillmentAvailability"},
        headers={"x-amz-access-token": token},
        timeout=10,
    ).json()
    (offer,) = [o for o in item["fulfillmentAvailability"] if o["fulfillmentChannelCode"] == "DEFAULT"]
    return offer["quantity"]


@pytest.mark.parametrize("pending", [True, False])  # Amazon cancels a pending order, the seller an unshipped one
def test_a_cancelled_unshipped_order_puts_its_units_back_on_the_listing(server, pending):
    server.listings.list_item("MUG", 5)
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 3)])
    if not pending:
        market.confirm(order_id)
    assert listed(server, "MUG") == 2
    market.cancel(order_id)
    assert listed(server, "MUG") == 5
    assert market.place_order([Item("MUG", 5)])  # a buyer may have them all again


def test_only_the_units_not_shipped_come_back(server):
    server.listings.list_item("MUG", 5)
    server.listings.list_item("CUP", 5)
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 3), Item("CUP", 2)])
    market.confirm(order_id)
    market.ship(order_id, "MUG", 1)
    market.cancel(order_id)
    assert (listed(server, "MUG"), listed(server, "CUP")) == (2 + 2, 5)


def test_a_cancelled_item_puts_back_its_own_units_only(server):
    server.listings.list_item("MUG", 5)
    server.listings.list_item("CUP", 5)
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 1), Item("CUP", 2)])
    market.cancel_item(order_id, "CUP")
    assert (listed(server, "MUG"), listed(server, "CUP")) == (4, 5)
    market.cancel(order_id)  # the CUP line is cancelled already: its units come back once
    assert (listed(server, "MUG"), listed(server, "CUP")) == (5, 5)


def test_a_cancellation_for_want_of_stock_gives_nothing_back(server):
    server.listings.list_item("MUG", 5)
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 3)])
    market.confirm(order_id)
    market.cancel(order_id, reason="No Inventory")
    assert listed(server, "MUG") == 2


def test_what_an_order_did_not_take_from_the_listing_does_not_come_back(server):
    market = server.marketplace
    before = market.place_order([Item("MUG", 2)])  # placed before the SKU was listed: it took nothing
    fba = market.place_order([Item("MUG", 2)], fulfilled_by="AMAZON")  # Amazon's stock, not the listing's
    server.listings.list_item("MUG", 5)
    market.cancel(before)
    market.cancel(fba)
    assert listed(server, "MUG") == 5


def test_units_come_back_to_the_european_pool_the_order_took_them_from(server):
    server.listings.list_item("MUG", 4, marketplace_id=DE)
    server.listings.list_item("MUG", 4, marketplace_id=FR)  # one merchant-fulfilled quantity for Europe
    market = server.marketplace
    order_id = market.place_order([Item("MUG", 3)], marketplace_id=FR)
    assert listed(server, "MUG", DE) == 1
    market.cancel(order_id)
    assert (listed(server, "MUG", DE), listed(server, "MUG", FR)) == (4, 4)
