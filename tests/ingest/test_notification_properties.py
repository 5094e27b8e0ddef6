"""ORDER_CHANGE bodies generated from Amazon's own schema (OrderChangeNotification.json) with
hypothesis-jsonschema: any body the schema allows (the minimal ones, with only required fields, among
them), a narrower one that reaches the warehouse, and hostile variants. Whatever a body holds, it is
applied or kept with its reason, never raises, and units are never lost or doubled; incremental still
equals rebuild. Fixed seed and budget: the pure functions at high volume, the warehouse and the full path
(SQS, `listen`) at low volume."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import channel_add, warehouse_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from pipelines.cli import commands as cli
from pipelines.ingest.notifications import ORDER_STATUS, Notification, apply_messages, order_version, read_notification
from pipelines.warehouse.connection import open_for_writing

pytestmark = pytest.mark.slow

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[2] / "pipelines" / "sandbox" / "models" / "OrderChangeNotification.json"
    ).read_text()
)
SELLER, SUBSCRIPTION = "A3TH9S8BH6GOGM", "8c7d6b1e-0f35-4d52-9a6e-2b1c3d4e5f60"
RECEIVED_AT = datetime(2026, 11, 1, 12, 0, 0)


def settled(examples: int):
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def _node(schema: dict, *path: str) -> dict:
    for key in path:
        schema = schema["properties"][key]
    return schema


def minimal(schema: dict) -> dict:
    """The schema with only its required fields allowed, everywhere."""
    schema = copy.deepcopy(schema)

    def strip(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["properties"] = {k: v for k, v in node["properties"].items() if k in node.get("required", [])}
                node["additionalProperties"] = False
            for key in ("properties", "items"):
                child = node.get(key)
                for value in child.values() if isinstance(child, dict) and key == "properties" else [child]:
                    strip(value)

    strip(schema)
    return schema


TIMES = [
    "2026-11-01T11:00:00Z",
    "2026-11-01T11:59:59.500Z",
    "2026-11-01T12:00:00+00:00",
    "2026-11-02T08:00:00Z",
    "2026-11-01T06:00:00-05:00",
    "2019-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "2026-11-01",
]


def narrow(schema: dict) -> dict:
    """Bodies the schema allows that this channel trusts and may apply: its seller, subscription and
    marketplace, Amazon's order ids, a few SKUs and times (the edges among them)."""
    schema = copy.deepcopy(schema)
    schema["properties"]["NotificationType"] = {"const": "ORDER_CHANGE"}
    schema["properties"]["PayloadVersion"] = {"const": "1.0"}
    schema["properties"]["EventTime"] = {"enum": TIMES}
    metadata = _node(schema, "NotificationMetadata")["properties"]
    metadata["SubscriptionId"] = {"const": SUBSCRIPTION}
    metadata["NotificationId"] = {"type": "string", "pattern": "^[0-9a-f]{12}$"}
    change = _node(schema, "Payload", "OrderChangeNotification")["properties"]
    change["SellerId"] = {"const": SELLER}
    change["AmazonOrderId"] = {"enum": ["111-0000000-0000001", "111-0000000-0000002", "111-0000000-0000003"]}
    change["OrderChangeTrigger"]["properties"]["TimeOfOrderChange"] = {"enum": [*TIMES, None]}
    summary = change["Summary"]["properties"]
    summary["MarketplaceId"] = {"const": "ATVPDKIKX0DER"}
    summary["PurchaseDate"] = {"enum": ["2026-11-01T10:00:00Z", "2026-11-01T05:00:00.250-05:00"]}
    summary["FulfillmentType"] = {"const": "MFN"}  # an AFN order the poll has not listed is left to it
    summary["OrderItems"].update(minItems=1, maxItems=2)
    item = summary["OrderItems"]["items"]["properties"]
    item["OrderItemId"] = {"enum": ["i1", "i2", "i3"]}
    item["SellerSKU"] = {"enum": ["MUG-01", "TEA-02", "NEW-01"]}
    item["Quantity"] = {"type": "integer", "minimum": 1, "maximum": 4}  # hostile() brings the others
    item["QuantityShipped"] = {"type": "integer", "minimum": 0, "maximum": 1}
    return schema


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
HOSTILE_LEAVES = JSON | st.sampled_from(
    ["\u0663", "３", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "NaN", 10**30, -1, 1.5, [], {}, "\ud800"]
)


