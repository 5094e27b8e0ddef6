"""What the proposed fixes would buy, measured without touching the product code.

    python -m benchmarks.experiments rebuild DB      # variants of a full rebuild, each in its own process
    python -m benchmarks.experiments statements DB   # single models, as written and rewritten
    python -m benchmarks.experiments nochange        # what a no-change `amazon-orders sync` spends where

Variants patch the product at run time (monkeypatching, a connection setting, or rewritten SQL
run next to the original); nothing under pipelines/, sql/ or assets/ changes. Results are printed
and merged into benchmarks/experiments.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUTPUT = BENCH_DIR / "experiments.json"


# -- rebuild variants (child side) ---------------------------------------------------------------------
def _chunked_pandera_failures(con, rows: int = 250_000) -> dict[str, str]:
    """The product's pandera check, fed in Arrow batches instead of one DataFrame per table.
    (Uniqueness across batches would then need a SQL check: `group by ... having count(*) > 1`.)"""
    import pandera.errors

    from assets.schemas import SCHEMAS

    failures: dict[str, str] = {}
    for table in ("orders", "order_lines"):
        result = con.execute(f"select * from {table}_changed")
        reader = (result.to_arrow_reader(rows) if hasattr(result, "to_arrow_reader")  # DuckDB 2
                  else result.fetch_record_batch(rows))
        for batch in reader:
            frame = batch.to_pandas()
            try:
                SCHEMAS[table].validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as errors:
                cases = errors.failure_cases.dropna(subset=["index"])
                for index, check, column in cases[["index", "check", "column"]].itertuples(index=False):
                    failures.setdefault(frame.loc[int(index), "order_id"], f"{table}.{column or 'row'}: {check}")
    return failures


REBUILD_VARIANTS = {
    "as is": {},
    "pandera step removed": {"pandera": "none"},
    "pandera in 250k-row batches": {"pandera": "chunked"},
    "as is, DuckDB memory_limit 1GB": {"memory_limit": "1GB"},
    "pandera in 250k-row batches, memory_limit 1GB": {"pandera": "chunked", "memory_limit": "1GB"},
}


def _rebuild_child(variant: str, db: str) -> dict:
    import pipelines.transform as transform_module
    from benchmarks.probe import _peak_rss_mb
    from pipelines.warehouse import connect

    options = REBUILD_VARIANTS[variant]
    if options.get("pandera") == "none":
        transform_module._pandera_failures = lambda con: {}
    elif options.get("pandera") == "chunked":
        transform_module._pandera_failures = _chunked_pandera_failures
    con = connect(db)
    if options.get("memory_limit"):
        con.execute(f"set memory_limit = '{options['memory_limit']}'")
    started = time.perf_counter()
    result = transform_module.transform(con, rebuild=True)
    seconds = time.perf_counter() - started
    orders, lines = con.execute("select (select count(*) from orders), (select count(*) from order_lines)").fetchone()
    con.close()
    return {"seconds": round(seconds, 3), "orders": orders, "order_lines": lines,
            "orders_changed": result.orders_changed, "self_peak_rss_mb": round(_peak_rss_mb(), 1)}


def rebuild_variants(db: str, variants: list[str] | None = None) -> dict:
    from benchmarks.runner import child_env, run_process

    key = f"rebuild variants ({Path(db).name})"
    saved = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    results = dict(saved.get(key, {}).get("results", {}))
    for variant in variants or list(REBUILD_VARIANTS):
        done = run_process([sys.executable, "-m", "benchmarks.experiments", "_rebuild", variant, db], child_env())
        line = [l for l in done["stdout"].splitlines() if l.startswith("RESULT ")]
        if done["returncode"] != 0 or not line:
            raise RuntimeError(done["stderr"][-2000:])
        result = json.loads(line[-1][len("RESULT "):])
        result["peak_rss_mb"] = round(done["peak_rss_mb"], 1)
        results[variant] = result
        print(f"{variant:48s} {result['seconds']:8.2f} s  {result['peak_rss_mb']:8.0f} MB  "
              f"({result['orders']:,} orders, {result['order_lines']:,} lines)", flush=True)
        _save(key, results)  # after each variant: they take a while
    return results


# -- single statements ---------------------------------------------------------------------------------
NARROW_CURRENT_VERSIONS = """
with valid as (
    select versions.ingest_id, versions.channel, versions.amazon_order_id, versions.amazon_updated_at
    from stg_amazon__order_versions as versions
    inner join channels using (channel)
    anti join int_order_version_issues as issues using (ingest_id)
    where versions.created_at >= channels.start_at
),
newest as (
    select ingest_id from valid
    qualify row_number() over (
        partition by channel, amazon_order_id order by amazon_updated_at desc, ingest_id desc
    ) = 1
)
select 'SO-' || substr(md5(channel || '|' || amazon_order_id), 1, 16) as order_id, versions.*
from stg_amazon__order_versions as versions
semi join newest using (ingest_id)
"""

JOIN_IN_STAGING = """    from raw_amazon_orders as raw
    inner join changed
        on raw.channel = changed.channel
        and raw.amazon_order_id = changed.amazon_order_id"""
BY_INGEST_ID = """    from raw_amazon_orders as raw
    where raw.ingest_id in (
        select r.ingest_id from raw_amazon_orders as r
        inner join changed on r.channel = changed.channel and r.amazon_order_id = changed.amazon_order_id
    )"""


def statements(db: str, changed_sample: int = 1000) -> dict:
    from pipelines.warehouse import connect
    from sql import read_sql

    con = connect(db)
    results = {}

    def timed(name: str, table: str, sql: str, best_of: int = 1) -> None:
        best = None
        for _ in range(best_of):
            started = time.perf_counter()
            con.execute(f"create or replace temp table {table} as {sql}")
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        results[name] = {"seconds": round(best, 3), "rows": rows}
        print(f"{name:75s} {best:7.3f} s  {rows:>10,} rows", flush=True)

    stg = read_sql("staging/stg_amazon__order_versions.sql")
    assert JOIN_IN_STAGING in stg, "the staging model changed; update the experiment"
    con.execute("create or replace temp table changed_orders as select distinct channel, amazon_order_id "
                f"from raw_amazon_orders using sample {int(changed_sample)} rows")
    timed(f"stg_amazon__order_versions, {changed_sample} changed orders, as written", "x1", stg, best_of=3)
    timed(f"stg_amazon__order_versions, {changed_sample} changed orders, versions picked by ingest_id first",
          "x2", stg.replace(JOIN_IN_STAGING, BY_INGEST_ID), best_of=3)
    same = con.execute("select count(*) from (select * from x1 except select * from x2)").fetchone()[0] == 0
    results["ingest_id rewrite gives the same rows"] = same

    con.execute("create or replace temp table changed_orders as "
                "select distinct channel, amazon_order_id from raw_amazon_orders")
    timed("stg_amazon__order_versions, all orders (rebuild), as written", "stg_amazon__order_versions", stg)
    timed("stg_amazon__order_versions, all orders, json_type() second parse removed", "x3",
          stg.replace("json_type(raw.payload, '$.orderItems')", "'ARRAY'"))
    con.execute("drop table x3")
    for model in ("staging/stg_amazon__order_items", "intermediate/int_order_version_issues"):
        timed(f"{model.split('/')[1]}, all orders, as written", model.split("/")[1], read_sql(model + ".sql"))
    timed("int_current_order_versions, all orders, as written", "int_current_order_versions",
          read_sql("intermediate/int_current_order_versions.sql"))
    timed("int_current_order_versions, window over 4 narrow columns, then semi join", "x4", NARROW_CURRENT_VERSIONS)
    same = con.execute("select count(*) from (select * from int_current_order_versions except select * from x4)"
                       ).fetchone()[0] == 0
    results["narrow window gives the same rows"] = same
    con.close()
    return results


# -- the no-change sync --------------------------------------------------------------------------------
SYNC_VARIANT = """
import os, sys, time
started = time.perf_counter()
import pipelines.cli as cli
import pipelines.definitions
variant, db = sys.argv[1], sys.argv[2]
if variant == "ephemeral":
    import pipelines.instance
    from dagster import DagsterInstance
    instance = DagsterInstance.ephemeral()
    pipelines.instance.get_instance = lambda: instance
