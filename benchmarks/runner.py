"""The benchmark runner: `python -m benchmarks [--quick] [--sizes 100000,1000000]`.

Every figure is measured against a baseline taken in the same run, and written to
benchmarks/results.json and to the results block of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.workspace import log
from pipelines.amazon.limits import SEARCH_ORDERS_BURST, SEARCH_ORDERS_PAGE_SIZE, SEARCH_ORDERS_RATE

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
# the targets and the --quick and full presets
PRESETS = tomllib.loads((BENCH_DIR / "presets.toml").read_text())
TARGETS = PRESETS["targets"]
CHANGED_ORDERS = 1000


# -- processes ---------------------------------------------------------------------------------------
def child_env(dagster_home: Path | None = None) -> dict:
    env = dict(os.environ)
    # the sandbox accepts any credentials; python-amazon-sp-api needs them to be set
    env.update(
        LWA_APP_ID="amzn1.application-oa2-client.bench",
        LWA_CLIENT_SECRET="bench-secret",
        SP_API_REFRESH_TOKEN="Atzr|bench-refresh-token",
    )
    env.pop("SP_API_DEFAULT_MARKETPLACE", None)
    env.pop("AMAZON_ORDERS_DB", None)
    paths = [os.environ["BENCH_PRODUCT_DIR"]] if os.environ.get("BENCH_PRODUCT_DIR") else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


# A forked child's ru_maxrss starts at its parent's RSS (Linux keeps the high-water mark across
# exec), and this runner holds a few hundred MB. So each measured command is started by a tiny
# launcher (python -S, a few MB) that forks and execs it, then reports wall time and wait4() usage.
LAUNCHER = """
import json, os, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as handle:
    json.dump({"wall": wall, "status": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss}, handle)
"""


def run_process(cmd: list[str], env: dict, timeout: float = 3600) -> dict:
    """Run cmd to completion; wall time, exit status, output and the command's own peak RSS."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as report,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, report.name, *cmd],
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
            text=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        measured = json.loads(Path(report.name).read_text())
        out.seek(0), err.seek(0)
        return {
            "wall_seconds": measured["wall"],
            "returncode": measured["status"],
            "stdout": out.read(),
            "stderr": err.read(),
            "peak_rss_mb": measured["maxrss_kb"] / 1024,
        }


def run_probe(kind: str, *args: str, env: dict) -> dict:
    done = run_process([sys.executable, "-m", "benchmarks.probe", kind, *args], env)
    lines = [line for line in done["stdout"].splitlines() if line.startswith("PROBE_RESULT ")]
    if done["returncode"] != 0 or not lines:
        raise RuntimeError(f"probe {kind} failed ({done['returncode']}):\n{done['stderr'][-3000:]}")
    result = json.loads(lines[-1][len("PROBE_RESULT ") :])
    result["process_wall_seconds"] = done["wall_seconds"]
    result["peak_rss_mb"] = done["peak_rss_mb"]
    return result


def remove_db(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".lock")):
        if file.exists():
            file.unlink()


# -- machine -----------------------------------------------------------------------------------------
PRODUCT_PATHS = ["pipelines", "sql", "assets", "dagster.yaml", "pyproject.toml"]


