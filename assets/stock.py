"""Stock pushed back to Amazon per channel (issue #26): the marked SKUs' available quantities set on the channel's
merchant-fulfilled listings, with what was pushed, refused and drifting as metadata and a check."""

from dagster import AssetCheckResult, AssetCheckSeverity, Config, MaterializeResult, MetadataValue, asset, asset_check

from pipelines.assets.extract import PER_CHANNEL
from pipelines.assets.per_channel import channel_run
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.outbound.stock import push_stock
from pipelines.warehouse.connection import open_for_reading
from pipelines.warehouse.status import invalid_listings


class StockPushConfig(Config):
    full: bool = False  # read every listing afresh and send every quantity Amazon has not accepted


@asset(
    **PER_CHANNEL,
    description="The channel's merchant-fulfilled listings on Amazon set to what the warehouse has available to "
    "sell (patchListingsItem, merge on fulfillment_availability, DEFAULT), for the SKUs the ledger marked.",
)
def amazon_listings_stock(
    context, config: StockPushConfig, warehouse: WarehouseResource, amazon: AmazonSellerResource
) -> MaterializeResult:
    channel, say, now = channel_run(context, warehouse)
    result = push_stock(
        channel,
        lambda: warehouse.writer(on_wait=say),
        now=now,
        account=amazon.credentials_account,
        full=config.full,
        on_event=lambda event: say(f"{channel.name}: {event}"),
    )
    with open_for_reading(warehouse.resolved_path) as con:
        drift = con.execute("select * from stock_drift where channel = ? order by all", [channel.name]).df()
    say(result.line)
    return MaterializeResult(
        metadata={
            **result.metadata(),
            "drift": MetadataValue.md(drift.to_markdown(index=False) if len(drift) else "none"),
        }
    )


@asset_check(
    asset=amazon_listings_stock,
    description="Amazon accepted the latest quantity of every listing pushed "
    "(none INVALID or unanswered) and no listing drifts from what was pushed",
)
def listings_accept_pushed_stock(context, warehouse: WarehouseResource):
    channel = context.partition_key
    with open_for_reading(warehouse.resolved_path) as con:
        refused = invalid_listings(con, channel).df()
        drift = con.execute("select * from stock_drift where channel = ?", [channel]).df()
    yield AssetCheckResult(
        passed=refused.empty and drift.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "channel": channel,
            "refused_or_unanswered": len(refused),
            "drifting": len(drift),
            "refused": MetadataValue.md(refused.to_markdown(index=False) if len(refused) else "none"),
        },
    )
