"""Sync runs started outside the daemon (the CLI and the demo): Dagster's sync_job, executed
in-process and recorded in the project's Dagster instance, so the UI shows them beside scheduled runs."""

from __future__ import annotations

import os
from collections.abc import Callable

from pipelines.warehouse import open_for_writing, warehouse_path

LAUNCHED_BY_TAG = "amazon-orders/launched-by"  # the runs list tells the CLI's and the demo's runs apart


class SyncFailed(RuntimeError):
    """One or more channels failed; the message is their error lines, joined."""


def _innermost_error(error) -> str:
    while error.cause is not None:
        error = error.cause
    first = error.message.strip().splitlines()[0]
    # SerializableErrorInfo messages start with the exception's class name
    return first.split(": ", 1)[1] if ": " in first and first.split(": ", 1)[0].endswith(("Error", "Exception")) else first


def summarise_run(result, channel: str) -> dict:
    """One line about a finished sync_job run, and its figures."""
    figures: dict = {"channel": channel, "run_id": result.run_id, "success": result.success}
    for node in ("raw_amazon_orders", "core_tables"):
        for materialization in result.asset_materializations_for_node(node):
            figures.update({k: v.value for k, v in materialization.metadata.items()})
    if not result.success:
        failures = result.get_step_failure_events()
        figures["error"] = _innermost_error(failures[0].step_failure_data.error) if failures else "run failed"
        figures["line"] = f"{channel}: FAILED: {figures['error']}"
        return figures
    fetched = f"{channel}: {figures.get('pages', 0)} page(s), {figures.get('orders_fetched', 0)} orders fetched"
    if "orders_added" not in figures:  # the core tables were not materialised: nothing new
        changes = "no new order versions"
    else:
        changes = (
            f"{figures['orders_added']} added, {figures['orders_updated']} updated, "
            f"{figures['pending_orders']} pending, {figures['placeholders_created']} placeholders created, "
            f"{figures['quarantined_versions_this_run']} quarantined"
        )
    figures["line"] = f"{fetched}, {changes}; watermark {figures.get('watermark')}"
    return figures


def run_sync(db, channel: str | None = None, until: str | None = None, *, log_level: str = "INFO",
             on_report: Callable[[dict], None] = lambda report: None,
             on_wait: Callable[[str], None] | None = None, launched_by: str = "cli") -> list[dict]:
    """Run the Dagster sync job once per channel (every channel by default); raise SyncFailed if any failed."""
    from pipelines import clock
    from pipelines.assets.extract import follow_channel_registry
    from pipelines.channels import get_channel, list_channels
    from pipelines.definitions import defs
    from pipelines.extract import check_until
    from pipelines.instance import get_instance
    from pipelines.timeutil import parse_instant

    os.environ["AMAZON_ORDERS_DB"] = str(warehouse_path(db))
    with open_for_writing(db, on_wait=on_wait) as con:
        registered = list_channels(con)
        targets = [get_channel(con, channel)] if channel else registered
    if not targets:
        raise SyncFailed("no channels to sync: add one with `amazon-orders channel add`")
    # every argument is checked before a Dagster run is created: a refused one leaves no failed run behind
    if until is not None:
        bound, now = parse_instant(until, "--until"), clock.from_environment()()
        for target in targets:
            check_until(target, bound, now)
    instance = get_instance()
    follow_channel_registry(instance, [c.name for c in registered])
    job = defs.resolve_job_def("sync_job")
    reports = []
    for name in [target.name for target in targets]:
        run_config = {
            "ops": {"raw_amazon_orders": {"config": {"until": until}}},
            # progress (pages, orders, rate-limit waits) without Dagster's engine chatter
            "loggers": {"cli_progress": {"config": {"log_level": log_level}}},
        }
        result = job.execute_in_process(instance=instance, partition_key=name, run_config=run_config,
                                        tags={LAUNCHED_BY_TAG: launched_by}, raise_on_error=False)
        report = summarise_run(result, name)
        reports.append(report)
        if result.success:
            on_report(report)
    failures = [report["error"] for report in reports if not report["success"]]
    if failures:
        raise SyncFailed("; ".join(failures))
    return reports
