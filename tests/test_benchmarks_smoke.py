"""Smoke test of the benchmarks: a small run whose results must be right (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import runner
from benchmarks.generate import GeneratorParams, actual, append_changes, expected, generate, inventory_mismatches
from benchmarks.shapes import compare
from pipelines.warehouse.connection import connect
from pipelines.warehouse.transform import transform

pytestmark = pytest.mark.slow


def test_generated_orders_have_the_sandbox_shape_and_transform_to_what_they_imply(tmp_path):
    con = connect(tmp_path / "generated.duckdb")
    made = generate(con, GeneratorParams(3000, seed=3))
    assert made["orders"] == 3000

    payloads = [row[0] for row in con.execute("select payload::varchar from raw_amazon_orders").fetchall()]
    shape = compare(payloads)
    assert shape["ok"], shape["problems"]
    assert shape["groups_compared"] >= 12  # pending, pre-order, cancelled twice, gifts, businesses, item cancels...

    mix = con.execute("""
        select avg(json_array_length(payload, '$.orderItems')),
               avg((payload->>'$.fulfillment.fulfillmentStatus' in ('PENDING', 'PENDING_AVAILABILITY'))::int),
               avg((payload->>'$.fulfillment.fulfillmentStatus' = 'CANCELLED')::int),
               count(distinct payload->>'$.salesChannel.marketplaceId'),
               count(distinct payload->>'$.proceeds.grandTotal.currencyCode'),
               count(*) filter (where payload::varchar like '%"giftOption"%')
        from raw_amazon_orders
    """).fetchone()
    assert 2.2 < mix[0] < 2.8
    assert 0.08 < mix[1] < 0.12 and 0.02 < mix[2] < 0.04
    assert mix[3] == 9 and mix[4] == 6 and mix[5] > 0

    transform(con, rebuild=True)
    want = expected(con)
    assert actual(con) == want
    assert inventory_mismatches(con) == []
    assert want["orders"] == 3000 and want["placeholder_products"] > 0
    assert want["order_lines"] == want["product_lines"] + want["gift_wrap_lines"]

    changed = append_changes(con, 200)
    assert changed["changed_orders"] == 200
    assert compare(
        [
            row[0]
            for row in con.execute(
                "select payload::varchar from raw_amazon_orders where run_id = 'bench-changes'"
            ).fetchall()
        ]
    )["ok"]
    result = transform(con)
    assert (result.orders_changed, result.orders_updated, result.orders_added) == (200, 200, 0)
    after = expected(con)
    assert after["quantity_canceled"] > want["quantity_canceled"]  # some changes cancel orders
    assert actual(con) == after
    assert inventory_mismatches(con) == []
    con.close()


def test_a_small_run_of_the_benchmarks_reports_correct_results(tmp_path):
    results_path, markdown = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    runner.run(
        [
            "--quick",
            "--sizes",
            "2000",
            "--extract-orders",
            "1200",
            "--nochange-repeats",
            "1",
            "--nochange-orders",
            "500",
            "--work-dir",
            str(tmp_path / "work"),
            "--results",
            str(results_path),
            "--markdown",
            str(markdown),
        ]
    )
    results = json.loads(results_path.read_text())

    size = results["by_size"]["2000"]
    for stage in ("validation_after_rebuild", "validation_after_incremental"):
        check = size[stage]
        assert check["ok"], check
        assert check["actual"]["orders"] == check["expected"]["orders"] == 2000
        assert check["actual"]["order_lines"] == check["expected"]["order_lines"]
        assert check["actual"]["on_hand_total"] == check["expected"]["on_hand_total"]
    assert size["shape_check"]["ok"], size["shape_check"]["problems"]
    assert size["baseline"]["orders_rows"] == 2000
    # the baseline writes as many lines as the product (items plus gift wraps)
    assert size["baseline"]["lines_rows"] == size["validation_after_rebuild"]["expected"]["order_lines"]
    assert size["incremental"]["orders_changed"] == size["incremental"]["changed_orders"]
    # the marts were rebuilt from the 2,000 orders and copied to a published file
    assert size["marts_publish"]["mart_rows"]["daily_sales"] > 0 and size["marts_publish"]["published_mb"] > 0

    initial, follow_up = results["extraction"]["syncs"]
    assert initial["orders_fetched"] == initial["changed_orders"] == results["extraction"]["orders_in_marketplace"]
    assert initial["pages"] == -(-initial["changed_orders"] // 100)
    assert initial["search_calls"] == initial["pages"] + initial["throttled_429"]
    assert initial["requests"] == initial["search_calls"] + initial["token_calls"]
    assert follow_up["orders_stored"] == follow_up["changed_orders"] > 0

    nochange = results["nochange"]
    assert "0 orders fetched" in nochange["runs"][0]["output"]
    assert nochange["median"]["search_calls"] == 1

    figures = {row["figure"] for row in results["checks"]}
    assert any(f.startswith("API calls per 1,000") for f in figures)
    assert any(f.startswith("Full rebuild time") for f in figures)
    assert any(f.startswith("Incremental transform") for f in figures)
    assert any(f.startswith("`amazon-orders sync`") for f in figures)
    text = markdown.read_text()
    assert (
        "<!-- results:quick:start -->" in text
        and "| Figure | Size | Value | Baseline | Ratio | Target | Result |" in text
    )
    assert not (tmp_path / "work" / "bench_2000.duckdb").exists()  # cleaned up
