"""Returns import at scale: how long `amazon-orders returns import` takes, how much memory it needs and how
long it holds the warehouse, for a returns report of 5,000 and of 50,000 rows.

    .venv/bin/python -m benchmarks.returns [--rows 5000,50000]   # a few minutes; writes benchmarks/returns.json

Everything real and on this machine: the sandbox (in-process, usage plans sped up 2000 times) holds
merchant-fulfilled orders of five SKUs each, shipped and synced through the CLI; every unit is then returned,
so that one report (one 30-day window) lists all of them. The import runs as a seller runs it, the CLI in its
own process; its peak memory is that process's high-water mark (wait4's ru_maxrss), and its hold on the
warehouse the asset's `seconds_holding_the_warehouse`. A second import, with nothing new, follows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.workspace import channel_add_args, log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "returns.json"
SKUS = [f"SKU-{n}" for n in range(5)]


def run_cli(cli: str, db: Path, env: dict, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, output) of one CLI command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [cli, "--db", str(db), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def holding_seconds(home: Path) -> float:
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(AssetKey("amazon_returns"))
    return event.asset_materialization.metadata["seconds_holding_the_warehouse"].value


def bench(rows: int, work: Path) -> dict:
    from pipelines.sandbox import Buyer, Item, Marketplace, SandboxServer

    folder = work / f"returns-{rows}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "dagster").mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", folder / "dagster" / "dagster.yaml")
    db, cli = folder / "warehouse.duckdb", str(Path(sys.executable).with_name("amazon-orders"))
    market = Marketplace(seed=3, start=datetime(2026, 1, 1, tzinfo=UTC))
    with SandboxServer(market, speedup=2000) as sandbox:
        env = dict(
            os.environ,
            LWA_APP_ID="amzn1.application-oa2-client.bench",
            LWA_CLIENT_SECRET="bench-secret",
            SP_API_REFRESH_TOKEN="Atzr|bench-refresh-token",
            DAGSTER_HOME=str(folder / "dagster"),
            AMAZON_ORDERS_CLOCK_URL=sandbox.url + "/_sandbox/clock",
        )
        env.pop("SP_API_DEFAULT_MARKETPLACE", None)
        run_cli(cli, db, env, *channel_add_args("Bench", sandbox, market.now))
        market.advance(minutes=1)
        log(f"{rows:,} rows: placing and shipping {rows // len(SKUS):,} orders")
        buyer = Buyer("Bench Buyer", "bench@marketplace.amazon.com")
        orders = []
        for _ in range(rows // len(SKUS)):
            market.advance(seconds=1)
            order_id = market.place_order([Item(sku, 1, "3.00") for sku in SKUS], buyer=buyer)
            market.confirm(order_id)
            market.ship(order_id)
            orders.append(order_id)
        market.advance(minutes=3)
        run_cli(cli, db, env, "sync")
        for order_id in orders:
            for sku in SKUS:
                market.return_item(order_id, sku)
        market.advance(minutes=3)
        log(f"{rows:,} rows: importing")
        seconds, peak_mb, output = run_cli(cli, db, env, "returns", "import")
        held = holding_seconds(folder / "dagster")
        document_mb = (
            sum(
                len("\t".join(row)) + 1
                for row in market.returns_report(
                    "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE",
                    ["ATVPDKIKX0DER"],
                    market.now - timedelta(days=30),
                    market.now,
                )
            )
            / 1e6
        )
        market.advance(hours=6)
        again_seconds, again_peak_mb, _ = run_cli(cli, db, env, "returns", "import")
        again_held = holding_seconds(folder / "dagster")
    imported = int(output.split(" return(s) imported")[0].rsplit(" ", 1)[-1])
    if imported != rows:
        raise RuntimeError(f"{imported} of {rows} returns imported:\n{output}")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "rows": rows,
        "document_mb": round(document_mb, 1),
        "import_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "seconds_holding_the_warehouse": held,
        "rows_per_second": round(rows / seconds),
        "second_import_seconds": round(again_seconds, 1),
        "second_import_peak_rss_mb": round(again_peak_mb),
        "second_import_seconds_holding_the_warehouse": again_held,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.returns")
    parser.add_argument("--rows", default="5000,50000", help="comma-separated report sizes")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-returns-"))
    try:
        results = [bench(int(rows), work) for rows in args.rows.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for result in results:
        log(json.dumps(result))
    Path(args.results).write_text(
        json.dumps({"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "results": results}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
