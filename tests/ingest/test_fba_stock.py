"""FBA stock from Amazon: after each sync, getInventorySummaries (through the real client over HTTP) sets
amazon_fba on hand to Amazon's count with adjustment movements; the sandbox keeps the model's rules."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from amazon_models import INVENTORY, problems, response_schema

from pipelines.ingest.fba_stock import record_fba_snapshot
from pipelines.sandbox import Buyer, Item
from pipelines.sandbox.inventory import INVENTORY_PAGE_SIZE, INVENTORY_PATH
from pipelines.warehouse.channels import get_channel
from pipelines.warehouse.connection import connect

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
DE, FR, UK = "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


def fba_stock(shop) -> dict[str, tuple[int, int]]:
    return {
        sku: (on_hand, reserved)
        for sku, on_hand, reserved in shop.query(
            "select product_code, on_hand, reserved_quantity from inventory where location = 'amazon_fba' order by all"
        )
    }


def amazons_count(shop, marketplace=US) -> dict[str, tuple[int, int]]:
    return {
        s["sellerSku"]: (
            s["inventoryDetails"]["fulfillableQuantity"],
            s["inventoryDetails"]["reservedQuantity"]["pendingCustomerOrderQuantity"],
        )
        for s in shop.marketplace.fba_inventory(marketplace)
    }


def test_amazon_fba_on_hand_is_amazons_fulfillable_count_after_fba_orders(shop):
    shop.add_channel()
    shop.marketplace.receive_fba("MUG-01", 30)
    first = shop.place(Item("MUG-01", 2, "12.50"), fulfilled_by="AMAZON", buyer=ADA)
    shipped = shop.place(Item("MUG-01", 3, "12.50"), fulfilled_by="AMAZON", buyer=ADA)
    shop.marketplace.confirm(shipped)
    shop.marketplace.ship(shipped)
    shop.sync()
    assert amazons_count(shop) == {"MUG-01": (25, 2)}
    assert fba_stock(shop) == {"MUG-01": (25, 2)}

    # between two syncs: one order ships, another is placed, a case arrives
    shop.marketplace.confirm(first)
    shop.marketplace.ship(first)
    shop.place(Item("MUG-01", 4, "12.50"), fulfilled_by="AMAZON", buyer=ADA)
    shop.marketplace.receive_fba("MUG-01", 10)
    shop.sync()
    assert fba_stock(shop) == amazons_count(shop) == {"MUG-01": (31, 4)}
    # the ledger explains the number: order movements and Amazon's adjustments add up to it
    assert shop.one("select sum(quantity_delta) from inventory_movements where location = 'amazon_fba'") == 31
    assert shop.one("select count(*) from inventory_movements where reason = 'adjustment'") == 2
    status = shop.ok("status")
    assert "FBA stock at Amazon" in status
    assert [line.split()[:4] for line in status.splitlines() if "MUG-01" in line] == [["Amazon", "US", "MUG-01", "31"]]


def test_a_quiet_sync_sends_no_stock_request_until_the_count_is_an_hour_old(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "12.50"), fulfilled_by="AMAZON", buyer=ADA)
    shop.sync()
    assert shop.one("select count(*) from fba_snapshots") == 1
    shop.marketplace.receive_fba("MUG-01", 5)  # moves at Amazon without an order
    shop.sync()  # no order changed: the count is a few minutes old
    calls = [r for r in shop.sandbox.requests if r["path"] == INVENTORY_PATH]
    assert len(calls) == 1 and fba_stock(shop) == {"MUG-01": (23, 1)}
    shop.marketplace.advance(minutes=60)
    shop.sync()
    assert shop.one("select count(*) from fba_snapshots") == 2
    assert fba_stock(shop) == amazons_count(shop) == {"MUG-01": (28, 1)}
    movements = shop.one("select count(*) from inventory_movements")
    shop.marketplace.advance(minutes=60)
    shop.sync()  # counted again, nothing moved: nothing booked
    assert shop.one("select count(*) from fba_snapshots") == 3
    assert shop.one("select count(*) from inventory_movements") == movements


def test_merchant_stock_and_skus_amazon_does_not_list_are_left_alone(shop, tmp_path):
    from conftest import catalog

    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)  # merchant-fulfilled
    shop.sync()
    assert shop.query("select location, on_hand, reserved_quantity from inventory") == [("warehouse", 9, 1)]
    assert shop.one("select count(*) from fba_inventory") == 0


def test_every_page_of_every_marketplace_is_read_at_the_usage_plan(shop):
    shop.add_channel(marketplaces=(US, CA))
    skus = [f"SKU-{n:03d}" for n in range(INVENTORY_PAGE_SIZE * 2 + 7)]
    for sku in skus:
        shop.marketplace.receive_fba(sku, 5)
    shop.marketplace.receive_fba("MAPLE-1", 8, marketplace_id=CA)
    shop.sync()
    assert shop.one("select count(*) from fba_inventory where marketplace_id = ?", [US]) == len(skus)
    assert shop.one("select on_hand from inventory where product_code = 'MAPLE-1'") == 8
    calls = [r for r in shop.sandbox.requests if r["path"] == INVENTORY_PATH]
    assert [r["status"] for r in calls] == [200] * 4  # three pages of US, one of CA, no 429
    # a later page repeats the first page's parameters beside its token
    first, second = calls[0]["params"], calls[1]["params"]
    assert "nextToken" in second and {k: v for k, v in second.items() if k != "nextToken"} == first


def test_a_refused_inventory_request_fails_the_sync_with_one_line_after_the_orders_landed(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    # the seller's application lacks the FBA Inventory role: Amazon answers 403 however often it is asked
    shop.sandbox.denied_operations.add("getInventorySummaries")
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("sync")
    assert code == 1
    assert "FBA inventory of marketplace ATVPDKIKX0DER not fetched: HTTP 403" in err
    assert shop.one("select count(*) from orders") == 1  # the orders are in; only the stock step failed


def test_a_summary_whose_quantities_cannot_be_read_is_kept_raw_and_left_out(shop):
    shop.add_channel()
    con = connect(shop.db)
    try:
        channel = get_channel(con, "Amazon US")
        snapshot = record_fba_snapshot(
            con,
            channel,
            now=shop.marketplace.now,
            summaries={
                US: [
                    {
                        "sellerSku": "MUG-01",
                        "inventoryDetails": {
                            "fulfillableQuantity": 4,
                            "reservedQuantity": {"pendingCustomerOrderQuantity": 1},
                        },
                    },
                    {"sellerSku": "PEN-03", "inventoryDetails": {"fulfillableQuantity": "lots"}},
                ]
            },
        )
        assert (snapshot.skus, snapshot.unreadable, snapshot.adjustments) == (1, 1, 1)
        assert con.execute("select count(*) from raw_fba_inventory").fetchone() == (2,)
        assert con.execute("select product_code, on_hand from inventory").fetchall() == [("MUG-01", 5)]
    finally:
        con.close()


# -- the sandbox keeps getInventorySummaries' rules -----------------------------------------------


def _token(server) -> str:
    return httpx.post(
        server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"},
    ).json()["access_token"]


def _summaries(server, **params):
    return httpx.get(server.url + INVENTORY_PATH, params=params, headers={"x-amz-access-token": _token(server)})


GOOD = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US, "details": "true"}


@pytest.mark.parametrize(
    "quote, change",
    [
        ("granularityType ... enum: Marketplace", {"granularityType": "Region"}),
        ("marketplaceIds ... required", {"marketplaceIds": None}),
        ("marketplaceIds ... maxItems: 1", {"marketplaceIds": f"{US},{CA}"}),
        ("When granularityType is Marketplace, specify the marketplaceId.", {"granularityId": CA}),
        ("sellerSkus ... maxItems: 50", {"sellerSkus": ",".join(f"S{n}" for n in range(51))}),
        (
            "You must specify a date and time that is no earlier than 18 months prior",
            {"startDateTime": "2024-01-01T00:00:00Z"},
        ),
        ("startDateTime ... format: date-time", {"startDateTime": "yesterday"}),
    ],
)
def test_a_request_the_model_forbids_is_refused_tersely(sandbox, quote, change):
    params = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = _summaries(sandbox, **params)
    assert response.status_code == 400, quote
    assert response.json()["errors"][0]["code"] == "InvalidInput"


def test_a_next_token_expires_after_30_seconds_and_is_bound_to_its_request(sandbox, marketplace):
    for n in range(INVENTORY_PAGE_SIZE + 1):
        marketplace.receive_fba(f"SKU-{n:03d}", 1)
    token = _summaries(sandbox, **GOOD).json()["pagination"]["nextToken"]
    # "The string token will expire 30 seconds after being created."
    assert _summaries(sandbox, **GOOD, nextToken=token).status_code == 200
    assert _summaries(sandbox, **{**GOOD, "details": "false"}, nextToken=token).status_code == 400
    marketplace.advance(seconds=31)
    assert _summaries(sandbox, **GOOD, nextToken=token).status_code == 400


def test_inbound_units_are_kept_beside_on_hand_until_amazon_receives_them(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "12.50"), fulfilled_by="AMAZON", buyer=ADA)  # a case of 24 arrives for it
    shop.marketplace.ship_inbound("MUG-01", 12)
    shop.sync()
    latest = (
        "select inbound_quantity from fba_inventory where snapshot_id = (select max(snapshot_id) "
        "from fba_snapshots) and seller_sku = 'MUG-01'"
    )
    assert shop.one(latest) == 12
    assert fba_stock(shop) == {"MUG-01": (23, 1)}  # inbound is not on hand yet
    shop.marketplace.receive_fba("MUG-01", 12)
    shop.place(Item("MUG-01", 1, "12.50"), fulfilled_by="AMAZON", buyer=ADA)
    shop.sync()
    assert shop.one(latest) == 0
    assert fba_stock(shop) == amazons_count(shop) == {"MUG-01": (34, 2)}


# -- Pan-European FBA: one pooled stock, answered for each EU marketplace --------------------------------------


def test_pan_european_stock_is_counted_once_however_many_eu_marketplaces_answer_it(shop):
    shop.add_channel("Amazon EU", marketplaces=(DE, FR, UK))
    shop.marketplace.receive_fba("MUG-01", 30, marketplace_id=DE)  # into the Pan-European pool
    shop.marketplace.receive_fba("MUG-01", 5, marketplace_id=UK)  # the UK's stock is its own
    shop.place(Item("MUG-01", 2, "12.50"), fulfilled_by="AMAZON", buyer=ADA, marketplace_id=DE)
    shop.place(Item("MUG-01", 1, "12.50"), fulfilled_by="AMAZON", buyer=ADA, marketplace_id=FR)
    shop.sync()
    # Amazon answers the pool for DE and for FR alike (amzn/selling-partner-api-models#452)
    assert amazons_count(shop, DE) == amazons_count(shop, FR) == {"MUG-01": (27, 3)}
    assert amazons_count(shop, UK) == {"MUG-01": (5, 0)}
    # 27 + 3 in the pool, counted once, and the UK's 5
    assert fba_stock(shop) == {"MUG-01": (32, 3)}
    assert shop.query("select quantity_delta from inventory_movements where reason = 'adjustment'") == [(35,)]
    assert shop.one("select count(*) from fba_inventory where is_counted") == 2  # the pool once, the UK once
    status = [line.split() for line in shop.ok("status").splitlines() if "MUG-01" in line]
    assert [line[:6] for line in status] == [["Amazon", "EU", "MUG-01", "32", "3", "0"]]

    # nothing moved: the next count books nothing, though three marketplaces answered again
    shop.marketplace.advance(minutes=60)
    shop.sync()
    assert shop.one("select count(*) from inventory_movements where reason = 'adjustment'") == 1
    assert fba_stock(shop) == {"MUG-01": (32, 3)}


# -- every quantity is optional in the model: an absent one holds no units -------------------------------------


def _summary(sku: str, **details) -> dict:
    return {"asin": "B0TEST0001", "sellerSku": sku, "condition": "NewItem", "inventoryDetails": details}


def test_a_summary_without_optional_quantities_counts_what_it_has(shop):
    shop.add_channel()
    shop.marketplace.put_raw_fba_inventory(
        US,
        [
            # no pendingCustomerOrderQuantity: no units held for customer orders
            _summary("MUG-01", fulfillableQuantity=7, reservedQuantity={"totalReservedQuantity": 0}),
            # no reservedQuantity at all
            _summary("TEA-02", fulfillableQuantity=4, inboundShippedQuantity=6),
            _summary("PEN-03", fulfillableQuantity=5, reservedQuantity={"pendingCustomerOrderQuantity": 1}),
        ],
    )
    shop.sync()
    assert fba_stock(shop) == {"MUG-01": (7, 0), "PEN-03": (6, 0), "TEA-02": (4, 0)}
    assert shop.query("select seller_sku, inbound_quantity, reserved_quantity from fba_inventory order by 1") == [
        ("MUG-01", 0, 0),
        ("PEN-03", 0, 1),
        ("TEA-02", 6, 0),
    ]
    assert shop.one("select count(*) from fba_inventory_quarantine") == 0
    # the SKUs keep following Amazon's count, which a summary set aside would have frozen
    shop.marketplace.put_raw_fba_inventory(
        US,
        [
            _summary("MUG-01", fulfillableQuantity=3),
            # nothing fulfillable or held any more, and only that something is on its way
            _summary("PEN-03", inboundWorkingQuantity=12),
        ],
    )
    shop.marketplace.advance(minutes=60)
    shop.sync()
    assert fba_stock(shop) == {"MUG-01": (3, 0), "PEN-03": (0, 0), "TEA-02": (4, 0)}  # TEA-02 not listed: left alone


def test_the_sandbox_leaves_out_what_amazon_may_and_the_count_still_follows_amazons(shop):
    shop.add_channel()
    skus = [f"SKU-{n:03d}" for n in range(40)]
    for n, sku in enumerate(skus):
        shop.marketplace.receive_fba(sku, 1 + n % 3)
    shop.marketplace.ship_inbound("SKU-001", 5)
    shop.place(Item("SKU-002", 1, "5.00"), fulfilled_by="AMAZON", buyer=ADA)
    shop.sync()
    served = [s for s in shop.marketplace.fba_inventory(US, as_served=True)]
    # some summaries come without optional fields (seeded: the same ones every run), never without a unit
    assert any(
        "pendingCustomerOrderQuantity" not in s["inventoryDetails"].get("reservedQuantity", {})
        or "totalQuantity" not in s
        for s in served
    )
    truth = {
        s["sellerSku"]: s["inventoryDetails"]["fulfillableQuantity"]
        + s["inventoryDetails"]["reservedQuantity"]["pendingCustomerOrderQuantity"]
        for s in shop.marketplace.fba_inventory(US)
    }
    assert {sku: on_hand + reserved for sku, (on_hand, reserved) in fba_stock(shop).items()} == truth
    assert shop.one("select count(*) from fba_inventory_quarantine") == 0


# -- a summary that cannot be read is set aside, and never quietly -------------------------------------------


def _check_evaluation():
    from dagster import AssetCheckKey, AssetKey

    from pipelines.orchestration.instance import get_instance

    [record] = get_instance().event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("fba_inventory"), "fba_summaries_are_readable"), limit=1
    )
    return record.event.dagster_event.event_specific_data


def test_a_summary_that_cannot_be_read_shows_in_status_and_fails_the_check_every_count(shop):
    shop.add_channel()
    unreadable = [
        {"asin": "B0TEST0009", "inventoryDetails": {"fulfillableQuantity": 3}},  # whose stock is this?
        _summary("PEN-03", fulfillableQuantity=2.5),
    ]
    shop.marketplace.put_raw_fba_inventory(US, [_summary("MUG-01", fulfillableQuantity=7), *unreadable])
    shop.sync()
    first_count = shop.one("select strftime(counted_at, '%Y-%m-%dT%H:%M:%SZ') from fba_snapshots")
    shop.marketplace.advance(minutes=60)
    shop.sync()
    assert fba_stock(shop) == {"MUG-01": (7, 0)}  # the readable one counted; PEN-03 left alone
    assert shop.query(
        "select summary_key, reason from fba_inventory_quarantine where snapshot_id = "
        "(select max(snapshot_id) from fba_snapshots) order by 1"
    ) == [
        ("B0TEST0009", "sellerSku is missing or not a string"),
        ("PEN-03", "fulfillableQuantity '2.5' is not a whole number from 0 to 99999999"),
    ]
    assert shop.one("select count(*) from raw_fba_inventory") == 6  # every summary of both counts kept raw

    status = shop.ok("status")
    section = status[status.index("FBA inventory summaries set aside") :]
    rows = [line.split() for line in section.splitlines()[3:5]]
    # channel, reason ..., how many, since (the first of the counts in a row), counts
    assert [row[-3:] for row in rows] == [["1", first_count, "2"], ["1", first_count, "2"]]
    assert "sellerSku is missing or not a string" in section and "'2.5' is not a whole number" in section

    evaluation = _check_evaluation()
    assert not evaluation.passed
    assert evaluation.metadata["summaries_set_aside"].value == 2
    assert evaluation.metadata["set_aside_since"].value == first_count
    assert "sellerSku is missing" in evaluation.metadata["reasons"].value

    # Amazon sends it right again: the check passes and status says nothing more
    shop.marketplace.put_raw_fba_inventory(
        US, [_summary("MUG-01", fulfillableQuantity=7), _summary("PEN-03", fulfillableQuantity=2)]
    )
    shop.marketplace.advance(minutes=60)
    shop.sync()
    assert _check_evaluation().passed
    assert "set aside" not in shop.ok("status")
    assert fba_stock(shop) == {"MUG-01": (7, 0), "PEN-03": (2, 0)}


def test_a_count_of_which_nothing_could_be_read_fails_the_sync_with_one_line(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.marketplace.put_raw_fba_inventory(
        US, [{"inventoryDetails": {"fulfillableQuantity": 3}}, _summary("PEN-03", fulfillableQuantity="lots")]
    )
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("sync")
    assert code == 1
    assert err.splitlines()[-1] == (
        "amazon-orders: Amazon US: none of the 2 FBA inventory summaries could be read "
        "(fulfillableQuantity 'lots' is not a whole number from 0 to 99999999; sellerSku is "
        "missing or not a string); they are kept raw and amazon_fba is left as it was"
    )
    assert shop.one("select count(*) from orders") == 1  # the orders are in
    assert shop.one("select count(*) from raw_fba_inventory") == 2  # and Amazon's answer is kept
    assert not _check_evaluation().passed


# -- Amazon's real answer ---------------------------------------------------------------------------------------


def test_a_real_inventory_answer_comes_through_sync_as_a_seller_reads_it(shop):
    """tests/corpus/fba_inventory/tr_2025-06_summaries_details_true.json: Amazon.com.tr's answer to
    getInventorySummaries with details (see tests/corpus/README.md), served as it was sent."""
    tr = "A33AVAJ2PDY3EV"
    document = json.loads(
        (Path(__file__).parents[1] / "corpus" / "fba_inventory" / "tr_2025-06_summaries_details_true.json").read_text()
    )
    shop.add_channel("Amazon TR", marketplaces=(tr,))
    shop.marketplace.put_raw_fba_inventory(tr, document["payload"]["inventorySummaries"])
    served = _summaries(shop.sandbox, **{**GOOD, "granularityId": tr, "marketplaceIds": tr})
    assert served.json() == document  # byte for byte what Amazon sent, no pagination key included
    assert problems(served.json(), response_schema(INVENTORY, INVENTORY_PATH, "200")) == []
    shop.sync()

    # what a seller expects, written by hand from the document: 8 units Amazon can ship, none held for orders,
    # 50 on their way in (shipped), none unsellable; the 2 being researched are in none of these
    assert shop.query(
        "select marketplace_id, seller_sku, asin, fulfillable_quantity, pending_customer_order_quantity, "
        "reserved_quantity, inbound_quantity, unfulfillable_quantity, amazon_updated_at "
        "from fba_inventory"
    ) == [(tr, "APITESTING123", "B0DP7GSQBL", 8, 0, 0, 50, 0, "2025-06-03T03:00:34Z")]
    assert shop.query("select product_code, location, channel, on_hand, reserved_quantity from inventory") == [
        ("APITESTING123", "amazon_fba", "Amazon TR", 8, 0)
    ]
    assert shop.query("select product_code, quantity_delta, reason, location, channel from inventory_movements") == [
        ("APITESTING123", 8, "adjustment", "amazon_fba", "Amazon TR")
    ]
    assert shop.one("select count(*) from fba_inventory_quarantine") == 0
    status = [line.split() for line in shop.ok("status").splitlines() if "APITESTING123" in line]
    assert [line[:7] for line in status] == [["Amazon", "TR", "APITESTING123", "8", "0", "50", "0"]]
