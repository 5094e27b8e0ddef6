"""Whatever Amazon's models allow comes through: property-based cases generated from the Orders API v2026-01-01
`Order` schema and the FBA Inventory v1 `InventorySummary` schema (hypothesis-jsonschema), the minimal ones with
only the required fields among them.

For any such answer the pipeline imports it or sets it aside with a reason; no unit or cent is lost, rounded or
doubled; an incremental transform in two batches ends where a rebuild does. The SQL transforms run in-process on
a real warehouse file at volume; the full path (the real client over HTTP, the CLI, Dagster) at low volume.
Fixed seed and budget: the same cases every run."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path

import pytest
from amazon_models import INVENTORY, ORDERS, for_generation, problems, schema
from conftest import core_tables, warehouse_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from pipelines.ingest.fba_stock import PAN_EUROPEAN, record_fba_snapshot
from pipelines.ingest.orders import SyncResult, _landing_rows, insert_versions, payload_text
from pipelines.warehouse.channels import add_channel, get_channel
from pipelines.warehouse.connection import connect
from pipelines.warehouse.transform import transform

pytestmark = pytest.mark.slow

US, DE, FR, UK = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"
START = "2026-01-01T00:00:00Z"
NOW = datetime(2026, 6, 1)
# a fixed seed and budget: the same cases every run, on any machine
FIXED = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)

ORDER = schema(ORDERS, "Order")
# the realistic part of what the model allows: an order with its status and its items' SKUs, few ids (so
# versions of one order meet), times after the channel's start, amounts that are numbers, known currencies and
# kinds; the parts this side does not read left out (they are in ORDER)
TIME = {"format": None, "pattern": r"^2026-0[1-3]-[0-2][1-8]T[01][0-9]:[0-5][0-9]:[0-5][0-9]Z$"}
REALISTIC_ORDER = schema(
    ORDERS,
    "Order",
    narrow={
        "Order": {
            "required": ["orderId", "createdTime", "lastUpdatedTime", "salesChannel", "orderItems", "fulfillment"],
            "additionalProperties": False,
            "properties": {
                "packages": None,
                "payment": None,
                "tax": None,
                "fulfillmentOrders": None,
                "recipient": None,
                "orderAliases": None,
                "programs": None,
            },
        },
        "OrderItem": {
            "additionalProperties": False,
            "properties": {
                "expense": None,
                "tax": None,
                "measurement": None,
                "associatedOrderItems": None,
                "promotion": None,
                "programs": None,
            },
        },
        "ItemProduct": {
            "required": ["sellerSku"],
            "additionalProperties": False,
            "properties": {"serialNumbers": None, "customization": None, "condition": None, "title": None},
        },
        "ItemPrice": {"additionalProperties": False, "properties": {"priceDesignation": None}},
        "ItemFulfillment": {"additionalProperties": False, "properties": {"picking": None, "shipping": None}},
        "ItemPacking": {"additionalProperties": False, "properties": {"serialNumberRequirement": None}},
        "OrderFulfillment": {
            "additionalProperties": False,
            "properties": {
                "shipByWindow": None,
                "deliverByWindow": None,
                "labelPrintingWindow": None,
                "fulfillmentServiceLevel": None,
            },
        },
        "SalesChannel": {"additionalProperties": False, "properties": {"marketplaceName": None}},
        "Buyer": {"additionalProperties": False, "properties": {"buyerPurchaseOrderNumber": None}},
        "orderId": {"pattern": r"^902-000000[1-6]-0000001$"},
        "createdTime": TIME,
        "lastUpdatedTime": TIME,
        "channelName": {"enum": ["AMAZON", "AMAZON", "NON_AMAZON"]},
        "marketplaceId": {"enum": [US]},
        "fulfilledBy": {"enum": ["AMAZON", "MERCHANT"]},
        "orderItems": {"minItems": 1, "maxItems": 3},
        "orderItemId": {"pattern": r"^[0-9]{6}$"},
        "quantityOrdered": {"minimum": 1, "maximum": 4},
        "quantityFulfilled": {"minimum": 0, "maximum": 4},
        "sellerSku": {"enum": ["MUG-01", "TEA-02", "PEN-03"]},
        "amount": {"pattern": r"^-?[0-9]{1,3}\.[0-9]{2}0?$"},
        "currencyCode": {"enum": ["USD"]},
        "type": {"enum": ["ITEM", "SHIPPING", "GIFT_WRAP", "TAX", "DISCOUNT", "COD_FEE", "DELIVERY_TIP", "OTHER"]},
        "subtype": {"enum": ["ITEM", "GIFT_WRAP", "SHIPPING"]},
    },
)
# a page of versions: mostly realistic ones, and any the model allows, the minimal ones among them
versions_of_orders = st.builds(
    lambda realistic, anything: realistic + anything,
    st.lists(from_schema(for_generation(REALISTIC_ORDER)), min_size=2, max_size=5),
    st.lists(
        st.one_of(from_schema(ORDER), from_schema(for_generation(schema(ORDERS, "Order", minimal=True)))), max_size=2
    ),
)

SUMMARY = schema(INVENTORY, "InventorySummary")
REALISTIC_SUMMARY = schema(
    INVENTORY,
    "InventorySummary",
    narrow={
        "sellerSku": {"enum": ["MUG-01", "TEA-02", "PEN-03"]},
        **{
            name: {"minimum": 0, "maximum": 50}
            for name in (
                "fulfillableQuantity",
                "inboundWorkingQuantity",
                "inboundShippedQuantity",
                "inboundReceivingQuantity",
                "totalReservedQuantity",
                "pendingCustomerOrderQuantity",
                "totalUnfulfillableQuantity",
            )
        },
    },
)
summaries = st.one_of(
    from_schema(REALISTIC_SUMMARY),
    from_schema(REALISTIC_SUMMARY),
    from_schema(SUMMARY),
    from_schema(schema(INVENTORY, "InventorySummary", minimal=True)),
)


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory):
    """A warehouse with the channel and nothing else, copied for each case (opening a new one costs more)."""
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    con = connect(path)
    try:
        add_channel(con, "Amazon US", [US], start=START, now=lambda: NOW)
    finally:
        con.close()
    return path


cases = count()


def fresh(template, tmp_path_factory):
    path = tmp_path_factory.mktemp("case") / f"warehouse-{next(cases)}.duckdb"
    shutil.copy(template, path)
    return connect(path)


def land(con, versions: list) -> None:
    """As a sync lands a page: an order created before the channel's start is skipped, the rest kept raw."""
    channel = get_channel(con, "Amazon US")
    rows = _landing_rows(versions, channel, SyncResult(channel.name, "property"))
    insert_versions(con, channel.name, "property", rows)


