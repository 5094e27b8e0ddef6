"""What the back office and the operations lead use: returns, status, read-only queries, the schedule."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC

import pytest
from conftest import AMAZON_ORDERS, ROOT, catalog, demo_environment, on_hand, pending_and_confirmed

from pipelines.cli.commands import build_parser
from pipelines.orchestration.resources import WarehouseResource
from pipelines.sandbox import Item


@pytest.fixture
def shipped_order(shop, tmp_path):
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "TEA-02,Tea,3.00,10"))
    order = shop.place(Item("MUG-01", 3, "12.50"), Item("TEA-02", 2, "3.00"))
    shop.marketplace.confirm(order)
    shop.marketplace.cancel_item(order, "TEA-02")
    shop.marketplace.ship(order)
    shop.sync()
    return order


def test_a_return_books_the_stock_back_and_records_the_lines(shop, shipped_order):
    out = shop.ok("return", shipped_order, "--sku", "MUG-01", "--quantity", "2", "--reason", "chipped")
    assert "RET-000001" in out
    assert on_hand(shop, "MUG-01") == 9
    assert shop.one(
        "select r.reason, l.product_code, l.quantity, l.is_restocked from sales_returns r "
        "join sales_return_lines l using (return_id)"
    ) == ("chipped", "MUG-01", 2, True)
    assert shop.one("select count(*) from inventory_movements where reason = 'return'") == 1


def test_each_movement_of_the_ledger_has_its_own_id(shop, shipped_order):
    # catalog adjustments, the sync's bookings and the return's each carry on from the last id
    shop.ok("return", shipped_order, "--sku", "MUG-01", "--quantity", "1")
    ids = sorted(row[0] for row in shop.query("select movement_id from inventory_movements"))
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 5


def test_a_return_without_restock_leaves_stock_alone(shop, shipped_order):
    shop.ok("return", shipped_order, "--sku", "MUG-01", "--quantity", "1", "--no-restock")
    assert on_hand(shop, "MUG-01") == 7


@pytest.mark.parametrize(
    "args, message",
    [
        (["999-0000000-0000000", "--sku", "MUG-01", "--quantity", "1"], "no order with Channel Order ID"),
        (["{order}", "--sku", "NOPE", "--quantity", "1"], "SKU 'NOPE' is not on order"),
        (["{order}", "--sku", "MUG-01", "--quantity", "4"], "at most 3"),
        (
            ["{order}", "--sku", "TEA-02", "--quantity", "1"],
            "0 shipped (on Amazon or marked shipped here), 0 already returned, so at most 0",
        ),
        (["{order}", "--sku", "MUG-01", "--quantity", "0"], "--quantity must be at least 1"),
    ],
)
def test_a_bad_return_is_refused_with_one_line_and_nothing_written(shop, shipped_order, args, message):
    args = [a.format(order=shipped_order) for a in args]
    before = shop.query("select count(*) from sales_returns union all select count(*) from inventory_movements")
    code, out, err = shop.run("return", *args)
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1
    assert shop.query("select count(*) from sales_returns union all select count(*) from inventory_movements") == before


def test_returns_add_up_against_what_was_ordered(shop, shipped_order):
    shop.ok("return", shipped_order, "--sku", "MUG-01", "--quantity", "2")
    code, _, err = shop.run("return", shipped_order, "--sku", "MUG-01", "--quantity", "2")
    assert code == 1 and "2 already returned, so at most 1" in err


def test_a_cancelled_order_cannot_be_returned(shop, tmp_path):
    shop.add_channel()
    order = shop.place(Item("MUG-01", 1, "1.00"))
    shop.marketplace.cancel(order)
    shop.sync()
    code, _, err = shop.run("return", order, "--sku", "MUG-01", "--quantity", "1")
    assert code == 1 and "Canceled" in err


def test_status_says_never_synced_rather_than_a_lag_for_a_new_channel(shop):
    shop.add_channel()
    shop.marketplace.advance(minutes=30)
    [row] = [line for line in shop.ok("status").splitlines() if line.startswith("Amazon US")]
    assert "never synced" in row and " 0.0 " not in row and "30.0" not in row


def test_status_shows_watermark_last_sync_statuses_pending_and_placeholders(shop):
    shop.add_channel()
    shop.place(Item("LAMP-99", 1, "1.00"))
    shop.sync()
    out = shop.ok("status")
    assert "Amazon US" in out and " ok " in out
    assert "Pending orders: 1" in out and "Placeholders waiting for a real product: 1" in out
    watermark = shop.one("select strftime(watermark, '%Y-%m-%dT%H:%M:%SZ') from channel_sync_state")
    assert watermark in out


def test_sql_prints_a_table_and_refuses_writes(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "1.00"))
    shop.sync()
    out = shop.ok("sql", "select status, count(*) as n from orders group by status")
    assert "Pending" in out
    for query in (
        "delete from orders",
        "insert into channels values (1)",
        "drop table orders",
        "copy orders to '/tmp/x.csv'",
        "attach '/tmp/other.duckdb'",
        "select 1; delete from orders",
    ):
        code, _, err = shop.run("sql", query)
        assert code == 1, query
        assert err.startswith("amazon-orders: query refused"), err
    assert shop.one("select count(*) from orders") == 1


def test_every_command_explains_itself_with_an_example():
    parser = build_parser()
    actions = [a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
    for name, sub in actions[0].choices.items():
        nested = [a for a in sub._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
        for command in nested[0].choices.values() if nested else [sub]:
            assert "example:" in (command.epilog or ""), name


@pytest.mark.parametrize("name, cron", [("sync_job_schedule", "*/15 * * * *"), ("returns_job_schedule", "0 */6 * * *")])
def test_the_schedules_run_from_a_fresh_instance(name, cron):
    from dagster import DefaultScheduleStatus

    from pipelines.definitions import defs

    schedule = defs.resolve_schedule_def(name)
    assert schedule.cron_schedule == cron
    assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_the_returns_schedule_is_configurable():
    import sys

    read = (
        "from pipelines.definitions import defs; print(defs.resolve_schedule_def('returns_job_schedule').cron_schedule)"
    )
    found = subprocess.run(
        [sys.executable, "-c", read],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AMAZON_ORDERS_RETURNS_CRON": "30 1 * * *"},
    )
    assert found.stdout.strip() == "30 1 * * *"


@pytest.mark.parametrize("name", ["sync_job_schedule", "returns_job_schedule", "stock_push_job_schedule"])
def test_a_schedule_asks_for_one_run_per_channel(shop, name):
    from dagster import build_schedule_context

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance

    shop.add_channel("Amazon US")
    shop.add_channel("Amazon CA", marketplaces=("A2EUQ1WTGCTBG2",))
    from datetime import datetime

    tick = datetime(2026, 11, 26, 12, 15, tzinfo=UTC)
    with build_schedule_context(
        instance=get_instance(shop.db), scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as context:
        requests = defs.resolve_schedule_def(name).evaluate_tick(context).run_requests
    assert sorted(r.partition_key for r in requests) == ["Amazon CA", "Amazon US"]
    full = {"ops": {"amazon_listings_stock": {"config": {"full": True}}}}  # the nightly push reads every listing
    assert all(r.run_config == (full if name == "stock_push_job_schedule" else {}) for r in requests)


def test_the_channel_partitions_follow_the_channels_table(shop):
    """One registry: a channel added to the warehouse by any means becomes a partition at the sensor's next tick,
    and one removed from it stops being one."""
    from dagster import build_sensor_context

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance
    from pipelines.warehouse.channels import add_channel
    from pipelines.warehouse.connection import open_for_writing

    shop.add_channel("Amazon US")
    with open_for_writing(shop.db) as con:
        add_channel(con, "Amazon CA", ["A2EUQ1WTGCTBG2"], start=shop.marketplace.now)
        con.execute("delete from channels where channel = 'Amazon US'")
    instance = get_instance(shop.db)
    sensor = defs.resolve_sensor_def("channel_registry_sensor")
    with build_sensor_context(instance=instance, resources={"warehouse": WarehouseResource(path=shop.db)}) as context:
        result = sensor(context)
    [add, delete] = result.dynamic_partitions_requests
    assert (add.partition_keys, delete.partition_keys) == (["Amazon CA"], ["Amazon US"])


def test_cli_runs_are_recorded_in_the_dagster_instance_tagged_as_the_clis(shop):
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.runs import LAUNCHED_BY_TAG

    shop.add_channel()
    shop.sync()
    runs = get_instance(shop.db).get_runs()
    assert [r.job_name for r in runs] == ["sync_job"]
    assert runs[0].tags.get("dagster/partition") == "Amazon US"
    assert runs[0].tags.get(LAUNCHED_BY_TAG) == "cli"


def test_a_sync_tells_the_clerk_what_it_did_without_dagsters_engine_chatter(shop):
    shop.add_channel()
    shop.place(Item("MUG-01", 1, "1.00"))
    shop.sync()
    shop.marketplace.advance(minutes=3)
    code, out, err = shop.run("sync")  # nothing new: Dagster skips the transform steps
    assert code == 0
    assert "Skipping" not in out + err and "STEP_" not in out + err and "dagster - " not in out + err
    assert "Amazon US" in out


def test_a_sync_materialisation_carries_what_an_operator_reads(shop):
    from pipelines.definitions import defs
    from pipelines.orchestration.instance import get_instance

    shop.add_channel()
    shop.place(Item("LAMP-99", 2, "1.00"))
    shop.sync()  # registers the channel's partition
    shop.place(Item("MUG-01", 1, "1.00"))
    shop.marketplace.advance(minutes=3)
    result = defs.resolve_job_def("sync_job").execute_in_process(instance=get_instance(), partition_key="Amazon US")
    extract = result.asset_materializations_for_node("raw_amazon_orders")[0].metadata
    assert extract["new_order_versions"].value == 1 and extract["watermark_lag_minutes"].value is not None
    orders = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("core_tables")}
    figures = orders["orders"]
    assert (figures["orders_added"].value, figures["orders_updated"].value) == (1, 0)
    assert figures["pending_orders"].value == 2 and figures["placeholders_waiting"].value == 2
    assert "Pending" in figures["orders_per_day_by_status"].value


@pytest.mark.slow
def test_the_demo_runs_and_runs_again(demo_made, tmp_path):
    # through the console script, as `make demo` runs it: it leaves through os._exit, so this also shows that
    # nothing is left in a buffer (a pipe's stdout is buffered) and the status comes out. Again on a copy of the
    # first run's warehouse, with a Dagster home of its own.
    db, first = demo_made
    shutil.copy(db, tmp_path / "demo.duckdb")
    home = tmp_path / "again_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    script = [AMAZON_ORDERS, "--db", str(tmp_path / "demo.duckdb")]
    again = subprocess.run([*script, "demo"], capture_output=True, text=True, env=demo_environment(home))
    assert again.returncode == 0, again.stderr
    for output in (first, again.stdout):
        assert "5 added" in output and "5 updated" in output
        assert "RET-000001" in output and "Generic Product" in output
        assert "Gift message: Happy birthday" in output and "done: query it with" in output
        assert "shipping, tax and a promotion add up to Amazon's grand total" in output
        assert "takes Amazon's stock, not the warehouse's" in output and "amazon_fba" in output
        assert "ship anyway with --force" in output
    refused = subprocess.run([*script[:-1], str(tmp_path / "missing.duckdb"), "status"], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("amazon-orders: no warehouse at")


# -- stock that must not go wrong (issue: nothing lost) ----------------------------------------------
def test_a_return_is_refused_for_units_that_never_shipped(shop, tmp_path):
    pending, unshipped = pending_and_confirmed(shop, tmp_path, 2, 1)
    assert on_hand(shop, "MUG-01") == 7
    for order in (pending, unshipped):
        code, _, err = shop.run("return", order, "--sku", "MUG-01", "--quantity", "1")
        assert code == 1 and "0 shipped (on Amazon or marked shipped here)" in err, err
    shop.marketplace.cancel(pending)
    shop.sync()
    assert on_hand(shop, "MUG-01") == 9  # the cancellation gave back 2, and no return added any


def shipped_here(shop, tmp_path) -> str:
    """An order for 3 of 10 mugs in stock, confirmed by Amazon and marked shipped here."""
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(Item("MUG-01", 3, "12.50"))
    shop.marketplace.confirm(order)
    shop.sync()
    shop.ok("ship", order)
    return order


def test_units_shipped_here_stay_gone_whatever_a_later_version_says(shop, tmp_path):
    order = shipped_here(shop, tmp_path)
    assert on_hand(shop, "MUG-01") == 7
    smaller = shop.marketplace.order(order)
    smaller["orderItems"][0]["quantityOrdered"] = 1
    shop.marketplace.advance(minutes=5)
    smaller["lastUpdatedTime"] = shop.marketplace.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.marketplace.put_raw(smaller)
    shop.sync()
    assert (
        shop.one("select quantity from order_lines join orders using (order_id) where channel_order_id = ?", [order])
        == 1
    )
    assert on_hand(shop, "MUG-01") == 7
    shop.ok("rebuild")
    assert on_hand(shop, "MUG-01") == 7


def test_goods_shipped_here_then_cancelled_by_amazon_can_come_back(shop, tmp_path):
    order = shipped_here(shop, tmp_path)
    shop.marketplace.cancel(order)
    shop.sync()
    assert shop.one("select status from orders") == "Canceled" and on_hand(shop, "MUG-01") == 7
    shop.ok("return", order, "--sku", "MUG-01", "--quantity", "3", "--reason", "came back")
    assert on_hand(shop, "MUG-01") == 10
    code, _, err = shop.run("return", order, "--sku", "MUG-01", "--quantity", "1")
    assert code == 1 and "3 already returned, so at most 0" in err


def test_the_catalogs_on_hand_is_the_physical_count_and_open_orders_still_reserve_from_it(shop, tmp_path):
    """The CSV's on_hand is what is on the shelf. Units of orders not yet shipped are on the shelf too, but
    reserved: inventory.on_hand (available to sell) is the count less them."""
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    first = shop.place(Item("MUG-01", 2, "12.50"))
    second = shop.place(Item("MUG-01", 3, "12.50"))
    shop.marketplace.confirm(first)
    shop.marketplace.confirm(second)
    shop.sync()
    assert shop.one("select on_hand, reserved_quantity from inventory") == (5, 5)
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))  # a stock take: all 10 still there
    assert shop.one("select on_hand, reserved_quantity from inventory") == (5, 5)
    shop.marketplace.ship(first)
    shop.ok("ship", second)
    shop.sync()
    assert shop.one("select on_hand, reserved_quantity from inventory") == (5, 0)
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,4"))  # one broke on the shelf
    assert shop.one("select on_hand, reserved_quantity from inventory") == (4, 0)
