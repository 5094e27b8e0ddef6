"""Customer returns from Amazon's returns reports, imported per channel on their own schedule, and the check
that tells when some keep failing."""

from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    Config,
    MaterializeResult,
    asset,
)

from pipelines.assets.checks import rows_check
from pipelines.assets.extract import PER_CHANNEL
from pipelines.assets.per_channel import channel_run
from pipelines.clock import iso, parse_instant
from pipelines.ingest.returns import ReportFetcher, ReturnsReportError, import_returns
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.warehouse.connection import Holds, open_for_reading, refused_reports_folder
from pipelines.warehouse.status import returns_failures


class ReturnsConfig(Config):
    until: str | None = None  # ISO 8601: read the reports up to there (default: now)


@asset(
    **PER_CHANNEL,
    description="Amazon's merchant-fulfilled and FBA returns reports, kept raw, and each return as a sales "
    "return created from its sales order (FBA sellable units restocked at amazon_fba).",
    check_specs=[
        AssetCheckSpec(
            "no_return_keeps_failing",
            asset="amazon_returns",
            description="no report row stays unreadable, no return waits a day for its order, "
            "and no refused document stops the import",
        )
    ],
)
def amazon_returns(context, config: ReturnsConfig, warehouse: WarehouseResource, amazon: AmazonSellerResource):
    channel, say, clock = channel_run(context, warehouse)
    now = clock()
    fetcher = ReportFetcher(
        channel,
        amazon.credentials_account,
        on_event=lambda event: say(f"{channel.name}: {event}"),
        folder=str(Path(warehouse.resolved_path).parent),
    )
    who, holds = f"the returns import of channel {channel.name!r}", Holds()
    counts = import_returns(
        lambda: open_for_reading(warehouse.resolved_path),
        holds.timed(lambda: warehouse.writer(on_wait=say, who=who, step_aside=True)),
        channel,
        fetcher,
        parse_instant(config.until, "--until") if config.until else None,
        now,
        say,
        refused_folder=refused_reports_folder(warehouse.resolved_path),
    )
    with open_for_reading(warehouse.resolved_path) as con:
        failing = returns_failures(con, now)
    # what this run could import is recorded, and the check tells what keeps failing, before the run fails for it
    yield MaterializeResult(
        metadata={
            "channel": channel.name,
            "reports": counts.reports,
            "reports_cancelled_no_data": counts.cancelled,
            "returns_imported": counts.imported,
            "matched_to_clerk_returns": counts.matched,
            "awaiting_receipt": counts.awaiting_receipt,
            "restocked_at_amazon_fba": counts.restocked,
            "returnless_refunds": counts.returnless,
            "quarantined": counts.quarantined,
            # both report types have been read up to here
            "window_reached": iso(min(counts.reached.values())) if counts.reached else None,
            "api_calls": fetcher.calls,
            **holds.metadata(),
        },
        check_results=[_check(failing)],
    )
    if counts.error:
        raise ReturnsReportError(counts.error)
    if counts.quarantined_now and not counts.imported:
        # everything this run read was set aside: the command fails, rather than say "0 imported" and exit 0
        raise ReturnsReportError(
            f"{channel.name}: no return imported, {counts.quarantined_now} row(s) quarantined "
            "(amazon-orders status lists them with their reasons)"
        )


def _check(found: list[tuple]) -> AssetCheckResult:
    return rows_check(
        "no_return_keeps_failing",
        {"failing": sum(row[3] for row in found)},
        "failures",
        ("channel", "report", "failure", "count", "since", "reason"),
        [(c, t, f, n, iso(since), reason) for c, t, f, n, since, reason in found],
    )
