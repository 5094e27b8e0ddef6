"""The UI's buttons working (#28): what cannot run skips with its reason, the core tables follow the raw
orders on their own, each warehouse's runs carry its own tag, and the CLI on a sandbox's warehouse uses the
credentials the UI and the demo use."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from pipelines.definitions import defs
from pipelines.orchestration.instance import WAREHOUSE_TAG, get_instance
from pipelines.sandbox import Item


def test_the_notifications_asset_skips_with_its_reason_where_no_queue_is_set(shop, monkeypatch):
    shop.add_channel()
    monkeypatch.setenv("AMAZON_ORDERS_DB", shop.db)
    result = defs.resolve_job_def("notifications_job").execute_in_process(
        instance=get_instance(), partition_key="Amazon US", raise_on_error=False
    )
    assert result.success
    assert result.get_asset_materialization_events() == []  # skipped, not pretended
    said = [
        entry.user_message
        for entry in get_instance().all_logs(result.run_id)
        if "no notification queue" in (entry.user_message or "")
    ]
    assert said and "skipped" in said[0]


def test_runs_of_each_warehouse_carry_its_own_tag(shop, tmp_path):
    shop.add_channel()
    shop.sync()
    [run] = get_instance().get_runs()
    assert run.tags[WAREHOUSE_TAG] == str((tmp_path / "warehouse.duckdb").resolve())
    assert run.tags[WAREHOUSE_TAG] != "default"


def test_the_cli_on_a_sandbox_warehouse_uses_the_sandbox_credentials_when_none_are_set(shop, monkeypatch):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"):
        monkeypatch.delenv(name)
    shop.sync()  # as `make demo-ui`'s processes do, rather than "no SP-API credentials"
    assert shop.one("select count(*) from orders") == 1


def test_the_core_tables_follow_the_raw_orders_materialised_alone():
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("channels", ["Amazon US"])
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    from dagster import AssetMaterialization

    instance.report_runless_asset_event(AssetMaterialization(AssetKey("raw_amazon_orders"), partition="Amazon US"))
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    requested = (
        {key.to_user_string() for key in result.get_requested_asset_keys()}
        if hasattr(result, "get_requested_asset_keys")
        else {r.key.to_user_string() for r in result.results if r.true_subset.size}
    )
    assert "orders" in requested and "order_lines" in requested
