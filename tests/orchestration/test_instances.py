"""Warehouses never mix in Dagster (#28): each has its own instance, so what happens on one (a failed sync, say)
never paints another's assets red in the UI, whose materialisations and checks are per asset key."""

from __future__ import annotations

from conftest import cli_add_channel
from dagster import AssetKey, DagsterRunStatus

from pipelines.cli import commands as cli
from pipelines.orchestration.instance import get_instance
from pipelines.sandbox import Item


def test_a_failed_sync_of_another_warehouse_leaves_this_ones_instance_and_asset_status_untouched(
    shop, tmp_path, monkeypatch
):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    other = str(tmp_path / "other.duckdb")
    cli_add_channel(other, shop.sandbox, shop.marketplace.now)
    shop.marketplace.advance(minutes=3)
    with monkeypatch.context() as without_credentials:
        for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"):  # no client can be built
            without_credentials.setenv(name, "")
        assert cli.main(["--db", other, "sync"]) == 1

    monkeypatch.setenv("AMAZON_ORDERS_DB", shop.db)  # the instance the UI on this warehouse shows
    mine = get_instance()
    assert [run.status for run in mine.get_runs()] == [DagsterRunStatus.SUCCESS]
    raw = AssetKey("raw_amazon_orders")
    assert mine.fetch_failed_materializations(raw, limit=10).records == []
    planned = mine.get_latest_planned_materialization_info(raw, "Amazon US")
    assert mine.get_run_by_id(planned.run_id).status == DagsterRunStatus.SUCCESS

    monkeypatch.setenv("AMAZON_ORDERS_DB", other)
    theirs = get_instance()
    assert [run.status for run in theirs.get_runs()] == [DagsterRunStatus.FAILURE]
    assert get_instance() is not mine and get_instance(shop.db) is mine
