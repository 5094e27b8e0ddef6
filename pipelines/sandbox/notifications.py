"""The sandbox's Notifications API v1 (createDestination, createSubscription, deleteSubscriptionById) and
the ORDER_CHANGE messages it then sends to the destination's SQS queue, as Amazon does.

Rules quote models/notifications.json; a message follows models/OrderChangeNotification.json. Delivery is
at least once and unordered, as Amazon's: with `duplicate_rate` a message is sent twice, with
`reorder_rate` it is held back and sent after the next one. boto3 reaches the queue where
AWS_ENDPOINT_URL_SQS points (moto's server in tests and the demo).
"""

from __future__ import annotations

import json
import queue
import random
import re
import threading
import uuid
from pathlib import Path

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
ORDER_STATUS = {"PENDING": "Pending", "PENDING_AVAILABILITY": "PendingAvailability", "UNSHIPPED": "Unshipped",
                "PARTIALLY_SHIPPED": "PartiallyShipped", "SHIPPED": "Shipped", "CANCELLED": "Canceled",
                "UNFULFILLABLE": "Unfulfillable"}
GRANTLESS_OPERATIONS = {"createDestination", "deleteSubscriptionById", "getDestinations", "getDestination",
                        "deleteDestination", "getSubscriptionById"}  # "The ... operation is grantless."


class InvalidNotificationRequest(Exception):
    """Answered 400 InvalidInput."""


class SubscriptionConflict(Exception):
    """Answered 409: a subscription of this type and payload version exists."""


class NotificationsService:
    def __init__(self, server, *, duplicate_rate: float = 0.0, reorder_rate: float = 0.0, seed: int = 0):
        self.server = server
        self.duplicate_rate, self.reorder_rate = duplicate_rate, reorder_rate
        self._rng = random.Random(seed)
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
        spec = _json_object(body)
        # "required": ["name", "resourceSpecification"]; "Applications should use one resource type"
        name, resource = spec.get("name"), spec.get("resourceSpecification")
        if not isinstance(name, str) or not name or len(name) > _NAME_MAX or not isinstance(resource, dict) \
                or set(resource) != {"sqs"} or not isinstance(resource["sqs"], dict):
            raise InvalidNotificationRequest("destination")
        arn = resource["sqs"].get("arn")
        if not isinstance(arn, str) or len(arn) > _ARN_MAX or not _ARN.match(arn):
            raise InvalidNotificationRequest("arn")
        destination = {"destinationId": str(uuid.uuid4()), "name": name, "resource": {"sqs": {"arn": arn}}}
        with self._lock:
            self.destinations[destination["destinationId"]] = destination
        return {"payload": destination}

    def create_subscription(self, notification_type: str, body: bytes) -> dict:
        spec = _json_object(body)
        # "required": ["destinationId", "payloadVersion"]
        if notification_type not in PAYLOAD_VERSIONS or spec.get("payloadVersion") != PAYLOAD_VERSIONS[notification_type]:
            raise InvalidNotificationRequest("payloadVersion")
        with self._lock:
            if spec.get("destinationId") not in self.destinations:
                raise InvalidNotificationRequest("destinationId")
            if notification_type in self.subscriptions:
                raise SubscriptionConflict(notification_type)
            subscription = {"subscriptionId": str(uuid.uuid4()), "payloadVersion": spec["payloadVersion"],
                            "destinationId": spec["destinationId"]}
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
        asked = any("cancellationRequest" in (item.get("cancellation") or {})
                    and "cancellationExecution" not in item["cancellation"] for item in order["orderItems"])
        message = order_change_notification(order, subscription["subscriptionId"],
                                            "BuyerRequestedChange" if asked else "OrderStatusChange")
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
            chunk = messages[start:start + 10]
            arn = chunk[0][0]
            try:
                if arn not in clients:
                    _, _, _, region, account, name = arn.split(":", 5)
                    client = boto3.client("sqs", region_name=region)
                    clients[arn] = (client, client.get_queue_url(QueueName=name,
                                                                 QueueOwnerAWSAccountId=account)["QueueUrl"])
                client, url = clients[arn]
                client.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "MessageBody": json.dumps(message)} for n, (_, message) in enumerate(chunk)])
            except Exception:  # noqa: BLE001 - a queue that is gone or unreachable loses them, as at Amazon
                self.failures += len(chunk)
                clients.pop(arn, None)
                continue
            with self._lock:
                self.sent += [message for _, message in chunk]


def order_change_notification(order: dict, subscription_id: str, change_type: str) -> dict:
    """An ORDER_CHANGE notification (payload version 1.0) of an order as getOrder renders it."""
    fulfilled_by = (order.get("fulfillment") or {}).get("fulfilledBy")
    items = []
    for item in order.get("orderItems", []):
        cancellation = item.get("cancellation") or {}
        items.append({
            "OrderItemId": item["orderItemId"],
            "SellerSKU": item["product"]["sellerSku"],
            "SupplySourceId": None,
            "Quantity": item["quantityOrdered"],
            "QuantityShipped": (item.get("fulfillment") or {}).get("quantityFulfilled", 0),
            "IsBuyerRequestedCancel": "cancellationRequest" in cancellation
                                      and "cancellationExecution" not in cancellation,
        })
    shipped = sum(i["QuantityShipped"] for i in items)
    address = (order.get("recipient") or {}).get("deliveryAddress") or {}
    return {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": order["lastUpdatedTime"],
        "Payload": {"OrderChangeNotification": {
            "NotificationLevel": "OrderLevel",
            "SellerId": "A3TH9S8BH6GOGM",
            "AmazonOrderId": order["orderId"],
            "OrderChangeType": change_type,
            "OrderChangeTrigger": {"TimeOfOrderChange": order["lastUpdatedTime"],
                                   "ChangeReason": "Buyer Requested Cancel" if change_type == "BuyerRequestedChange"
                                   else "Order Status Changed"},
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
        }},
        "NotificationMetadata": {"ApplicationId": "amzn1.sp.solution.sandbox", "SubscriptionId": subscription_id,
                                 "PublishTime": order["lastUpdatedTime"], "NotificationId": str(uuid.uuid4())},
    }


def _json_object(body: bytes) -> dict:
    try:
        spec = json.loads(body or b"null")
    except ValueError:
        raise InvalidNotificationRequest("body") from None
    if not isinstance(spec, dict):
        raise InvalidNotificationRequest("body")
    return spec
