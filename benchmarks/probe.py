"""Measurements that run in a process of their own: `python -m benchmarks.probe KIND DB [ARGS]`.

Each prints one JSON line (prefixed with PROBE_RESULT) with its timings and its own resident-set
peak; the runner also reads the child's peak from wait4(), so no measurement sees another's memory.
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()

from benchmarks.memory import peak_rss_mb  # noqa: E402  (light: the clock above starts first)


def _emit(result: dict) -> None:
    result["self_peak_rss_mb"] = round(peak_rss_mb(), 1)
    print("PROBE_RESULT " + json.dumps(result, default=str), flush=True)


def baseline(db: str) -> dict:
    import duckdb

    from benchmarks.baseline import drop_baseline, run_baseline

    con = duckdb.connect(db)
    con.execute("set TimeZone = 'UTC'")
    result = run_baseline(con)
    drop_baseline(con)
    con.close()
    return result


def baseline_capped(db: str) -> dict:
    """The baseline under the memory limit the product's connect() sets (if it sets one)."""
    import duckdb

    from benchmarks.baseline import drop_baseline, run_baseline
    from pipelines.warehouse.connection import connect

    product = connect(db)
    limit = product.execute("select current_setting('memory_limit')").fetchone()[0]
    product.close()
    con = duckdb.connect(db)
    default = con.execute("select current_setting('memory_limit')").fetchone()[0]
    con.execute(f"set memory_limit = '{limit.replace('i', '')}'")
    con.execute("set TimeZone = 'UTC'")
    result = run_baseline(con)
    drop_baseline(con)
    con.close()
    return result | {"memory_limit": limit, "default_memory_limit": default}


def transform_run(db: str, *, rebuild: bool, profile: bool = False) -> dict:
    """A full rebuild or an incremental transform, timed (or profiled statement by statement)."""
    import pipelines.warehouse.contracts  # noqa: F401  the product loads pandera on first use: a start-up cost, kept off the clock
    from pipelines.warehouse.connection import connect
    from pipelines.warehouse.transform import transform

    con = connect(db)
    if profile:
        from benchmarks.profile import profile_transform

        result = profile_transform(con, rebuild=rebuild)
        con.close()
        return {"profile": result, "seconds": result["total_seconds"]}
    started = time.perf_counter()
    outcome = transform(con, rebuild=rebuild)
    seconds = time.perf_counter() - started
    con.close()
    return {
        "seconds": seconds,
        "orders_changed": outcome.orders_changed,
        "orders_updated": outcome.orders_updated,
        "versions_quarantined": outcome.versions_quarantined,
        "movements_booked": outcome.movements_booked,
    }


def extract(db: str, channel_name: str) -> dict:
    """One sync_channel, with where its time goes told by its own events: waiting for the usage plan,
    landing pages in DuckDB, and the rest (the HTTP calls through python-amazon-sp-api)."""
    from pipelines import clock
    from pipelines.events import PageLanded, RateLimitWait, Retry
    from pipelines.ingest.orders import sync_channel
    from pipelines.warehouse.channels import get_channel
    from pipelines.warehouse.connection import open_for_writing

    spent = {"land_seconds": 0.0, "sleep_seconds": 0.0}

    def on_event(event) -> None:
        if isinstance(event, PageLanded):
            spent["land_seconds"] += event.land_seconds
        elif isinstance(event, RateLimitWait):
            spent["sleep_seconds"] += event.seconds
        elif isinstance(event, Retry) and event.delay:
            spent["sleep_seconds"] += event.delay

    with open_for_writing(db) as con:
        channel = get_channel(con, channel_name)
    started = time.perf_counter()
    # as the extract asset does: the warehouse opened for each page's commit, free while Amazon is asked
    result = sync_channel(
        lambda: open_for_writing(db),
        channel,
        run_id=f"bench-extract-{time.time_ns()}",
        now=clock.from_environment(),
        on_event=on_event,
    )
    seconds = time.perf_counter() - started
    spent["http_seconds"] = seconds - spent["land_seconds"] - spent["sleep_seconds"]
    return {
        "seconds": seconds,
        "pages": result.pages,
        "api_calls": result.api_calls,
        "orders_fetched": result.orders_fetched,
        "orders_stored": result.orders_stored,
        "rate_limit_wait_seconds": result.rate_limit_wait_seconds,
        "retries": result.retries,
        **{k: round(v, 3) for k, v in spent.items()},
    }


