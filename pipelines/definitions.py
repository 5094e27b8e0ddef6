"""The Dagster code location: assets, checks, the sync job per channel, its schedule, and the sensor
that keeps the channel partitions in step with the channels table."""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from pipelines.assets.alerts import alert_on_run_failure, core_tables_are_fresh, freshness_alert_sensor
from pipelines.assets.core import core_tables, core_tables_match_schemas, totals_reconcile
from pipelines.assets.extract import channels_partitions, raw_amazon_orders, registry_changes
from pipelines.assets.fba import fba_inventory, fba_summaries_are_readable
from pipelines.assets.marts import analyst_marts
from pipelines.assets.notifications import listen_interval, no_notification_set_aside, order_notifications
from pipelines.assets.privacy import purged_buyer_pii
from pipelines.assets.returns import amazon_returns
from pipelines.assets.shipments import due_channels, shipment_confirmations, shipments_sensor_for
from pipelines.assets.stock import amazon_listings_stock, listings_accept_pushed_stock
from pipelines.orchestration.instance import WAREHOUSE_TAG, running_channels, warehouse_tag
from pipelines.orchestration.progress import cli_progress
from pipelines.orchestration.resources import UNREADABLE, AmazonSellerResource, WarehouseResource
from pipelines.orchestration.sensors import channel_runs_sensor

sync_job = define_asset_job(
    "sync_job",
    selection=AssetSelection.assets(raw_amazon_orders, core_tables, fba_inventory, analyst_marts),
    description="Extract one channel's changed orders, bring the core tables up to date, and take Amazon's FBA stock.",
    # dagster.yaml lets one run at a time write to a warehouse
    tags={WAREHOUSE_TAG: warehouse_tag()},
)


def _running_schedule(job, cron_variable: str, default_cron: str, description: str):
    """A schedule of `job`, running from the start, at the cron in $`cron_variable` (`default_cron` without it)."""
    return schedule(
        job=job,
        cron_schedule=os.environ.get(cron_variable, default_cron),
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )


@_running_schedule(
    sync_job,
    "AMAZON_ORDERS_SYNC_CRON",
    "*/15 * * * *",
    "Sync every channel (AMAZON_ORDERS_SYNC_CRON, every 15 minutes by default).",
)
def sync_job_schedule(context):
    return _every_channel(context)


def _every_channel(context, run_config=None):
    channels = context.instance.get_dynamic_partitions(channels_partitions.name)
    if not channels:
        return SkipReason("no channel yet: add one with `amazon-orders channel add`")
    return _runs(context, channels, run_config)


def _runs(context, channels, run_config=None) -> list[RunRequest]:
    """A run for each channel at this tick (its run key keeps a tick from starting one twice)."""
    tick = context.scheduled_execution_time
    return [
        RunRequest(run_key=f"{channel}@{tick}", partition_key=channel, run_config=run_config) for channel in channels
    ]


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Keep the channel partitions exactly the channels of the warehouse's channels table.",
)
def channel_registry_sensor(context, warehouse: WarehouseResource):
    try:
        channels = warehouse.channel_names()
    except (FileNotFoundError, RuntimeError) as reason:  # no warehouse yet, or a sync is writing
        return SkipReason(str(reason))
    add, delete = registry_changes(context.instance.get_dynamic_partitions(channels_partitions.name), channels)
    if not (add or delete):
        return SkipReason("the channel partitions match the channels table")
    return SensorResult(
        dynamic_partitions_requests=[
            channels_partitions.build_add_request(add),
            channels_partitions.build_delete_request(delete),
        ]
    )


returns_job = define_asset_job(
    "returns_job",
    selection=AssetSelection.assets(amazon_returns, analyst_marts),
    description="Import one channel's customer returns from Amazon's returns reports.",
    tags={WAREHOUSE_TAG: warehouse_tag()},
)


@_running_schedule(
    returns_job,
    "AMAZON_ORDERS_RETURNS_CRON",
    "0 */6 * * *",
    "Import every channel's returns (AMAZON_ORDERS_RETURNS_CRON, every 6 hours by default).",
)
def returns_job_schedule(context):
    return _every_channel(context)


notifications_job = define_asset_job(
    "notifications_job",
    selection=AssetSelection.assets(order_notifications),
    # no warehouse tag: a run waits for messages most of its time and takes the writer lock per batch only,
    # so it neither holds up a sync nor waits for one to start
    description="Read one channel's ORDER_CHANGE notifications and bring the order tables and stock up to date.",
)


