"""Amazon's FBA stock, snapshotted per channel after each sync; amazon_fba on hand follows it."""

from dagster import MaterializeResult, MetadataValue, asset

from pipelines import clock
from pipelines.assets.extract import channels_partitions, raw_amazon_orders
from pipelines.channels import get_channel
from pipelines.fba_stock import fetch_fba_inventory, record_fba_snapshot, snapshot_due
from pipelines.progress import progress
from pipelines.resources import AmazonSellerResource, WarehouseResource
from pipelines.warehouse import open_for_reading


@asset(
    partitions_def=channels_partitions,
    # after the extract, not the core tables: they skip when nothing changed, and Amazon's stock moves anyway
    deps=[raw_amazon_orders],
    output_required=False,
    kinds={"python", "duckdb"},
    group_name="amazon_orders",
    description="Amazon's FBA quantities per marketplace and SKU (getInventorySummaries), and the "
    "adjustments that bring amazon_fba on hand to Amazon's count.",
)
def fba_inventory(context, warehouse: WarehouseResource, amazon: AmazonSellerResource):
    say, now = progress(context), clock.from_environment()
    with open_for_reading(warehouse.resolved_path) as con:
        channel = get_channel(con, context.partition_key)
        due = snapshot_due(con, channel, context.run.run_id, now())
    if not due:
        say(f"{channel.name}: FBA stock not counted this time (nothing new since the last count)")
        return
    # the requests go out before the writer lock is taken: a slow Amazon holds up no one
    summaries, calls = fetch_fba_inventory(channel, amazon.credentials_account,
                                           on_event=lambda event: say(f"{channel.name}: {event}"))
    with warehouse.writer(on_wait=say) as con:
        snapshot = record_fba_snapshot(con, channel, summaries, now(), calls)
        stock = con.execute(
            "select seller_sku, sum(fulfillable_quantity) as fulfillable, sum(reserved_quantity) as reserved, "
            "sum(inbound_quantity) as inbound, sum(unfulfillable_quantity) as unfulfillable "
            "from fba_inventory where snapshot_id = ? group by all order by all", [snapshot.snapshot_id]).df()
    say(f"{channel.name}: FBA stock of {snapshot.skus} SKU(s), {snapshot.adjustments} adjustment(s) booked")
    yield MaterializeResult(metadata={
        "channel": channel.name,
        "skus": snapshot.skus,
        "adjustments_booked": snapshot.adjustments,
        "unreadable_summaries": snapshot.unreadable,
        "api_calls": snapshot.calls,
        "stock": MetadataValue.md(stock.to_markdown(index=False) if len(stock) else "no FBA stock"),
    })
