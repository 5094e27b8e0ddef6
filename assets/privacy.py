"""The daily PII purge, as an asset so its runs and counts show in the Dagster UI."""

from dagster import Config, MaterializeResult, asset

from pipelines.assets.per_channel import figures
from pipelines.backoffice.privacy import purge_pii
from pipelines.orchestration.progress import progress
from pipelines.orchestration.resources import WarehouseResource


class PurgeConfig(Config):
    days: int = 30  # keep buyer details this many days after an order ships or is cancelled


@asset(
    kinds={"duckdb"},
    group_name="amazon_orders",
    description="Buyer names, emails, phones and street addresses removed from orders shipped or "
    "cancelled more than `days` ago, raw payloads included.",
)
def purged_buyer_pii(context, config: PurgeConfig, warehouse: WarehouseResource) -> MaterializeResult:
    result = purge_pii(warehouse.resolved_path, config.days, say=progress(context))
    return MaterializeResult(metadata={"days": config.days, **figures(context, result)})
