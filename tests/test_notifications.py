"""ORDER_CHANGE notifications through SQS (moto's server, boto3 over HTTP), subscribed through the real
python-amazon-sp-api client: stock reserved before any poll, the poll converging on the same ledger, and
duplicates, redeliveries, stale, out-of-order and poison messages changing nothing."""

from __future__ import annotations

import json

import pytest

from conftest import core_tables, warehouse_tables
from pipelines import cli
from pipelines.notifications import apply_messages
from pipelines.sandbox import Buyer, Item
from pipelines.sandbox.server import ORDERS_PATH
from pipelines.warehouse import connect, open_for_writing

ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")


@pytest.fixture
def subscribed(shop, sqs):
    shop.add_channel()
    shop.ok("channel", "notifications", "Amazon US", "--queue-arn", sqs["arn"], "--queue-url", sqs["url"])
    shop.sqs = sqs
    return shop


def listen(shop) -> str:
    shop.sandbox.notifications.flush()  # what the marketplace did has reached the queue
    return shop.ok("listen", "--once")


def stock(shop, sku="MUG-01") -> tuple:
    return shop.one("select coalesce(sum(quantity_delta), 0) from inventory_movements where product_code = ?", [sku])


def polls(shop) -> int:
    return sum(r["path"] == ORDERS_PATH for r in shop.sandbox.requests)


def waiting(shop) -> int:
    attributes = shop.sqs["client"].get_queue_attributes(
        QueueUrl=shop.sqs["url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def test_the_subscription_is_made_through_the_real_client_and_deleted_with_off(shop, sqs):
    shop.add_channel()
    out = shop.ok("channel", "notifications", "Amazon US", "--queue-arn", sqs["arn"], "--queue-url", sqs["url"])
    assert "ORDER_CHANGE notifications go to" in out
    served = [(r["method"], r["path"], r["params"]) for r in shop.sandbox.requests]
    assert ("POST", "/auth/o2/token", {"grant_type": "client_credentials"}) in served  # the grantless token
    [destination_request] = [p for m, path, p in served if path == "/notifications/v1/destinations"]
    assert destination_request["resourceSpecification"] == {"sqs": {"arn": sqs["arn"]}}
    created = [p for m, path, p in served if path == "/notifications/v1/subscriptions/ORDER_CHANGE"]
    assert created[0]["payloadVersion"] == "1.0"
    destination, subscription = shop.one("select destination_id, subscription_id from channel_notifications")
    assert shop.sandbox.notifications.subscriptions["ORDER_CHANGE"] == {
        "subscriptionId": subscription, "payloadVersion": "1.0", "destinationId": destination}

    out = shop.ok("channel", "notifications", "Amazon US", "--off")
    assert f"subscription {subscription} deleted" in out
    assert shop.sandbox.requests[-1]["method"] == "DELETE" and shop.sandbox.requests[-1]["status"] == 200
    assert shop.sandbox.notifications.subscriptions == {}
    assert shop.query("select * from channel_notifications") == []
    shop.place(Item("MUG-01", 1, "12.50"))
    shop.sandbox.notifications.flush()
    assert shop.sandbox.notifications.sent == []


def test_the_sandbox_keeps_the_notifications_models_rules(shop, sqs):
    from pipelines import amazon
    from pipelines.channels import get_channel

    shop.add_channel()
    with connect(shop.db, read_only=True) as con:
        client = amazon.notifications_client(get_channel(con, "Amazon US"))

    def code(call):
        try:
            call()
            return 200
        except Exception as error:  # noqa: BLE001
            return getattr(error, "code", None)

    assert code(lambda: client.create_destination(name="q", arn="not-an-arn")) == 400  # the arn's pattern
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id="nowhere")) == 400
    destination = client.create_destination(name="q", arn=sqs["arn"]).payload["destinationId"]
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination,
                                                   payload_version="2.0")) == 400
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination)) == 200
    assert code(lambda: client.create_subscription("ORDER_CHANGE", destination_id=destination)) == 409
    # createSubscription takes the seller's token; createDestination is grantless and takes no other
    headers = {"x-amz-access-token": client.auth.access_token, "content-type": "application/json"}
    import httpx

    answer = httpx.post(shop.sandbox.url + "/notifications/v1/destinations", headers=headers,
                        json={"name": "q", "resourceSpecification": {"sqs": {"arn": sqs["arn"]}}})
    assert answer.status_code == 403


