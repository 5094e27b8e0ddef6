"""The sandbox's Notifications API v1 (createDestination, createSubscription, deleteSubscriptionById) and
the ORDER_CHANGE messages it then sends to the destination's SQS queue, as Amazon does.

Rules quote models/notifications.json; a message follows models/OrderChangeNotification.json. Delivery is
at least once and unordered, as Amazon's: with `duplicate_rate` a message is sent twice, with
`reorder_rate` it is held back and sent after the next one; with `variant_rate` it takes one of the
shapes Amazon's messages take (VARIANTS, seeded: optional fields left out, nulls, one message per item).
boto3 reaches the queue where AWS_ENDPOINT_URL_SQS points (moto's server in tests and the demo).
"""

from __future__ import annotations

import copy
import json
import queue
import random
import re
import threading
import uuid
from pathlib import Path

from .reference import json_object

NOTIFICATIONS_MODEL = json.loads((Path(__file__).parent / "models" / "notifications.json").read_text())
DESTINATIONS_PATH = "/notifications/v1/destinations"
SUBSCRIPTIONS_PATH = "/notifications/v1/subscriptions"
GRANTLESS_SCOPE = "sellingpartnerapi::notifications"
_DEFINITIONS = NOTIFICATIONS_MODEL["definitions"]
# SqsResource.arn: "maxLength": 1000, "pattern": "^arn:aws:sqs:\\S+:\\S+:\\S+"
_ARN = re.compile(_DEFINITIONS["SqsResource"]["properties"]["arn"]["pattern"])
_ARN_MAX = _DEFINITIONS["SqsResource"]["properties"]["arn"]["maxLength"]
_NAME_MAX = _DEFINITIONS["Destination"]["properties"]["name"]["maxLength"]  # "maxLength": 256
# The notification types and payload versions this sandbox sends (OrderChangeNotification.json: "1.0")
PAYLOAD_VERSIONS = {"ORDER_CHANGE": "1.0"}
# getOrders' statuses, as the notification's Summary.OrderStatus enum spells them
ORDER_STATUS = {
    "PENDING": "Pending",
    "PENDING_AVAILABILITY": "PendingAvailability",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
GRANTLESS_OPERATIONS = {
    "createDestination",
    "deleteSubscriptionById",
    "getDestinations",
    "getDestination",
    "deleteDestination",
    "getSubscriptionById",
}  # "The ... operation is grantless."


class InvalidNotificationRequest(Exception):
    """Answered 400 InvalidInput."""


class SubscriptionConflict(Exception):
    """Answered 409: a subscription of this type and payload version exists."""


SELLER_ID = "A3TH9S8BH6GOGM"  # the sandbox seller's Merchant Token (the model example's SellerId)


class NotificationsService:
    def __init__(self, server, *, duplicate_rate: float = 0.0, reorder_rate: float = 0.0, seed: int = 0):
        self.server = server
        self.seller_id = SELLER_ID
        self.duplicate_rate, self.reorder_rate = duplicate_rate, reorder_rate
        self.variant_rate = 0.0  # how often a message takes one of Amazon's other VARIANTS (seeded)
        self._rng = random.Random(seed)
        self._variant_rng = random.Random(f"variants:{seed}")  # its own: the delivery faults keep their draws
        self.destinations: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}  # notification type -> subscription
        self.sent: list[dict] = []  # every message handed to SQS, in order
        self._outbox: queue.Queue = queue.Queue()
        self._held: dict | None = None
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self.failures = 0  # messages SQS refused (an unreachable queue loses them, as a deleted one would)

    # -- the API ------------------------------------------------------------------------------

    def create_destination(self, body: bytes) -> dict:
        spec = json_object(body, InvalidNotificationRequest)
        # "required": ["name", "resourceSpecification"]; "Applications should use one resource type"
        name, resource = spec.get("name"), spec.get("resourceSpecification")
        if (
            not isinstance(name, str)
            or not name
            or len(name) > _NAME_MAX
            or not isinstance(resource, dict)
            or set(resource) != {"sqs"}
            or not isinstance(resource["sqs"], dict)
        ):
            raise InvalidNotificationRequest("destination")
        arn = resource["sqs"].get("arn")
        if not isinstance(arn, str) or len(arn) > _ARN_MAX or not _ARN.match(arn):
            raise InvalidNotificationRequest("arn")
        destination = {"destinationId": str(uuid.uuid4()), "name": name, "resource": {"sqs": {"arn": arn}}}
        with self._lock:
            self.destinations[destination["destinationId"]] = destination
        return {"payload": destination}

    def create_subscription(self, notification_type: str, body: bytes) -> dict:
        spec = json_object(body, InvalidNotificationRequest)
        # "required": ["destinationId", "payloadVersion"]
        if (
            notification_type not in PAYLOAD_VERSIONS
            or spec.get("payloadVersion") != PAYLOAD_VERSIONS[notification_type]
        ):
            raise InvalidNotificationRequest("payloadVersion")
        with self._lock:
            if spec.get("destinationId") not in self.destinations:
                raise InvalidNotificationRequest("destinationId")
            if notification_type in self.subscriptions:
                raise SubscriptionConflict(notification_type)
            subscription = {
                "subscriptionId": str(uuid.uuid4()),
                "payloadVersion": spec["payloadVersion"],
                "destinationId": spec["destinationId"],
            }
            self.subscriptions[notification_type] = subscription
        return {"payload": subscription}

    def delete_subscription(self, notification_type: str, subscription_id: str) -> dict:
        with self._lock:
            found = self.subscriptions.get(notification_type)
            if found is None or found["subscriptionId"] != subscription_id:
                raise KeyError(subscription_id)
            del self.subscriptions[notification_type]
        return {}

    # -- delivery -----------------------------------------------------------------------------

    def order_changed(self, order_id: str) -> None:
        """The marketplace's listener: after each change of an order, its ORDER_CHANGE notification."""
        with self._lock:
            subscription = self.subscriptions.get("ORDER_CHANGE")
            if subscription is None:
                return
            arn = self.destinations[subscription["destinationId"]]["resource"]["sqs"]["arn"]
        order = self.server.marketplace.order(order_id)
        if order["salesChannel"].get("channelName") == "NON_AMAZON":
            return  # another sales channel's order that Amazon fulfils: not an Amazon order's change
        asked = any(
            "cancellationRequest" in (item.get("cancellation") or {})
            and "cancellationExecution" not in item["cancellation"]
            for item in order["orderItems"]
        )
        change_type = "BuyerRequestedChange" if asked else "OrderStatusChange"
        with self._lock:
            variant = (
                self._variant_rng.choice(sorted(VARIANTS))
                if self.variant_rate and self._variant_rng.random() < self.variant_rate
                else "order_level"
            )
        for message in order_change_notifications(
            order, subscription["subscriptionId"], change_type, self.seller_id, variant
        ):
            self._outbox.put((arn, message))
        self._start_sender()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every message handed over so far has gone to SQS (a held one included)."""
        done = threading.Event()
        self._outbox.put(("flush", done))
        self._start_sender()
        done.wait(timeout)

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_forever, name="sandbox-sqs-sender", daemon=True)
                self._sender.start()

    def _send_forever(self) -> None:
        clients: dict[str, tuple] = {}  # arn -> (client, queue URL)
        while True:
            batch = [self._outbox.get()]
            while len(batch) < 10:  # what else is waiting goes in the same SendMessageBatch
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            ready = []
            for arn, message in batch:
                if arn == "flush":
                    ready += [self._held] if self._held else []
                    self._held = None
                    self._deliver(clients, ready)
                    ready = []
                    message.set()
                    continue
                if self._held is None and self._rng.random() < self.reorder_rate:
                    self._held = (arn, message)  # sent after the next one
                    continue
                ready.append((arn, message))
                if self._rng.random() < self.duplicate_rate:
                    ready.append((arn, message))
                if self._held is not None:
                    ready.append(self._held)
                    self._held = None
            self._deliver(clients, ready)

    def _deliver(self, clients: dict, messages: list[tuple[str, dict]]) -> None:
        import boto3

        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            arn = chunk[0][0]
            try:
                if arn not in clients:
                    _, _, _, region, account, name = arn.split(":", 5)
                    client = boto3.client("sqs", region_name=region)
                    clients[arn] = (
                        client,
                        client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"],
                    )
                client, url = clients[arn]
                client.send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "MessageBody": json.dumps(message)} for n, (_, message) in enumerate(chunk)
                    ],
                )
            except Exception:
                self.failures += len(chunk)
                clients.pop(arn, None)
                continue
            with self._lock:
                self.sent += [message for _, message in chunk]


# The shapes Amazon's ORDER_CHANGE messages take, each from the public source it comes from; every one
# is valid under models/OrderChangeNotification.json (the tests check each message sent against it).
VARIANTS = {
    # what this sandbox sends by default: the model's example (below) without the dates and programs
    "order_level": "OrderChangeNotification.json examples[0], less its dates and programs",
    # amzn/selling-partner-api-models schemas/notifications/OrderChangeNotification.json, examples[0]
    # (commit fafbbefd70d9): every field, with the ship and delivery dates and OrderItemStatus
    "full": "OrderChangeNotification.json examples[0]",
    # the same schema's "required" lists and nothing else: no QuantityShipped, IsBuyerRequestedCancel,
    # NumberOfItems*, OrderItemStatus or dates
    "required_only": "OrderChangeNotification.json required",
    # the schema's nullable fields as null: TimeOfOrderChange "will be null when there is no related
    # timestamp"; PurchaseDate, DestinationPostalCode and SupplySourceId "when there is no related information"
    "nulls": "OrderChangeNotification.json type [string, null]",
    # Summary.OrderItems: "For OrderItemLevel notification, one payload include one item": a message per item
    "item_level": "OrderChangeNotification.json Summary.OrderItems description",
}
_OPTIONAL_SUMMARY = ("NumberOfItemsShipped", "NumberOfItemsUnshipped")
_OPTIONAL_ITEM = ("QuantityShipped", "IsBuyerRequestedCancel")


def order_change_notifications(
    order: dict, subscription_id: str, change_type: str, seller_id: str, variant: str = "order_level"
) -> list[dict]:
    """The ORDER_CHANGE messages (payload version 1.0) of an order's change as `variant` shapes them."""
    message = order_change_notification(order, subscription_id, change_type, seller_id)
    change = message["Payload"]["OrderChangeNotification"]
    summary = change["Summary"]
    if variant == "full":
        # the model example's fields beyond the default ones, for this order
        summary.update(
            {
                "EarliestShipDate": order["createdTime"],
                "LatestShipDate": order["createdTime"],
                "OrderPrograms": [],
                "ShippingPrograms": [],
            }
        )
        for item in summary["OrderItems"]:
            item["OrderItemStatus"] = "Shipped" if item["QuantityShipped"] == item["Quantity"] else "Unshipped"
    elif variant == "required_only":
        for name in _OPTIONAL_SUMMARY:
            summary.pop(name, None)
        for item in summary["OrderItems"]:
            for name in _OPTIONAL_ITEM:
                item.pop(name, None)
    elif variant == "nulls":
        change["OrderChangeTrigger"]["TimeOfOrderChange"] = None
        summary.update({"PurchaseDate": None, "DestinationPostalCode": None})
    elif variant == "item_level":
        change["NotificationLevel"] = "OrderItemLevel"
        messages = []
        for item in summary["OrderItems"]:
            one = copy.deepcopy(message)
            one["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"] = [item]
            one["NotificationMetadata"]["NotificationId"] = str(uuid.uuid4())
            messages.append(one)
        return messages
    return [message]