@sensor(
    job=notifications_job,
    minimum_interval_seconds=listen_interval(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Look at each channel's notification queue (AMAZON_ORDERS_NOTIFICATIONS_INTERVAL, every 30 s by "
    "default) and start a notifications run where messages wait and none is running.",
)
def notifications_sensor(context, warehouse: WarehouseResource):
    from pipelines.amazon.queue import Queue, QueueError

    try:
        queues = warehouse.notification_queues()
    except UNREADABLE as reason:
        return SkipReason(str(reason))
    active = running_channels(context.instance, "notifications_job")
    requests, notes = [], []
    for channel, url in queues.items():
        if channel in active:
            continue
        try:
            with Queue(url) as queue:
                waiting = queue.waiting()
        except QueueError as error:  # an unreachable queue is told, and polling goes on
            notes.append(f"{channel}: {error}")
            continue
        if waiting:
            requests.append(RunRequest(partition_key=channel))
    if not requests:
        return SkipReason("; ".join(notes) or "no notification waiting")
    return requests


purge_pii_job = define_asset_job(
    "purge_pii_job",
    selection=AssetSelection.assets(purged_buyer_pii),
    description="Remove buyer PII from orders shipped or cancelled more than 30 days ago.",
    tags={WAREHOUSE_TAG: warehouse_tag()},
)

purge_pii_job_schedule = ScheduleDefinition(
    job=purge_pii_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 03:00 UTC.",
)

stock_push_job = define_asset_job(
    "stock_push_job",
    selection=AssetSelection.assets(amazon_listings_stock),
    # no warehouse tag: a push waits on Amazon most of its time and takes the writer per commit only
    description="Push one channel's marked SKUs' available stock to its merchant-fulfilled Amazon listings.",
)


def _stock_interval() -> int:
    return int(os.environ.get("AMAZON_ORDERS_STOCK_PUSH_INTERVAL", "5"))


def _moved_channels(con) -> list[str]:
    from pipelines import clock
    from pipelines.outbound.stock import unmarked_movements

    return [channel for channel, count in sorted(unmarked_movements(con, clock.from_environment()()).items()) if count]


stock_push_sensor = channel_runs_sensor(
    stock_push_job,
    "stock_push_sensor",
    _stock_interval(),
    "Start a stock push for each channel with a seller id whose stock moved (a ledger movement past "
    "its watermark, or a SKU still marked), within seconds (AMAZON_ORDERS_STOCK_PUSH_INTERVAL, 5 s by default).",
    _moved_channels,
    "no stock moved since the last push",
)


@_running_schedule(
    stock_push_job,
    "AMAZON_ORDERS_STOCK_PUSH_CRON",
    "0 2 * * *",
    "The backstop: a full stock push of every channel (listings read afresh, every quantity Amazon has "
    "not accepted sent), every night at 02:00 UTC by default (AMAZON_ORDERS_STOCK_PUSH_CRON).",
)
def stock_push_job_schedule(context):
    return _every_channel(context, run_config={"ops": {"amazon_listings_stock": {"config": {"full": True}}}})


shipments_job = define_asset_job(
    "shipments_job",
    selection=AssetSelection.assets(shipment_confirmations),
    # no warehouse tag: a run waits on Amazon most of its time and takes the writer per commit only
    description="Confirm one channel's packages shipped here to Amazon (confirmShipment), each once.",
)
shipments_sensor = shipments_sensor_for(shipments_job)


@_running_schedule(
    shipments_job,
    "AMAZON_ORDERS_SHIPMENTS_CRON",
    "*/5 * * * *",
    "Backstop of the shipments sensor: a run for each channel with packages to send "
    "(AMAZON_ORDERS_SHIPMENTS_CRON, every 5 minutes by default).",
)
def shipments_job_schedule(context, warehouse: WarehouseResource):
    try:
        channels = warehouse.glance(due_channels)
    except UNREADABLE as reason:
        return SkipReason(str(reason))
    if not channels:
        return SkipReason("no package to send")
    return _runs(context, channels)


# #28: the core tables follow the raw orders materialised alone (their AutomationCondition.eager()); the runs
# this starts carry the warehouse's tag, as every writing run does
core_tables_automation = AutomationConditionSensorDefinition(
    "core_tables_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    run_tags={WAREHOUSE_TAG: warehouse_tag()},
)

defs = Definitions(
    assets=[
        raw_amazon_orders,
        core_tables,
        fba_inventory,
        amazon_returns,
        order_notifications,
        purged_buyer_pii,
        amazon_listings_stock,
        shipment_confirmations,
        analyst_marts,
    ],
    asset_checks=[
        core_tables_match_schemas,
        totals_reconcile,
        no_notification_set_aside,
        fba_summaries_are_readable,
        listings_accept_pushed_stock,
        core_tables_are_fresh,
    ],
    jobs=[sync_job, returns_job, notifications_job, purge_pii_job, stock_push_job, shipments_job],
    schedules=[
        sync_job_schedule,
        returns_job_schedule,
        purge_pii_job_schedule,
        stock_push_job_schedule,
        shipments_job_schedule,
    ],
    sensors=[
        channel_registry_sensor,
        notifications_sensor,
        stock_push_sensor,
        shipments_sensor,
        alert_on_run_failure,
        freshness_alert_sensor,
        core_tables_automation,
    ],
    resources={"warehouse": WarehouseResource(), "amazon": AmazonSellerResource()},
    loggers={"cli_progress": cli_progress},
    # #28: the steps of a run one after another, so that no run waits on itself ("Materialize all" in the UI
    # put the FBA count, the returns import and the notifications beside the sync, each waiting for its lock)
    executor=in_process_executor,
)
