"""The marts analysts query (sql/marts/), rebuilt after the core tables or the returns change, then the core tables
and marts published where any tool reads them while the next sync writes; the daily sales drawn on their page."""

from dagster import AssetKey, AssetSpec, MaterializeResult, MetadataValue, TableColumn, TableSchema, multi_asset

from pipelines import clock
from pipelines.assets.returns import amazon_returns
from pipelines.orchestration.progress import progress
from pipelines.orchestration.resources import WarehouseResource
from pipelines.warehouse import tables
from pipelines.warehouse.chart import chart_path, markdown_image, write_chart
from pipelines.warehouse.marts import build_marts, marts, publish


def _spec(mart) -> AssetSpec:
    schema = TableSchema(columns=[TableColumn(name, description=text) for name, text in mart.columns])
    # skippable, and downstream of the core tables: a sync that changed nothing rebuilds nothing
    return AssetSpec(
        mart.name,
        deps=[AssetKey(table) for table in tables.CORE_TABLES] + [amazon_returns],
        description=mart.description,
        kinds={"duckdb", "sql"},
        group_name="amazon_orders",
        skippable=True,
        metadata={"dagster/column_schema": schema},
    )


@multi_asset(specs=[_spec(mart) for mart in marts()])
def analyst_marts(context, warehouse: WarehouseResource):
    """Rebuild every mart in one commit, publish the core tables and marts, and draw the daily sales."""
    say, as_of = progress(context), clock.from_environment()()
    with warehouse.writer(on_wait=say, who="the marts") as con:
        counts = build_marts(con, as_of)
        published = publish(con, as_of, warehouse.resolved_path)
        chart = write_chart(con, chart_path(warehouse.resolved_path), as_of)
    say(f"marts rebuilt ({', '.join(f'{name} {rows}' for name, rows in counts.items())}); published to {published}")
    for name, rows in counts.items():
        metadata = {"dagster/row_count": rows, "published_to": MetadataValue.path(str(published))}
        if name == "daily_sales":
            metadata["chart"] = MetadataValue.md(markdown_image(chart))
            metadata["chart_file"] = MetadataValue.path(str(chart))
        yield MaterializeResult(asset_key=name, metadata=metadata)
