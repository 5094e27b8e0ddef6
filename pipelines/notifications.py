"""ORDER_CHANGE notifications through SQS: stock reserved seconds after an order changes, with the
15-minute searchOrders poll as the truth behind it.

Subscribing (Notifications API v1 through python-amazon-sp-api): a destination for the channel's SQS
queue (grantless), then the ORDER_CHANGE subscription, payload version 1.0.

Consuming: boto3 reads the queue (long polling, batches of 10). Each message lands whole in
raw_notifications, keyed by NotificationId; one newer than what the raw layer holds for its order also
becomes an order version in raw_amazon_orders, in the same transaction: the newest version Amazon sent
(money, buyer and address as they were) with the summary's status, fulfilment, item quantities and
buyer's cancellation requests laid over it, or, for an order not seen yet, one without buyer or prices,
as a pending order has. The incremental transform then books its stock as for any version, so the next
poll's full version converges on the same ledger and nothing is booked twice; a rebuild reads the same
raw layer. Only after the commit is the message deleted from the queue: delivery is at least once, and a
message whose NotificationId is known changes nothing.

A notification no newer than the order's newest version (stale, or out of order), for an order created
before the channel's start, or for a marketplace the channel does not cover, is kept and changes
nothing. A message that is not JSON, not an ORDER_CHANGE or lacks what the schema requires is kept,
deleted from the queue and reported: it never blocks the queue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipelines import amazon
from pipelines.channels import Channel
from pipelines.extract import insert_versions, payload_text
from pipelines.timeutil import parse_instant, utcnow
from pipelines.transform import transform
from pipelines.warehouse import transaction

NOTIFICATION_TYPE, PAYLOAD_VERSION = "ORDER_CHANGE", "1.0"
BATCH = 10  # SQS's most per ReceiveMessage
BATCHES_PER_COMMIT = 20  # a deep queue is applied 200 messages a transaction
LONG_POLL_SECONDS = 20  # SQS's longest WaitTimeSeconds
# OrderChangeNotification.json's Summary.OrderStatus, as searchOrders' fulfillmentStatus spells it
# (InvoiceUnconfirmed: the order is waiting for its invoice, nothing has shipped)
ORDER_STATUS = {"Pending": "PENDING", "PendingAvailability": "PENDING_AVAILABILITY", "Unshipped": "UNSHIPPED",
                "PartiallyShipped": "PARTIALLY_SHIPPED", "Shipped": "SHIPPED", "Canceled": "CANCELLED",
                "Unfulfillable": "UNFULFILLABLE", "InvoiceUnconfirmed": "UNSHIPPED"}
FULFILLED_BY = {"AFN": "AMAZON", "MFN": "MERCHANT"}


class NotificationsError(RuntimeError):
    """One line: which channel and what went wrong (no credentials in it)."""


# -- subscribing ---------------------------------------------------------------------------------

def subscribe(con: duckdb.DuckDBPyConnection, channel: Channel, queue_arn: str, queue_url: str,
              account: str = "default", now: datetime | None = None) -> dict:
    """Create the SQS destination and the ORDER_CHANGE subscription, and keep their ids on the channel."""
    client = amazon.notifications_client(channel, account)
    try:
        destination = client.create_destination(name=f"amazon-orders {channel.name}"[:256], arn=queue_arn).payload
        subscription = client.create_subscription(NOTIFICATION_TYPE, destination_id=destination["destinationId"],
                                                  payload_version=PAYLOAD_VERSION).payload
    except Exception as error:
        raise NotificationsError(f"{channel.name}: ORDER_CHANGE subscription not created: "
                                 f"{amazon.describe(error)}") from None
    with transaction(con):
        con.execute("insert or replace into channel_notifications values (?, ?, ?, ?, ?, ?)",
                    [channel.name, queue_url, queue_arn, destination["destinationId"],
                     subscription["subscriptionId"], now or utcnow()])
    return {"destination_id": destination["destinationId"], "subscription_id": subscription["subscriptionId"]}


def check_queue(queue_arn: str, queue_url: str) -> None:
    """Refuse a queue that cannot be one, before any request (the ARN's form is the model's pattern)."""
    from urllib.parse import urlsplit

    from pipelines.clock import is_loopback

    if not re.match(r"^arn:aws:sqs:\S+:\S+:\S+", queue_arn) or len(queue_arn) > 1000:
        raise NotificationsError(f"--queue-arn {queue_arn!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    parts = urlsplit(queue_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or (parts.scheme == "http" and not is_loopback(queue_url)):
        raise NotificationsError(f"--queue-url {queue_url!r} must be an https URL (plain http only on 127.0.0.1)")
    if parts.path.rstrip("/").rsplit("/", 1)[-1] != queue_arn.rsplit(":", 1)[-1]:
        raise NotificationsError(f"--queue-url {queue_url!r} does not name the queue of --queue-arn {queue_arn!r}")


def unsubscribe(con: duckdb.DuckDBPyConnection, channel: Channel, account: str = "default") -> str:
    found = con.execute("select subscription_id from channel_notifications where channel = ?",
                        [channel.name]).fetchone()
    if not found or not found[0]:
        raise NotificationsError(f"{channel.name}: no ORDER_CHANGE subscription to delete")
    client = amazon.notifications_client(channel, account)
    try:
        amazon.delete_subscription(client, NOTIFICATION_TYPE, found[0])
    except Exception as error:
        raise NotificationsError(f"{channel.name}: ORDER_CHANGE subscription not deleted: "
                                 f"{amazon.describe(error)}") from None
    with transaction(con):
        con.execute("delete from channel_notifications where channel = ?", [channel.name])
    return found[0]


def queue_url_of(con: duckdb.DuckDBPyConnection, channel: Channel) -> str | None:
    found = con.execute("select queue_url from channel_notifications where channel = ?", [channel.name]).fetchone()
    return found[0] if found else None


# -- reading a message ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Notification:
    notification_id: str
    amazon_order_id: str
    event_time: str  # TimeOfOrderChange, else EventTime
    changed_at: datetime
    marketplace_id: str
    purchase_date: datetime | None
    summary: dict
    change_reason: str | None


def read_notification(body: str) -> Notification:
    """The ORDER_CHANGE notification a message carries, or ValueError naming what is wrong."""
    try:
        message = json.loads(body)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    if message.get("NotificationType") != NOTIFICATION_TYPE:
        raise ValueError(f"NotificationType {message.get('NotificationType')!r} is not ORDER_CHANGE")
    metadata = message.get("NotificationMetadata") or {}
    change = ((message.get("Payload") or {}).get("OrderChangeNotification")) or {}
    summary = change.get("Summary") or {}
    trigger = change.get("OrderChangeTrigger") or {}
    items = summary.get("OrderItems")
    if not isinstance(metadata.get("NotificationId"), str) or not metadata["NotificationId"]:
        raise ValueError("NotificationMetadata.NotificationId is missing")
    if not isinstance(change.get("AmazonOrderId"), str) or not change["AmazonOrderId"]:
        raise ValueError("AmazonOrderId is missing")
    if summary.get("OrderStatus") not in ORDER_STATUS or summary.get("FulfillmentType") not in FULFILLED_BY:
        raise ValueError("Summary.OrderStatus or Summary.FulfillmentType is not one of the schema's values")
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("OrderItemId"), str) and isinstance(i.get("SellerSKU"), str)
            and isinstance(i.get("Quantity"), int) and not isinstance(i.get("Quantity"), bool) and i["Quantity"] >= 0
            for i in items):
        raise ValueError("Summary.OrderItems lack OrderItemId, SellerSKU or a whole Quantity")
    stamp = trigger.get("TimeOfOrderChange") or message.get("EventTime")
    if not isinstance(stamp, str):
        raise ValueError("neither TimeOfOrderChange nor EventTime is given")
    purchased = summary.get("PurchaseDate")
    return Notification(metadata["NotificationId"], change["AmazonOrderId"], stamp, parse_instant(stamp, "EventTime"),
                        summary.get("MarketplaceId"), parse_instant(purchased, "PurchaseDate") if purchased else None,
                        summary, trigger.get("ChangeReason"))


def order_version(note: Notification, base: dict | None) -> dict:
    """The order as the notification says it is now: the newest version Amazon sent (`base`) with the
    summary laid over it; without one, an order without buyer or prices."""
    order = copy.deepcopy(base) if base else {
        "orderId": note.amazon_order_id, "createdTime": note.summary["PurchaseDate"], "orderItems": [],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": note.marketplace_id}}
    # Amazon's lastUpdatedTime has whole seconds: the poll's version of the same change, landed later,
    # then wins the tie and brings the money and the buyer
    order["lastUpdatedTime"] = note.changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    order["fulfillment"] = {**(order.get("fulfillment") or {}),
                            "fulfillmentStatus": ORDER_STATUS[note.summary["OrderStatus"]],
                            "fulfilledBy": FULFILLED_BY[note.summary["FulfillmentType"]]}
    items = {item.get("orderItemId"): item for item in order.get("orderItems") or [] if isinstance(item, dict)}
    for listed in note.summary["OrderItems"]:
        item = items.get(listed["OrderItemId"])
        if item is None:
            item = {"orderItemId": listed["OrderItemId"], "product": {"sellerSku": listed["SellerSKU"]}}
            order["orderItems"].append(item)
        item["quantityOrdered"] = listed["Quantity"]
        if isinstance(listed.get("QuantityShipped"), int):
            item["fulfillment"] = {**(item.get("fulfillment") or {}), "quantityFulfilled": listed["QuantityShipped"]}
        if listed.get("IsBuyerRequestedCancel") and "cancellationRequest" not in (item.get("cancellation") or {}):
            item["cancellation"] = {**(item.get("cancellation") or {}), "cancellationRequest": {
                "requester": "BUYER", "cancelReason": note.change_reason or "Buyer requested cancel"}}
    order["_amazon_orders"] = {**(order.get("_amazon_orders") or {}), "notification_id": note.notification_id}
    return order


# -- applying ------------------------------------------------------------------------------------

@dataclass
class DrainCounts:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    ignored: int = 0
    rejected: int = 0
    rejected_reasons: list[str] = field(default_factory=list)
    movements: int = 0

    def add(self, other: "DrainCounts") -> None:
        for name in ("received", "applied", "duplicates", "stale", "ignored", "rejected", "movements"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected_reasons += other.rejected_reasons


def apply_messages(con: duckdb.DuckDBPyConnection, channel: Channel, messages: list[dict],
                   now: datetime) -> DrainCounts:
    """Land a batch of SQS messages ({'MessageId', 'Body'}) and their order versions in one transaction,
    then bring the core tables (and the stock) up to date."""
    counts = DrainCounts(received=len(messages))
    now = now.replace(tzinfo=None)
    with transaction(con):
        for message in messages:
            outcome, reason, note, version = _judge(con, channel, message["Body"])
            key = note.notification_id if note else "sqs:" + message["MessageId"]
            if con.execute("select 1 from raw_notifications where notification_id = ?", [key]).fetchone():
                counts.duplicates += 1
                continue
            ingest_id = None
            if version is not None:
                text = payload_text(version)
                insert_versions(con, channel.name, f"notification:{key}", [{
                    "amazon_order_id": note.amazon_order_id, "last_updated_time": version["lastUpdatedTime"],
                    "payload": text, "payload_hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()}])
                ingest_id = con.execute("select max(ingest_id) from raw_amazon_orders").fetchone()[0]
            con.execute("insert into raw_notifications values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, channel.name, message["Body"], now, note.amazon_order_id if note else None,
                         note.changed_at if note else None, outcome, reason, ingest_id])
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            if outcome == "rejected":
                counts.rejected_reasons.append(f"message {message['MessageId']}: {reason}")
        newest = con.execute("select max(changed_at) from raw_notifications where channel = ?",
                             [channel.name]).fetchone()[0]
        con.execute("insert or replace into notification_state values (?, ?, ?)", [channel.name, now, newest])
    if counts.applied:
        counts.movements = transform(con).movements_booked
    return counts


def _judge(con, channel: Channel, body: str) -> tuple[str, str | None, Notification | None, dict | None]:
    """(outcome, reason, the notification, the order version it makes) of one message."""
    try:
        note = read_notification(body)
    except ValueError as problem:
        return "rejected", str(problem), None, None
    if note.marketplace_id not in channel.marketplace_ids:
        return "ignored", f"marketplace {note.marketplace_id} is not one of the channel's", note, None
    newest = con.execute(
        """
        select payload, try_cast(last_updated_time as timestamptz)::timestamp as updated
        from raw_amazon_orders where channel = ? and amazon_order_id = ?
        order by updated desc nulls last, ingest_id desc limit 1
        """, [channel.name, note.amazon_order_id]).fetchone()
    if newest is None:
        if note.purchase_date is None:
            return "ignored", "an order not seen yet, without a PurchaseDate: left to the poll", note, None
        if note.purchase_date < channel.start_at:
            return "ignored", "the order was created before the channel's start", note, None
    base = json.loads(newest[0]) if newest else None
    if base and (base.get("salesChannel") or {}).get("channelName") == "NON_AMAZON":
        return "ignored", "another sales channel's order (NON_AMAZON): not a sales order here", note, None
    version = order_version(note, base)
    if newest is not None and newest[1] is not None:
        changed = note.changed_at.replace(microsecond=0)
        # Amazon's times have whole seconds and an order can change twice in one: within the same second,
        # the version that is further along (status, units shipped, cancel requests) is the newer
        if changed < newest[1] or changed == newest[1] and _progress(version) <= _progress(base):
            return "stale", "the order's newest version is as new or newer", note, None
    return "applied", None, note, version


def _whole(value) -> int:
    """A quantity as Amazon sent it (a number, or its text); 0 when it is neither."""
    return int(value) if isinstance(value, int) or isinstance(value, str) and value.isdigit() else 0


_STATUS_RANK = {"PENDING": 0, "PENDING_AVAILABILITY": 0, "UNSHIPPED": 1, "PARTIALLY_SHIPPED": 2, "SHIPPED": 3,
                "CANCELLED": 3, "UNFULFILLABLE": 3}


def _progress(order: dict) -> tuple[int, int, int]:
    items = [item for item in order.get("orderItems") or [] if isinstance(item, dict)]
    shipped = sum(_whole((item.get("fulfillment") or {}).get("quantityFulfilled")) for item in items)
    asked = sum("cancellationRequest" in (item.get("cancellation") or {}) for item in items)
    return _STATUS_RANK.get((order.get("fulfillment") or {}).get("fulfillmentStatus"), -1), shipped, asked


# -- the queue -----------------------------------------------------------------------------------

def sqs_client(queue_url: str):
    """boto3's SQS client for the queue's region; AWS_ENDPOINT_URL_SQS points it at another server (moto's)."""
    import boto3
    from botocore.config import Config

    region = _region_of(queue_url)
    # a dead queue fails fast and is retried on the next drain; a long poll needs its 20 s and more
    return boto3.client("sqs", region_name=region,
                        config=Config(connect_timeout=5, read_timeout=LONG_POLL_SECONDS + 10,
                                      retries={"max_attempts": 2, "mode": "standard"}))


def _region_of(queue_url: str) -> str:
    host = queue_url.split("//", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    # https://sqs.us-east-1.amazonaws.com/...: the region is the second label
    if len(parts) >= 3 and parts[0] == "sqs":
        return parts[1]
    return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def waiting_messages(queue_url: str) -> int:
    """About how many messages wait in the queue (SQS's ApproximateNumberOfMessages)."""
    client = sqs_client(queue_url)
    try:
        attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    finally:
        client.close()
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def drain(channel: Channel, queue_url: str, write, *, idle_seconds: float = 0.0,
          clock: Callable[[], datetime], say: Callable[[str], None] = lambda line: None,
          should_stop: Callable[[], bool] = lambda: False) -> DrainCounts:
    """Read the queue until it has been empty for `idle_seconds` (0: until the first empty receive), each
    batch applied under the writer lock (`write` yields a writing connection) and then deleted."""
    client = sqs_client(queue_url)
    try:
        return _drain(client, channel, queue_url, write, idle_seconds, clock, say, should_stop)
    finally:
        client.close()


def _drain(client, channel: Channel, queue_url: str, write, idle_seconds: float, clock, say,
           should_stop) -> DrainCounts:
    from botocore.exceptions import BotoCoreError, ClientError

    total, idle_since = DrainCounts(), time.monotonic()
    while not should_stop():
        # long polling: a receive returns as soon as a message is there (at least 1 s, so that SQS asks
        # every server of the queue rather than a sample of them)
        left = idle_seconds - (time.monotonic() - idle_since)
        wait = max(1, min(LONG_POLL_SECONDS, int(left + 0.999)))
        try:
            messages = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH,
                                              WaitTimeSeconds=wait).get("Messages", [])
            # a deep queue: more batches in the same transaction and transform, without waiting
            while messages and len(messages) % BATCH == 0 and len(messages) < BATCH * BATCHES_PER_COMMIT:
                more = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH,
                                              WaitTimeSeconds=0).get("Messages", [])
                if not more:
                    break
                messages += more
        except (BotoCoreError, ClientError) as error:
            raise NotificationsError(f"{channel.name}: the notification queue cannot be read "
                                     f"({type(error).__name__}); polling goes on without it") from None
        if not messages:
            if time.monotonic() - idle_since >= idle_seconds:
                break
            continue
        with write() as con:
            counts = apply_messages(con, channel, messages, clock())
        # deleted only once their effect is committed: a kill before this redelivers them, and their
        # NotificationIds make the second delivery change nothing
        for start in range(0, len(messages), BATCH):
            client.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages[start:start + BATCH])])
        total.add(counts)
        for line in counts.rejected_reasons:
            say(f"{channel.name}: set aside {line}")
        say(f"{channel.name}: {counts.received} notification(s): {counts.applied} applied, {counts.duplicates} "
            f"duplicate(s), {counts.stale} stale, {counts.ignored} ignored, {counts.rejected} set aside; "
            f"{counts.movements} stock movement(s)")
        idle_since = time.monotonic()
    return total