@st.composite
def hostile(draw, bodies) -> dict:
    """A body with one of its values (anywhere) replaced by JSON of another shape."""
    body = copy.deepcopy(draw(bodies))
    node, paths = body, []

    def walk(value, path):
        paths.append(path)
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, key))
        elif isinstance(value, list):
            for n, child in enumerate(value):
                walk(child, (*path, n))

    walk(body, ())
    path = draw(st.sampled_from(paths[1:]))
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = draw(HOSTILE_LEAVES)
    return body


ANY_BODY = st.one_of(from_schema(SCHEMA), from_schema(minimal(SCHEMA)))
NARROW_BODY = from_schema(narrow(SCHEMA))
BASE = {
    "orderId": "111-0000000-0000001",
    "createdTime": "2026-11-01T10:00:00Z",
    "lastUpdatedTime": "2026-11-01T10:30:00Z",
    "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER"},
    "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"},
    "buyer": {"buyerEmail": "ada@marketplace.amazon.com"},
    "orderItems": [
        {"orderItemId": "i1", "quantityOrdered": 2, "product": {"sellerSku": "MUG-01"}},
        {"orderItemId": "b9", "quantityOrdered": 1, "product": {"sellerSku": "PEN-03"}},
    ],
}


def read_or_reason(body) -> Notification | str:
    """read_notification's verdict: the notification, or the one-line reason it is refused."""
    text = body if isinstance(body, str) else json.dumps(body)
    try:
        return read_notification(text, RECEIVED_AT)
    except ValueError as reason:
        assert str(reason) and "\n" not in str(reason) and len(str(reason)) < 300
        return str(reason)


def units_kept(note: Notification, base: dict | None) -> None:
    """The version lays the summary over the base: each listed item has exactly its Quantity, every item
    of the base not listed stays as it was, and no item appears twice."""
    version = order_version(note, base)
    items = {item["orderItemId"]: item for item in version["orderItems"]}
    assert len(items) == len(version["orderItems"])
    listed = {item["OrderItemId"]: item for item in note.summary["OrderItems"]}
    assert {k: items[k]["quantityOrdered"] for k in listed} == {k: v["Quantity"] for k, v in listed.items()}
    for item in (base or {}).get("orderItems", []):
        if item["orderItemId"] not in listed:
            assert items[item["orderItemId"]] == item
    assert version["fulfillment"]["fulfillmentStatus"] == ORDER_STATUS[note.summary["OrderStatus"]]
    assert version["lastUpdatedTime"] <= RECEIVED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")  # never ahead of its arrival
    json.dumps(version)


@settled(80)
@given(st.one_of(ANY_BODY, hostile(ANY_BODY), hostile(NARROW_BODY), NARROW_BODY, JSON))
def test_any_body_is_read_or_refused_with_a_reason_and_never_loses_or_doubles_units(body):
    verdict = read_or_reason(body)
    if isinstance(verdict, Notification):
        if verdict.purchase_date is not None:  # without one, an order not seen yet is left to the poll
            units_kept(verdict, None)
        if verdict.amazon_order_id == BASE["orderId"]:
            units_kept(verdict, BASE)


# -- through the warehouse -------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path):
    db = str(tmp_path / "warehouse.duckdb")
    assert cli.main(["--db", db, *channel_add(None, "Amazon US", "2026-01-01T00:00:00Z"), "--seller-id", SELLER]) == 0
    with open_for_writing(db) as con:
        con.execute(
            "insert into channel_notifications values ('Amazon US', 'http://127.0.0.1:1/1/q', "
            "'arn:aws:sqs:us-east-1:1:q', 'destination', ?, ?)",
            [SUBSCRIPTION, RECEIVED_AT],
        )
    return db


