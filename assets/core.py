"""The core order-management tables, derived from the raw layer in one transaction, and their checks."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset_check,
    multi_asset,
    multi_asset_check,
)

from pipelines.assets.extract import raw_amazon_orders
from pipelines.orchestration.progress import progress
from pipelines.orchestration.resources import WarehouseResource
from pipelines.warehouse import tables
from pipelines.warehouse.connection import Holds, open_for_reading
from pipelines.warehouse.status import core_table_counts, orders_per_day, unreconciled_orders
from pipelines.warehouse.transform import transform_in_batches

CORE_TABLES = tables.CORE_TABLES


def _spec(name: str) -> AssetSpec:
    described = tables.table(name)
    schema = TableSchema(
        columns=[TableColumn(c.name, c.type.lower(), description=c.description or None) for c in described.columns]
    )
    # skippable: a sync that brought nothing new materialises nothing
    return AssetSpec(
        name,
        deps=[raw_amazon_orders],
        description=described.description,
        kinds={"duckdb", "sql"},
        group_name="amazon_orders",
        skippable=True,
        metadata={"dagster/column_schema": schema},
        # #28: raw orders materialised alone (the UI's "Materialize") bring the core tables along
        automation_condition=AutomationCondition.eager(),
    )


@multi_asset(specs=[_spec(name) for name in CORE_TABLES])
def core_tables(context, warehouse: WarehouseResource):
    """Recompute the orders that changed since the last transform and merge them into the tables."""
    say = progress(context)
    # a batch of versions at a time, each its own commit: a backfill never holds the warehouse for long
    holds = Holds()
    result = transform_in_batches(
        holds.timed(lambda: warehouse.writer(on_wait=say, who="the transform of the core tables", step_aside=True))
    )
    if not (result.orders_changed or result.versions_quarantined):
        say("no new order versions: the core tables are unchanged")
        return
    with open_for_reading(warehouse.resolved_path, on_wait=say) as con:
        counts = core_table_counts(con, CORE_TABLES)
        per_day = orders_per_day(con)
    summary = {
        "orders_added": result.orders_added,
        "orders_updated": result.orders_updated,
        "pending_orders": counts["pending_orders"],
        "placeholders_created": result.placeholders_created,
        "placeholders_waiting": counts["placeholders_waiting"],
        "quarantined_versions_this_run": result.versions_quarantined,
        "quarantined_versions_total": counts["quarantined_versions"],
        "movements_booked": result.movements_booked,
        **holds.metadata(),
    }
    for table in CORE_TABLES:
        metadata = summary | {"dagster/row_count": counts[table]}
        if table == "orders":
            metadata["orders_per_day_by_status"] = MetadataValue.md(per_day)
        yield MaterializeResult(asset_key=table, metadata=metadata)


def _check_result(con, table: str) -> AssetCheckResult:
    from pipelines.warehouse.contracts import (
        check_table,  # pandas and pandera load when a check runs, not with every sync
    )

    outcome = check_table(con, table)
    metadata = {
        "rows_checked": outcome.rows_checked,
        "rows_failed": len(outcome.failures),
        "quarantined_versions": sum(outcome.quarantined.values()),
    }
    if outcome.quarantined:
        metadata["quarantine_reasons"] = MetadataValue.json(outcome.quarantined)
    if not outcome.passed:
        summary = outcome.failures.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
        metadata["failures"] = MetadataValue.md(summary.to_markdown(index=False))
    return AssetCheckResult(
        asset_key=AssetKey(table),
        check_name="matches_schema",
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


@multi_asset_check(
    specs=[
        # Not blocking: nothing in the sync job is downstream of the core tables, and the gate that keeps
        # a bad version out is the transform's own (the same contracts, before anything is written).
        AssetCheckSpec(
            "matches_schema",
            asset=table,
            description=f"every {table} row the last sync wrote satisfies the table contract",
        )
        for table in CORE_TABLES
    ],
)
def core_tables_match_schemas(context, warehouse: WarehouseResource):
    """Runs after each materialisation of the core tables (and not when a sync changed nothing)."""
    with warehouse.writer(on_wait=progress(context), who="the table checks") as con:
        yield from [_check_result(con, table) for table in CORE_TABLES]


@asset_check(
    asset="orders",
    description="every order's amounts (items, shipping, gift wrap, tax, promotions, "
    "other charges) add up to Amazon's grand total, to the cent",
)
def totals_reconcile(warehouse: WarehouseResource) -> AssetCheckResult:
    """A version whose amounts do not add up is imported and flagged (orders.unreconciled_amount), not refused."""
    with warehouse.writer(who="the table checks") as con:
        count, listed = unreconciled_orders(con)
    metadata = {"unreconciled_orders": count}
    if count:
        metadata["orders"] = MetadataValue.md(listed)
    return AssetCheckResult(passed=count == 0, severity=AssetCheckSeverity.WARN, metadata=metadata)
