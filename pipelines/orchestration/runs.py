"""Runs started outside the daemon (the CLI and the demo): Dagster's sync_job and returns_job, executed
in-process and recorded in the warehouse's own Dagster instance, so the UI shows them beside scheduled runs."""

from __future__ import annotations

import os
from collections.abc import Callable

from pipelines.warehouse.connection import open_for_writing, warehouse_path

LAUNCHED_BY_TAG = "amazon-orders/launched-by"  # the runs list tells the CLI's and the demo's runs apart


class SyncFailed(RuntimeError):
    """One or more channels failed; the message is their error lines, joined."""


def _innermost_error(error) -> str:
    while error.cause is not None:
        error = error.cause
    first = error.message.strip().splitlines()[0]
    # SerializableErrorInfo's message starts with the exception's class, qualified by its module or not:
    # the user reads what went wrong, not where in the code
    head, _, rest = first.partition(": ")
    return rest if rest and head.rsplit(".", 1)[-1] == error.cls_name else first


def _figures(result, channel: str, nodes: tuple[str, ...]) -> dict:
    """The run's materialisation metadata; on failure, its error and a FAILED line."""
    figures: dict = {"channel": channel, "run_id": result.run_id, "success": result.success}
    for node in nodes:
        for materialization in result.asset_materializations_for_node(node):
            figures.update({k: v.value for k, v in materialization.metadata.items()})
    if not result.success:
        failures = result.get_step_failure_events()
        figures["error"] = _innermost_error(failures[0].step_failure_data.error) if failures else "run failed"
        figures["line"] = f"{channel}: FAILED: {figures['error']}"
    return figures


def summarise_run(result, channel: str) -> dict:
    """One line about a finished sync_job run, and its figures."""
    figures = _figures(result, channel, ("raw_amazon_orders", "core_tables"))
    if not result.success:
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


def summarise_returns_run(result, channel: str) -> dict:
    """One line about a finished returns_job run, and its figures."""
    figures = _figures(result, channel, ("amazon_returns",))
    if result.success:
        returnless = figures.get("returnless_refunds")
        figures["line"] = (
            f"{channel}: {figures['reports']} report(s), {figures['returns_imported']} return(s) imported "
            f"({figures['matched_to_clerk_returns']} matched to a clerk's, {figures['awaiting_receipt']} awaiting "
            f"receipt, {figures['restocked_at_amazon_fba']} restocked at amazon_fba"
            f"{f', {returnless} returnless refund(s)' if returnless else ''}"
            f"), {figures['quarantined']} "
            f"quarantined; returns read up to {figures['window_reached'] or 'where they were'}"
        )
    return figures


def _run_per_channel(
    db,
    channel: str | None,
    until: str | None,
    *,
    job: str,
    op: str,
    what: str,
    summarise,
    check_until,
    log_level: str = "INFO",
    on_report: Callable[[dict], None] = lambda report: None,
    on_wait: Callable[[str], None] | None = None,
    launched_by: str = "cli",
) -> list[dict]:
    """Run `job` once per channel (every channel by default); raise SyncFailed if any failed."""
    from pipelines import clock
    from pipelines.clock import parse_instant
    from pipelines.orchestration.instance import WAREHOUSE_TAG, warehouse_tag
    from pipelines.warehouse.channels import get_channel, list_channels

    os.environ["AMAZON_ORDERS_DB"] = str(warehouse_path(db))
    with open_for_writing(db, on_wait=on_wait) as con:
        registered = list_channels(con)
        targets = [get_channel(con, channel)] if channel else registered
    if not targets:
        raise SyncFailed(f"no channels to {what}: add one with `amazon-orders channel add`")
    from pipelines.orchestration.credentials import use_sandbox_credentials

    use_sandbox_credentials(targets)  # the demo's warehouse: the credentials its sandbox and the UI use (#28)
    # every argument is checked before a Dagster run is created: a refused one leaves no failed run behind
    if until is not None:
        bound, now = parse_instant(until, "--until"), clock.from_environment()()
        for target in targets:
            check_until(target, bound, now)
    # this warehouse's own tag (#28), whichever warehouse the definitions were first loaded for
    return _execute(
        job,
        [t.name for t in targets],
        [c.name for c in registered],
        summarise,
        ops={op: {"config": {"until": until}}},
        tags={WAREHOUSE_TAG: warehouse_tag(db)},
        log_level=log_level,
        launched_by=launched_by,
        on_report=on_report,
    )


def _execute(
    job: str,
    channels: list[str],
    registered: list[str],
    summarise,
    *,
    ops: dict | None = None,
    tags: dict | None = None,
    log_level: str = "INFO",
    launched_by: str = "cli",
    on_report: Callable[[dict], None] = lambda report: None,
) -> list[dict]:
    """Run `job` in-process once per channel, recorded in the warehouse's own Dagster instance, each run summarised
    (and told through `on_report` when it succeeded); SyncFailed names every run that failed."""
    from pipelines.assets.extract import follow_channel_registry
    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance

    instance = get_instance()  # the warehouse's own (AMAZON_ORDERS_DB, set by the caller)
    follow_channel_registry(instance, registered)
    # progress (pages, orders, rate-limit waits) without Dagster's engine chatter
    run_config = {"ops": ops or {}, "loggers": {"cli_progress": {"config": {"log_level": log_level}}}}
    reports = []
    for name in channels:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance,
            partition_key=name,
            run_config=run_config,
            tags={LAUNCHED_BY_TAG: launched_by, **(tags or {})},
            raise_on_error=False,
        )
        report = summarise(result, name)
        reports.append(report)
        if result.success:
            on_report(report)
    failures = [report["error"] for report in reports if not report["success"]]
    if failures:
        raise SyncFailed("; ".join(failures))
    return reports