def test_a_notification_reserves_stock_before_any_poll_and_the_poll_converges(subscribed, tmp_path):
    shop = subscribed
    polled_only = str(tmp_path / "polled.duckdb")  # the same channel, synced without notifications
    cli.main(["--db", polled_only, "channel", "add", "Amazon US", "--start",
              shop.one("select start_at from channels").isoformat(), "--endpoint", shop.sandbox.url,
              "--token-url", shop.sandbox.token_url, "--marketplace", "ATVPDKIKX0DER"])
    order_id = shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    before = polls(shop)
    out = listen(shop)
    assert "1 applied" in out
    assert polls(shop) == before  # no searchOrders request
    assert shop.one("select status, account_id from orders where channel_order_id = ?", [order_id]) == (
        "Pending", "ACC-PENDING")
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
    shop.sqs["client"].send_message(QueueUrl=shop.sqs["url"], MessageBody=json.dumps(
        {**sent[0], "NotificationMetadata": {**sent[0]["NotificationMetadata"], "NotificationId": "late-one"}}))
    assert "1 stale" in shop.ok("listen", "--once")
    assert warehouse_tables(shop.db) == tables


def test_a_redelivery_after_a_kill_between_commit_and_delete_changes_nothing(subscribed):
    """What a SIGKILL after the commit and before DeleteMessageBatch leaves: messages applied, still in the
    queue. Their next delivery finds their NotificationIds."""
    shop = subscribed
    shop.place(Item("MUG-01", 2, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    client, url = shop.sqs["client"], shop.sqs["url"]
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                      VisibilityTimeout=0)["Messages"]  # back in the queue at once
    from pipelines.channels import get_channel

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
        "rejected": 2, "applied": 1}
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
    for n, summary in enumerate([{**change["Summary"], "PurchaseDate": "2020-01-01T00:00:00Z"},
                                 {**change["Summary"], "MarketplaceId": "A1F83G8C2ARO7P"}]):
        other = {**message, "Payload": {"OrderChangeNotification": {**change, "AmazonOrderId": f"111-0000000-000000{n}",
                                                                    "Summary": summary}},
                 "NotificationMetadata": {**message["NotificationMetadata"], "NotificationId": f"other-{n}"}}
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
    shop.marketplace.simulate(hours=6, orders_per_hour=20, skus=["MUG-01", "TEA-02", "PEN-03"],
                              marketplaces=("ATVPDKIKX0DER",))
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
    from pipelines.instance import get_instance
    from pipelines.resources import WarehouseResource

    shop = subscribed
    sensor = defs.resolve_sensor_def("notifications_sensor")
    assert sensor.minimum_interval_seconds == 30

    def tick():
        with build_sensor_context(instance=get_instance(), resources={"warehouse": WarehouseResource(path=shop.db)},
                                  definitions=defs) as context:
            return sensor(context)

    assert isinstance(tick(), SkipReason)
    shop.place(Item("MUG-01", 1, "12.50"), buyer=ADA)
    shop.sandbox.notifications.flush()
    [request] = tick()
    assert request.partition_key == "Amazon US"
    result = defs.resolve_job_def("notifications_job").execute_in_process(
        instance=get_instance(), partition_key="Amazon US",
        run_config={"ops": {"order_notifications": {"config": {"idle_seconds": 0}}}},
        resources={"warehouse": WarehouseResource(path=shop.db)})
    assert result.success
    [materialization] = result.asset_materializations_for_node("order_notifications")
    assert materialization.metadata["applied"].value == 1
    assert stock(shop) == -1


def test_status_says_when_notifications_arrive_and_when_the_listener_falls_behind(subscribed):
    from datetime import timedelta

    from pipelines.channels import get_channel

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
        apply_messages(con, get_channel(con, "Amazon US"), messages,
                       shop.marketplace.naive_now() + timedelta(minutes=10))
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
    shop.sqs["client"].send_message(QueueUrl=shop.sqs["url"], MessageBody=json.dumps({
        **message, "Payload": {"OrderChangeNotification": {**change, "AmazonOrderId": other}},
        "NotificationMetadata": {**message["NotificationMetadata"], "NotificationId": "about-the-other"}}))
    shop.marketplace.advance(minutes=1)
    assert "1 ignored" in shop.ok("listen", "--once")
    assert shop.query("select channel_order_id from orders") == []
