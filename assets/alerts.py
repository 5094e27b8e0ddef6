"""Telling someone (#28): a failed run and stale core tables are POSTed to the webhook in
AMAZON_ORDERS_ALERT_WEBHOOK (pipelines.orchestration.alerts); the freshness of the core tables is an asset check too."""

from __future__ import annotations

import json
import os

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DefaultSensorStatus,
    MetadataValue,
    RunFailureSensorContext,
    SkipReason,
    asset_check,
    run_failure_sensor,
    sensor,
)

from pipelines.orchestration.alerts import freshness_problems, send_alert
from pipelines.orchestration.instance import WAREHOUSE_TAG
from pipelines.orchestration.resources import WarehouseResource


def _problems(warehouse: WarehouseResource) -> list[str]:
    from pipelines import clock
    from pipelines.warehouse.connection import open_for_reading
    from pipelines.warehouse.status import max_lag

    with open_for_reading(warehouse.resolved_path) as con:
        return freshness_problems(con, clock.from_environment()(), max_lag())


@asset_check(
    asset="orders",
    description="the core tables are fresh: every channel's last sync succeeded and its "
    "watermark lags Amazon by at most AMAZON_ORDERS_MAX_LAG (2h), and every raw order version landed "
    "is in them",
)
def core_tables_are_fresh(warehouse: WarehouseResource) -> AssetCheckResult:
    problems = _problems(warehouse)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="POST every failed run to AMAZON_ORDERS_ALERT_WEBHOOK (nothing when it is unset).",
)
def alert_on_run_failure(context: RunFailureSensorContext):
    run = context.dagster_run
    payload = {
        "kind": "run_failure",
        "summary": f"amazon-orders: {run.job_name} failed"
        f"{' for ' + run.tags['dagster/partition'] if 'dagster/partition' in run.tags else ''}: "
        f"{context.failure_event.message or 'see the run in Dagster'}",
        "job": run.job_name,
        "run_id": run.run_id,
        "partition": run.tags.get("dagster/partition"),
        "warehouse": run.tags.get(WAREHOUSE_TAG),
        "message": context.failure_event.message,
    }
    if not send_alert(payload):
        return SkipReason("no AMAZON_ORDERS_ALERT_WEBHOOK: the failure is in the run's log only")
    return None


def _freshness_interval() -> int:
    return int(os.environ.get("AMAZON_ORDERS_FRESHNESS_INTERVAL", "300"))


@sensor(
    minimum_interval_seconds=_freshness_interval(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 5 minutes (AMAZON_ORDERS_FRESHNESS_INTERVAL): POST to AMAZON_ORDERS_ALERT_WEBHOOK when the "
    "core tables go stale (a failed sync, a lag past AMAZON_ORDERS_MAX_LAG, versions not transformed) "
    "and when they are fresh again; once per change, not every tick.",
)
def freshness_alert_sensor(context, warehouse: WarehouseResource):
    import duckdb

    try:
        problems = _problems(warehouse)
    except (FileNotFoundError, RuntimeError, duckdb.Error) as reason:  # no warehouse yet, or busy a while
        return SkipReason(str(reason).splitlines()[0])
    cursor = json.dumps(sorted(problems))
    if cursor == (context.cursor or json.dumps([])):
        return SkipReason("; ".join(problems) or "the core tables are fresh")
    payload = {
        "kind": "stale" if problems else "fresh",
        "summary": ("amazon-orders: the core tables are stale: " + "; ".join(problems))
        if problems
        else "amazon-orders: the core tables are fresh again",
        "warehouse": warehouse.resolved_path,
        "problems": problems,
    }
    sent = send_alert(payload)
    context.update_cursor(cursor)
    return SkipReason(f"alert {'sent' if sent else 'not sent (no AMAZON_ORDERS_ALERT_WEBHOOK)'}: {payload['summary']}")