def run_sync(db, channel: str | None = None, until: str | None = None, **options) -> list[dict]:
    """The sync job per channel: extract, transform, checks, FBA stock."""
    from pipelines.ingest.orders import check_until

    return _run_per_channel(
        db,
        channel,
        until,
        job="sync_job",
        op="raw_amazon_orders",
        what="sync",
        summarise=summarise_run,
        check_until=check_until,
        **options,
    )


def run_returns_import(db, channel: str | None = None, until: str | None = None, **options) -> list[dict]:
    """The returns job per channel: Amazon's returns reports up to `until` (default: now)."""
    from pipelines.ingest.orders import check_until

    return _run_per_channel(
        db,
        channel,
        until,
        job="returns_job",
        op="amazon_returns",
        what="import returns for",
        summarise=summarise_returns_run,
        check_until=check_until,
        **options,
    )


def summarise_stock_push_run(result, channel: str) -> dict:
    """One line about a finished stock_push_job run, and its figures."""
    figures = _figures(result, channel, ("amazon_listings_stock",))
    if result.success:
        line = (
            f"{channel}: stock {figures.get('pushed', 0)} pushed, {figures.get('unchanged', 0)} unchanged, "
            f"{figures.get('invalid', 0)} INVALID, {figures.get('failed', 0)} failed, "
            f"{figures.get('fba_skipped', 0)} FBA not sent, {figures.get('drifting', 0)} drifting, "
            f"{figures.get('backing_off', 0)} refused and backing off "
            f"({figures.get('calls', 0)} call(s), {figures.get('throttled', 0)} throttled)"
        )
        figures["line"] = line
    return figures


def run_stock_push(
    db,
    channel: str | None = None,
    *,
    full: bool = False,
    launched_by: str = "cli",
    log_level: str = "INFO",
    on_report: Callable[[dict], None] = lambda report: None,
    on_wait: Callable[[str], None] | None = None,
    quiet_without_seller: bool = False,
) -> list[dict]:
    """The stock push job per channel (every channel with a seller id by default), in-process and recorded in
    the Dagster instance. A named channel without a seller id is refused before any run is created."""
    from pipelines.outbound.stock import StockPushRefused, check_pushable
    from pipelines.warehouse.channels import get_channel, list_channels

    os.environ["AMAZON_ORDERS_DB"] = str(warehouse_path(db))
    with open_for_writing(db, on_wait=on_wait) as con:
        registered = list_channels(con)
        targets = [get_channel(con, channel)] if channel else [c for c in registered if c.seller_id]
    if channel:
        try:
            check_pushable(targets[0])
        except StockPushRefused as refused:
            raise SyncFailed(str(refused)) from None
    if not targets:
        if quiet_without_seller:
            return []
        raise SyncFailed(
            "no channel has a seller id, so no stock is pushed: "
            "amazon-orders channel set NAME --seller-id MERCHANT_TOKEN"
        )
    return _execute(
        "stock_push_job",
        [t.name for t in targets],
        [c.name for c in registered],
        summarise_stock_push_run,
        ops={"amazon_listings_stock": {"config": {"full": full}}},
        log_level=log_level,
        launched_by=launched_by,
        on_report=on_report,
    )


def summarise_shipments_run(result, channel: str) -> dict:
    """One line about a finished shipments_job run, and its figures."""
    figures = _figures(result, channel, ("shipment_confirmations",))
    if result.success:
        retrying = figures.get("packages_retrying", 0)
        figures["line"] = f"{channel}: {figures.get('packages_confirmed', 0)} package(s) confirmed to Amazon" + (
            f", {retrying} to send again (Amazon unavailable)" if retrying else ""
        )
    return figures


def run_confirmations(
    db,
    channels: list[str],
    *,
    on_report: Callable[[dict], None] = lambda report: None,
    launched_by: str = "cli",
    log_level: str = "INFO",
) -> list[dict]:
    """The shipments job for each channel, at once (the sensor would start it within seconds anyway); raise
    SyncFailed with Amazon's error codes when Amazon refused a package."""
    from pipelines.warehouse.channels import list_channels
    from pipelines.warehouse.connection import open_for_reading

    os.environ["AMAZON_ORDERS_DB"] = str(warehouse_path(db))
    with open_for_reading(db) as con:
        registered = [c.name for c in list_channels(con)]
    return _execute(
        "shipments_job",
        channels,
        registered,
        summarise_shipments_run,
        log_level=log_level,
        launched_by=launched_by,
        on_report=on_report,
    )