def check_ledger(con) -> None:
    """Stock is what the order lines say: every unit reserved once, and given back when cancelled."""
    assert (
        con.execute("""
        with booked as (
            select product_code, sum(quantity_delta) as units from inventory_movements
            where reason <> 'adjustment' group by all
        ),
        lines as (
            select product_code, -sum(quantity - canceled_quantity) as units from order_lines
            where line_type = 'product' group by all
        )
        select * from booked full join lines using (product_code)
        where coalesce(booked.units, 0) <> coalesce(lines.units, 0)
    """).fetchall()
        == []
    )


def test_batches_of_generated_bodies_apply_or_are_kept_with_a_reason_and_rebuild_agrees(warehouse):
    seen = []

    @settled(20)
    @given(
        st.lists(
            st.one_of(NARROW_BODY, NARROW_BODY, NARROW_BODY, hostile(NARROW_BODY), ANY_BODY), min_size=1, max_size=4
        )
    )
    def batch(bodies):
        messages = [{"MessageId": f"m{len(seen)}-{n}", "Body": json.dumps(body)} for n, body in enumerate(bodies)]
        seen.extend(messages)
        with open_for_writing(warehouse) as con:
            from pipelines.warehouse.channels import get_channel

            counts = apply_messages(con, get_channel(con, "Amazon US"), messages, RECEIVED_AT)
            assert (
                counts.received
                == len(messages)
                == (counts.applied + counts.duplicates + counts.stale + counts.ignored + counts.rejected)
            )
            kept = con.execute("select outcome, reason, body, ingest_id from raw_notifications").fetchall()
            assert all(reason for outcome, reason, _, _ in kept if outcome != "applied")
            for outcome, _, body, ingest_id in kept:
                if outcome == "applied":  # the landed version has the listed units, exactly
                    payload = json.loads(
                        con.execute(
                            "select payload from raw_amazon_orders where ingest_id = ?", [ingest_id]
                        ).fetchone()[0]
                    )
                    listed = json.loads(body)["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"]
                    quantities = {i["orderItemId"]: i["quantityOrdered"] for i in payload["orderItems"]}
                    assert all(quantities[i["OrderItemId"]] == i["Quantity"] for i in listed)
            check_ledger(con)

    batch()
    with open_for_writing(warehouse) as con:
        assert con.execute("select count(*) from raw_notifications").fetchone()[0] <= len(seen)
        applied = con.execute("select count(*) from raw_notifications where outcome = 'applied'").fetchone()[0]
    assert applied >= 3  # the narrow bodies reach the warehouse (most of them are stale beside an earlier one)
    incremental = warehouse_tables(warehouse)
    assert cli.main(["--db", warehouse, "rebuild"]) == 0
    assert warehouse_tables(warehouse) == incremental


def test_generated_bodies_through_sqs_and_listen_never_stop_the_queue(warehouse, sqs, capsys):
    bodies = []

    @settled(12)
    @given(st.one_of(NARROW_BODY, hostile(NARROW_BODY), hostile(ANY_BODY)))
    def collect(body):
        bodies.append(json.dumps(body))

    collect()
    with open_for_writing(warehouse) as con:
        con.execute("update channel_notifications set queue_url = ?, queue_arn = ?", [sqs["url"], sqs["arn"]])
    for body in bodies:
        sqs["client"].send_message(QueueUrl=sqs["url"], MessageBody=body)
    capsys.readouterr()
    assert cli.main(["--db", warehouse, "listen", "--once"]) == 0
    out = capsys.readouterr().out
    received = [int(line.split(": ")[1].split(" ")[0]) for line in out.splitlines() if "notification(s)" in line]
    assert sum(received) == len(bodies)  # every one judged, none left to come back
    attributes = sqs["client"].get_queue_attributes(QueueUrl=sqs["url"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    incremental = warehouse_tables(warehouse)
    assert cli.main(["--db", warehouse, "rebuild"]) == 0
    assert warehouse_tables(warehouse) == incremental
