"""Where a transform spends its time: every statement `pipelines.transform.transform` runs, timed.

The real `transform` runs unchanged; only the connection it is handed is wrapped, so each
`execute` is timed (and labelled with the model or table it writes), and the pandera step is
timed as one. The resident-set peak of each step is read from /proc (VmHWM, reset before each
step through /proc/self/clear_refs), so the memory each step needs shows too.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

from benchmarks.probe import peak_rss_mb
import pipelines.transform as transform_module


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def label(sql: str) -> str:
    text = " ".join(sql.split())
    match = re.match(r"create or replace (?:temp )?table (\w+) as", text, re.I)
    if match:
        return f"materialise {match.group(1)}"
    match = re.match(r"(insert into \w+|delete from \w+|merge into \w+)", text, re.I)
    if match:
        return match.group(1).lower()
    return text[:60]


class TimedConnection:
    """Enough of a DuckDB connection for `transform`, timing each statement it runs."""

    def __init__(self, con, steps: list):
        self._con, self._steps = con, steps

    def _timed(self, name: str, call):
        _reset_peak()
        started = time.perf_counter()
        result = call()
        self._steps.append({"step": name, "seconds": time.perf_counter() - started, "rss_peak_mb": peak_rss_mb()})
        return result

    def execute(self, sql, *args, **kwargs):
        return self._timed(label(sql), lambda: self._con.execute(sql, *args, **kwargs))

    def executemany(self, sql, *args, **kwargs):
        return self._timed(label(sql), lambda: self._con.executemany(sql, *args, **kwargs))

    def __getattr__(self, name):
        return getattr(self._con, name)


@contextmanager
def timed_pandera(steps: list):
    original = transform_module._pandera_failures

    def timed(con):
        _reset_peak()
        started = time.perf_counter()
        try:
            return original(con._con if isinstance(con, TimedConnection) else con)
        finally:
            steps.append({"step": "pandera validation (orders, order_lines -> pandas)",
                          "seconds": time.perf_counter() - started, "rss_peak_mb": peak_rss_mb()})

    transform_module._pandera_failures = timed
    try:
        yield
    finally:
        transform_module._pandera_failures = original


def profile_transform(con, *, rebuild: bool) -> dict:
    """Run transform(con, rebuild=...) with every statement timed; merge steps with the same label."""
    steps: list[dict] = []
    started = time.perf_counter()
    with timed_pandera(steps):
        result = transform_module.transform(TimedConnection(con, steps), rebuild=rebuild)
    total = time.perf_counter() - started
    merged: dict[str, dict] = {}
    for step in steps:
        entry = merged.setdefault(step["step"], {"step": step["step"], "seconds": 0.0, "calls": 0, "rss_peak_mb": 0.0})
        entry["seconds"] += step["seconds"]
        entry["calls"] += 1
        entry["rss_peak_mb"] = max(entry["rss_peak_mb"], step["rss_peak_mb"] or 0.0)
    ranked = sorted(merged.values(), key=lambda s: -s["seconds"])
    for entry in ranked:
        entry["seconds"] = round(entry["seconds"], 3)
        entry["share"] = round(entry["seconds"] / total, 3) if total else None
        entry["rss_peak_mb"] = round(entry["rss_peak_mb"], 1)
    return {"total_seconds": round(total, 3), "orders_changed": result.orders_changed, "steps": ranked}