def snapshot_product(rev: str, work: Path) -> Path:
    """The product code (pipelines, sql, assets) of commit `rev`, extracted under work/ with git archive."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = work / f"product-{commit}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, *PRODUCT_PATHS], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        (target / "COMMIT").write_text(commit + "\n")
    return target


def product_version() -> dict:
    """The commit measured, and product files changed since it (another engineer works in this tree)."""
    snapshot = os.environ.get("BENCH_PRODUCT_DIR")
    if snapshot:
        commit = (Path(snapshot) / "COMMIT").read_text().strip()
        subject = subprocess.run(
            ["git", "log", "-1", "--format=%s", commit], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return {"commit": commit, "subject": subject, "uncommitted_product_files": [], "snapshot": snapshot}

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line.split(maxsplit=1)[1] for line in git("status", "--porcelain", "--", *PRODUCT_PATHS).splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "uncommitted_product_files": dirty,
    }


def machine() -> dict:
    import dagster
    import duckdb
    import pandas
    import pandera

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dagster": dagster.__version__,
        "pandas": pandas.__version__,
        "pandera": pandera.__version__,
    }


# -- 1. extraction -----------------------------------------------------------------------------------
def first_wait_of_next_sync(db: Path, channel: str = "Sandbox") -> float:
    from pipelines.warehouse.connection import connect

    con = connect(db)
    try:
        tokens = con.execute("select rate_tokens from channel_sync_state where channel = ?", [channel]).fetchone()[0]
    finally:
        con.close()
    return max(0.0, 1 - tokens) / SEARCH_ORDERS_RATE


def import_breakdown(env: dict, top: int = 8) -> list[dict]:
    """The slowest top-level imports of the sync path (python -X importtime)."""
    done = run_process(
        [sys.executable, "-X", "importtime", "-c", "import pipelines.cli.commands, pipelines.definitions"], env
    )
    rows = []
    for line in done["stderr"].splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        # "import time:      self [us] |  cumulative | imported package"
        _, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append((name[1:], int(cumulative_us.strip())))
    # packages (no dot in the name), wherever they were first imported; a package imported by another
    # counts in both (cumulative times nest)
    packages = [(name.strip(), us) for name, us in rows if "." not in name.strip() and not name.strip().startswith("_")]
    packages.sort(key=lambda row: -row[1])
    return [{"module": name, "cumulative_seconds": round(us / 1e6, 3)} for name, us in packages[:top]]


def perfect_client_seconds(server_seconds: list[float], rate: float, burst: int) -> float:
    """Time a client with no overhead of its own needs: each page is asked for as soon as a token is
    there and the previous page (with its pagination token) has arrived; the server takes what it took."""
    clock, tokens, checked = 0.0, float(burst), 0.0
    for seconds in server_seconds:
        tokens = min(burst, tokens + (clock - checked) * rate)
        checked = clock
        if tokens < 1:
            clock += (1 - tokens) / rate
            tokens, checked = 1.0, clock
        tokens -= 1
        clock += seconds
    return clock


def bench_extraction(work: Path, n_orders: int, speedup: float, env: dict, repeats: int = 1) -> dict:
    """Initial syncs of a channel (fresh warehouse each) against a sandbox holding n_orders, then a follow-up."""
    from benchmarks.sandbox_proc import RemoteSandbox
    from pipelines.sandbox.server import ORDERS_PATH, TOKEN_PATH
    from pipelines.warehouse.channels import add_channel
    from pipelines.warehouse.connection import connect

    marketplaces = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    rate_per_hour = 200
    simulate = dict(
        orders_per_hour=rate_per_hour,
        skus=[f"SKU-{i:05d}" for i in range(500)],
        pending_rate=0.10,
        cancel_rate=0.03,
        gift_rate=0.05,
        marketplaces=marketplaces,
    )
    db = work / "extract.duckdb"
    rate = SEARCH_ORDERS_RATE * speedup

    with RemoteSandbox(seed=5, start=start, speedup=speedup, env=env, cwd=ROOT) as sandbox:
        env = sandbox.living_in_its_time(env)
        sandbox.simulate(hours=n_orders / rate_per_hour, **simulate)
        sandbox.advance(minutes=10)

        def visible_since(moment: datetime | None) -> int:
            return sandbox.count(
                moment or start - timedelta(days=1), marketplaces, before=sandbox.now() - timedelta(minutes=2)
            )

        def one_sync(label: str, changed: int) -> dict:
            sandbox.reset_stats()
            result = run_probe("extract", str(db), "Sandbox", env=env)
            served = sandbox.stats()
            requests, search_seconds = served["requests"], served["search_seconds"]
            pages = result["pages"]
            ideal_calls = max(1, math.ceil(changed / SEARCH_ORDERS_PAGE_SIZE))
            bound = max(0, pages - SEARCH_ORDERS_BURST) / rate
            perfect = perfect_client_seconds(search_seconds, rate, SEARCH_ORDERS_BURST)
            entry = {
                "sync": label,
                "changed_orders": changed,
                "orders_fetched": result["orders_fetched"],
                "orders_stored": result["orders_stored"],
                "pages": pages,
                "requests": len(requests),
                "search_calls": sum(1 for r in requests if r["path"] == ORDERS_PATH),
                "token_calls": sum(1 for r in requests if r["path"] == TOKEN_PATH),
                "throttled_429": sum(1 for r in requests if r["status"] == 429),
                "retries": result["retries"],
                "api_calls_per_1000": round(len(requests) / changed * 1000, 3) if changed else None,
                "ideal_calls_per_1000": round(ideal_calls / changed * 1000, 3) if changed else None,
                "sync_seconds": round(result["seconds"], 3),
                "token_bucket_bound_seconds": round(bound, 3),
                "time_ratio": round(result["seconds"] / bound, 3) if bound else None,
                # a client with no cost of its own, paging this server (its measured search times) under the bucket
                "perfect_client_on_this_server_seconds": round(perfect, 3),
                "time_ratio_to_perfect_client_on_this_server": round(result["seconds"] / perfect, 3)
                if perfect
                else None,
                "client_rate_limit_wait_seconds": round(result["rate_limit_wait_seconds"], 3),
                "server_search_seconds": round(sum(search_seconds), 3),
                "server_first_page_seconds": round(search_seconds[0], 3) if search_seconds else None,
                "client_http_seconds": result["http_seconds"],
                "client_land_seconds": result["land_seconds"],
                "land_ms_per_page": round(1000 * result["land_seconds"] / max(1, pages), 1),
                "client_sleep_seconds": result["sleep_seconds"],
                # what a sync started right away would wait before its first call (the client keeps its
                # bucket and the rate the server announced between syncs)
                "next_sync_first_wait_seconds": round(first_wait_of_next_sync(db), 1),
                "process_wall_seconds": round(result["process_wall_seconds"], 3),
            }
            log(
                f"extraction ({label}): {changed} changed orders, {len(requests)} requests, "
                f"{entry['sync_seconds']} s vs bound {entry['token_bucket_bound_seconds']} s "
                f"({entry['throttled_429']} throttled)"
            )
            return entry

        initial_runs = []
        for _ in range(repeats):
            remove_db(db)
            con = connect(db)
            add_channel(con, "Sandbox", marketplaces, start=start, endpoint=sandbox.url, token_url=sandbox.token_url)
            con.close()
            sandbox.reset_rate_limits()  # a new channel: both buckets full
            initial_runs.append(one_sync("initial", visible_since(None)))
        initial = dict(sorted(initial_runs, key=lambda run: run["sync_seconds"])[len(initial_runs) // 2])
        if repeats > 1:
            initial["sync"] = f"initial, median of {repeats}"
        initial["runs"] = [
            {
                k: run[k]
                for k in (
                    "sync_seconds",
                    "time_ratio",
                    "requests",
                    "throttled_429",
                    "client_sleep_seconds",
                    "perfect_client_on_this_server_seconds",
                )
            }
            for run in initial_runs
        ]
        watermark = sandbox.now() - timedelta(minutes=2)
        # more activity: new orders, and confirmations, shipments and cancellations of earlier ones
        sandbox.simulate(hours=max(1.0, n_orders / rate_per_hour / 5), **simulate)
        sandbox.advance(minutes=10)
        follow_up = one_sync("follow-up", visible_since(watermark))
    return {
        "orders_in_marketplace": initial["changed_orders"],
        "speedup": speedup,
        "rate_per_second": rate,
        "burst": SEARCH_ORDERS_BURST,
        "syncs": [initial, follow_up],
    }


# -- 4. a sync where nothing changed -----------------------------------------------------------------
def cli_path() -> str:
    candidate = Path(sys.executable).with_name("amazon-orders")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("amazon-orders")
    if not found:
        raise RuntimeError("the amazon-orders console script is not installed next to this python")
    return found


def sandbox_channel(db: Path, env: dict, orders: int, speedup: float = 2000.0):
    """A sandbox process holding `orders` orders, and a channel 'Sandbox' for it in the warehouse."""
    from benchmarks.sandbox_proc import RemoteSandbox
    from pipelines.warehouse.channels import add_channel
    from pipelines.warehouse.connection import connect

    marketplaces = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    sandbox = RemoteSandbox(seed=9, start=start, speedup=speedup, env=env, cwd=ROOT)
    try:
        sandbox.simulate(
            hours=orders / 200,
            orders_per_hour=200,
            skus=[f"SKU-{i:05d}" for i in range(200)],
            marketplaces=marketplaces,
        )
        sandbox.advance(minutes=10)
        con = connect(db)
        add_channel(con, "Sandbox", marketplaces, start=start, endpoint=sandbox.url, token_url=sandbox.token_url)
        con.close()
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def bench_nochange(db: Path, sandbox, env: dict, repeats: int, channel: str | None = None) -> dict:
    """`amazon-orders --db DB sync` where nothing changed, and how its time splits.

    The first sync (not measured) fetches the sandbox's orders and creates the Dagster storage. Each
    measured run follows a quiet quarter of an hour on the marketplace, so the window holds nothing.
    The sandbox's own time is measured on the server and kept out of the split.
    """
    extra = ["--channel", channel] if channel else []
    command = [cli_path(), "--db", str(db), "sync", *extra]
    probe_args = [str(db)] + ([channel] if channel else [])

    def quiet_period():
        sandbox.advance(minutes=15)  # a schedule tick with no activity on the marketplace
        sandbox.reset_stats()

    def served() -> tuple[float, list]:
        stats = sandbox.stats()
        return sum(stats["search_seconds"]), stats["requests"]

    quiet_period()
    warm = run_process(command, env)
    if warm["returncode"] != 0:
        raise RuntimeError(f"amazon-orders sync failed: {warm['stderr'][-2000:]}")
    runs = []
    for _ in range(repeats):
        quiet_period()
        total = run_process(command, env)
        if total["returncode"] != 0:
            raise RuntimeError(f"amazon-orders sync failed: {total['stderr'][-2000:]}")
        server_total, requests = served()
        quiet_period()
        dagster = run_probe("nochange-dagster", *probe_args, env=env)
        server_dagster, _ = served()
        quiet_period()
        direct = run_probe("nochange-direct", *probe_args, env=env)
        server_direct, _ = served()
        interpreter = run_process([sys.executable, "-c", "pass"], env)
        imports = run_probe("imports", env=env)
        runs.append(
            {
                "total_seconds": total["wall_seconds"],
                "total_peak_rss_mb": total["peak_rss_mb"],
                "output": total["stdout"].strip(),
                "search_calls": sum(1 for r in requests if r["path"].startswith("/orders/")),
                "requests": len(requests),
                "server_seconds_in_total": server_total,
                "total_without_server_seconds": total["wall_seconds"] - server_total,
                "interpreter_seconds": interpreter["wall_seconds"],
                "import_seconds": imports["import_seconds"],
                "imports_process_seconds": imports["process_wall_seconds"],
                "dagster_run_sync_seconds": dagster["run_sync_seconds"],
                "dagster_run_sync_without_server_seconds": dagster["run_sync_seconds"] - server_dagster,
                "dagster_process_seconds": dagster["process_wall_seconds"],
                "work_seconds": direct["work_seconds"],
                "work_without_server_seconds": direct["work_seconds"] - server_direct,
                "extract_seconds": direct["extract_seconds"],
                "transform_seconds": direct["transform_seconds"],
                "checks_seconds": direct["checks_seconds"],
                "checks_per_table_seconds": direct["checks_per_table_seconds"],
                "direct_process_seconds": direct["process_wall_seconds"],
            }
        )
    median = {
        key: round(statistics.median(run[key] for run in runs), 3)
        for key in runs[0]
        if isinstance(runs[0][key], (int, float))
    }
    # does the product's Dagster run evaluate the asset checks when nothing changed? (its report says)
    checks_in_run = not any("no new order versions" in run["output"] for run in runs)
    checks = median["checks_seconds"] if checks_in_run else 0.0
    startup = median["interpreter_seconds"] + median["import_seconds"]
    run_sync = median["dagster_run_sync_without_server_seconds"]
    work = median["work_without_server_seconds"]
    split = {
        "startup_seconds": round(startup, 3),
        "dagster_seconds": round(max(0.0, run_sync - work - checks), 3),
        "asset_checks_seconds": checks,
        "asset_checks_run_when_nothing_changed": checks_in_run,
        "work_seconds": round(work, 3),
        "exit_and_rest_seconds": round(median["total_without_server_seconds"] - startup - run_sync, 3),
        "sandbox_server_seconds": median["server_seconds_in_total"],
    }
    log(f"no-change sync: {median['total_seconds']} s ({split})")
    return {
        "repeats": repeats,
        "median": median,
        "split": split,
        "runs": runs,
        "slowest_imports": import_breakdown(env),
        "first_run_seconds": round(warm["wall_seconds"], 3),
        "command": " ".join(command[1:]),
    }


# -- 2./3. rebuild and incremental at a size ----------------------------------------------------------
def validation(con) -> dict:
    """The warehouse against what the generated orders should give: orders, lines and the inventory."""
    from benchmarks.generate import actual, expected, inventory_mismatches

    want, got, mismatches = expected(con), actual(con), inventory_mismatches(con)
    return {"ok": want == got and not mismatches, "expected": want, "actual": got, "mismatches": mismatches}


def bench_size(
    n: int,
    work: Path,
    env: dict,
    *,
    seed: int,
    repeat: int,
    profile: bool,
    check_shape: bool,
    nochange_at_size: bool,
    dagster_env: dict | None,
) -> dict:
    from benchmarks.generate import GeneratorParams, append_changes, generate
    from benchmarks.shapes import compare
    from pipelines.warehouse.connection import connect

    db = work / f"bench_{n}.duckdb"
    remove_db(db)
    log(f"{n:,} orders: generating")
    con = connect(db)
    generated = generate(con, GeneratorParams(n, seed=seed))
    started = time.perf_counter()
    con.execute("checkpoint")
    generated["checkpoint_seconds"] = round(time.perf_counter() - started, 3)
    raw = con.execute("select count(*), avg(strlen(payload::varchar)) from raw_amazon_orders").fetchone()
    shape = None
    if check_shape:
        sample = [
            r[0]
            for r in con.execute(
                "select payload::varchar from raw_amazon_orders using sample reservoir(5000 rows) repeatable (1)"
            ).fetchall()
        ]
        shape = compare(sample)
    con.close()
    entry = {
        "orders": n,
        "generate": generated,
        "raw_rows": raw[0],
        "avg_payload_bytes": round(raw[1], 1),
        "db_mb_after_generate": round(db.stat().st_size / 1e6, 1),
        "shape_check": shape,
    }
    log(f"{n:,} orders: generated in {generated['seconds']} s; baseline")

    # baseline and rebuild take turns, so a slow spell of the machine falls on both
    baselines, rebuilds = [], []
    for _ in range(repeat):
        baselines.append(run_probe("baseline", str(db), env=env))
        rebuilds.append(run_probe("rebuild", str(db), env=env))
        log(f"{n:,} orders: baseline {baselines[-1]['seconds']:.2f} s, rebuild {rebuilds[-1]['seconds']:.2f} s")
    capped = run_probe("baseline-capped", str(db), env=env)
    if capped["memory_limit"] != capped["default_memory_limit"]:
        entry["baseline_at_product_memory_limit"] = {
            "memory_limit": capped["memory_limit"],
            "seconds": round(capped["seconds"], 3),
            "peak_rss_mb": round(capped["peak_rss_mb"], 1),
        }
    base_s = statistics.median(b["seconds"] for b in baselines)
    rebuild_s = statistics.median(r["seconds"] for r in rebuilds)
    # each pair ran back to back, under the same conditions: the median of their ratios leaves out
    # a pair that a slow spell of the machine hit on one side
    pair_ratios = [round(r["seconds"] / b["seconds"], 3) for b, r in zip(baselines, rebuilds)]
    entry["baseline"] = {
        "seconds": round(base_s, 3),
        "peak_rss_mb": round(max(b["peak_rss_mb"] for b in baselines), 1),
        "orders_rows": baselines[0]["orders_rows"],
        "lines_rows": baselines[0]["lines_rows"],
        "runs_seconds": [round(b["seconds"], 3) for b in baselines],
    }
    entry["rebuild"] = {
        "seconds": round(rebuild_s, 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rebuilds), 1),
        "process_wall_seconds": round(statistics.median(r["process_wall_seconds"] for r in rebuilds), 3),
        "runs_seconds": [round(r["seconds"], 3) for r in rebuilds],
        "pair_ratios": pair_ratios,
        "ratio": statistics.median(pair_ratios),
        "ratio_of_medians": round(rebuild_s / base_s, 3),
    }
    log(
        f"{n:,} orders: rebuild {rebuild_s:.2f} s (x{entry['rebuild']['ratio']:.2f}), "
        f"{entry['rebuild']['peak_rss_mb']:.0f} MB; validating"
    )

    con = connect(db)
    entry["validation_after_rebuild"] = validation(con)
    changes = append_changes(con, CHANGED_ORDERS)
    con.execute("checkpoint")
    con.close()
    log(f"{n:,} orders: {changes['changed_orders']} changed versions appended; incremental transform")
    incremental = run_probe("incremental", str(db), env=env)
    con = connect(db)
    entry["validation_after_incremental"] = validation(con)
    con.close()
    entry["incremental"] = {
        "changed_orders": changes["changed_orders"],
        "seconds": round(incremental["seconds"], 3),
        "orders_changed": incremental["orders_changed"],
        "peak_rss_mb": round(incremental["peak_rss_mb"], 1),
        "fraction_of_rebuild": round(incremental["seconds"] / rebuild_s, 4),
    }
    log(
        f"{n:,} orders: incremental {incremental['seconds']:.2f} s "
        f"({100 * incremental['seconds'] / rebuild_s:.1f} % of the rebuild)"
    )

    marts = run_probe("marts", str(db), env=env)
    entry["marts_publish"] = {
        "marts_seconds": round(marts["marts_seconds"], 3),
        "publish_seconds": round(marts["publish_seconds"], 3),
        "published_mb": round(marts["published_mb"], 1),
        "peak_rss_mb": round(marts["peak_rss_mb"], 1),
        "mart_rows": marts["mart_rows"],
    }
    log(
        f"{n:,} orders: marts {marts['marts_seconds']:.2f} s, published copy {marts['publish_seconds']:.2f} s "
        f"({marts['published_mb']:.0f} MB)"
    )

    if profile:
        log(f"{n:,} orders: profiling the rebuild, statement by statement")
        entry["rebuild_profile"] = run_probe("rebuild-profile", str(db), env=env)["profile"]
        con = connect(db)
        append_changes(con, CHANGED_ORDERS)
        con.close()
        log(f"{n:,} orders: profiling an incremental transform of {CHANGED_ORDERS} changed orders")
        entry["incremental_profile"] = run_probe("incremental-profile", str(db), env=env)["profile"]

    if nochange_at_size and dagster_env is not None:
        log(f"{n:,} orders: landing sandbox pages into this warehouse, then a sync where nothing changed")
        sandbox = sandbox_channel(db, env, orders=2000)
        try:
            # landing a page checks its hashes against the channel's raw rows: does that grow with the table?
            landed = run_probe("extract", str(db), "Sandbox", env=sandbox.living_in_its_time(env))
            entry["landing"] = {
                "pages": landed["pages"],
                "orders": landed["orders_fetched"],
                "land_seconds": landed["land_seconds"],
                "land_ms_per_page": round(1000 * landed["land_seconds"] / max(1, landed["pages"]), 1),
                "sync_seconds": round(landed["seconds"], 3),
            }
            log(f"{n:,} orders: landing {entry['landing']['land_ms_per_page']} ms per page")
            entry["nochange_sync"] = bench_nochange(
                db, sandbox, sandbox.living_in_its_time(dagster_env), repeats=1, channel="Sandbox"
            )
        finally:
            sandbox.stop()
    entry["db_mb_final"] = round(db.stat().st_size / 1e6, 1)
    return entry


# -- the report --------------------------------------------------------------------------------------
def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def checks(results: dict) -> list[dict]:
    rows = []

    def add(figure, size, value, baseline, ratio, target, passed, unit=""):
        rows.append(
            {
                "figure": figure,
                "size": size,
                "value": value,
                "baseline": baseline,
                "ratio": ratio,
                "target": target,
                "pass": passed,
                "unit": unit,
            }
        )

    extraction = results.get("extraction")
    if extraction:
        for sync in extraction["syncs"]:
            label = f"{sync['changed_orders']:,} changed ({sync['sync']})"
            calls = sync["api_calls_per_1000"]
            add(
                "API calls per 1,000 changed orders",
                label,
                calls,
                sync["ideal_calls_per_1000"],
                round(calls / sync["ideal_calls_per_1000"], 3) if calls else None,
                f"≤ {TARGETS['api_calls_per_1000']}",
                calls is not None and calls <= TARGETS["api_calls_per_1000"],
            )
        initial = extraction["syncs"][0]
        add(
            "Sync wall time vs token-bucket lower bound",
            f"{initial['pages']} pages",
            initial["sync_seconds"],
            initial["token_bucket_bound_seconds"],
            initial["time_ratio"],
            f"ratio ≤ {TARGETS['extract_time_ratio']}",
            initial["time_ratio"] is not None and initial["time_ratio"] <= TARGETS["extract_time_ratio"],
            " s",
        )
    for size in results.get("sizes", []):
        entry = results["by_size"][str(size)]
        label = f"{size:,} orders"
        add(
            "Full rebuild time (baseline: bare DuckDB CTAS)",
            label,
            entry["rebuild"]["seconds"],
            entry["baseline"]["seconds"],
            entry["rebuild"]["ratio"],
            f"ratio ≤ {TARGETS['rebuild_ratio']}",
            entry["rebuild"]["ratio"] <= TARGETS["rebuild_ratio"],
            " s",
        )
        capped = entry.get("baseline_at_product_memory_limit")
        if capped:
            add(
                f"Full rebuild time (baseline: bare DuckDB at the product's memory_limit {capped['memory_limit']})",
                label,
                entry["rebuild"]["seconds"],
                capped["seconds"],
                round(entry["rebuild"]["seconds"] / capped["seconds"], 3),
                "info",
                None,
                " s",
            )
        peak = entry["rebuild"]["peak_rss_mb"]
        target_applies = size >= 1_000_000
        add(
            "Full rebuild peak memory (baseline: bare DuckDB CTAS)",
            label,
            peak,
            entry["baseline"]["peak_rss_mb"],
            round(peak / entry["baseline"]["peak_rss_mb"], 3),
            f"≤ {TARGETS['rebuild_peak_mb_at_1m']:,} MB at 1,000,000" + ("" if target_applies else " (info)"),
            peak <= TARGETS["rebuild_peak_mb_at_1m"] if target_applies else None,
            " MB",
        )
        inc = entry["incremental"]
        # the target is set on top of 1,000,000 orders; below it a fixed cost per run dominates
        add(
            f"Incremental transform of {inc['changed_orders']:,} changed orders (baseline: full rebuild)",
            label,
            inc["seconds"],
            entry["rebuild"]["seconds"],
            inc["fraction_of_rebuild"],
            f"≤ {TARGETS['incremental_fraction']:.0%} on top of 1,000,000" + ("" if target_applies else " (info)"),
            inc["fraction_of_rebuild"] <= TARGETS["incremental_fraction"] if target_applies else None,
            " s",
        )
        add(
            "Correct rows after rebuild + incremental (orders, lines, inventory)",
            label,
            "ok"
            if entry["validation_after_rebuild"]["ok"] and entry["validation_after_incremental"]["ok"]
            else "WRONG",
            None,
            None,
            "exact",
            entry["validation_after_rebuild"]["ok"] and entry["validation_after_incremental"]["ok"],
        )
        if entry.get("nochange_sync"):
            nc = entry["nochange_sync"]
            add(
                "`amazon-orders sync` with nothing changed (baseline: extract+transform)",
                label,
                nc["median"]["total_seconds"],
                nc["split"]["work_seconds"],
                round(nc["median"]["total_seconds"] / nc["split"]["work_seconds"], 3)
                if nc["split"]["work_seconds"]
                else None,
                f"≤ {TARGETS['nochange_seconds']} s (info at this size)",
                None,
                " s",
            )
    nochange = results.get("nochange")
    if nochange:
        add(
            "`amazon-orders sync` with nothing changed (baseline: extract+transform)",
            f"synced sandbox channel, {nochange['orders_in_sandbox']:,} orders",
            nochange["median"]["total_seconds"],
            nochange["split"]["work_seconds"],
            round(nochange["median"]["total_seconds"] / nochange["split"]["work_seconds"], 3),
            f"≤ {TARGETS['nochange_seconds']} s",
            nochange["median"]["total_seconds"] <= TARGETS["nochange_seconds"],
            " s",
        )
    return rows


def growth(results: dict) -> list[dict]:
    sizes = results.get("sizes", [])
    if len(sizes) < 2:
        return []
    small, large = str(sizes[0]), str(sizes[-1])
    a, b = results["by_size"][small], results["by_size"][large]
    figures = [
        ("generate seconds", lambda e: e["generate"]["seconds"]),
        ("warehouse MB after generate", lambda e: e["db_mb_after_generate"]),
        ("baseline seconds", lambda e: e["baseline"]["seconds"]),
        ("baseline peak RSS MB", lambda e: e["baseline"]["peak_rss_mb"]),
        ("rebuild seconds", lambda e: e["rebuild"]["seconds"]),
        ("rebuild / baseline ratio", lambda e: e["rebuild"]["ratio"]),
        ("rebuild peak RSS MB", lambda e: e["rebuild"]["peak_rss_mb"]),
        ("incremental seconds (1,000 changed)", lambda e: e["incremental"]["seconds"]),
        ("incremental / rebuild", lambda e: e["incremental"]["fraction_of_rebuild"]),
        ("landing ms per page (extract)", lambda e: e.get("landing", {}).get("land_ms_per_page")),
        ("no-change sync seconds", lambda e: e.get("nochange_sync", {}).get("median", {}).get("total_seconds")),
        (
            "no-change sync: asset checks seconds",
            lambda e: e.get("nochange_sync", {}).get("split", {}).get("asset_checks_seconds"),
        ),
        (
            "no-change sync: transform seconds",
            lambda e: e.get("nochange_sync", {}).get("median", {}).get("transform_seconds"),
        ),
    ]
    rows = []
    for name, get in figures:
        x, y = get(a), get(b)
        if x is None or y is None:
            continue
        rows.append({"figure": name, small: x, large: y, "factor": round(y / x, 2) if x else None})
    return rows


def _product_line(results: dict) -> str:
    start, end = results.get("product_at_start", {}), results.get("product_at_end", {})
    line = f"Product measured: commit {start.get('commit')} ({start.get('subject')})"
    if start.get("uncommitted_product_files"):
        line += f" with uncommitted changes to {', '.join(start['uncommitted_product_files'])}"
    if (end.get("commit"), end.get("uncommitted_product_files")) != (
        start.get("commit"),
        start.get("uncommitted_product_files"),
    ):
        line += (
            f"; **the product changed during the run** (at the end: commit {end.get('commit')}"
            + (
                f", uncommitted {', '.join(end['uncommitted_product_files'])}"
                if end.get("uncommitted_product_files")
                else ""
            )
            + ")"
        )
    return line + "."


def render_markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"_Run: `{results['command']}` on {results['finished_at']} ({results['mode']} set, "
        f"{results['total_seconds']:.0f} s)._",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB RAM, {m['cpu_model']}; {m['platform']}. "
        f"Python {m['python']}, DuckDB {m['duckdb']}, Dagster {m['dagster']}, pandas {m['pandas']}, "
        f"pandera {m['pandera']}.",
        "",
        _product_line(results),
        "",
        "| Figure | Size | Value | Baseline | Ratio | Target | Result |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in results["checks"]:
        result = {True: "pass", False: "**MISS**", None: "info"}[row["pass"]]
        value = row["value"] if isinstance(row["value"], str) else _fmt(row["value"], row["unit"])
        lines.append(
            f"| {row['figure']} | {row['size']} | {value} | {_fmt(row['baseline'], row['unit'])} | "
            f"{_fmt(row['ratio'])} | {row['target']} | {result} |"
        )
    nochange = results.get("nochange")
    if nochange:
        s, med = nochange["split"], nochange["median"]
        lines += [
            "",
            f"No-change sync, where the {med['total_seconds']:.2f} s go (median of {nochange['repeats']}; "
            f"each part from its own process, so the sum is approximate): start-up {s['startup_seconds']:.2f} s "
            f"(interpreter + importing pipelines.cli.commands and pipelines.definitions), Dagster "
            f"{s['dagster_seconds']:.2f} s (execute_in_process around the work), asset checks and metadata "
            f"{s['asset_checks_seconds']:.2f} s"
            + (
                ""
                if s.get("asset_checks_run_when_nothing_changed", True)
                else f" (the run skips them when nothing changed; they take {med['checks_seconds']:.2f} s)"
            )
            + f", work {s['work_seconds']:.2f} s (extract + transform, "
            f"sandbox time excluded), process exit and rest {s['exit_and_rest_seconds']:.2f} s, and the "
            f"sandbox answering the one search {s['sandbox_server_seconds']:.2f} s; "
            f"{med['requests']:.0f} HTTP requests. Slowest imports (cumulative): "
            + ", ".join(f"{i['module']} {i['cumulative_seconds']:.2f} s" for i in nochange["slowest_imports"][:4])
            + ".",
        ]
    lines += [
        "",
        "Baseline and rebuild, run in turns: baseline / rebuild seconds (their ratio). The ratio in the "
        "table above is the median of these ratios.",
        "",
    ]
    for size in results.get("sizes", []):
        rebuild, baseline = results["by_size"][str(size)]["rebuild"], results["by_size"][str(size)]["baseline"]
        pairs = zip(baseline["runs_seconds"], rebuild["runs_seconds"], rebuild["pair_ratios"])
        lines.append(
            f"* {size:,} orders: "
            + ", ".join(f"{b:.2f} / {r:.2f} ({q:.2f})" for b, r, q in pairs)
            + f"; ratio of the medians {rebuild['ratio_of_medians']:.2f}"
        )
    built = [(size, results["by_size"][str(size)].get("marts_publish")) for size in results.get("sizes", [])]
    if any(figures for _, figures in built):
        lines += [
            "",
            "After a sync that changed something, the writer is held while the marts are rebuilt and the core "
            "tables and marts are copied to the published file (`assets/marts.py`; own process):",
            "",
        ]
        lines += [
            f"* {size:,} orders: marts {f['marts_seconds']:.2f} s, published copy {f['publish_seconds']:.2f} s "
            f"({f['published_mb']:.0f} MB), peak RSS {f['peak_rss_mb']:.0f} MB"
            for size, f in built
            if f
        ]
    rows = growth(results)
    if rows:
        small, large = str(results["sizes"][0]), str(results["sizes"][-1])
        lines += [
            "",
            f"Growth from {int(small):,} to {int(large):,} orders ({int(large) // int(small)}x the data):",
            "",
            f"| Figure | {int(small):,} | {int(large):,} | Factor |",
            "|---|---:|---:|---:|",
        ]
        for row in rows:
            lines.append(f"| {row['figure']} | {_fmt(row[small])} | {_fmt(row[large])} | {_fmt(row['factor'])} |")
    for size in results.get("sizes", []):
        entry = results["by_size"][str(size)]
        profile = entry.get("rebuild_profile")
        if profile:
            lines += [
                "",
                f"Rebuild at {size:,} orders, step by step ({profile['total_seconds']:.1f} s profiled; top steps):",
                "",
                "| Step | Seconds | Share | Peak RSS MB during step |",
                "|---|---:|---:|---:|",
            ]
            for step in profile["steps"][:10]:
                lines.append(
                    f"| {step['step']} | {step['seconds']:.2f} | {step['share']:.0%} | {step['rss_peak_mb']:.0f} |"
                )
        profile = entry.get("incremental_profile")
        if profile:
            lines += [
                "",
                f"Incremental transform at {size:,} orders ({CHANGED_ORDERS:,} changed; "
                f"{profile['total_seconds']:.2f} s profiled; top steps):",
                "",
                "| Step | Seconds | Share |",
                "|---|---:|---:|",
            ]
            for step in profile["steps"][:6]:
                lines.append(f"| {step['step']} | {step['seconds']:.2f} | {step['share']:.0%} |")
    return "\n".join(lines)


def _marks(section: str) -> tuple[str, str]:
    if section == "main":
        return "<!-- results:start -->", "<!-- results:end -->"
    return f"<!-- results:{section}:start -->", f"<!-- results:{section}:end -->"


HEADER = """# Benchmarks

