"""The sensors that start a run per channel with work waiting (stock to push, packages to confirm)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dagster import DefaultSensorStatus, RunRequest, SkipReason, sensor

from pipelines.orchestration.instance import running_channels
from pipelines.orchestration.resources import UNREADABLE, WarehouseResource


def channel_runs_sensor(
    job,
    name: str,
    interval: int,
    description: str,
    due: Callable[..., list[str]],
    idle: str,
    stale_after: timedelta | None = None,
):
    """A sensor starting a run of `job` for each channel `due(con)` names (read through the warehouse's glance),
    unless a run of that channel is queued or going; with `stale_after`, a run started longer ago than that no
    longer counts. `idle` is the skip reason when no channel is due."""

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description=description,
    )
    def channel_runs(context, warehouse: WarehouseResource):
        try:
            channels = warehouse.glance(due)
        except UNREADABLE as reason:
            return SkipReason(str(reason))
        since = datetime.now(UTC) - stale_after if stale_after else None
        active = running_channels(context.instance, job.name, created_after=since)
        requests = [RunRequest(partition_key=channel) for channel in channels if channel not in active]
        return requests or SkipReason(idle)

    return channel_runs
