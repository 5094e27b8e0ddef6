"""Amazon's FBA stock, snapshotted per channel after each sync; amazon_fba on hand follows it."""

from dagster import AssetCheckResult, AssetCheckSeverity, MaterializeResult, MetadataValue, asset, asset_check

from pipelines.assets.extract import PER_CHANNEL, raw_amazon_orders
from pipelines.assets.per_channel import channel_run
from pipelines.ingest.fba_stock import FbaInventoryError, fetch_fba_inventory, record_fba_snapshot, snapshot_due
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.warehouse.connection import open_for_reading
from pipelines.warehouse.status import fba_summaries_set_aside


@asset(
    **PER_CHANNEL,
    # after the extract, not the core tables: they skip when nothing changed, and Amazon's stock moves anyway
    deps=[raw_amazon_orders],
    output_required=False,
    description="Amazon's FBA quantities per marketplace and SKU (getInventorySummaries), and the "
    "adjustments that bring amazon_fba on hand to Amazon's count.",
)
def fba_inventory(context, warehouse: WarehouseResource, amazon: AmazonSellerResource):
    with open_for_reading(warehouse.resolved_path) as con:
        channel, say, now = channel_run(context, warehouse, con)
        due = snapshot_due(con, channel, context.run.run_id, now())
    if not due:
        say(f"{channel.name}: FBA stock not counted this time (nothing new since the last count)")
        return
    # the requests go out before the writer lock is taken: a slow Amazon holds up no one
    summaries, calls = fetch_fba_inventory(
        channel, amazon.credentials_account, on_event=lambda event: say(f"{channel.name}: {event}")
    )
    with warehouse.writer(on_wait=say) as con:
        snapshot = record_fba_snapshot(con, channel, summaries, now(), calls)
        stock = con.execute(
            "select seller_sku, sum(fulfillable_quantity) as fulfillable, sum(reserved_quantity) as reserved, "
            "sum(inbound_quantity) as inbound, sum(unfulfillable_quantity) as unfulfillable "
            "from fba_inventory where snapshot_id = ? and is_counted group by all order by all",
            [snapshot.snapshot_id],
        ).df()
    set_aside = f", {snapshot.unreadable} summary(ies) set aside" if snapshot.unreadable else ""
    say(f"{channel.name}: FBA stock of {snapshot.skus} SKU(s), {snapshot.adjustments} adjustment(s) booked{set_aside}")
    yield MaterializeResult(
        metadata={
            "channel": channel.name,
            "summaries": snapshot.summaries,
            "skus": snapshot.skus,
            "adjustments_booked": snapshot.adjustments,
            "unreadable_summaries": snapshot.unreadable,
            "api_calls": snapshot.calls,
            "stock": MetadataValue.md(stock.to_markdown(index=False) if len(stock) else "no FBA stock"),
        }
    )


@asset_check(
    asset=fba_inventory,
    description="every summary of the channel's latest FBA count could be read; "
    "one set aside (no sellerSku, a quantity that is not a whole number ...) leaves its SKU's stock where "
    "it was",
)
def fba_summaries_are_readable(context, warehouse: WarehouseResource):
    """Fails while the latest count set summaries aside, with how many, since when and why; when none of a
    count's summaries could be read, the run fails too (nothing of Amazon's count came in)."""
    channel = context.partition_key
    with warehouse.writer() as con:
        listed, readable = con.execute(
            "select s.summaries, (select count(*) from fba_inventory i where i.snapshot_id = s.snapshot_id) "
            "from fba_snapshots s where s.channel = ? order by s.snapshot_id desc limit 1",
            [channel],
        ).fetchone()
        set_aside = fba_summaries_set_aside(con, channel)
    nothing_read = listed > 0 and readable == 0
    yield AssetCheckResult(
        passed=set_aside.empty,
        severity=AssetCheckSeverity.ERROR if nothing_read else AssetCheckSeverity.WARN,
        metadata={
            "channel": channel,
            "summaries_listed": listed,
            "summaries_read": readable,
            "summaries_set_aside": int(set_aside["summaries"].sum()),
            "set_aside_since": MetadataValue.text(set_aside["since"].min() if len(set_aside) else ""),
            "reasons": MetadataValue.md(
                set_aside.drop(columns="channel").to_markdown(index=False) if len(set_aside) else "none"
            ),
        },
    )
    if nothing_read:
        raise FbaInventoryError(
            f"{channel}: none of the {listed} FBA inventory summaries could be read "
            f"({'; '.join(set_aside['reason'])}); they are kept raw and amazon_fba is left as it was"
        )
