"""Packages shipped here, confirmed to Amazon per channel (#27): the asset, the check that fails while Amazon
refuses some, and the sensor that starts a run within seconds of a new package."""

import os
from datetime import timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    MaterializeResult,
    asset,
)

from pipelines.assets.checks import rows_check
from pipelines.assets.extract import PER_CHANNEL
from pipelines.assets.per_channel import channel_run
from pipelines.backoffice.shipments import refused_packages
from pipelines.clock import iso
from pipelines.orchestration.resources import AmazonSellerResource, WarehouseResource
from pipelines.orchestration.sensors import channel_runs_sensor
from pipelines.outbound.shipments import confirm_packages
from pipelines.warehouse.connection import Holds, open_for_reading, run_lock


class AmazonRefusedPackages(RuntimeError):
    """Amazon refused packages of this run: the run fails with their error codes."""


@asset(
    **PER_CHANNEL,
    description="Packages shipped here, each confirmed to Amazon once (Orders API v0 confirmShipment, "
    "2 requests/s): pending, sending, retrying, confirmed, or refused with Amazon's error code.",
    check_specs=[
        AssetCheckSpec(
            "no_package_refused",
            asset="shipment_confirmations",
            description="Amazon has refused no package shipped here (a refused one waits for "
            "the clerk: amazon-orders shipments resend)",
        )
    ],
)
def shipment_confirmations(context, warehouse: WarehouseResource, amazon: AmazonSellerResource):
    channel, say, now = channel_run(context, warehouse)
    who, holds = f"the shipment confirmations of channel {channel.name!r}", Holds()
    # one confirmation run of a channel at a time: a second would send the first one's packages again
    with run_lock(warehouse.resolved_path, who, on_wait=say):
        counts = confirm_packages(
            lambda: open_for_reading(warehouse.resolved_path),
            holds.timed(lambda: warehouse.writer(on_wait=say, who=who)),
            channel,
            amazon.credentials_account,
            now,
            say,
        )
    with open_for_reading(warehouse.resolved_path) as con:
        refused = refused_packages(con, channel.name)
    yield MaterializeResult(
        metadata={
            "channel": channel.name,
            "requests": counts.sent,
            "packages_confirmed": counts.confirmed,
            "packages_refused": counts.refused,
            "packages_retrying": counts.retrying,
            "refusals": "; ".join(counts.refusals),
            **holds.metadata(),
        },
        check_results=[_check(refused)],
    )
    if counts.refusals:
        raise AmazonRefusedPackages(
            "Amazon refused " + "; ".join(counts.refusals) + " (correct it and run amazon-orders shipments resend)"
        )


def _check(refused: list[tuple]) -> AssetCheckResult:
    return rows_check(
        "no_package_refused",
        {"refused": len(refused)},
        "packages",
        ("channel", "order", "package", "code", "message", "sent"),
        [(c, o, p, code, m, iso(s) if s else "") for c, o, p, code, m, s in refused],
    )


STALE_RUN = timedelta(minutes=30)


def sensor_interval() -> int:
    return int(os.environ.get("AMAZON_ORDERS_SHIPMENTS_INTERVAL", "2"))


def due_channels(con) -> list[str]:
    """Channels with a package to send."""
    return [
        name
        for (name,) in con.execute(
            "select distinct o.channel from packages p join orders o using (order_id) "
            "where p.state in ('pending', 'retrying', 'sending') order by 1"
        ).fetchall()
    ]


def shipments_sensor_for(job):
    return channel_runs_sensor(
        job,
        "shipments_sensor",
        sensor_interval(),
        "Start a confirmation run of a channel within seconds of a package to send there "
        "(AMAZON_ORDERS_SHIPMENTS_INTERVAL, every 2 s by default), unless one is running.",
        due_channels,
        "no package to send",
        # a run still STARTED after half an hour was killed (a CLI's in-process run leaves no one to end it): it
        # no longer keeps its channel waiting; the run lock keeps two live runs of a channel apart anyway
        stale_after=STALE_RUN,
    )
