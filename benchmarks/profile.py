"""Where a transform spends its time: every step `pipelines.warehouse.transform.transform` takes, timed.

The real `transform` runs unchanged, observed through its public `observe` hook: each model, the
table contracts, each table's merge and the ledger is timed, and its resident-set peak read from
/proc (VmHWM, reset before each step through /proc/self/clear_refs), so the memory each step needs
shows too.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from benchmarks.memory import peak_rss_mb, reset_peak
from pipelines.warehouse.transform import transform


def profile_transform(con, *, rebuild: bool) -> dict:
    """Run transform(con, rebuild=...) with every step timed."""
    steps: list[dict] = []

    @contextmanager
    def observe(step: str):
        reset_peak()
        started = time.perf_counter()
        try:
            yield
        finally:
            steps.append({"step": step, "seconds": time.perf_counter() - started, "rss_peak_mb": peak_rss_mb()})

    started = time.perf_counter()
    result = transform(con, rebuild=rebuild, observe=observe)
    total = time.perf_counter() - started
    ranked = sorted(steps, key=lambda s: -s["seconds"])
    for entry in ranked:
        entry["seconds"] = round(entry["seconds"], 3)
        entry["share"] = round(entry["seconds"] / total, 3) if total else None
        entry["rss_peak_mb"] = round(entry["rss_peak_mb"], 1)
    return {"total_seconds": round(total, 3), "orders_changed": result.orders_changed, "steps": ranked}
