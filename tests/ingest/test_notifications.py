"""ORDER_CHANGE notifications through SQS (moto's server, boto3 over HTTP), subscribed through the real
python-amazon-sp-api client: stock reserved before any poll, the poll converging on the same ledger, and
duplicates, redeliveries, stale, out-of-order and poison messages changing nothing."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from conftest import channel_add, core_tables, warehouse_tables

from pipelines.cli import commands as cli
from pipelines.ingest.notifications import apply_messages
from pipelines.sandbox import Buyer, Item
from pipelines.sandbox.notifications import order_change_notification
from pipelines.sandbox.server import ORDERS_PATH
from pipelines.warehouse.connection import connect, open_for_writing

ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
MODELS = Path(__file__).resolve().parents[2] / "pipelines" / "sandbox" / "models"
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "notifications"


ORDER_CHANGE_SCHEMA = json.loads((MODELS / "OrderChangeNotification.json").read_text())


@pytest.fixture
def subscribed(shop, sqs):
    shop.add_channel()
    shop.subscribe(sqs)
    shop.sqs = sqs
    yield shop
    # every ORDER_CHANGE message the sandbox sent in the test is one Amazon's schema allows
    validator = jsonschema.Draft7Validator(ORDER_CHANGE_SCHEMA)
    for message in shop.sandbox.notifications.sent:
        validator.validate(message)


def send(shop, *bodies) -> None:
    """Messages put on the queue by hand (as Amazon, or anyone who can write to it, would)."""
    for body in bodies:
        shop.sqs["client"].send_message(
            QueueUrl=shop.sqs["url"], MessageBody=body if isinstance(body, str) else json.dumps(body)
        )


def clear_queue(shop) -> None:
    """Take every message off the queue (SQS allows a PurgeQueue a minute only)."""
    client, url = shop.sqs["client"], shop.sqs["url"]
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        client.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        )


def message_about(shop, order_id: str, *, notification_id: str | None = None, **summary) -> dict:
    """The message the sandbox would send about an order now, with its summary changed as given."""
    service = shop.sandbox.notifications
    message = order_change_notification(
        shop.marketplace.order(order_id),
        service.subscriptions["ORDER_CHANGE"]["subscriptionId"],
        "OrderStatusChange",
        service.seller_id,
    )
    message["Payload"]["OrderChangeNotification"]["Summary"].update(summary)
    message["NotificationMetadata"]["NotificationId"] = notification_id or str(uuid.uuid4())
    return message


def polled_only_twin(shop, tmp_path) -> str:
    """The same channel in a second warehouse that only polls."""
    db = str(tmp_path / "polled.duckdb")
    assert (
        cli.main(["--db", db, *channel_add(shop.sandbox, "Amazon US", shop.one("select start_at from channels"))]) == 0
    )
    return db


def outcomes(shop) -> dict:
    return dict(shop.query("select outcome, count(*) from raw_notifications group by all"))


def listen(shop) -> str:
    shop.sandbox.notifications.flush()  # what the marketplace did has reached the queue
    return shop.ok("listen", "--once")


def stock(shop, sku="MUG-01") -> tuple:
    return shop.one("select coalesce(sum(quantity_delta), 0) from inventory_movements where product_code = ?", [sku])


def polls(shop) -> int:
    return sum(r["path"] == ORDERS_PATH for r in shop.sandbox.requests)


def waiting(shop) -> int:
    attributes = shop.sqs["client"].get_queue_attributes(
        QueueUrl=shop.sqs["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    return sum(int(v) for v in attributes["Attributes"].values())


def test_the_subscription_is_made_through_the_real_client_and_deleted_with_off(shop, sqs):
    shop.add_channel()
    out = shop.subscribe(sqs)
    assert "ORDER_CHANGE notifications go to" in out
    served = [(r["method"], r["path"], r["params"]) for r in shop.sandbox.requests]
    assert ("POST", "/auth/o2/token", {"grant_type": "client_credentials"}) in served  # the grantless token
    [destination_request] = [p for m, path, p in served if path == "/notifications/v1/destinations"]
    assert destination_request["resourceSpecification"] == {"sqs": {"arn": sqs["arn"]}}
    created = [p for m, path, p in served if path == "/notifications/v1/subscriptions/ORDER_CHANGE"]
    assert created[0]["payloadVersion"] == "1.0"
    destination, subscription = shop.one("select destination_id, subscription_id from channel_notifications")
    assert shop.sandbox.notifications.subscriptions["ORDER_CHANGE"] == {
        "subscriptionId": subscription,
        "payloadVersion": "1.0",
        "destinationId": destination,
    }

    out = shop.ok("channel", "notifications", "Amazon US", "--off")
    assert f"subscription {subscription} deleted" in out
    assert shop.sandbox.requests[-1]["method"] == "DELETE" and shop.sandbox.requests[-1]["status"] == 200
    assert shop.sandbox.notifications.subscriptions == {}
    assert shop.query("select * from channel_notifications") == []
    shop.place(Item("MUG-01", 1, "12.50"))
    shop.sandbox.notifications.flush()
    assert shop.sandbox.notifications.sent == []


def test_the_sandbox_keeps_the_notifications_models_rules(shop, sqs):
    from pipelines.amazon import client as amazon
    from pipelines.warehouse.channels import get_channel

    shop.add_channel()
    with connect(shop.db, read_only=True) as con:
        client = amazon.notifications_client(get_channel(con, "Amazon US"))

    def code(call):
        try:
            call()
            return 200
        except Exception as error:
            return getattr(error, "code", None)

    assert code(lambda: client.create_destination(name="q", arn="not-an-arn")) == 400  # the arn's pattern
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id="nowhere")) == 400
    destination = client.create_destination(name="q", arn=sqs["arn"]).payload["destinationId"]
    assert (
        code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination, payload_version="2.0"))
        == 400
    )
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination)) == 200
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination)) == 409
    # createSubscription takes the seller's token; createDestination is grantless and takes no other
    headers = {"x-amz-access-token": client.auth.access_token, "content-type": "application/json"}
    import httpx

    answer = httpx.post(
        shop.sandbox.url + "/notifications/v1/destinations",
        headers=headers,
        json={"name": "q", "resourceSpecification": {"sqs": {"arn": sqs["arn"]}}},
    )
    assert answer.status_code == 403


def test_a_notification_reserves_stock_before_any_poll_and_the_poll_converges(subscribed, tmp_path):
    shop = subscribed
    polled_only = polled_only_twin(shop, tmp_path)  # the same channel, synced without notifications
    order_id = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    before = polls(shop)
    out = listen(shop)
    assert "1 applied" in out
    assert polls(shop) == before  # no searchOrders request
    assert shop.one("select status, account_id from orders where channel_order_id = ?", [order_id]) == (
        "Pending",
        "ACC-PENDING",
    )
    assert stock(shop) == -2 and shop.one("select reserved_quantity from inventory") == 2

    shop.marketplace.confirm(order_id)
    listen(shop)
    assert shop.one("select status, total_amount from orders") == ("Unshipped", None)  # money comes with the poll
    shop.sync()
    assert shop.one("select status, total_amount is not null from orders") == ("Unshipped", True)
    assert shop.one("select a.account_name from orders join accounts a using (account_id)") == "Ada Lovelace"
    assert stock(shop) == -2  # booked once
    shop.marketplace.ship(order_id)
    listen(shop)
    assert shop.one("select status from orders") == "Shipped"
    shop.sync()
    assert cli.main(["--db", polled_only, "sync"]) == 0
    # the same tables as a warehouse that only polled: the notifications only came first
    assert warehouse_tables(shop.db) == warehouse_tables(polled_only)
    assert shop.one("select count(*) from raw_notifications where outcome = 'applied'") == 3


def test_duplicates_out_of_order_and_stale_notifications_change_nothing(subscribed):
    shop = subscribed
    shop.sandbox.notifications.duplicate_rate = 1.0  # every message twice
    shop.sandbox.notifications.reorder_rate = 1.0  # and each held back behind the next
    order_id = shop.place(Item("MUG-01", 3, "12.50"), buyer=ADA)
    shop.marketplace.advance(seconds=5)
    shop.marketplace.confirm(order_id)
    shop.marketplace.advance(seconds=5)
    shop.marketplace.ship(order_id)
    listen(shop)
    outcomes = dict(shop.query("select outcome, count(*) from raw_notifications group by all"))
    assert shop.one("select status from orders") == "Shipped"
    assert outcomes.get("stale", 0) >= 1  # the earlier changes arrived after the shipment
    assert stock(shop) == -3
    sent = shop.sandbox.notifications.sent
    assert len(sent) > 3 and len({m["NotificationMetadata"]["NotificationId"] for m in sent}) == 3
    tables = warehouse_tables(shop.db)
    # an old notification sent again, long after: stale
    shop.sqs["client"].send_message(
        QueueUrl=shop.sqs["url"],
        MessageBody=json.dumps(
            {**sent[0], "NotificationMetadata": {**sent[0]["NotificationMetadata"], "NotificationId": "late-one"}}
        ),
    )
    assert "1 stale" in shop.ok("listen", "--once")
    assert warehouse_tables(shop.db) == tables


def test_a_redelivery_after_a_kill_between_commit_and_delete_changes_nothing(subscribed):
    """What a SIGKILL after the commit and before DeleteMessageBatch leaves: messages applied, still in the
    queue. Their next delivery finds their NotificationIds."""
    shop = subscribed
    shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    client, url = shop.sqs["client"], shop.sqs["url"]
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0)[
        "Messages"
    ]  # back in the queue at once
    from pipelines.warehouse.channels import get_channel

    with open_for_writing(shop.db) as con:
        apply_messages(con, get_channel(con, "Amazon US"), messages, shop.marketplace.naive_now())
        tables = core_tables(con)
    out = shop.ok("listen", "--once")
    assert "1 duplicate(s)" in out and "0 applied" in out
    assert warehouse_tables(shop.db) == tables
    assert waiting(shop) == 0


def test_a_poison_message_is_set_aside_and_never_blocks_the_queue(subscribed):
    shop = subscribed
    client, url = shop.sqs["client"], shop.sqs["url"]
    client.send_message(QueueUrl=url, MessageBody="<xml>not json</xml>")
    client.send_message(QueueUrl=url, MessageBody=json.dumps({"NotificationType": "ANY_OFFER_CHANGED"}))
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    out = listen(shop)
    assert "set aside message" in out and "not JSON" in out and "is not ORDER_CHANGE" in out
    assert dict(shop.query("select outcome, count(*) from raw_notifications group by all")) == {
        "rejected": 2,
        "applied": 1,
    }
    assert shop.one("select body from raw_notifications where reason = 'not JSON'") == "<xml>not json</xml>"
    assert waiting(shop) == 0 and stock(shop) == -1
    assert "set_aside" in shop.ok("status")


def test_an_order_from_before_the_start_or_another_marketplace_changes_nothing(subscribed):
    shop = subscribed
    client, url = shop.sqs["client"], shop.sqs["url"]
    order_id = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    [message] = shop.sandbox.notifications.sent
    change = message["Payload"]["OrderChangeNotification"]
    for n, summary in enumerate(
        [
            {**change["Summary"], "PurchaseDate": "2020-01-01T00:00:00Z"},
            {**change["Summary"], "MarketplaceId": "A1F83G8C2ARO7P"},
        ]
    ):
        other = {
            **message,
            "Payload": {
                "OrderChangeNotification": {**change, "AmazonOrderId": f"111-0000000-000000{n}", "Summary": summary}
            },
            "NotificationMetadata": {**message["NotificationMetadata"], "NotificationId": f"other-{n}"},
        }
        client.send_message(QueueUrl=url, MessageBody=json.dumps(other))
    out = listen(shop)
    assert "2 ignored" in out
    assert shop.query("select channel_order_id from orders") == [(order_id,)]


def test_an_unreachable_queue_leaves_polling_intact(subscribed, monkeypatch):
    shop = subscribed
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # nothing listens there
    order_id = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    code, out, err = shop.run("listen", "--once")
    assert code == 1 and err.count("\n") == 1 and "the notification queue cannot be read" in err
    shop.sync()
    assert shop.one("select channel_order_id from orders") == order_id


def test_incremental_equals_a_rebuild_with_notifications_in_the_raw_layer(subscribed):
    shop = subscribed
    shop.sandbox.notifications.duplicate_rate = 0.3
    shop.sandbox.notifications.reorder_rate = 0.3
    shop.marketplace.simulate(
        hours=6, orders_per_hour=20, skus=["MUG-01", "TEA-02", "PEN-03"], marketplaces=("ATVPDKIKX0DER",)
    )
    listen(shop)
    shop.sync()
    shop.marketplace.simulate(hours=3, orders_per_hour=20, skus=["MUG-01", "TEA-02"], marketplaces=("ATVPDKIKX0DER",))
    listen(shop)
    assert shop.one("select count(*) from raw_notifications where outcome = 'applied'") > 50
    incremental = warehouse_tables(shop.db)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == incremental


def test_the_sensor_starts_a_run_where_messages_wait(subscribed):
    from dagster import SkipReason, build_sensor_context

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.resources import WarehouseResource

    shop = subscribed
    sensor = defs.resolve_sensor_def("notifications_sensor")
    assert sensor.minimum_interval_seconds == 30

    def tick():
        with build_sensor_context(
            instance=get_instance(shop.db), resources={"warehouse": WarehouseResource(path=shop.db)}, definitions=defs
        ) as context:
            return sensor(context)

    assert isinstance(tick(), SkipReason)
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    [request] = tick()
    assert request.partition_key == "Amazon US"
    result = defs.resolve_job_def("notifications_job").execute_in_process(
        instance=get_instance(shop.db),
        partition_key="Amazon US",
        run_config={"ops": {"order_notifications": {"config": {"idle_seconds": 0}}}},
        resources={"warehouse": WarehouseResource(path=shop.db)},
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("order_notifications")
    assert materialization.metadata["applied"].value == 1
    assert stock(shop) == -1


def test_status_says_when_notifications_arrive_and_when_the_listener_falls_behind(subscribed):
    from datetime import timedelta

    from pipelines.warehouse.channels import get_channel

    shop = subscribed
    assert "waiting for the first" in shop.ok("status")
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    listen(shop)
    assert "keeping up" in shop.ok("status")
    shop.marketplace.advance(seconds=5)
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    messages = shop.sqs["client"].receive_message(QueueUrl=shop.sqs["url"], WaitTimeSeconds=1)["Messages"]
    with open_for_writing(shop.db) as con:  # read ten minutes after Amazon's change
        apply_messages(
            con, get_channel(con, "Amazon US"), messages, shop.marketplace.naive_now() + timedelta(minutes=10)
        )
    line = next(line for line in shop.ok("status").splitlines() if line.startswith("Amazon US") and "arn:" in line)
    assert "FALLING BEHIND" in line and "600" in line


def test_another_sales_channels_order_never_becomes_a_sales_order_by_notification(subscribed):
    shop = subscribed
    other = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA, fulfilled_by="AMAZON", sales_channel="NON_AMAZON")
    shop.marketplace.confirm(other)
    shop.sandbox.notifications.flush()
    assert shop.sandbox.notifications.sent == []  # Amazon's ORDER_CHANGE is for its marketplace's orders
    shop.sync()
    assert shop.one("select count(*) from other_channel_orders") == 1
    # one sent all the same, for the order the poll knows as another channel's: ignored
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)  # a message to copy
    shop.sandbox.notifications.flush()
    [message] = shop.sandbox.notifications.sent
    change = message["Payload"]["OrderChangeNotification"]
    shop.sqs["client"].purge_queue(QueueUrl=shop.sqs["url"])
    shop.sqs["client"].send_message(
        QueueUrl=shop.sqs["url"],
        MessageBody=json.dumps(
            {
                **message,
                "Payload": {"OrderChangeNotification": {**change, "AmazonOrderId": other}},
                "NotificationMetadata": {**message["NotificationMetadata"], "NotificationId": "about-the-other"},
            }
        ),
    )
    shop.marketplace.advance(minutes=1)
    assert "1 ignored" in shop.ok("listen", "--once")
    assert shop.query("select channel_order_id from orders") == []


# -- issue #23: one malformed notification stops the queue ------------------------------------------


def poisoned(good: dict) -> dict[str, str]:
    """Valid JSON of the wrong shape, each beside the reason it is set aside with."""
    change = good["Payload"]["OrderChangeNotification"]

    def variant(**top) -> str:
        return json.dumps(
            {
                **good,
                **top,
                "NotificationMetadata": {**good["NotificationMetadata"], "NotificationId": str(uuid.uuid4())},
            }
        )

    def summary(**fields) -> str:
        return variant(Payload={"OrderChangeNotification": {**change, "Summary": {**change["Summary"], **fields}}})

    return {
        variant(Payload=[1, 2]): "Payload is not an object",
        variant(Payload="an order"): "Payload is not an object",
        json.dumps({**good, "NotificationMetadata": ["d0e9e693"]}): "NotificationMetadata is not an object",
        json.dumps({**good, "NotificationMetadata": "d0e9e693"}): "NotificationMetadata is not an object",
        summary(PurchaseDate=20261101): "Summary.PurchaseDate is not a non-empty string: 20261101",
        variant(
            Payload={
                "OrderChangeNotification": {
                    **change,
                    "OrderChangeTrigger": {"TimeOfOrderChange": "0001-01-01T00:00:00+01:00", "ChangeReason": "x"},
                }
            }
        ): "TimeOfOrderChange '0001-01-01T00:00:00+01:00' is not an ISO 8601 time",
        summary(OrderStatus=["Shipped"]): "Summary.OrderStatus ['Shipped'] is not one of the schema's values",
        "[" * 100_000 + "]" * 100_000: "nested too deeply",
        summary(
            OrderItems=[{**change["Summary"]["OrderItems"][0], "Quantity": "\u0663"}]
        ): "Quantity '\u0663' is not a whole number",  # an Arabic-Indic three
        summary(
            OrderItems=[{**change["Summary"]["OrderItems"][0], "Quantity": 3.0}]
        ): "Quantity 3.0 is not a whole number",
        variant(EventTime=float("nan")): "not JSON",  # NaN is Python's, not JSON
    }


def test_a_poisoned_batch_never_stops_the_queue_and_the_good_message_beside_it_is_applied(subscribed):
    shop = subscribed
    order_id = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    [good] = shop.sandbox.notifications.sent
    clear_queue(shop)
    bad = poisoned(good)
    send(shop, *list(bad)[:5], good, *list(bad)[5:])  # the good one in the middle of one batch
    code, out, err = shop.run("listen", "--once")
    assert code == 0 and err == "", err
    assert outcomes(shop) == {"applied": 1, "rejected": len(bad)}
    reasons = [reason for (reason,) in shop.query("select reason from raw_notifications where outcome = 'rejected'")]
    for expected in bad.values():
        assert any(expected in reason for reason in reasons), (expected, reasons)
    assert all("\n" not in reason and len(reason) < 300 for reason in reasons)
    assert shop.one("select status from orders where channel_order_id = ?", [order_id]) == "Pending"
    assert stock(shop) == -2 and waiting(shop) == 0  # nothing comes back after the visibility timeout
    # the failure is never quiet: status says how many, since when and why
    status = shop.ok("status")
    assert "Notifications set aside" in status and "nested too deeply" in status


def test_the_sensors_job_survives_poison_and_its_check_fails_with_the_reasons(subscribed):
    from dagster import AssetCheckKey

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.resources import WarehouseResource

    shop = subscribed
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    send(
        shop,
        json.dumps({"NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0", "Payload": "x"}),
        "[" * 100_000 + "]" * 100_000,
    )

    def run():
        return defs.resolve_job_def("notifications_job").execute_in_process(
            instance=get_instance(shop.db),
            partition_key="Amazon US",
            run_config={"ops": {"order_notifications": {"config": {"idle_seconds": 0}}}},
            resources={"warehouse": WarehouseResource(path=shop.db)},
            raise_on_error=False,
        )

    result = run()
    assert result.success
    [materialization] = result.asset_materializations_for_node("order_notifications")
    assert materialization.metadata["applied"].value == 1 and materialization.metadata["set_aside"].value == 2
    [check] = result.get_asset_check_evaluations()
    assert check.asset_check_key == AssetCheckKey(materialization.asset_key, "no_notification_set_aside")
    assert not check.passed and check.metadata["set_aside_recently"].value == 2
    assert {r["reason"] for r in check.metadata["reasons"].value} == {
        "NotificationMetadata is missing",
        "not JSON this program reads: nested too deeply",
    }
    assert stock(shop) == -1
    # a day of clean messages later the check passes again; the total stays
    shop.marketplace.advance(hours=25)
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    [check] = run().get_asset_check_evaluations()
    assert check.passed and check.metadata["set_aside_total"].value == 2


# -- issue #23: a notification creates orders Amazon never had -----------------------------------------


def test_a_forged_seller_or_subscription_is_set_aside_and_the_warehouse_stays_polled_only(subscribed, tmp_path):
    shop = subscribed
    twin = polled_only_twin(shop, tmp_path)
    order_id = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    clear_queue(shop)
    forged = message_about(shop, order_id)
    forged["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = "999-0000000-0000001"
    other_seller = json.loads(json.dumps(forged))
    other_seller["Payload"]["OrderChangeNotification"]["SellerId"] = "AFORGEDSELLER1"
    other_subscription = json.loads(json.dumps(forged))
    other_subscription["NotificationMetadata"]["SubscriptionId"] = str(uuid.uuid4())
    send(shop, other_seller, other_subscription)
    out = shop.ok("listen", "--once")
    assert "SellerId 'AFORGEDSELLER1' is not the channel's seller" in out
    assert "is not the channel's subscription" in out
    assert outcomes(shop) == {"rejected": 2} and shop.query("select * from orders") == []
    # a forged message does not take the NotificationId of the real one still to come
    assert shop.query("select notification_id from raw_notifications where notification_id not like 'sqs:%'") == []
    shop.sync()
    assert cli.main(["--db", twin, "sync"]) == 0
    assert warehouse_tables(shop.db) == warehouse_tables(twin)


def test_a_channel_without_a_seller_id_is_told_how_and_trusts_no_message_until_it_has_one(shop, sqs):
    shop.add_channel()
    shop.sqs = sqs
    args = ("channel", "notifications", "Amazon US", "--queue-arn", sqs["arn"], "--queue-url", sqs["url"])
    code, out, err = shop.run(*args)
    assert code == 1 and "has no seller id: give --seller-id" in err and err.count("\n") == 1
    assert shop.sandbox.notifications.subscriptions == {}  # refused before any request
    code, out, err = shop.run(*args, "--seller-id", "not a token")
    assert code == 1 and "is not a seller id" in err
    shop.ok(*args, "--seller-id", shop.sandbox.notifications.seller_id)
    # a warehouse subscribed before seller ids were kept
    with open_for_writing(shop.db) as con:
        con.execute("update channels set seller_id = null")
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    out = listen(shop)
    assert "no seller id to check SellerId against: amazon-orders channel notifications 'Amazon US' --seller-id" in out
    assert outcomes(shop) == {"rejected": 1} and shop.query("select * from orders") == []
    assert "channel 'Amazon US': notifications must carry SellerId A3TH9S8BH6GOGM" in shop.ok(
        "channel", "notifications", "Amazon US", "--seller-id", "A3TH9S8BH6GOGM"
    )
    shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    assert "1 applied" in listen(shop)


def catalog(tmp_path) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text("product_code,product_name,list_price,on_hand\nTEA-02,Green tea,8.00,10\n")
    return path


def test_an_order_amazon_never_listed_is_dropped_once_the_poll_has_passed_it(subscribed, tmp_path):
    shop = subscribed
    twin = polled_only_twin(shop, tmp_path)
    shop.ok("products", "import", str(catalog(tmp_path)))
    assert cli.main(["--db", twin, "products", "import", str(catalog(tmp_path))]) == 0
    real = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    unknown = message_about(shop, real)
    unknown["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = "999-0000000-0000002"
    unknown["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"][0].update(Quantity=4, SellerSKU="TEA-02")
    send(shop, unknown)
    assert "2 applied" in listen(shop)
    assert shop.one("select count(*) from orders") == 2
    assert shop.one("select on_hand, reserved_quantity from inventory where product_code = 'TEA-02'") == (6, 4)
    shop.sync()  # its window ends 2.5 minutes back: the notification's time is not covered yet
    assert shop.one("select count(*) from orders where channel_order_id = '999-0000000-0000002'") == 1
    shop.sync()
    shop.sync()  # now the poll's windows are 5 minutes past it, and Amazon never listed it
    assert shop.query("select channel_order_id from orders") == [(real,)]
    assert shop.one("select on_hand, reserved_quantity from inventory where product_code = 'TEA-02'") == (10, 0)
    assert shop.query(
        "select quantity_delta, reason from inventory_movements where product_code = 'TEA-02' order by movement_id"
    ) == [(10, "adjustment"), (-4, "order"), (4, "order")]
    incremental = warehouse_tables(shop.db)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == incremental
    assert cli.main(["--db", twin, "sync"]) == 0
    assert warehouse_tables(shop.db) == warehouse_tables(twin)


def test_a_multi_channel_order_never_becomes_a_sales_order_even_before_the_poll(subscribed, tmp_path):
    shop = subscribed
    twin = polled_only_twin(shop, tmp_path)
    other = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA, fulfilled_by="AMAZON", sales_channel="NON_AMAZON")
    template = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    clear_queue(shop)
    as_amazon_sends_it = message_about(shop, template, FulfillmentType="AFN")
    as_amazon_sends_it["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = other
    send(shop, as_amazon_sends_it)
    out = shop.ok("listen", "--once")
    assert "1 ignored" in out
    assert shop.one("select reason from raw_notifications") == (
        "an Amazon-fulfilled order the poll has not listed yet (it may be another sales channel's): left to the poll"
    )
    # one that says MFN (no MCF order is) still lapses when the poll lists the order as another channel's
    claims_mfn = message_about(shop, template)
    claims_mfn["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = other
    send(shop, claims_mfn)
    assert "1 applied" in shop.ok("listen", "--once")
    shop.sync()
    assert shop.one("select count(*) from other_channel_orders") == 1
    assert shop.query("select channel_order_id from orders") == [(template,)]
    incremental = warehouse_tables(shop.db)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == incremental
    assert cli.main(["--db", twin, "sync"]) == 0
    assert warehouse_tables(shop.db) == warehouse_tables(twin)


# -- issue #23: a message stamped up to a day ahead outranks Amazon ----------------------------------


def test_an_early_stamp_is_overridden_by_the_next_poll_and_status_is_never_negative(subscribed):
    shop = subscribed
    order_id = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    listen(shop)
    shop.sync()
    ahead = message_about(shop, order_id, OrderStatus="Unshipped")
    ahead["Payload"]["OrderChangeNotification"]["OrderChangeTrigger"]["TimeOfOrderChange"] = (
        shop.marketplace.now + timedelta(hours=20)
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    send(shop, ahead)
    assert "1 applied" in shop.ok("listen", "--once")
    assert shop.one("select status from orders") == "Unshipped"
    # taken as received now, not 20 hours on
    assert (
        shop.one("select changed_at from raw_notifications where outcome = 'applied' order by changed_at desc limit 1")
        == shop.marketplace.naive_now()
    )
    line = next(line for line in shop.ok("status").splitlines() if line.startswith("Amazon US") and "arn:" in line)
    assert "keeping up" in line and " -" not in line
    shop.marketplace.advance(minutes=1)
    shop.marketplace.cancel(order_id)
    shop.sandbox.notifications.flush()
    clear_queue(shop)  # only the poll tells
    shop.sync()
    assert shop.one("select status from orders") == "Canceled" and stock(shop) == 0
    incremental = warehouse_tables(shop.db)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == incremental


# -- issue #23, item 7: digits, placeholders, queue URLs ----------------------------------------------


def test_a_message_with_thousands_of_unknown_skus_makes_no_placeholder_and_a_batch_makes_a_bounded_number(subscribed):
    shop = subscribed
    template = shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    listen(shop)
    many = message_about(shop, template)
    change = many["Payload"]["OrderChangeNotification"]
    change["AmazonOrderId"] = "999-0000000-0000003"
    change["Summary"]["OrderItems"] = [
        {"OrderItemId": str(n), "SellerSKU": f"X{n}", "SupplySourceId": None, "Quantity": 1} for n in range(2000)
    ]
    send(shop, many)
    out = shop.ok("listen", "--once")
    assert "2000 SKUs without a product: a notification makes at most 20 placeholders" in out
    assert shop.one("select count(*) from products") == 1  # MUG-01's own placeholder from the first order
    batch = []
    for m in range(6):  # 6 orders of 20 new SKUs each, in one batch: 5 fit in the batch's 100
        one = message_about(shop, template)
        change = one["Payload"]["OrderChangeNotification"]
        change["AmazonOrderId"] = f"999-0000000-000001{m}"
        change["Summary"]["OrderItems"] = [
            {"OrderItemId": f"{m}-{n}", "SellerSKU": f"B{m}-{n}", "SupplySourceId": None, "Quantity": 1}
            for n in range(20)
        ]
        batch.append(one)
    with open_for_writing(shop.db) as con:
        from pipelines.warehouse.channels import get_channel

        counts = apply_messages(
            con,
            get_channel(con, "Amazon US"),
            [{"MessageId": str(n), "Body": json.dumps(m)} for n, m in enumerate(batch)],
            shop.marketplace.naive_now(),
        )
    assert (counts.applied, counts.ignored) == (5, 1)
    assert shop.one("select count(*) from products where is_placeholder") == 101
    assert "already make 100 placeholders (at most 100): left to the poll" in shop.one(
        "select reason from raw_notifications where outcome = 'ignored'"
    )


def test_only_ascii_digits_are_a_quantity():
    from pipelines.ingest.notifications import _whole

    assert _whole("12") == 12 and _whole(3) == 3
    assert _whole("\u0663") == 0 and _whole("\u06f3\u06f3") == 0 and _whole("３") == 0 and _whole(True) == 0


def test_a_queue_url_must_be_an_sqs_endpoint_over_https_or_this_machine(subscribed):
    from pipelines.amazon.queue import QueueError, check_queue

    shop = subscribed
    arn = "arn:aws:sqs:us-east-1:123456789012:orders"
    for fine in (
        "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        "https://eu-west-1.queue.amazonaws.com/123456789012/orders",
        "http://127.0.0.1:9324/123456789012/orders",
    ):
        check_queue(arn, fine)
    for refused in (
        "https://queue.example.invalid/123456789012/orders",
        "https://sqs.us-east-1.amazonaws.com.example.invalid/123456789012/orders",
        "http://sqs.us-east-1.amazonaws.com/123456789012/orders",
        "https://user:pass@sqs.us-east-1.amazonaws.com/123456789012/orders",
    ):
        code, out, err = shop.run("channel", "notifications", "Amazon US", "--queue-arn", arn, "--queue-url", refused)
        assert code == 1 and err.count("\n") == 1 and "--queue-url" in err, (refused, err)
        with pytest.raises(QueueError):
            check_queue(arn, refused)
    # one kept before URLs were checked is refused when read, before any request
    with open_for_writing(shop.db) as con:
        con.execute("update channel_notifications set queue_url = 'https://queue.example.invalid/1/amazon-orders-us'")
    code, out, err = shop.run("listen", "--once")
    assert code == 1 and "must be an SQS endpoint over https" in err and err.count("\n") == 1


# -- Amazon's published bodies, end to end ----------------------------------------------------------


def test_each_corpus_notification_through_listen_does_what_a_seller_expects(subscribed):
    shop = subscribed
    expected = {
        # Amazon's schema example: another application's subscription, so not ours to trust
        "order_change_model_example.json": ("rejected", "SubscriptionId 'subscription-id-d0e9e693-c3ad-4373-979f-"),
        # Amazon's "simplified notification body" for its sample apps: no PayloadVersion, no
        # NotificationMetadata, no SellerId; not what Amazon sends, so nothing to vouch for it
        "order_change_samples_mfn_simplified.json": ("rejected", "PayloadVersion is missing"),
        "order_change_samples_easyship_jp_simplified.json": ("rejected", "PayloadVersion is missing"),
    }
    for name, (outcome, reason) in expected.items():
        before = set(shop.query("select notification_id from raw_notifications"))
        shop.sqs["client"].send_message(QueueUrl=shop.sqs["url"], MessageBody=(CORPUS / name).read_text())
        code, out, err = shop.run("listen", "--once")
        assert code == 0 and "1 notification(s)" in out, (name, err)
        [(kept, why)] = [
            (o, r)
            for n, o, r in shop.query("select notification_id, outcome, reason from raw_notifications")
            if (n,) not in before
        ]
        assert kept == outcome and why.startswith(reason), (name, why)
    # the schema example sent through our own subscription: its order was placed in 2022, before the
    # channel's start, so it is kept and changes nothing
    example = json.loads((CORPUS / "order_change_model_example.json").read_text())
    example["NotificationMetadata"]["SubscriptionId"] = shop.sandbox.notifications.subscriptions["ORDER_CHANGE"][
        "subscriptionId"
    ]
    send(shop, example)
    assert "1 ignored" in shop.ok("listen", "--once")
    assert (
        shop.one("select reason from raw_notifications where outcome = 'ignored'")
        == "the order was created before the channel's start"
    )
    assert shop.query("select * from orders") == [] and waiting(shop) == 0


def test_amazons_variants_of_a_message_follow_the_schema_and_converge_on_the_poll(subscribed, tmp_path):
    shop = subscribed
    twin = polled_only_twin(shop, tmp_path)
    shop.sandbox.notifications.variant_rate = 1.0  # every message one of Amazon's VARIANTS (seeded)
    shop.marketplace.simulate(hours=3, orders_per_hour=15, skus=["MUG-01", "TEA-02"], marketplaces=("ATVPDKIKX0DER",))
    listen(shop)
    sent = shop.sandbox.notifications.sent  # each validated against the schema when the test ends
    changes = [m["Payload"]["OrderChangeNotification"] for m in sent]
    assert any(c["NotificationLevel"] == "OrderItemLevel" for c in changes)
    assert any("QuantityShipped" not in i for c in changes for i in c["Summary"]["OrderItems"])
    assert any(c["OrderChangeTrigger"]["TimeOfOrderChange"] is None for c in changes)
    assert any("OrderItemStatus" in i for c in changes for i in c["Summary"]["OrderItems"])
    assert outcomes(shop).get("applied", 0) > 10
    assert "rejected" not in outcomes(shop)  # Amazon's own shapes are never set aside
    shop.marketplace.advance(minutes=10)  # the poll's window then covers every change by more than the grace
    shop.sync()
    assert cli.main(["--db", twin, "sync"]) == 0
    incremental = warehouse_tables(shop.db)
    assert incremental == warehouse_tables(twin)
    shop.ok("rebuild")
    assert warehouse_tables(shop.db) == incremental
