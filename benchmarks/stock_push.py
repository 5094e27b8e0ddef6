"""Stock pushed back to Amazon (issue #26): a flash sale on two marketplaces from one warehouse.

    .venv/bin/python -m benchmarks.stock_push            # quick: about 2-3 minutes; writes benchmarks/stock_push.json
    .venv/bin/python -m benchmarks.stock_push --full     # more SKUs, a longer sale

The same SKUs are listed on Amazon.com and Amazon.ca (two channels, one warehouse); orders arrive on both at a
steady rate, the sandbox taking an order only while its listing shows the units (it lowers the listing as it
takes one, and refuses at 0), and the shelf is recounted now and then. Three ways of keeping the listings:

- push (this product): the ledger is brought up to date every `--tick` seconds (a sync and the transform, the
  poll's 2-minute lag included: with notifications it is seconds) and every channel's marked SKUs are pushed
  (the sensor's few seconds folded into the tick), patches applied by Amazon `--apply` seconds later;
- polling-only: the same, every 15 minutes (the sync schedule);
- feed-only: every 30 minutes a JSON_LISTINGS_FEED of every SKU, applied 30 minutes after it is sent.

Everything runs through the code the assets run (sync_channel, transform_in_batches, push_stock) and the real
python-amazon-sp-api client over HTTP against the in-process sandbox. Time is the marketplace's, simulated: the
usage plans refill on it, and a push's wait for its token moves it, so Amazon's 5 requests/s are kept without
waiting for them. Reported per strategy: oversold units (sold beyond the shelf), units left unsold by the
buffer, p50/p95 from a ledger change to Amazon's ACCEPTED answer, calls per 1,000 stock changes against the
distinct SKUs changed per push window, and 429s. Then 1,000 changed SKUs pushed in one go: calls and 429s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.workspace import log

RESULTS = Path(__file__).resolve().parent / "stock_push.json"
US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
SELLER = "A2BENCHSELLER"
SENSOR_SECONDS = 5.0  # the stock push sensor's minimum interval


class SimulatedTime:
    """The usage plans' clock: the marketplace's simulated seconds. A wait for a token moves the marketplace."""

    def __init__(self, marketplace):
        self.marketplace = marketplace
        self.origin = marketplace.now

    def __call__(self) -> float:
        return 1_000_000.0 + (self.marketplace.now - self.origin).total_seconds()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.marketplace.advance(seconds=seconds)


@contextmanager
def environment(work: Path):
    from pipelines.cli.ui import SANDBOX_CREDENTIALS

    saved = dict(os.environ)
    os.environ.update(SANDBOX_CREDENTIALS)
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    (work / "dagster_home").mkdir(exist_ok=True)
    os.environ.pop("SP_API_DEFAULT_MARKETPLACE", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def flash_sale(
    strategy: str,
    *,
    skus: int,
    stock: int,
    minutes: int,
    orders_per_minute: float,
    tick: float,
    apply_seconds: float,
    buffer_units: int,
    seed: int,
    work: Path,
) -> dict:
    from sp_api.auth import access_token_client

    from pipelines.backoffice.products import import_products
    from pipelines.ingest.orders import sync_channel
    from pipelines.outbound.stock import push_stock, set_buffer
    from pipelines.sandbox import Item, Marketplace, SandboxServer
    from pipelines.sandbox.marketplace import OrderRefused
    from pipelines.warehouse.channels import add_channel, get_channel
    from pipelines.warehouse.connection import connect, open_for_writing
    from pipelines.warehouse.transform import transform_in_batches

    access_token_client.cache.clear()
    db = str(work / f"{strategy}.duckdb")
    start = datetime(2026, 11, 27, 8, tzinfo=UTC)
    market = Marketplace(seed=seed, start=start)
    clock = SimulatedTime(market)
    feed = strategy == "feed-only"
    server = SandboxServer(
        market,
        real_clock=clock,
        search_rate=1.0,
        search_burst=100,
        listing_apply_seconds=apply_seconds,
        feed_seconds=(0.0, 1800.0) if feed else (1.0, 2.0),
    )
    server.start()
    try:
        names = [f"FLASH-{n:04d}" for n in range(skus)]
        for marketplace_id in (US, CA):
            for sku in names:
                server.listings.list_item(sku, 0, marketplace_id=marketplace_id)
        catalog = work / f"{strategy}.csv"
        catalog.write_text(
            "product_code,product_name,list_price,on_hand\n" + "".join(f"{sku},{sku},9.99,{stock}\n" for sku in names)
        )
        with open_for_writing(db) as con:
            for name, marketplace_id in (("Amazon US", US), ("Amazon CA", CA)):
                add_channel(
                    con,
                    name,
                    [marketplace_id],
                    start=market.naive_now(),
                    endpoint=server.url,
                    token_url=server.token_url,
                    seller_id=SELLER,
                    now=market.naive_now,
                )
                if buffer_units:
                    set_buffer(con, name, None, units=buffer_units, now=market.naive_now())
            import_products(con, str(catalog))
            channels = [get_channel(con, name) for name in ("Amazon US", "Amazon CA")]
        shelf = {sku: stock for sku in names}  # the physical count, recounts included
        # one process writes here: one connection for every commit (opening the warehouse per commit, as the
        # assets do beside other writers, costs wall time that the simulated clock does not count anyway)
        held = connect(db)

        def writer():
            return nullcontext(held)

        def push_all(full: bool = False) -> list:
            return [
                push_stock(
                    channel,
                    writer,
                    now=market.naive_now,
                    full=full,
                    sleep=clock.sleep,
                    clock=clock,
                    feed_wait_seconds=0 if feed else 120,
                )
                for channel in channels
            ]

        def bring_ledger_up_to_date() -> None:
            for channel in channels:
                sync_channel(
                    writer,
                    channel,
                    run_id=f"bench-{market.now:%H%M%S}",
                    now=market.naive_now,
                    sleep=clock.sleep,
                    clock=clock,
                )
            transform_in_batches(writer)

        changes: list[tuple[str, datetime]] = []  # (sku, when the ledger booked it)
        seen_movement = [0]

        def note_changes() -> None:
            with writer() as con:
                rows = con.execute(
                    "select movement_id, product_code from inventory_movements where movement_id > ? "
                    "and location = 'warehouse' order by movement_id",
                    [seen_movement[0]],
                ).fetchall()
            if rows:
                seen_movement[0] = rows[-1][0]
                changes.extend((sku, market.naive_now()) for _, sku in rows)

        push_all(full=True)  # the listings start right (a first push: a feed)
        market.advance(seconds=max(apply_seconds, 1800.0 if feed else 0) + 1)
        note_changes()
        changes.clear()
        rng = random.Random(seed)
        hot = names[: max(1, skus // 4)]  # a flash sale: a quarter of the SKUs take most orders
        period = {"push": tick, "polling-only": 900.0, "feed-only": 1800.0}[strategy]
        end = market.now + timedelta(minutes=minutes)
        next_cycle = market.now + timedelta(seconds=period)
        sold = {sku: 0 for sku in names}
        refused = {sku: 0 for sku in names}
        placed = 0
        orders: list[tuple[str, str, datetime]] = []  # (sku, the other channel, when Amazon took the order)
        windows: list[tuple[int, int]] = []  # (distinct SKUs marked, calls) per push window
        calls_before = 0
        while market.now < end:
            gap = rng.expovariate(orders_per_minute / 60)
            arrival = market.now + timedelta(seconds=gap)
            while next_cycle <= min(arrival, end):
                market.advance(seconds=max(0.0, (next_cycle - market.now).total_seconds()))
                bring_ledger_up_to_date()
                note_changes()
                with writer() as con:
                    marked = con.execute("select count(distinct product_code) from stock_marks").fetchone()[0]
                    marked += con.execute(
                        "select count(distinct product_code) from inventory_movements m, stock_push_state s "
                        "where m.movement_id > s.movements_seen and m.location = 'warehouse'"
                    ).fetchone()[0]
                if strategy == "push":
                    market.advance(seconds=SENSOR_SECONDS)  # the sensor's interval before its run starts
                results = push_all(full=feed)
                calls = sum(r.calls for r in results)
                windows.append((marked, calls))
                calls_before += calls
                next_cycle += timedelta(seconds=period)
            if arrival >= end:
                break
            market.advance(seconds=max(0.0, (arrival - market.now).total_seconds()))
            if rng.random() < 0.03:  # a shelf recount finds a unit broken
                sku = rng.choice(hot)
                shelf[sku] = max(0, shelf[sku] - 1)
                catalog.write_text(
                    "product_code,product_name,list_price,on_hand\n"
                    + "".join(f"{s},{s},9.99,{shelf[s]}\n" for s in names)
                )
                with writer() as con:
                    import_products(con, str(catalog))
                continue
            sku = rng.choice(hot) if rng.random() < 0.85 else rng.choice(names)
            units = rng.choice([1, 1, 1, 2])
            try:
                marketplace_id = rng.choice([US, CA])
                order_id = market.place_order([Item(sku, units, "9.99")], marketplace_id=marketplace_id)
                market.confirm(order_id)
                sold[sku] += units
                placed += 1
                orders.append((sku, "Amazon CA" if marketplace_id == US else "Amazon US", market.naive_now()))
            except OrderRefused:
                refused[sku] += units
        # the end: the ledger and the listings catch up
        market.advance(minutes=3)
        bring_ledger_up_to_date()
        with writer() as con:
            # (sku, channel, when Amazon's ACCEPTED was read, when the quantity was sent): a feed's answers are
            # read when its report is, and count for the changes booked before the feed was sent
            pushes = con.execute(
                "select p.seller_sku, p.channel, p.pushed_at, coalesce(f.created_at, p.pushed_at) as sent_at "
                "from stock_pushes p left join stock_feeds f on p.via = 'feed' and f.feed_id = p.submission_id "
                "and f.channel = p.channel where p.status = 'ACCEPTED' order by p.pushed_at"
            ).fetchall()
            on_hand = dict(
                con.execute("select product_code, on_hand from inventory where location = 'warehouse'").fetchall()
            )
        listing_requests = [r for r in server.requests if r["path"].startswith(("/listings/", "/feeds/"))]
        throttled = sum(1 for r in listing_requests if r["status"] == 429)
        patch_calls = sum(1 for r in listing_requests if r["method"] == "PATCH")
        # each ledger change, to the first ACCEPTED answer for its SKU on each channel at or after it
        latencies = []
        for sku, booked in changes:
            for channel in ("Amazon US", "Amazon CA"):
                after = next((at for s, c, at, sent in pushes if s == sku and c == channel and sent >= booked), None)
                if after is not None:
                    latencies.append((after - booked).total_seconds())
        # an order on one marketplace, to the other marketplace's listing accepting a lower quantity
        cross = []
        for sku, other, taken in orders:
            after = next((at for s, c, at, sent in pushes if s == sku and c == other and sent >= taken), None)
            if after is not None:
                cross.append((after - taken).total_seconds())
        oversold = sum(max(0, sold[sku] - shelf[sku]) for sku in names)
        unsold = sum(min(refused[sku], max(0, on_hand.get(sku, 0))) for sku in names)
        pushed_windows = [w for w in windows if w[0]]
        result = {
            "strategy": strategy,
            "orders_taken": placed,
            "units_sold": sum(sold.values()),
            "units_refused_by_amazon": sum(refused.values()),
            "oversold_units": oversold,
            "units_left_unsold_by_buffer": unsold,
            "ledger_changes": len(changes),
            "p50_change_to_accepted_seconds": round(statistics.median(latencies), 1) if latencies else None,
            "p95_change_to_accepted_seconds": (
                round(statistics.quantiles(latencies, n=20)[-1], 1) if len(latencies) >= 20 else None
            ),
            "p50_order_to_other_listing_seconds": round(statistics.median(cross), 1) if cross else None,
            "p95_order_to_other_listing_seconds": (
                round(statistics.quantiles(cross, n=20)[-1], 1) if len(cross) >= 20 else None
            ),
            "patch_calls": patch_calls,
            "listings_calls": len(listing_requests),
            "calls_per_1000_changes": round(1000 * len(listing_requests) / max(1, len(changes)), 1),
            "push_windows": len(pushed_windows),
            "distinct_skus_marked_per_window": round(statistics.mean(w[0] for w in pushed_windows), 1)
            if pushed_windows
            else 0,
            "calls_per_window": round(statistics.mean(w[1] for w in pushed_windows), 1) if pushed_windows else 0,
            "throttled_429": throttled,
        }
        log(f"{strategy}: {json.dumps(result)}")
        return result
    finally:
        server.stop()
        try:
            held.close()
        except NameError:
            pass


def thousand_changed(work: Path, skus: int = 1000) -> dict:
    """`skus` changed SKUs pushed at once, one patch each, under Amazon's usage plan (5/s, burst 5)."""
    from sp_api.auth import access_token_client

    from pipelines.backoffice.products import import_products
    from pipelines.outbound.stock import push_stock
    from pipelines.sandbox import Marketplace, SandboxServer
    from pipelines.warehouse.channels import add_channel, get_channel
    from pipelines.warehouse.connection import open_for_writing

    access_token_client.cache.clear()
    db = str(work / "thousand.duckdb")
    market = Marketplace(seed=9, start=datetime(2026, 11, 27, 8, tzinfo=UTC))
    clock = SimulatedTime(market)
    with SandboxServer(market, real_clock=clock) as server:
        names = [f"BULK-{n:05d}" for n in range(skus)]
        for sku in names:
            server.listings.list_item(sku, 0)
        catalog = work / "thousand.csv"
        catalog.write_text(
            "product_code,product_name,list_price,on_hand\n" + "".join(f"{sku},{sku},9.99,10\n" for sku in names)
        )
        with open_for_writing(db) as con:
            add_channel(
                con,
                "Amazon US",
                [US],
                start=market.naive_now(),
                endpoint=server.url,
                token_url=server.token_url,
                seller_id=SELLER,
                now=market.naive_now,
            )
            import_products(con, str(catalog))
            channel = get_channel(con, "Amazon US")

        def push():
            return push_stock(
                channel, lambda: open_for_writing(db), now=market.naive_now, sleep=clock.sleep, clock=clock
            )

        push()  # the first: a feed
        market.advance(minutes=5)
        push()  # the feed's report
        catalog.write_text(
            "product_code,product_name,list_price,on_hand\n" + "".join(f"{sku},{sku},9.99,9\n" for sku in names)
        )
        with open_for_writing(db) as con:
            import_products(con, str(catalog))  # a recount: every SKU changed
        before = len(server.requests)
        started, simulated = time.perf_counter(), clock()
        result = push()
        requests = server.requests[before:]
    figures = {
        "changed_skus": skus,
        "pushed": result.pushed,
        "calls": len(requests),
        "throttled_429": sum(1 for r in requests if r["status"] == 429),
        "simulated_seconds": round(clock() - simulated, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    log(f"{skus} changed SKUs: {json.dumps(figures)}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="60 SKUs, a 60-minute sale, 1,000 changed SKUs")
    parser.add_argument("--tick", type=float, default=30.0, help="seconds between pushes (this product)")
    parser.add_argument("--apply", type=float, default=5.0, help="seconds Amazon takes to apply a patch")
    parser.add_argument("--buffer", type=int, default=0, help="units held back per SKU and channel")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--out", default=str(RESULTS), help="where the results go (JSON)")
    parser.add_argument("--no-bulk", action="store_true", help="leave out the bulk of changed SKUs")
    args = parser.parse_args(argv)
    skus, minutes, per_minute, bulk = (60, 60, 6.0, 1000) if args.full else (24, 35, 4.0, 200)
    work = Path(tempfile.mkdtemp(prefix="bench-stock-push-"))
    results = {
        "parameters": {
            "skus": skus,
            "stock_per_sku": 6,
            "minutes": minutes,
            "orders_per_minute": per_minute,
            "tick_seconds": args.tick,
            "apply_seconds": args.apply,
            "buffer_units": args.buffer,
            "seed": args.seed,
        },
        "strategies": [],
    }
    with environment(work):
        for strategy in ("push", "polling-only", "feed-only"):
            log(f"flash sale, {strategy} ...")
            started = time.perf_counter()
            figures = flash_sale(
                strategy,
                skus=skus,
                stock=6,
                minutes=minutes,
                orders_per_minute=per_minute,
                tick=args.tick,
                apply_seconds=args.apply,
                buffer_units=args.buffer,
                seed=args.seed,
                work=work,
            )
            figures["wall_seconds"] = round(time.perf_counter() - started, 1)
            results["strategies"].append(figures)
        if not args.no_bulk:
            results["changed_skus_at_once"] = thousand_changed(work, bulk)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
