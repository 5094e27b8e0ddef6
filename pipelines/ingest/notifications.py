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

Each message is judged alone, whatever it holds: applied; kept with the reason it changes nothing (no
newer than the order's newest version, for an order created before the channel's start, a marketplace
the channel does not cover, an Amazon-fulfilled order the poll has not listed yet); or set aside
(rejected) with its reason: not JSON, not an ORDER_CHANGE, of the wrong shape, or not vouched for by
Amazon (the channel's subscription and seller). It never blocks the queue. A notification's version
counts until the poll has spoken (sql/warehouse/macros.sql's notification_version_counts); the models then show the
poll's newest version, or drop an order the poll never listed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from pipelines.amazon import client as amazon
from pipelines.amazon.limits import SQS_LONGEST_POLL_SECONDS, SQS_MOST_PER_RECEIVE
from pipelines.amazon.queue import Queue, QueueError, check_queue_url
from pipelines.clock import iso, parse_instant, system_now
from pipelines.ingest.orders import insert_versions, payload_text
from pipelines.warehouse.channels import Channel, set_seller_id
from pipelines.warehouse.connection import transaction
from pipelines.warehouse.transform import transform

NOTIFICATION_TYPE, PAYLOAD_VERSION = "ORDER_CHANGE", "1.0"
MOST_PER_COMMIT = 200  # a deep queue is applied 200 messages a transaction
# OrderChangeNotification.json's Summary.OrderStatus, as searchOrders' fulfillmentStatus spells it
# (InvoiceUnconfirmed: the order is waiting for its invoice, nothing has shipped)
ORDER_STATUS = {
    "Pending": "PENDING",
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
    "InvoiceUnconfirmed": "UNSHIPPED",
}
FULFILLED_BY = {"AFN": "AMAZON", "MFN": "MERCHANT"}


class NotificationsError(RuntimeError):
    """One line: which channel and what went wrong (no credentials in it)."""


# -- subscribing ---------------------------------------------------------------------------------


def subscribe(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    queue_arn: str,
    queue_url: str,
    account: str = "default",
    now: datetime | None = None,
    seller_id: str | None = None,
) -> dict:
    """Create the SQS destination and the ORDER_CHANGE subscription, and keep their ids on the channel
    (with the seller id a message's SellerId must match, when given)."""
    check_queue_url(queue_url)
    client = amazon.notifications_client(channel, account)
    try:
        destination = client.create_destination(name=f"amazon-orders {channel.name}"[:256], arn=queue_arn).payload
        subscription = client.create_subscription(
            NOTIFICATION_TYPE, destination_id=destination["destinationId"], payload_version=PAYLOAD_VERSION
        ).payload
    except Exception as error:
        raise NotificationsError(
            f"{channel.name}: ORDER_CHANGE subscription not created: {amazon.describe(error)}"
        ) from None
    with transaction(con):
        if seller_id is not None:
            set_seller_id(con, channel.name, seller_id)
        con.execute(
            "insert or replace into channel_notifications values (?, ?, ?, ?, ?, ?)",
            [
                channel.name,
                queue_url,
                queue_arn,
                destination["destinationId"],
                subscription["subscriptionId"],
                now or system_now(),
            ],
        )
    return {"destination_id": destination["destinationId"], "subscription_id": subscription["subscriptionId"]}


def unsubscribe(con: duckdb.DuckDBPyConnection, channel: Channel, account: str = "default") -> str:
    found = con.execute(
        "select subscription_id from channel_notifications where channel = ?", [channel.name]
    ).fetchone()
    if not found or not found[0]:
        raise NotificationsError(f"{channel.name}: no ORDER_CHANGE subscription to delete")
    client = amazon.notifications_client(channel, account)
    try:
        amazon.delete_subscription(client, NOTIFICATION_TYPE, found[0])
    except Exception as error:
        raise NotificationsError(
            f"{channel.name}: ORDER_CHANGE subscription not deleted: {amazon.describe(error)}"
        ) from None
    with transaction(con):
        con.execute("delete from channel_notifications where channel = ?", [channel.name])
    return found[0]


def queue_url_of(con: duckdb.DuckDBPyConnection, channel: Channel) -> str | None:
    found = con.execute("select queue_url from channel_notifications where channel = ?", [channel.name]).fetchone()
    return found[0] if found else None


# -- reading a message ---------------------------------------------------------------------------

# "The Amazon order identifier, in 3-7-7 format" (OrderChangeNotification.json); ASCII digits only
ORDER_ID = re.compile(r"[0-9]{3}-[0-9]{7}-[0-9]{7}")
NOTIFICATION_ID = re.compile(r"[\x21-\x7e]{1,256}")  # Amazon's are UUIDs; printable ASCII, a key here
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_QUANTITY = 999_999_999  # the warehouse's rule for quantityOrdered: 1 to 9 digits
# Placeholders a notification may create: one message, and one batch (one transaction and transform).
# The poll's versions are Amazon's word and make what placeholders their lines need; a notification is
# unconfirmed until the poll, so what it may create is capped, and beyond the cap the order is the poll's.
PLACEHOLDERS_PER_MESSAGE = 20
PLACEHOLDERS_PER_BATCH = 100


@dataclass(frozen=True)
class Notification:
    notification_id: str
    seller_id: str
    subscription_id: str
    amazon_order_id: str
    changed_at: datetime  # TimeOfOrderChange (else EventTime), never later than when it was received
    marketplace_id: str | None
    purchase_date: datetime | None
    summary: dict
    change_reason: str | None


def _shown(value) -> str:
    """A value for a one-line reason: its repr (which escapes newlines and lone surrogates), cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {'missing' if value is None else 'not an object'}")
    return value


def _text(parent: dict, key: str, where: str, *, optional: bool = False) -> str | None:
    value = parent.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        problem = "missing" if value is None else "not a non-empty string: " + _shown(value)
        raise ValueError(f"{where}.{key} is {problem}")
    return value


def _instant(value: str, where: str) -> datetime:
    """An ISO 8601 time (ASCII) as naive UTC; ValueError naming it when it is none or out of range."""
    try:
        if not value.isascii():
            raise ValueError
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{where} {_shown(value)} is not an ISO 8601 time") from None


def _whole_number(value, where: str, *, least: int) -> int:
    # a JSON number, never text (str.isdigit() and int() take Arabic-Indic and other digits), never a bool
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= MAX_QUANTITY:
        raise ValueError(f"{where} {_shown(value)} is not a whole number from {least} to {MAX_QUANTITY}")
    return value


def _no_constant(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON


def read_notification(body: str, received_at: datetime) -> Notification:
    """The ORDER_CHANGE notification a message carries, or ValueError naming what is wrong. Whatever the
    body holds, nothing else is raised. A time stamped after `received_at` is taken as `received_at`:
    a clock ahead of ours must not make a message outrank what Amazon says later."""
    try:
        message = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("not JSON this program reads: nested too deeply") from None
    except ValueError:
        raise ValueError("not JSON") from None
    message = _object(message, "the message")
    if message.get("NotificationType") != NOTIFICATION_TYPE:
        raise ValueError(f"NotificationType {_shown(message.get('NotificationType'))} is not ORDER_CHANGE")
    if message.get("PayloadVersion") != PAYLOAD_VERSION:
        raise ValueError(
            "PayloadVersion is missing"
            if message.get("PayloadVersion") is None
            else f"PayloadVersion {_shown(message['PayloadVersion'])} is not {PAYLOAD_VERSION}, the version "
            "subscribed to"
        )
    metadata = _object(message.get("NotificationMetadata"), "NotificationMetadata")
    notification_id = _text(metadata, "NotificationId", "NotificationMetadata")
    if not NOTIFICATION_ID.fullmatch(notification_id):
        raise ValueError(f"NotificationMetadata.NotificationId {_shown(notification_id)} is not an identifier")
    subscription_id = _text(metadata, "SubscriptionId", "NotificationMetadata")
    change = _object(
        _object(message.get("Payload"), "Payload").get("OrderChangeNotification"), "Payload.OrderChangeNotification"
    )
    seller_id = _text(change, "SellerId", "OrderChangeNotification")
    order_id = _text(change, "AmazonOrderId", "OrderChangeNotification")
    if not ORDER_ID.fullmatch(order_id):
        raise ValueError(f"AmazonOrderId {_shown(order_id)} is not an Amazon order id (3-7-7 digits)")
    trigger = change.get("OrderChangeTrigger")
    trigger = _object(trigger, "OrderChangeTrigger") if trigger is not None else {}
    summary = _object(change.get("Summary"), "Summary")
    if not isinstance(summary.get("OrderStatus"), str) or summary["OrderStatus"] not in ORDER_STATUS:
        raise ValueError(f"Summary.OrderStatus {_shown(summary.get('OrderStatus'))} is not one of the schema's values")
    if not isinstance(summary.get("FulfillmentType"), str) or summary["FulfillmentType"] not in FULFILLED_BY:
        raise ValueError(f"Summary.FulfillmentType {_shown(summary.get('FulfillmentType'))} is not AFN or MFN")
    marketplace_id = _text(summary, "MarketplaceId", "Summary", optional=True)
    purchased = _text(summary, "PurchaseDate", "Summary", optional=True)
    purchase_date = _instant(purchased, "Summary.PurchaseDate") if purchased else None
    _read_items(summary.get("OrderItems"))
    stamp = _text(trigger, "TimeOfOrderChange", "OrderChangeTrigger", optional=True)
    stamp = stamp or _text(message, "EventTime", "the message")
    changed_at = _instant(stamp, "TimeOfOrderChange" if trigger.get("TimeOfOrderChange") else "EventTime")
    if purchase_date and purchase_date > received_at + timedelta(days=1):
        raise ValueError(f"Summary.PurchaseDate {_shown(purchased)} is in the future")
    if purchase_date and changed_at < purchase_date:
        raise ValueError(f"the change ({_shown(stamp)}) is before the order was placed ({_shown(purchased)})")
    reason = trigger.get("ChangeReason")
    return Notification(
        notification_id,
        seller_id,
        subscription_id,
        order_id,
        min(changed_at, received_at),
        marketplace_id,
        purchase_date,
        summary,
        reason if isinstance(reason, str) else None,
    )


def _read_items(items) -> None:
    if not isinstance(items, list) or not items:
        raise ValueError("Summary.OrderItems is missing or empty")
    seen = set()
    for n, item in enumerate(items, 1):
        where = f"Summary.OrderItems[{n}]"
        item = _object(item, where)
        item_id, sku = _text(item, "OrderItemId", where), _text(item, "SellerSKU", where)
        if item_id in seen:
            raise ValueError(f"{where}.OrderItemId {_shown(item_id)} is listed twice")
        seen.add(item_id)
        if len(item_id) > 200 or len(sku) > 200 or _CONTROL.search(item_id + sku):
            raise ValueError(f"{where}: OrderItemId or SellerSKU is too long or holds a control character")
        quantity = _whole_number(item.get("Quantity"), f"{where}.Quantity", least=1)
        if (
            item.get("QuantityShipped") is not None
            and _whole_number(item["QuantityShipped"], f"{where}.QuantityShipped", least=0) > quantity
        ):
            raise ValueError(f"{where}.QuantityShipped is more than its Quantity")
        if not isinstance(item.get("IsBuyerRequestedCancel", False), bool):
            raise ValueError(
                f"{where}.IsBuyerRequestedCancel {_shown(item['IsBuyerRequestedCancel'])} is not a boolean"
            )


def order_version(note: Notification, base: dict | None) -> dict:
    """The order as the notification says it is now: the newest version that counts (`base`) with the
    summary laid over it; without one, an order without buyer or prices."""
    order = (
        copy.deepcopy(base)
        if base
        else {
            "orderId": note.amazon_order_id,
            "createdTime": iso(note.purchase_date),
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": note.marketplace_id},
        }
    )
    # Amazon's lastUpdatedTime has whole seconds: the poll's version of the same change, landed later,
    # then wins the tie and brings the money and the buyer
    order["lastUpdatedTime"] = iso(note.changed_at)
    order["fulfillment"] = {
        **_dict(order.get("fulfillment")),
        "fulfillmentStatus": ORDER_STATUS[note.summary["OrderStatus"]],
        "fulfilledBy": FULFILLED_BY[note.summary["FulfillmentType"]],
    }
    order["orderItems"] = (
        [item for item in order.get("orderItems") or [] if isinstance(item, dict)]
        if isinstance(order.get("orderItems"), list)
        else []
    )
    items = {item.get("orderItemId"): item for item in order["orderItems"]}
    for listed in note.summary["OrderItems"]:
        item = items.get(listed["OrderItemId"])
        if item is None:
            item = {"orderItemId": listed["OrderItemId"], "product": {"sellerSku": listed["SellerSKU"]}}
            order["orderItems"].append(item)
        item["quantityOrdered"] = listed["Quantity"]
        if listed.get("QuantityShipped") is not None:
            item["fulfillment"] = {**_dict(item.get("fulfillment")), "quantityFulfilled": listed["QuantityShipped"]}
        cancellation = _dict(item.get("cancellation"))
        if listed.get("IsBuyerRequestedCancel") and "cancellationRequest" not in cancellation:
            item["cancellation"] = {
                **cancellation,
                "cancellationRequest": {
                    "requester": "BUYER",
                    "cancelReason": note.change_reason or "Buyer requested cancel",
                },
            }
    marks = _dict(order.get("_amazon_orders"))
    # the buyer is the base's, as of the base's time: accounts and contacts stay as its poll made them
    buyer_at = marks.get("buyer_updated_at") or (base or {}).get("lastUpdatedTime")
    order["_amazon_orders"] = {
        **marks,
        "notification_id": note.notification_id,
        **({"buyer_updated_at": buyer_at} if base and isinstance(buyer_at, str) else {}),
    }
    return order


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


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

    def add(self, other: DrainCounts) -> None:
        for name in ("received", "applied", "duplicates", "stale", "ignored", "rejected", "movements"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected_reasons += other.rejected_reasons


@dataclass
class _Batch:
    """What a batch's messages are judged against: the channel's trust anchors, and the placeholders
    its notifications make so far."""

    channel: Channel
    seller_id: str | None
    subscription_id: str | None
    received_at: datetime
    new_skus: set[str] = field(default_factory=set)


def apply_messages(
    con: duckdb.DuckDBPyConnection, channel: Channel, messages: list[dict], now: datetime
) -> DrainCounts:
    """Land a batch of SQS messages ({'MessageId', 'Body'}) and their order versions in one transaction,
    then bring the core tables (and the stock) up to date. Each message is judged alone: whatever it
    holds, it is applied, or kept with the reason it changed nothing, or set aside (rejected)."""
    counts = DrainCounts(received=len(messages))
    now = now.replace(tzinfo=None)
    with transaction(con):
        trust = con.execute(
            "select c.seller_id, n.subscription_id from channels c left join channel_notifications n using (channel) "
            "where c.channel = ?",
            [channel.name],
        ).fetchone() or (None, None)
        batch = _Batch(channel, trust[0], trust[1], now)
        for message in messages:
            outcome, reason, note, version = _judge_safely(con, batch, message["Body"])
            # a NotificationId is the key only once Amazon vouches for the message: a forged one
            # must not take the id of a real one still to come
            key = note.notification_id if note and outcome != "rejected" else "sqs:" + message["MessageId"]
            if con.execute("select 1 from raw_notifications where notification_id = ?", [key]).fetchone():
                counts.duplicates += 1
                continue
            ingest_id = None
            if version is not None:
                text = payload_text(version)
                insert_versions(
                    con,
                    channel.name,
                    f"notification:{key}",
                    [
                        {
                            "amazon_order_id": note.amazon_order_id,
                            "last_updated_time": version["lastUpdatedTime"],
                            "payload": text,
                            "payload_hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                        }
                    ],
                )
                ingest_id = con.execute("select max(ingest_id) from raw_amazon_orders").fetchone()[0]
            con.execute(
                "insert into raw_notifications values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    key,
                    channel.name,
                    message["Body"],
                    now,
                    note.amazon_order_id if note else None,
                    note.changed_at if note else None,
                    outcome,
                    reason,
                    ingest_id,
                ],
            )
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            if outcome == "rejected":
                counts.rejected_reasons.append(f"message {message['MessageId']}: {reason}")
        newest = con.execute(
            "select max(changed_at) from raw_notifications where channel = ?", [channel.name]
        ).fetchone()[0]
        con.execute("insert or replace into notification_state values (?, ?, ?)", [channel.name, now, newest])
    if counts.applied:
        counts.movements = transform(con).movements_booked
    return counts


SET_ASIDE_ALERT_HOURS = 24  # a notification set aside fails the asset check this long after the newest arrival


def set_aside_recently(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], int]:
    """The notifications set aside within SET_ASIDE_ALERT_HOURS of their channel's newest arrival, per
    channel and reason (how many, since when), and how many were set aside in all."""
    rows = con.execute(f"""
        select r.channel, r.reason, count(*) as messages, strftime(min(r.received_at), '%Y-%m-%dT%H:%M:%SZ') as since
        from raw_notifications r join notification_state s using (channel)
        where r.outcome = 'rejected' and r.received_at > s.last_received_at - interval {SET_ASIDE_ALERT_HOURS} hour
        group by all order by messages desc, r.channel, r.reason limit 50
    """).fetchall()
    total = con.execute("select count(*) from raw_notifications where outcome = 'rejected'").fetchone()[0]
    return [dict(zip(("channel", "reason", "messages", "since"), row)) for row in rows], total


def _judge_safely(con, batch: _Batch, body: str) -> tuple[str, str | None, Notification | None, dict | None]:
    try:
        return _judge(con, batch, body)
    except duckdb.Error:
        raise  # the warehouse failed, not the message: the batch is not deleted, and comes back
    except Exception as error:
        return "rejected", f"could not be read ({type(error).__name__})", None, None


def _judge(con, batch: _Batch, body: str) -> tuple[str, str | None, Notification | None, dict | None]:
    """(outcome, reason, the notification, the order version it makes) of one message."""
    channel = batch.channel
    try:
        note = read_notification(body, batch.received_at)
    except ValueError as problem:
        return "rejected", str(problem), None, None
    # trusted only as far as Amazon vouches for it: the channel's own subscription and seller
    if note.subscription_id != batch.subscription_id:
        return (
            "rejected",
            f"SubscriptionId {_shown(note.subscription_id)} is not the channel's subscription",
            note,
            None,
        )
    if batch.seller_id is None:
        return (
            "rejected",
            (
                f"the channel has no seller id to check SellerId against: amazon-orders channel "
                f"notifications {channel.name!r} --seller-id MERCHANT_TOKEN"
            ),
            note,
            None,
        )
    if note.seller_id != batch.seller_id:
        return "rejected", f"SellerId {_shown(note.seller_id)} is not the channel's seller", note, None
    if note.marketplace_id not in channel.marketplace_ids:
        return "ignored", f"marketplace {_shown(note.marketplace_id)} is not one of the channel's", note, None
    base, updated = _newest_counting(con, channel, note.amazon_order_id)
    if base is not None and not isinstance(base, dict):
        return "ignored", "the order's newest version is not an object: left to the poll", note, None
    if base and (_dict(base.get("salesChannel"))).get("channelName") == "NON_AMAZON":
        return "ignored", "another sales channel's order (NON_AMAZON): not a sales order here", note, None
    if base is None:
        if note.purchase_date is None:
            return "ignored", "an order not seen yet, without a PurchaseDate: left to the poll", note, None
        if note.purchase_date < channel.start_at:
            return "ignored", "the order was created before the channel's start", note, None
        if note.summary["FulfillmentType"] == "AFN":
            # Amazon fulfils other sales channels' orders too (Multi-Channel Fulfilment), and a notification
            # does not say whose an order is: until the poll lists it, an AFN order is not taken for a sale
            return (
                "ignored",
                "an Amazon-fulfilled order the poll has not listed yet (it may be another sales "
                "channel's): left to the poll",
                note,
                None,
            )
    version = order_version(note, base)
    if updated is not None:
        changed = note.changed_at.replace(microsecond=0)
        # Amazon's times have whole seconds and an order can change twice in one: within the same second,
        # the version that is further along (status, units shipped, cancel requests) is the newer
        if changed < updated or changed == updated and _progress(version) <= _progress(base):
            return "stale", "the order's newest version is as new or newer", note, None
    new_skus = _skus_without_product(con, version, base) - batch.new_skus
    if len(new_skus) > PLACEHOLDERS_PER_MESSAGE:
        return (
            "rejected",
            (
                f"{len(new_skus)} SKUs without a product: a notification makes at most "
                f"{PLACEHOLDERS_PER_MESSAGE} placeholders (the poll brings the order)"
            ),
            note,
            None,
        )
    if len(batch.new_skus) + len(new_skus) > PLACEHOLDERS_PER_BATCH:
        return (
            "ignored",
            (
                f"this batch's notifications already make {len(batch.new_skus)} placeholders (at most "
                f"{PLACEHOLDERS_PER_BATCH}): left to the poll"
            ),
            note,
            None,
        )
    batch.new_skus |= new_skus
    return "applied", None, note, version


def _newest_counting(con, channel: Channel, amazon_order_id: str) -> tuple[object, datetime | None]:
    """The order's newest version that still counts (a notification's lapses once the poll has spoken),
    and its time: what the tables show once this batch's versions are transformed."""
    newest = con.execute(
        """
        with versions as (
            select payload, ingest_id, run_id, try_cast(last_updated_time as timestamptz)::timestamp as updated
            from raw_amazon_orders where channel = $channel and amazon_order_id = $order
        )
        select payload, updated from versions
        where not is_notification_version(run_id)
            or coalesce(notification_version_counts(
                ingest_id, updated,
                (select max(ingest_id) from versions where not is_notification_version(run_id)),
                (select watermark from channel_sync_state where channel = $channel)), false)
        order by updated desc nulls last, ingest_id desc limit 1
        """,
        {"channel": channel.name, "order": amazon_order_id},
    ).fetchone()
    return (json.loads(newest[0]), newest[1]) if newest else (None, None)


def _skus_without_product(con, version: dict, base: dict | None) -> set[str]:
    """The SKUs the version's lines would make a placeholder for (those the base had are made already)."""
    base_items = (base or {}).get("orderItems")
    had = (
        {_dict(i.get("product")).get("sellerSku") for i in base_items if isinstance(i, dict)}
        if isinstance(base_items, list)
        else set()
    )
    wanted = {_dict(i.get("product")).get("sellerSku") for i in version["orderItems"]} - had
    wanted = {sku for sku in wanted if isinstance(sku, str)}
    if not wanted:
        return set()
    known = {
        code
        for (code,) in con.execute(
            "select product_code from products where product_code in (select unnest(?::varchar[]))", [sorted(wanted)]
        ).fetchall()
    }
    return wanted - known


def _whole(value) -> int:
    """A quantity as Amazon sent it (a number, or its text in ASCII digits); 0 when it is neither."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value) else 0


_STATUS_RANK = {
    "PENDING": 0,
    "PENDING_AVAILABILITY": 0,
    "UNSHIPPED": 1,
    "PARTIALLY_SHIPPED": 2,
    "SHIPPED": 3,
    "CANCELLED": 3,
    "UNFULFILLABLE": 3,
}


def _progress(order: dict) -> tuple[int, int, int, int]:
    """How far along a version is: its status, units shipped, cancel requests, and items known (one
    message per item, OrderItemLevel, adds an item in the same second)."""
    items = (
        [item for item in order.get("orderItems") or [] if isinstance(item, dict)]
        if isinstance(order.get("orderItems"), list)
        else []
    )
    shipped = sum(_whole(_dict(item.get("fulfillment")).get("quantityFulfilled")) for item in items)
    asked = sum("cancellationRequest" in _dict(item.get("cancellation")) for item in items)
    status = _dict(order.get("fulfillment")).get("fulfillmentStatus")
    return _STATUS_RANK.get(status, -1) if isinstance(status, str) else -1, shipped, asked, len(items)


# -- the queue -----------------------------------------------------------------------------------


def drain(
    channel: Channel,
    queue_url: str,
    write,
    *,
    idle_seconds: float = 0.0,
    clock: Callable[[], datetime],
    say: Callable[[str], None] = lambda line: None,
    should_stop: Callable[[], bool] = lambda: False,
    after_batch: Callable[[DrainCounts], None] = lambda counts: None,
) -> DrainCounts:
    """Read the queue until it has been empty for `idle_seconds` (0: until the first empty receive), each
    batch applied under the writer lock (`write` yields a writing connection) and then deleted; `after_batch`
    is told each batch's counts once it is committed (the stock push follows a booking at once)."""
    try:
        with Queue(queue_url) as queue:
            return _drain(queue, channel, write, idle_seconds, clock, say, should_stop, after_batch)
    except QueueError as error:
        raise NotificationsError(f"{channel.name}: {error}; polling goes on without it") from None


def _drain(
    queue: Queue, channel: Channel, write, idle_seconds: float, clock, say, should_stop, after_batch
) -> DrainCounts:
    total, idle_since = DrainCounts(), time.monotonic()
    while not should_stop():
        # long polling: a receive returns as soon as a message is there (at least 1 s, so that SQS asks
        # every server of the queue rather than a sample of them)
        left = idle_seconds - (time.monotonic() - idle_since)
        wait = max(1, min(SQS_LONGEST_POLL_SECONDS, int(left + 0.999)))
        messages = queue.receive(wait)
        # a deep queue: more batches in the same transaction and transform, without waiting
        while messages and len(messages) % SQS_MOST_PER_RECEIVE == 0 and len(messages) < MOST_PER_COMMIT:
            more = queue.receive(0)
            if not more:
                break
            messages += more
        if not messages:
            if time.monotonic() - idle_since >= idle_seconds:
                break
            continue
        with write() as con:
            counts = apply_messages(con, channel, messages, clock())
        # deleted only once their effect is committed: a kill before this redelivers them, and their
        # NotificationIds make the second delivery change nothing
        queue.delete(messages)
        total.add(counts)
        for line in counts.rejected_reasons:
            say(f"{channel.name}: set aside {line}")
        say(
            f"{channel.name}: {counts.received} notification(s): {counts.applied} applied, {counts.duplicates} "
            f"duplicate(s), {counts.stale} stale, {counts.ignored} ignored, {counts.rejected} set aside; "
            f"{counts.movements} stock movement(s)"
        )
        after_batch(counts)
        idle_since = time.monotonic()
    return total
