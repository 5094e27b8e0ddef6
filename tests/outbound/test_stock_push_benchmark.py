"""Smoke test of the stock push benchmark: a short flash sale whose figures must add up (no timing asserted)."""

from __future__ import annotations

from benchmarks.stock_push import flash_sale, thousand_changed


def test_a_short_flash_sale_adds_up(tmp_path):
    figures = flash_sale(
        "push",
        skus=6,
        stock=3,
        minutes=6,
        orders_per_minute=3.0,
        tick=30.0,
        apply_seconds=5.0,
        buffer_units=0,
        seed=3,
        work=tmp_path,
    )
    assert figures["orders_taken"] > 0 and figures["throttled_429"] == 0
    assert figures["units_sold"] >= figures["oversold_units"] >= 0
    assert figures["patch_calls"] <= 2 * max(1, figures["ledger_changes"]) + 2 * 6  # each SKU once a window
    bulk = thousand_changed(tmp_path, 25)
    assert bulk == {**bulk, "changed_skus": 25, "pushed": 25, "calls": 25, "throttled_429": 0}
