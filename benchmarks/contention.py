"""Contention: while a rate-limited backfill of 10,000 orders runs, how long do the listener, the clerk and
readers wait, against the same actions on an idle warehouse?

    .venv/bin/python -m benchmarks.contention [--orders 10000]   # about 5 minutes; writes benchmarks/contention.json

Everything real and on this machine: the sandbox (in-process) with searchOrders' usage plan sped up 100
times (a page every 1.8 s after the burst of 20, so that, as at Amazon, the sync spends most of its time
waiting for the plan), moto's SQS server in its own process, and `amazon-orders sync` in its own process,
as the schedule runs it. Meanwhile, one action a second in turn: an order placed (its ORDER_CHANGE
notification read by a listener thread running `drain`, the code a notifications run executes; measured
from `place_order` to the commit holding its reservation), a clerk's `ship`, `return` and `order show`, and
an analyst's `sql` query, each through `cli.main`. The same actions are first measured on the idle warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.workspace import channel_add_args, log, start_listener, temporary_home
from pipelines.amazon.limits import SEARCH_ORDERS_BURST, SEARCH_ORDERS_RATE

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "contention.json"
SPEEDUP = 100
TARGETS = {
    "notification_p95_seconds": 2.0,
    "refused": 0,
    "longest_hold_seconds": 5.0,
    "calls_per_1000_orders": (10.0, 10.5),
}


def quantiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[max(0, int(round(0.95 * (len(ordered) - 1))))], 3),
        "max": round(ordered[-1], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contention")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)

    from benchmarks.runner import perfect_client_seconds
    from benchmarks.sqs import start_queue
    from pipelines.cli import commands as cli
    from pipelines.ingest.notifications import subscribe
    from pipelines.sandbox import Buyer, Item, Marketplace, SandboxServer
    from pipelines.warehouse.channels import get_channel
    from pipelines.warehouse.connection import open_for_writing

    work = temporary_home("bench-contention-")
    moto, url, arn = start_queue()
    market = Marketplace(seed=13, start=datetime(2026, 1, 1, tzinfo=UTC))
    db, buyer = str(work / "warehouse.duckdb"), Buyer("Bench Buyer", "bench@marketplace.amazon.com")
    skus = [f"SKU-{n:02d}" for n in range(40)]
    quiet = open(os.devnull, "w")
    results: dict = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "orders": args.orders,
        "speedup": SPEEDUP,
    }
    try:
        with SandboxServer(market, speedup=SPEEDUP) as sandbox:
            os.environ["AMAZON_ORDERS_CLOCK_URL"] = sandbox.url + "/_sandbox/clock"

            def cli_quietly(*words: str) -> None:
                saved = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = quiet
                try:
                    code = cli.main(["--db", db, *words])
                finally:
                    sys.stdout, sys.stderr = saved
                if code != 0:
                    raise RuntimeError(f"{' '.join(words)} was refused")

            cli_quietly(*channel_add_args("Bench", sandbox, market.now))
            # orders for the clerk: confirmed (to ship) and shipped (to return), synced before the backfill
            market.advance(minutes=1)
            to_ship, to_return = [], []
            for n in range(400):
                market.advance(seconds=5)
                order_id = market.place_order([Item(skus[n % len(skus)], 2, "10.00")], buyer=buyer)
                market.confirm(order_id)
                (to_return if n % 2 else to_ship).append(order_id)
                if n % 2:
                    market.ship(order_id)
            market.advance(minutes=3)
            cli_quietly("sync")
            with open_for_writing(db) as con:
                subscribe(con, get_channel(con, "Bench"), arn, url, seller_id=sandbox.notifications.seller_id)
            with open_for_writing(db) as con:
                channel = get_channel(con, "Bench")

            reserved_at: dict[str, float] = {}
            listener, stop = start_listener(
                db, channel, url, market.naive_now, 3600, reserved_at, who="the notifications of channel 'Bench'"
            )
            rng = random.Random(5)

            def measure(rounds: int, during: subprocess.Popen | None = None) -> dict:
                """Each action `rounds` times, one a second in turn; wall seconds of each, and refusals."""
                waits: dict[str, list[float]] = {"ship": [], "return": [], "order show": [], "sql": []}
                placed, refused = {}, []
                for _ in range(rounds):
                    for action in ("notification", "ship", "order show", "return", "sql"):
                        if during is not None and during.poll() is not None or len(to_return) < 2:
                            break
                        time.sleep(0.2)
                        started = time.monotonic()
                        try:
                            if action == "notification":
                                market.advance(seconds=1)
                                placed[market.place_order([Item(rng.choice(skus), 1, "5.00")], buyer=buyer)] = started
                                continue
                            if action == "ship":
                                cli_quietly("ship", to_ship.pop())
                            elif action == "return":
                                order_id = to_return.pop()
                                sku = market.order(order_id)["orderItems"][0]["product"]["sellerSku"]
                                cli_quietly("return", order_id, "--sku", sku, "--quantity", "1")
                            elif action == "order show":
                                cli_quietly("order", "show", to_return[0])
                            else:
                                cli_quietly(
                                    "sql", "select status, count(*), sum(total_amount) from orders group by all"
                                )
                            waits[action].append(time.monotonic() - started)
                        except Exception as error:
                            refused.append(f"{action}: {error}")
                deadline = time.monotonic() + 60
                while set(placed) - set(reserved_at) and time.monotonic() < deadline:
                    time.sleep(0.05)
                latencies = [reserved_at[o] - t for o, t in placed.items() if o in reserved_at]
                return {
                    "notification_to_reservation": quantiles(latencies),
                    **{action: quantiles(values) for action, values in waits.items() if values},
                    "refused": refused,
                    "notifications_not_reserved": len(set(placed) - set(reserved_at)),
                }

            log("the actions on an idle warehouse")
            results["idle"] = measure(8)

            log(f"{args.orders:,} orders for the backfill")
            # history to backfill: Amazon sent its notifications long ago, so none reach the queue now
            market.listeners.remove(sandbox.notifications.order_changed)
            market.simulate(hours=args.orders / 1000, orders_per_hour=1000, skus=skus, marketplaces=("ATVPDKIKX0DER",))
            market.listeners.append(sandbox.notifications.order_changed)
            market.advance(minutes=3)
            served = len(sandbox.requests)
            sandbox.reset_rate_limits()
            started = time.perf_counter()
            sync = subprocess.Popen(
                [str(Path(sys.executable).with_name("amazon-orders")), "--db", db, "sync"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=os.environ,
            )
            log("the same actions during the backfill")
            results["during_backfill"] = measure(1000, during=sync)
            output, _ = sync.communicate()
            log(output.strip().splitlines()[-1])
            sync_seconds = time.perf_counter() - started
            if sync.returncode != 0:
                raise RuntimeError(output)
            stop.set()
            listener.join(timeout=60)
            searches = [r for r in sandbox.requests[served:] if r["path"].endswith("/orders")]
        from dagster import AssetKey, DagsterInstance

        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(AssetKey("raw_amazon_orders"))
            core = instance.get_latest_materialization_event(AssetKey("orders")).asset_materialization
            step = next(s for s in instance.get_run_step_stats(event.run_id) if s.step_key == "raw_amazon_orders")
        figure = {key: value.value for key, value in event.asset_materialization.metadata.items()}
        transformed = {key: value.value for key, value in core.metadata.items()}
        rate = SEARCH_ORDERS_RATE * SPEEDUP
        bound = max(0, figure["pages"] - SEARCH_ORDERS_BURST) / rate
        perfect = perfect_client_seconds([r["seconds"] for r in searches], rate, SEARCH_ORDERS_BURST)
        results["sync"] = {
            "wall_seconds": round(sync_seconds, 1),
            "pages": figure["pages"],
            "orders_fetched": figure["orders_fetched"],
            "api_calls": figure["api_calls"],
            "calls_per_1000_orders": round(figure["api_calls"] / figure["orders_fetched"] * 1000, 2),
            "extract_seconds": round(step.end_time - step.start_time, 1),
            "token_bucket_bound_seconds": round(bound, 1),
            "extract_over_token_bucket_bound": round((step.end_time - step.start_time) / bound, 3) if bound else None,
            "perfect_client_on_this_server_seconds": round(perfect, 1),
            "extract_longest_hold_seconds": figure["longest_hold_of_the_warehouse_seconds"],
            "extract_seconds_holding_the_warehouse": figure["seconds_holding_the_warehouse"],
            "transform_longest_hold_seconds": transformed["longest_hold_of_the_warehouse_seconds"],
            "transform_seconds_holding_the_warehouse": transformed["seconds_holding_the_warehouse"],
        }
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)
    during, sync_figures = results["during_backfill"], results["sync"]
    longest = max(sync_figures["extract_longest_hold_seconds"], sync_figures["transform_longest_hold_seconds"])
    low, high = TARGETS["calls_per_1000_orders"]
    results["pass"] = {
        "notification_p95": during["notification_to_reservation"]["p95"] <= TARGETS["notification_p95_seconds"],
        "nothing_refused": not during["refused"],
        "longest_hold": longest < TARGETS["longest_hold_seconds"],
        "calls_per_1000_orders": low <= sync_figures["calls_per_1000_orders"] <= high,
    }
    Path(args.results).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0 if all(results["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