`python -m benchmarks --quick` (2,000 and 20,000 orders, seconds) or `python -m benchmarks` (the full
set; `--sizes 100000,1000000` to choose) writes `benchmarks/results.json` and the block below.
"""


def write_markdown(path: Path, block: str, section_name: str = "main") -> None:
    start_mark, end_mark = _marks(section_name)
    text = path.read_text() if path.exists() else HEADER
    section = f"{start_mark}\n{block}\n{end_mark}"
    if start_mark in text and end_mark in text:
        head, rest = text.split(start_mark, 1)
        text = head + section + rest.split(end_mark, 1)[1]
    else:
        title = "Results" if section_name == "main" else f"Results ({section_name})"
        text = text.rstrip() + f"\n\n## {title}\n\n" + section + "\n"
    path.write_text(text)


# -- main --------------------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    sizes = {name: PRESETS[name]["sizes"] for name in ("full", "quick")}
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{' and '.join(f'{n:,}' for n in sizes['quick'])} orders, one repeat: seconds",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated order counts (default: {}; quick: {})".format(
            *(",".join(map(str, sizes[name])) for name in ("full", "quick"))
        ),
    )
    parser.add_argument(
        "--only", default="extraction,nochange,sizes", help="comma-separated parts to run: extraction, nochange, sizes"
    )
    parser.add_argument("--extract-orders", type=int, help="orders in the sandbox for the extraction benchmark")
    parser.add_argument("--speedup", type=float, default=2000.0, help="sandbox usage-plan speed-up")
    parser.add_argument("--extract-repeats", type=int, help="initial syncs to time (median)")
    parser.add_argument("--repeat", type=int, help="runs of baseline and rebuild per size (median)")
    parser.add_argument("--nochange-repeats", type=int)
    parser.add_argument(
        "--nochange-orders",
        type=int,
        default=2000,
        help="orders in the sandbox of the no-change sync (it renders them all per search)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile the rebuild and incremental statement by statement",
    )
    parser.add_argument(
        "--nochange-at-size",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time a no-change sync on each generated warehouse",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work-dir", default=str(BENCH_DIR / "work"))
    parser.add_argument("--results", default=str(BENCH_DIR / "results.json"))
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="'' to skip")
    parser.add_argument("--keep", action="store_true", help="keep the generated warehouses")
    parser.add_argument(
        "--product",
        metavar="REV",
        help="measure the product code of this commit (a git archive snapshot) instead of the "
        "working tree, which another engineer may be changing",
    )
    parser.add_argument(
        "--markdown-section",
        help="which results block of the markdown file to replace (default: 'main', or 'quick' "
        "with --quick, so a quick run leaves the full set's table in place)",
    )
    args = parser.parse_args(argv)
    if args.markdown_section is None:
        args.markdown_section = "quick" if args.quick else "main"
    return args


def run(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.product and not os.environ.get("BENCH_PRODUCT_DIR"):
        # start again with the snapshot ahead of the working tree on the path, for this process and its children
        snapshot = snapshot_product(args.product, Path(args.work_dir))
        # PYTHONSAFEPATH: no working directory ahead of PYTHONPATH (python -m would put the tree's code first)
        env = dict(os.environ, BENCH_PRODUCT_DIR=str(snapshot), PYTHONSAFEPATH="1")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(snapshot), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        argv = list(argv if argv is not None else sys.argv[1:])
        done = subprocess.run([sys.executable, "-m", "benchmarks", *argv], env=env, cwd=ROOT)
        if done.returncode:
            raise SystemExit(done.returncode)
        return json.loads(Path(args.results).read_text())
    if os.environ.get("BENCH_PRODUCT_DIR"):
        import pipelines

        assert Path(pipelines.__file__).resolve().is_relative_to(Path(os.environ["BENCH_PRODUCT_DIR"]).resolve()), (
            f"pipelines imported from {pipelines.__file__}, not from the snapshot"
        )
    preset = PRESETS["quick" if args.quick else "full"]
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else preset["sizes"]
    options = {
        "extract_orders": args.extract_orders or preset["extract_orders"],
        "repeat": args.repeat or preset["repeat"],
        "extract_repeats": args.extract_repeats or preset["extract_repeats"],
        "nochange_repeats": args.nochange_repeats or preset["nochange_repeats"],
        "nochange_orders": args.nochange_orders,
        "profile": preset["profile"] if args.profile is None else args.profile,
        "nochange_at_size": preset["nochange_at_size"] if args.nochange_at_size is None else args.nochange_at_size,
    }
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    dagster_home = work / "dagster_home"
    if dagster_home.exists():
        shutil.rmtree(dagster_home)
    dagster_home.mkdir()
    product_root = Path(os.environ.get("BENCH_PRODUCT_DIR") or ROOT)
    shutil.copy(product_root / "dagster.yaml", dagster_home / "dagster.yaml")
    env = child_env()
    dagster_env = child_env(dagster_home)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("LWA_", "SP_API_"))})

    started = time.perf_counter()
    results: dict = {
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "mode": "quick" if args.quick else "full",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "product_at_start": product_version(),
        "options": options,
        "targets": TARGETS,
        "sizes": sizes if "sizes" in parts else [],
        "by_size": {},
    }
    if "extraction" in parts:
        log(f"extraction: {options['extract_orders']:,} orders in the sandbox, speed-up {args.speedup:g}")
        results["extraction"] = bench_extraction(
            work, options["extract_orders"], args.speedup, dagster_env, repeats=options["extract_repeats"]
        )
    if "nochange" in parts:
        db = work / "nochange.duckdb"
        remove_db(db)
        log(
            f"no-change sync: amazon-orders sync against a synced sandbox channel ({options['nochange_orders']:,} orders)"
        )
        sandbox = sandbox_channel(db, dagster_env, orders=options["nochange_orders"], speedup=args.speedup)
        try:
            results["nochange"] = bench_nochange(
                db, sandbox, sandbox.living_in_its_time(dagster_env), repeats=options["nochange_repeats"]
            )
            results["nochange"]["orders_in_sandbox"] = options["nochange_orders"]
        finally:
            sandbox.stop()
    for index, n in enumerate(results["sizes"]):
        results["by_size"][str(n)] = bench_size(
            n,
            work,
            env,
            seed=args.seed,
            repeat=options["repeat"],
            profile=options["profile"],
            check_shape=index == 0,
            nochange_at_size=options["nochange_at_size"],
            dagster_env=dagster_env,
        )
        if not args.keep:
            remove_db(work / f"bench_{n}.duckdb")
    if not args.keep:
        remove_db(work / "extract.duckdb")
        remove_db(work / "nochange.duckdb")
    results["product_at_end"] = product_version()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["checks"] = checks(results)
    results["growth"] = growth(results)
    Path(args.results).write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.markdown:
        write_markdown(Path(args.markdown), render_markdown(results), args.markdown_section)
    log(f"done in {results['total_seconds']:.0f} s: {args.results}" + (f", {args.markdown}" if args.markdown else ""))
    for row in results["checks"]:
        mark = {True: "pass", False: "MISS", None: "info"}[row["pass"]]
        print(
            f"{mark:4}  {row['figure']} [{row['size']}]: {row['value']} vs {row['baseline']} "
            f"(ratio {row['ratio']}; target {row['target']})"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0
