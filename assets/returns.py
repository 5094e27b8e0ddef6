"""Customer returns from Amazon's returns reports, imported per channel on their own schedule."""

from typing import Optional

from dagster import Config, MaterializeResult, asset

from pipelines import clock
from pipelines.assets.extract import channels_partitions
from pipelines.channels import get_channel
from pipelines.progress import progress
from pipelines.resources import AmazonSellerResource, WarehouseResource
from pipelines.returns import ReportFetcher, import_returns
from pipelines.timeutil import iso, parse_instant
from pipelines.warehouse import open_for_reading


class ReturnsConfig(Config):
    until: Optional[str] = None  # ISO 8601: read the reports up to there (default: now)


@asset(
    partitions_def=channels_partitions,
    kinds={"python", "duckdb"},
    group_name="amazon_orders",
    description="Amazon's merchant-fulfilled and FBA returns reports, kept raw, and each return as a sales "
    "return created from its sales order (FBA sellable units restocked at amazon_fba).",
)
def amazon_returns(context, config: ReturnsConfig, warehouse: WarehouseResource,
                   amazon: AmazonSellerResource) -> MaterializeResult:
    say, now = progress(context), clock.from_environment()()
    with open_for_reading(warehouse.resolved_path) as con:
        channel = get_channel(con, context.partition_key)
    fetcher = ReportFetcher(channel, amazon.credentials_account, on_event=lambda event: say(f"{channel.name}: {event}"))
    counts = import_returns(lambda: open_for_reading(warehouse.resolved_path), lambda: warehouse.writer(on_wait=say),
                            channel, fetcher, parse_instant(config.until, "--until") if config.until else None,
                            now, say)
    return MaterializeResult(metadata={
        "channel": channel.name,
        "reports": counts.reports,
        "reports_cancelled_no_data": counts.cancelled,
        "returns_imported": counts.imported,
        "matched_to_clerk_returns": counts.matched,
        "awaiting_receipt": counts.awaiting_receipt,
        "restocked_at_amazon_fba": counts.restocked,
        "quarantined": counts.quarantined,
        # both report types have been read up to here
        "window_reached": iso(min(counts.reached.values())) if counts.reached else None,
        "api_calls": fetcher.calls,
    })