imported = time.perf_counter()
cli.run_sync(db, quiet=True)
print("TIMES", imported - started, time.perf_counter() - imported, flush=True)
if variant in ("os_exit", "ephemeral"):
    sys.stdout.flush(); sys.stderr.flush(); os._exit(0)
"""


def nochange(work: Path, repeats: int = 3) -> dict:
    from benchmarks.runner import (ROOT, child_env, refill_bucket, remove_db, run_process, sandbox_channel,
                                   cli_path)

    home = work / "experiments_dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = child_env(home)
    db = work / "experiments_nochange.duckdb"
    remove_db(db)
    sandbox = sandbox_channel(db, env, orders=2000)
    results: dict = {}
    try:
        run_process([cli_path(), "--db", str(db), "sync"], env)  # the initial sync
        for _ in range(repeats):
            for variant, label in (("as_is", "as is (python exits normally)"),
                                   ("os_exit", "os._exit() once the run is reported"),
                                   ("ephemeral", "os._exit() and an in-memory Dagster instance")):
                sandbox.advance(minutes=15)
                refill_bucket(db)
                done = run_process([sys.executable, "-c", SYNC_VARIANT, variant, str(db)], env)
                line = [l for l in done["stdout"].splitlines() if l.startswith("TIMES ")]
                if done["returncode"] != 0 or not line:
                    raise RuntimeError(done["stderr"][-2000:])
                imports, run_sync = (float(x) for x in line[-1].split()[1:])
                entry = results.setdefault(label, {"wall": [], "imports": [], "run_sync": []})
                entry["wall"].append(round(done["wall_seconds"], 3))
                entry["imports"].append(round(imports, 3))
                entry["run_sync"].append(round(run_sync, 3))
    finally:
        sandbox.stop()
        remove_db(db)
    for label, entry in results.items():
        entry["median_wall"] = sorted(entry["wall"])[len(entry["wall"]) // 2]
        entry["median_run_sync"] = sorted(entry["run_sync"])[len(entry["run_sync"]) // 2]
        print(f"{label:50s} wall {entry['median_wall']:.2f} s, run_sync {entry['median_run_sync']:.2f} s", flush=True)
    return results


def _save(key: str, value) -> None:
    from benchmarks.runner import product_version

    data = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    data[key] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "product": product_version(),
                 "results": value}
    OUTPUT.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "_rebuild":
        print("RESULT " + json.dumps(_rebuild_child(*args)), flush=True)
        return 0
    os.environ.setdefault("LWA_APP_ID", "amzn1.application-oa2-client.bench")
    if command == "rebuild":
        rebuild_variants(args[0], args[1:] or None)
    elif command == "statements":
        _save(f"statements ({Path(args[0]).name})", statements(args[0]))
    elif command == "nochange":
        _save("no-change sync variants", nochange(BENCH_DIR / "work"))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
