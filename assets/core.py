"""The core order-management tables, derived from the raw layer in one transaction, and their checks."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
    multi_asset_check,
)

from assets.extract import raw_amazon_orders
from pipelines.resources import WarehouseResource
from pipelines.transform import transform

CORE_TABLES = {
    "orders": "One row per Amazon order: status, payment, account, totals.",
    "order_lines": "Order lines: each item, then its gift wrap; placeholder lines keep Amazon's data in notes.",
    "accounts": "Buyer accounts, plus the 'Amazon Pending Account' placeholder.",
    "contacts": "Buyer contacts with their delivery address.",
    "products": "The catalog, plus 'Generic Product' placeholders for unknown SKUs.",
    "inventory_movements": "The stock ledger: order, cancel, return and adjustment movements.",
    "inventory": "Stock on hand per product code (the ledger summed).",
}
# The rows a check reads: those the last transform touched, so a sync's cost follows its changes
# (the catalog and stock levels are small enough to read whole).
CHECKED_ROWS = {
    "orders": "select * from orders semi join last_transform_orders using (order_id)",
    "order_lines": "select * from order_lines semi join last_transform_orders using (order_id)",
    "inventory_movements": "select * from inventory_movements semi join last_transform_orders using (order_id)",
    "accounts": "select * from accounts where account_id in "
                "(select account_id from orders semi join last_transform_orders using (order_id))",
    "contacts": "select * from contacts where contact_id in "
                "(select contact_id from orders semi join last_transform_orders using (order_id))",
    "products": "select * from products",
    "inventory": "select * from inventory",
}


def _orders_per_day(con) -> str:
    """Orders per day by status over the two weeks up to the newest order."""
    rows = con.execute(
        """
        pivot (
            select purchased_at::date as day, status
            from orders
            where purchased_at >= (select max(purchased_at) from orders)::date - 13
        )
        on status using count(*) group by day order by day
        """
    ).df()
    return rows.to_markdown(index=False) if not rows.empty else "no orders yet"


def _check(con, table: str) -> AssetCheckResult:
    # pandas and pandera load when a check runs, not with every sync (a quiet one runs none)
    import pandas as pd

    from assets.schemas import SCHEMAS, failing_rows

    # fetchall, not fetchone: DuckDB opens no relation while a result is only partly read
    rows = con.execute(f"select count(*) from ({CHECKED_ROWS[table]})").fetchall()[0][0]
    failures = pd.DataFrame(list(failing_rows(con, CHECKED_ROWS[table], SCHEMAS[table])),
                            columns=["row", "check", "column"])
    quarantined = dict(con.execute("select reason, count(*) from quarantine group by reason order by 2 desc").fetchall())
    metadata = {"rows_checked": rows, "rows_failed": len(failures), "quarantined_versions": sum(quarantined.values())}
    if quarantined:
        metadata["quarantine_reasons"] = MetadataValue.json(quarantined)
    if len(failures):
        metadata["failures"] = MetadataValue.md(
            failures.groupby(["column", "check"], dropna=False).size().reset_index(name="rows").to_markdown(index=False)
        )
    return AssetCheckResult(asset_key=AssetKey(table), check_name="matches_schema", passed=failures.empty,
                            severity=AssetCheckSeverity.ERROR, metadata=metadata)


@multi_asset(
    specs=[
        # skippable: a sync that brought nothing new materialises nothing
        AssetSpec(name, deps=[raw_amazon_orders], description=description, kinds={"duckdb", "sql"},
                  group_name="core", skippable=True)
        for name, description in CORE_TABLES.items()
    ],
)
def core_tables(context, warehouse: WarehouseResource):
    """Recompute the orders that changed since the last transform and merge them into the tables."""
    with warehouse.writer(on_wait=context.log.info) as con:
        result = transform(con)
        if not (result.orders_changed or result.versions_quarantined):
            context.log.info("no new order versions: the core tables are unchanged")
            return
        pending = con.execute("select count(*) from orders where status = 'Pending'").fetchone()[0]
        waiting = con.execute("select count(*) from products where is_placeholder").fetchone()[0]
        quarantined = con.execute("select count(*) from quarantine").fetchone()[0]
        per_day = _orders_per_day(con)
    summary = {
        "orders_added": result.orders_added,
        "orders_updated": result.orders_updated,
        "pending_orders": pending,
        "placeholders_created": result.placeholders_created,
        "placeholders_waiting": waiting,
        "quarantined_versions_this_run": result.versions_quarantined,
        "quarantined_versions_total": quarantined,
        "movements_booked": result.movements_booked,
    }
    for table in CORE_TABLES:
        metadata = dict(summary)
        if table == "orders":
            metadata["orders_per_day_by_status"] = MetadataValue.md(per_day)
        yield MaterializeResult(asset_key=table, metadata=metadata)


@multi_asset_check(
    specs=[
        AssetCheckSpec("matches_schema", asset=table, blocking=True,
                       description=f"every {table} row the last sync wrote satisfies the pandera schema")
        for table in CORE_TABLES
    ],
)
def core_tables_match_schemas(context, warehouse: WarehouseResource):
    """Runs after each materialisation of the core tables (and not when a sync changed nothing)."""
    with warehouse.writer(on_wait=context.log.info) as con:
        yield from [_check(con, table) for table in CORE_TABLES]