# -- the reading the product must give, stated again from the model -------------------------------------------


def whole(value) -> int | None:
    """Amazon's integer as this side takes it: a JSON integer or its digits (up to nine), else None."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def shipped_units(order: dict, item: dict) -> int:
    """quantityFulfilled where Amazon gives it; without it, every unit of a SHIPPED order's item its
    cancellation did not take, and nothing for any other status."""
    ordered = whole(item["quantityOrdered"])
    fulfilled = (item.get("fulfillment") or {}).get("quantityFulfilled")
    if fulfilled is not None:
        return min(whole(fulfilled), ordered)
    cancelled = "cancellationExecution" in (item.get("cancellation") or {})
    return ordered if order["fulfillment"]["fulfillmentStatus"] == "SHIPPED" and not cancelled else 0


def ledger(con) -> dict:
    return dict(
        ((sku, location, channel), units)
        for sku, location, channel, units in con.execute(
            "select product_code, location, channel, sum(quantity_delta) from inventory_movements "
            "group by all having sum(quantity_delta) <> 0"
        ).fetchall()
    )


def as_analysts_read_them(con) -> tuple:
    """The core tables, quarantine and stock. A SKU a newer version no longer names keeps, in an incremental
    run, the ledger's record of its reservation and release: a row of inventory at 0 and 0, which a rebuild
    (booking only what stands) does not make. The stock is the same, so such a row counts as none."""
    tables = core_tables(con)
    tables["inventory"] = [row for row in tables["inventory"] if row[3:] != (0, 0)]
    return tables, ledger(con), con.execute("select ingest_id, reason from quarantine order by all").fetchall()


def before_start(order: dict, start: datetime = datetime(2026, 1, 1)) -> bool:
    """Created before the channel's start (naive UTC): such an order is not the channel's to import."""
    try:
        created = datetime.fromisoformat(order["createdTime"].replace("Z", "+00:00"))
        return created.tzinfo is not None and created.astimezone(UTC).replace(tzinfo=None) < start
    except (ValueError, OverflowError):
        return False


def check_orders(con, generated: list) -> None:
    """Every generated version is kept raw (unless created before the channel's start), then imported,
    superseded by a newer one of its order, kept as another channel's, or quarantined with a reason; an imported
    order holds its version's units and money exactly."""
    versions = con.execute("""
        select ingest_id, amazon_order_id, payload,
               try_cast(try_cast(json_extract_string(payload, '$.lastUpdatedTime') as timestamptz) as timestamp)
        from raw_amazon_orders""").fetchall()
    kept = {payload for _, _, payload, _ in versions}
    for order in generated:
        assert payload_text(order) in kept or before_start(order), f"{order.get('orderId')!r} was not kept raw"
    quarantined = dict(con.execute("select ingest_id, reason from quarantine").fetchall())
    assert all(reason.strip() for reason in quarantined.values())
    other = {i for (i,) in con.execute("select ingest_id from other_channel_orders").fetchall()}
    imported = dict(con.execute("select channel_order_id, source_ingest_id from orders").fetchall())
    moments = {ingest_id: moment for ingest_id, _, _, moment in versions}
    for ingest_id, order_id, _, moment in versions:
        if ingest_id in quarantined or ingest_id in other:
            continue
        assert order_id in imported, f"version {ingest_id} of {order_id!r} neither imported nor quarantined"
        source = imported[order_id]
        assert (moment, ingest_id) <= (moments[source], source), f"{order_id!r}: an older version is shown"
    for order_id, source in imported.items():
        order = json.loads(next(payload for i, _, payload, _ in versions if i == source))
        items = order["orderItems"]
        got = con.execute(
            """
            select quantity, shipped_quantity, canceled_quantity, unit_price, amazon_order_item_id
            from order_lines join orders using (order_id)
            where channel_order_id = ? and line_type = 'product' order by line_number""",
            [order_id],
        ).fetchall()
        assert [row[0] for row in got] == [whole(item["quantityOrdered"]) for item in items], order_id
        assert [row[1] for row in got] == [shipped_units(order, item) for item in items], order_id
        for (quantity, shipped, canceled, unit_price, _), item in zip(got, items):
            assert 0 <= shipped + canceled <= quantity
            price = ((item["product"].get("price") or {}).get("unitPrice") or {}).get("amount")
            assert unit_price == (Decimal(price) if price is not None else None), f"{order_id!r}: unit price"
        total, components, unreconciled = con.execute(
            """
            select total_amount, coalesce(items_amount, 0) + shipping_amount + gift_wrap_amount + tax_amount
                   + discount_amount + other_amount, unreconciled_amount
            from orders where channel_order_id = ?""",
            [order_id],
        ).fetchone()
        grand_total = ((order.get("proceeds") or {}).get("grandTotal") or {}).get("amount")
        assert total == (Decimal(grand_total) if grand_total is not None else None), f"{order_id!r}: grand total"
        if total is not None:
            assert components + unreconciled == total
    # the ledger holds exactly what the imported lines take: ordered less cancelled, per SKU and place
    expected = {}
    for sku, location, channel, units in con.execute("""
            select l.product_code, location_for(o.fulfilled_by), channel_of_location(o.fulfilled_by, o.channel),
                   sum(l.quantity - l.canceled_quantity)
            from order_lines l join orders o using (order_id) where l.line_type = 'product' group by all
            """).fetchall():
        if units:
            expected[(sku, location, channel)] = -units
    assert ledger(con) == expected


@settings(FIXED, max_examples=16)
@given(versions=versions_of_orders, split=st.integers(min_value=0, max_value=7))
def test_every_order_the_model_allows_is_imported_or_quarantined_and_incremental_equals_rebuild(
    empty_warehouse, tmp_path_factory, versions, split
):
    for version in versions:
        assert problems(version, ORDER) == []  # generated within Amazon's model, never beyond it
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        land(con, versions[:split])
        transform(con)
        land(con, versions[split:])
        transform(con)
        check_orders(con, versions)
        incremental = as_analysts_read_them(con)
        transform(con, rebuild=True)
        assert as_analysts_read_them(con) == incremental
    finally:
        con.close()


# -- what the properties found, kept as cases of their own ---------------------------------------------------

BASE = json.loads((Path(__file__).parents[1] / "payloads" / "_base.json").read_text())


def version(order_id: str, updated: str, **changes) -> dict:
    """The corpus's valid confirmed order (tests/payloads/_base.json) under its own id, updated then."""
    order = json.loads(json.dumps(BASE))
    order.update(orderId=order_id, lastUpdatedTime=updated, **changes)
    return order


def test_an_amount_finer_than_a_cent_is_quarantined_not_rounded(empty_warehouse, tmp_path_factory):
    """Found: a unit price of 0.011 became 0.01 (the amounts are decimal(18, 2)), and a line's money with it."""
    unit_price = version("902-0000001-0000001", "2026-01-02T00:00:00Z")
    unit_price["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "22.505"
    grand_total = version("902-0000002-0000001", "2026-01-02T00:00:00Z")
    grand_total["proceeds"]["grandTotal"]["amount"] = "52.585"
    breakdown = version("902-0000003-0000001", "2026-01-02T00:00:00Z")
    breakdown["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"]["amount"] = "25.001"
    exact = version("902-0000004-0000001", "2026-01-02T00:00:00Z")
    exact["proceeds"]["grandTotal"]["amount"] = "52.590"  # a third decimal that is zero rounds nothing
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        land(con, [unit_price, grand_total, breakdown, exact])
        transform(con)
        assert con.execute("select amazon_order_id, reason from quarantine order by 1").fetchall() == [
            ("902-0000001-0000001", "item 1: unit price 22.505 is finer than a cent"),
            ("902-0000002-0000001", "grandTotal amount 52.585 is finer than a cent"),
            ("902-0000003-0000001", "item 1: a proceeds breakdown amount is finer than a cent"),
        ]
        assert con.execute("select channel_order_id, total_amount from orders").fetchall() == [
            ("902-0000004-0000001", Decimal("52.59"))
        ]
    finally:
        con.close()


@pytest.mark.parametrize("split", [0, 1])
def test_a_newer_version_with_a_negative_gift_wrap_charge_leaves_the_order_at_the_older_one(
    empty_warehouse, tmp_path_factory, split
):
    """Found: only the order_lines contract refused a negative gift-wrap charge, so landed with its older
    version the order was left out, landed after it the order stayed at it: incremental was not rebuild."""
    older = version("902-0000001-0000001", "2026-01-02T00:00:00Z")
    newer = version("902-0000001-0000001", "2026-01-03T00:00:00Z")
    newer["orderItems"][0]["proceeds"]["breakdowns"][2]["subtotal"]["amount"] = "-3.99"
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        land(con, [older, newer][:split])
        transform(con)
        land(con, [older, newer][split:])
        transform(con)
        shown = con.execute("select channel_order_id, amazon_updated_at from orders").fetchall()
        assert shown == [("902-0000001-0000001", datetime(2026, 1, 2))]
        assert con.execute("select reason from quarantine").fetchall() == [
            ("item 1: gift-wrap charge -3.99 is negative",)
        ]
        tables = core_tables(con)
        transform(con, rebuild=True)
        assert core_tables(con) == tables
    finally:
        con.close()


def test_a_grand_total_whose_items_have_no_price_is_all_unreconciled(empty_warehouse, tmp_path_factory):
    """Found: a grand total beside items without price or proceeds left unreconciled_amount empty, so the
    totals_reconcile check never listed the order."""
    order = version("902-0000001-0000001", "2026-01-02T00:00:00Z")
    del order["proceeds"]["breakdowns"]
    for item in order["orderItems"]:
        item["product"].pop("price", None)
        item.pop("proceeds", None)
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        land(con, [order])
        transform(con)
        assert con.execute("select items_amount, total_amount, unreconciled_amount from orders").fetchall() == [
            (None, Decimal("52.59"), Decimal("52.59"))
        ]
    finally:
        con.close()


def test_a_sku_a_newer_version_no_longer_names_leaves_no_placeholder_behind(empty_warehouse, tmp_path_factory):
    """Found: a newer version naming another SKU left the first SKU's Generic Product placeholder in products
    (and among the placeholders status counts as waiting), where a rebuild makes none."""
    older = version("902-0000001-0000001", "2026-01-02T00:00:00Z")
    older["orderItems"][0]["product"]["sellerSku"] = "LAMP-99"
    newer = version("902-0000001-0000001", "2026-01-03T00:00:00Z")
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        land(con, [older])
        transform(con)
        assert ("LAMP-99",) in con.execute("select product_code from products").fetchall()
        land(con, [newer])
        transform(con)
        skus = {sku for (sku,) in con.execute("select product_code from products").fetchall()}
        assert "LAMP-99" not in skus and skus == {item["product"]["sellerSku"] for item in newer["orderItems"]}
        incremental = as_analysts_read_them(con)
        transform(con, rebuild=True)
        assert as_analysts_read_them(con) == incremental
    finally:
        con.close()


# -- FBA inventory summaries ------------------------------------------------------------------------------


def readable(summary) -> bool:
    """A summary this side can count: a sellerSku, its inventoryDetails, and every quantity it reads either
    absent or a whole number (up to eight digits)."""
    if (
        not isinstance(summary, dict)
        or not isinstance(summary.get("sellerSku"), str)
        or not summary["sellerSku"].strip()
        or not isinstance(summary.get("inventoryDetails"), dict)
    ):
        return False
    details = summary["inventoryDetails"]
    reserved = details.get("reservedQuantity") if isinstance(details.get("reservedQuantity"), dict) else {}
    unfulfillable = (
        details.get("unfulfillableQuantity") if isinstance(details.get("unfulfillableQuantity"), dict) else {}
    )
    read = [
        details.get(name)
        for name in (
            "fulfillableQuantity",
            "inboundWorkingQuantity",
            "inboundShippedQuantity",
            "inboundReceivingQuantity",
        )
    ]
    read += [
        reserved.get("totalReservedQuantity"),
        reserved.get("pendingCustomerOrderQuantity"),
        unfulfillable.get("totalUnfulfillableQuantity"),
    ]
    return all(value is None or (whole(value) is not None and whole(value) < 10**8) for value in read)


def amazons_units(answers: dict[str, list]) -> dict[str, int | None]:
    """Per SKU: fulfillable plus held for customer orders, each pool once (its largest answer), summed over the
    pools; None for a SKU one of whose summaries could not be read (it is left alone)."""
    pools: dict[tuple[str, str], int] = {}
    unsure = set()
    for marketplace_id, listed in answers.items():
        pool = "EU" if marketplace_id in PAN_EUROPEAN else marketplace_id
        for summary in listed:
            if not readable(summary):
                if isinstance(summary, dict) and isinstance(summary.get("sellerSku"), str):
                    unsure.add(summary["sellerSku"])
                continue
            details = summary["inventoryDetails"]
            units = whole(details.get("fulfillableQuantity", 0)) + whole(
                (details.get("reservedQuantity") or {}).get("pendingCustomerOrderQuantity", 0)
            )
            key = (pool, summary["sellerSku"])
            pools[key] = max(pools.get(key, 0), units)
    totals: dict[str, int | None] = {}
    for (_, sku), units in pools.items():
        totals[sku] = totals.get(sku, 0) + units
    return {sku: None if sku in unsure else units for sku, units in totals.items()}


def fba_on_hand(con) -> dict[str, int]:
    return dict(
        con.execute(
            "select product_code, on_hand + reserved_quantity from inventory where location = 'amazon_fba'"
        ).fetchall()
    )


marketplace_sets = st.sampled_from([(US,), (DE, FR), (DE, FR, UK)])


@settings(FIXED, max_examples=25)
@given(marketplaces=marketplace_sets, data=st.data())
def test_every_summary_the_model_allows_is_counted_or_set_aside_and_a_pool_counts_once(
    empty_warehouse, tmp_path_factory, marketplaces, data
):
    con = fresh(empty_warehouse, tmp_path_factory)
    try:
        con.execute("update channels set marketplace_ids = ?", [list(marketplaces)])
        channel = get_channel(con, "Amazon US")
        before: dict[str, int] = {}
        for count_number in range(2):
            answers = {
                m: data.draw(st.lists(summaries, max_size=6), label=f"count {count_number}, {m}") for m in marketplaces
            }
            # a pooled stock is the same answer for each of its marketplaces, as Amazon gives it
            if DE in answers and data.draw(st.booleans(), label="DE and FR answer alike"):
                answers[FR] = answers[DE]
            for listed in answers.values():
                for summary in listed:
                    assert problems(summary, SUMMARY) == []
            snapshot = record_fba_snapshot(con, channel, answers, NOW)
            listed = sum(len(v) for v in answers.values())
            set_aside = con.execute(
                "select count(*) from fba_inventory_quarantine where snapshot_id = ? and trim(reason) <> ''",
                [snapshot.snapshot_id],
            ).fetchone()[0]
            read = con.execute(
                "select count(*) from fba_inventory where snapshot_id = ?", [snapshot.snapshot_id]
            ).fetchone()[0]
            assert (snapshot.summaries, read, read + set_aside) == (
                listed,
                sum(readable(s) for v in answers.values() for s in v),
                listed,
            )
            # a SKU Amazon counted is at its count, each pool once; one it did not (or only in part) as it was
            counted, now = amazons_units(answers), fba_on_hand(con)
            for sku in set(now) | set(before) | set(counted):
                units = counted.get(sku)
                assert now.get(sku, 0) == (before.get(sku, 0) if units is None else units), sku
            # the same answer again books nothing
            assert record_fba_snapshot(con, channel, answers, NOW).adjustments == 0
            before = now
    finally:
        con.close()


# -- the full path at low volume: the real client over HTTP, the CLI, Dagster ------------------------------------

http_cases = count()


@settings(FIXED, max_examples=3)
@given(
    versions=st.lists(
        st.one_of(from_schema(for_generation(REALISTIC_ORDER)), from_schema(ORDER)), min_size=1, max_size=4
    )
)
def test_orders_the_model_allows_come_through_the_real_client_and_the_cli(shop, versions):
    if not Path(shop.db).exists():
        shop.add_channel()
    case = next(http_cases)
    served = []
    for index, version in enumerate(versions):
        # an id of its own, and updated now: inside the next sync's window
        order = {
            **version,
            "orderId": f"{900 + case}-{index:07d}-{version['orderId'][:8]}",
            "lastUpdatedTime": shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        assert problems(order, ORDER) == []
        shop.marketplace.put_raw(order)
        served.append(order)
    shop.sync()
    start = shop.one("select start_at from channels")
    for order in served:
        landed = shop.query("select ingest_id from raw_amazon_orders where amazon_order_id = ?", [order["orderId"]])
        if not landed:
            assert before_start(order, start), f"{order['orderId']!r} was not kept raw"
            continue
        [(ingest_id,)] = landed
        outcome = shop.query(
            """
            select 'imported' from orders where source_ingest_id = $id
            union all select 'quarantined: ' || reason from quarantine where ingest_id = $id
            union all select 'another channel''s' from other_channel_orders where ingest_id = $id""",
            {"id": ingest_id},
        )
        assert len(outcome) == 1, (order["orderId"], outcome)
    before = warehouse_tables(shop.db)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == before


@settings(FIXED, max_examples=3)
@given(answer=st.lists(summaries, min_size=1, max_size=5))
def test_summaries_the_model_allows_come_through_the_real_client_and_the_cli(shop, answer):
    if not Path(shop.db).exists():
        shop.add_channel()
    before = {
        sku: units
        for sku, units in shop.query(
            "select product_code, on_hand + reserved_quantity from inventory where location = 'amazon_fba'"
        )
    }
    shop.marketplace.put_raw_fba_inventory(US, answer)
    shop.marketplace.advance(minutes=63)  # an hour since the last count: the sync counts again
    code, _, err = shop.run("sync")
    read = sum(readable(summary) for summary in answer)
    if read:
        assert code == 0, err
    else:  # nothing of Amazon's count could be read: never quiet
        assert code == 1 and "FBA inventory summaries could be read" in err.splitlines()[-1]
    snapshot = shop.one("select max(snapshot_id) from fba_snapshots")
    assert shop.one("select count(*) from fba_inventory where snapshot_id = ?", [snapshot]) == read
    assert (
        shop.one("select count(*) from fba_inventory_quarantine where snapshot_id = ?", [snapshot])
        == len(answer) - read
    )
    counted = amazons_units({US: answer})
    now = {
        sku: units
        for sku, units in shop.query(
            "select product_code, on_hand + reserved_quantity from inventory where location = 'amazon_fba'"
        )
    }
    for sku in set(now) | set(before) | set(counted):
        units = counted.get(sku)
        assert now.get(sku, 0) == (before.get(sku, 0) if units is None else units), sku