def nochange_dagster(db: str, channel_name: str | None = None) -> dict:
    """The CLI's sync path in-process: imports, then run_sync (Dagster execute_in_process)."""
    import_started = time.perf_counter()
    import pipelines.cli.commands
    import pipelines.definitions  # noqa: F401  (what run_sync imports: dagster, assets, pandera)
    from pipelines.orchestration.runs import run_sync

    imported = time.perf_counter()
    reports = run_sync(db, channel_name)
    finished = time.perf_counter()
    return {
        "import_seconds": imported - import_started,
        "run_sync_seconds": finished - imported,
        "since_interpreter_start_seconds": finished - STARTED,
        "lines": [report["line"] for report in reports],
    }


def nochange_direct(db: str, channel_name: str | None = None) -> dict:
    """The same work without Dagster: sync_channel and transform per channel, then the asset's checks."""
    import_started = time.perf_counter()
    from pipelines import clock
    from pipelines.ingest.orders import sync_channel
    from pipelines.warehouse.channels import get_channel, list_channels
    from pipelines.warehouse.connection import open_for_writing
    from pipelines.warehouse.contracts import check_table
    from pipelines.warehouse.status import core_table_counts, orders_per_day
    from pipelines.warehouse.tables import CORE_TABLES
    from pipelines.warehouse.transform import transform

    imported = time.perf_counter()
    extract_seconds = transform_seconds = checks_seconds = 0.0
    with open_for_writing(db) as con:
        channels = [get_channel(con, channel_name)] if channel_name else list_channels(con)
    for channel in channels:
        started = time.perf_counter()
        sync_channel(
            lambda: open_for_writing(db), channel, run_id=f"bench-direct-{time.time_ns()}", now=clock.from_environment()
        )
        extract_seconds += time.perf_counter() - started
        with open_for_writing(db) as con:
            started = time.perf_counter()
            transform(con)
            transform_seconds += time.perf_counter() - started
            # what the core asset does after the transform: metadata queries and blocking checks
            started = time.perf_counter()
            core_table_counts(con, CORE_TABLES)
            orders_per_day(con)
            per_table = {}
            for table in CORE_TABLES:
                table_started = time.perf_counter()
                check_table(con, table)
                per_table[table] = round(time.perf_counter() - table_started, 3)
            checks_seconds += time.perf_counter() - started
    return {
        "import_seconds": imported - import_started,
        "extract_seconds": extract_seconds,
        "transform_seconds": transform_seconds,
        "work_seconds": extract_seconds + transform_seconds,
        "checks_seconds": checks_seconds,
        "checks_per_table_seconds": per_table,
    }


def marts_and_publish(db: str) -> dict:
    """What a sync that changed something does under the writer after its transform: the marts rebuilt, then
    the core tables and marts copied to the published file."""
    from datetime import UTC, datetime

    from pipelines.warehouse.connection import connect
    from pipelines.warehouse.marts import build_marts, publish

    con = connect(db)
    started = time.perf_counter()
    now = datetime.now(UTC)
    rows = build_marts(con, now)
    built = time.perf_counter()
    published = publish(con, now, db)
    done = time.perf_counter()
    con.close()
    size = published.stat().st_size
    published.unlink()
    return {
        "marts_seconds": built - started,
        "publish_seconds": done - built,
        "published_mb": size / 1e6,
        "mart_rows": rows,
    }


def imports_only() -> dict:
    started = time.perf_counter()
    import pipelines.cli.commands
    import pipelines.definitions  # noqa: F401 - imported for its cost, measured

    return {
        "import_seconds": time.perf_counter() - started,
        "since_interpreter_start_seconds": time.perf_counter() - STARTED,
    }


KINDS = {
    "baseline": baseline,
    "baseline-capped": baseline_capped,
    "rebuild": lambda db: transform_run(db, rebuild=True),
    "rebuild-profile": lambda db: transform_run(db, rebuild=True, profile=True),
    "incremental": lambda db: transform_run(db, rebuild=False),
    "incremental-profile": lambda db: transform_run(db, rebuild=False, profile=True),
    "extract": extract,
    "nochange-dagster": nochange_dagster,
    "nochange-direct": nochange_direct,
    "imports": imports_only,
    "marts": marts_and_publish,
}


def main(argv: list[str]) -> int:
    kind, *args = argv
    _emit(KINDS[kind](*args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
