"""ORDER_CHANGE notifications from the channel's SQS queue: stock reserved as soon as Amazon tells."""

import os

from dagster import AssetCheckResult, AssetCheckSeverity, Config, MaterializeResult, MetadataValue, asset, asset_check

from pipelines.assets.extract import PER_CHANNEL
from pipelines.assets.per_channel import channel_run
from pipelines.ingest.notifications import SET_ASIDE_ALERT_HOURS, drain, queue_url_of, set_aside_recently
from pipelines.orchestration.instance import running_channels
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.outbound.stock import push_moved_stock
from pipelines.warehouse.connection import open_for_reading


def listen_interval() -> int:
    """Seconds between the sensor's looks at the queues, and how long a run waits for more messages."""
    return int(os.environ.get("AMAZON_ORDERS_NOTIFICATIONS_INTERVAL", "30"))


class NotificationsConfig(Config):
    idle_seconds: int = -1  # keep reading until the queue has been empty this long (-1: the sensor's interval)


@asset(
    **PER_CHANNEL,
    description="The channel's ORDER_CHANGE notifications (SQS), kept raw; each one newer than the order's "
    "state becomes an order version, and the core tables and stock follow at once.",
    output_required=False,  # #28: a channel without a queue skips, with its reason, rather than failing
)
def order_notifications(
    context, config: NotificationsConfig, warehouse: WarehouseResource, amazon: AmazonSellerResource
):
    with open_for_reading(warehouse.resolved_path) as con:
        channel, say, now = channel_run(context, warehouse, con)
        queue_url = queue_url_of(con, channel)
    if queue_url is None:  # "Materialize all" in the UI must not fail on it (#28)
        say(
            f"{channel.name}: skipped: no notification queue (amazon-orders channel notifications "
            f"{channel.name!r} --queue-arn ARN --queue-url URL); polling brings its orders"
        )
        return
    idle = listen_interval() if config.idle_seconds < 0 else config.idle_seconds
    who = f"the notifications of channel {channel.name!r}"

    def push_what_moved(counts) -> None:
        # an order booked here lowers the other marketplaces' listings at once, not a sensor's interval later:
        # what a sale on one marketplace leaves the other selling (BENCHMARKS.md, "Stock back to Amazon")
        if counts.movements:
            push_moved_stock(
                lambda: warehouse.writer(on_wait=say, who=who),
                now=now,
                account=amazon.credentials_account,
                skip=lambda: running_channels(context.instance, "stock_push_job"),
                say=say,
            )

    counts = drain(
        channel,
        queue_url,
        lambda: warehouse.writer(on_wait=say, who=who),
        idle_seconds=idle,
        clock=now,
        say=say,
        after_batch=push_what_moved,
    )
    yield MaterializeResult(
        metadata={
            "channel": channel.name,
            "received": counts.received,
            "applied": counts.applied,
            "duplicates": counts.duplicates,
            "stale": counts.stale,
            "ignored": counts.ignored,
            "set_aside": counts.rejected,
            "stock_movements": counts.movements,
        }
    )


@asset_check(
    asset=order_notifications,
    description="no notification was set aside (rejected) in the "
    f"{SET_ASIDE_ALERT_HOURS} hours up to the channel's newest arrival: a failure that repeats is never quiet",
)
def no_notification_set_aside(warehouse: WarehouseResource) -> AssetCheckResult:
    with open_for_reading(warehouse.resolved_path) as con:
        recent, total = set_aside_recently(con)
    metadata = {"set_aside_recently": sum(row["messages"] for row in recent), "set_aside_total": total}
    if recent:
        metadata["reasons"] = MetadataValue.json(recent)
    return AssetCheckResult(passed=not recent, severity=AssetCheckSeverity.ERROR, metadata=metadata)
