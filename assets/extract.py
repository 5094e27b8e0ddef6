"""The extract asset: one partition per channel, landing searchOrders pages in raw_amazon_orders."""

from dagster import Config, DynamicPartitionsDefinition, MaterializeResult, MetadataValue, asset

from pipelines.assets.per_channel import channel_run
from pipelines.clock import iso, parse_instant
from pipelines.ingest.orders import sync_channel
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.warehouse.connection import Holds, run_lock

# One partition per channel. The channels table is the registry; the partitions follow it.
channels_partitions = DynamicPartitionsDefinition(name="channels")
# What every asset of a channel shares: its partition, its kinds in the UI, its group.
PER_CHANNEL = {"partitions_def": channels_partitions, "kinds": {"python", "duckdb"}, "group_name": "amazon_orders"}


def registry_changes(partitions: list[str], channels: list[str]) -> tuple[list[str], list[str]]:
    """(to add, to delete) for the partitions to be exactly the registered channels."""
    return [c for c in channels if c not in partitions], [p for p in partitions if p not in channels]


def follow_channel_registry(instance, channels: list[str]) -> None:
    """Make the channel partitions of `instance` exactly `channels` (the names in the channels table)."""
    add, delete = registry_changes(instance.get_dynamic_partitions(channels_partitions.name), channels)
    if add:
        instance.add_dynamic_partitions(channels_partitions.name, add)
    for name in delete:
        instance.delete_dynamic_partition(channels_partitions.name, name)


class ExtractConfig(Config):
    until: str | None = None  # ISO 8601: stop the window there (a backfill walks history with it)


@asset(
    **PER_CHANNEL,
    description="Every version of every order changed on Amazon since the channel's watermark, as sent.",
)
def raw_amazon_orders(
    context, config: ExtractConfig, warehouse: WarehouseResource, amazon: AmazonSellerResource
) -> MaterializeResult:
    channel, say, now = channel_run(context, warehouse)
    who = f"the sync of channel {channel.name!r}"
    # one sync of a channel at a time; between its pages the warehouse is free for everyone else
    holds = Holds()
    with run_lock(warehouse.resolved_path, who, on_wait=say):
        result = sync_channel(
            holds.timed(lambda: warehouse.writer(on_wait=say, who=who, step_aside=True)),
            channel,
            run_id=context.run.run_id,
            until=parse_instant(config.until, "--until") if config.until else None,
            account=amazon.credentials_account,
            now=now,
            on_event=lambda event: say(f"{channel.name}: {event}"),
        )
    lag = (now() - result.watermark).total_seconds() / 60 if result.watermark else None
    return MaterializeResult(
        metadata={
            "channel": channel.name,
            "pages": result.pages,
            "api_calls": result.api_calls,
            "orders_fetched": result.orders_fetched,
            "new_order_versions": result.orders_stored,
            "skipped_created_before_start": result.skipped_before_start,
            "rate_limit_wait_seconds": round(result.rate_limit_wait_seconds, 1),
            "watermark": iso(result.watermark) if result.watermark else None,
            "watermark_lag_minutes": MetadataValue.float(round(lag, 1)) if lag is not None else None,
            "retries": len(result.retries),
            **holds.metadata(),
        }
    )