def order_change_notification(order: dict, subscription_id: str, change_type: str, seller_id: str = SELLER_ID) -> dict:
    """An ORDER_CHANGE notification (payload version 1.0) of an order as getOrder renders it."""
    fulfilled_by = (order.get("fulfillment") or {}).get("fulfilledBy")
    items = []
    for item in order.get("orderItems", []):
        cancellation = item.get("cancellation") or {}
        items.append(
            {
                "OrderItemId": item["orderItemId"],
                "SellerSKU": item["product"]["sellerSku"],
                "SupplySourceId": None,
                "Quantity": item["quantityOrdered"],
                "QuantityShipped": (item.get("fulfillment") or {}).get("quantityFulfilled", 0),
                "IsBuyerRequestedCancel": "cancellationRequest" in cancellation
                and "cancellationExecution" not in cancellation,
            }
        )
    shipped = sum(i["QuantityShipped"] for i in items)
    address = (order.get("recipient") or {}).get("deliveryAddress") or {}
    return {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": order["lastUpdatedTime"],
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": seller_id,
                "AmazonOrderId": order["orderId"],
                "OrderChangeType": change_type,
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": order["lastUpdatedTime"],
                    "ChangeReason": "Buyer Requested Cancel"
                    if change_type == "BuyerRequestedChange"
                    else "Order Status Changed",
                },
                "Summary": {
                    "MarketplaceId": order["salesChannel"]["marketplaceId"],
                    "OrderStatus": ORDER_STATUS[order["fulfillment"]["fulfillmentStatus"]],
                    "PurchaseDate": order["createdTime"],
                    "DestinationPostalCode": address.get("postalCode"),
                    "FulfillmentType": "AFN" if fulfilled_by == "AMAZON" else "MFN",
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": shipped,
                    "NumberOfItemsUnshipped": sum(i["Quantity"] for i in items) - shipped,
                    "OrderItems": items,
                },
            }
        },
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sp.solution.sandbox",
            "SubscriptionId": subscription_id,
            "PublishTime": order["lastUpdatedTime"],
            "NotificationId": str(uuid.uuid4()),
        },
    }
