"""Stock pushed back to Amazon (issue #26): a flash sale on two marketplaces from one warehouse.

    .venv/bin/python -m benchmarks.stock_push            # quick: about 4 minutes; writes benchmarks/stock_push.json
    .venv/bin/python -m benchmarks.stock_push --full     # more SKUs, a longer sale

The same SKUs are listed on Amazon.com and Amazon.ca (one channel for the region's two marketplaces, as a seller
adds it, one warehouse); orders arrive on both at a steady rate, the sandbox taking an order only while its listing
shows the units (it lowers the listing as it takes one, and refuses at 0), and the shelf is recounted now and then.
The ways of keeping the listings:

- push (this product, as a seller runs it): the sandbox's ORDER_CHANGE notifications go to an SQS queue (moto's
  server, its own process) and `drain` books them (`--notify` seconds after the order while a notifications run is
  reading; else at the notifications sensor's next 30-s look and a run's start); the notifications run then pushes
  what it booked (`push_moved_stock`); recounts and the 15-minute sync are pushed by the stock sensor (its 5-s
  look and a run's start); Amazon applies a patch `--apply` seconds after accepting it;
- push-sensor: the same, every push left to the stock sensor (the product before a notification's run pushed);
- push-poll (`--strategies push-poll`): no notifications; a sync every `--tick` seconds (the poll's 2-minute lag);
- polling-only: the sync schedule's 15 minutes, pushing on its tick;
- feed-only: every 30 minutes a JSON_LISTINGS_FEED of every SKU, applied 30 minutes after it is sent.

Everything runs through the code the assets run (drain, push_moved_stock, sync_channel, transform_in_batches,
push_stock) and the real python-amazon-sp-api client over HTTP against the in-process sandbox. Time is the
marketplace's, simulated: the usage plans refill on it, and a push's wait for its token moves it, so Amazon's 5
requests/s are kept without waiting for them (a request's own round trip takes no simulated time). Reported per
strategy: oversold units (sold beyond the shelf), units left unsold by the buffer, p50/p95 from a ledger change to
Amazon's ACCEPTED answer, from an order to the other marketplace's ACCEPTED quantity (for the orders after which it
showed more than the shelf had left), calls per 1,000 stock changes
against the distinct SKUs changed per push, and 429s. Then 1,000 changed SKUs pushed in one go: calls and 429s.
"""

from __future__ import annotations

import argparse
import heapq
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
CHANNEL = "Amazon NA"
SENSOR_SECONDS = 5.0  # the stock push sensor's minimum interval
LISTEN_SECONDS = 30.0  # the notifications sensor's interval, and how long its run reads on after the last message
RUN_START_SECONDS = 3.0  # a sensor's run starting (the daemon's process; BENCHMARKS.md, shipment confirmations)
NOTIFY_SECONDS = 2.0  # an ORDER_CHANGE from the order to its booking by a reading run (benchmarks/notifications.json)


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
    tick: float = 30.0,
    apply_seconds: float,
    buffer_units: int,
    seed: int,
    work: Path,
    notify_seconds: float = NOTIFY_SECONDS,
) -> dict:
    """One flash sale under `strategy`: "push" (the product as a seller runs it: ORDER_CHANGE notifications through
    SQS, the notifications run pushing what it booked, the stock sensor, the 15-minute sync), "push-sensor" (the
    same with the sensor's push only, as before a notification's run pushed), "push-poll" (no notifications: the
    ledger brought up to date every `tick` seconds by a sync, the poll's 2-minute lag included), "polling-only"
    or "feed-only"."""
    from sp_api.auth import access_token_client

    from pipelines.backoffice.products import import_products
    from pipelines.ingest.notifications import drain, subscribe
    from pipelines.ingest.orders import sync_channel
    from pipelines.outbound.stock import push_moved_stock, push_stock, set_buffer, unmarked_movements
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
    notified = strategy in ("push", "push-sensor")
    server = SandboxServer(
        market,
        real_clock=clock,
        search_rate=1.0,
        search_burst=100,
        listing_apply_seconds=apply_seconds,
        feed_seconds=(0.0, 1800.0) if feed else (1.0, 2.0),
    )
    server.start()
    sqs = None
    held = None
    saved_environment = dict(os.environ)  # the SQS endpoint and keys start_queue sets go with its server
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
            # one channel for the region's two marketplaces, as the README has a seller add it (Amazon's
            # ORDER_CHANGE subscription is one per seller and region, so two channels could not both have one)
            add_channel(
                con,
                CHANNEL,
                [US, CA],
                start=market.naive_now(),
                endpoint=server.url,
                token_url=server.token_url,
                seller_id=SELLER,
                now=market.naive_now,
            )
            if buffer_units:
                set_buffer(con, CHANNEL, None, units=buffer_units, now=market.naive_now())
            import_products(con, str(catalog))
            channel = get_channel(con, CHANNEL)
        queue_url = None
        if notified:
            from benchmarks.sqs import start_queue

            server.notifications.seller_id = SELLER
            sqs, queue_url, arn = start_queue(f"bench-{strategy}")
            with open_for_writing(db) as con:
                subscribe(con, channel, arn, queue_url)
        shelf = {sku: stock for sku in names}  # the physical count, recounts included
        # one process writes here: one connection for every commit (opening the warehouse per commit, as the
        # assets do beside other writers, costs wall time that the simulated clock does not count anyway)
        held = connect(db)

        def writer():
            return nullcontext(held)

        windows: list[tuple[int, int]] = []  # (distinct SKUs marked, calls) per push

        def marked_now() -> int:
            with writer() as con:
                marked = con.execute("select count(distinct product_code) from stock_marks").fetchone()[0]
                return (
                    marked
                    + con.execute(
                        "select count(distinct product_code) from inventory_movements m, stock_push_state s "
                        "where m.movement_id > s.movements_seen and m.location = 'warehouse'"
                    ).fetchone()[0]
                )

        def push(full: bool = False) -> None:
            marked = marked_now()
            result = push_stock(
                channel,
                writer,
                now=market.naive_now,
                full=full,
                sleep=clock.sleep,
                clock=clock,
                feed_wait_seconds=0 if feed else 120,
            )
            windows.append((marked, result.calls))

        def bring_ledger_up_to_date() -> None:
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

        push(full=True)  # the listings start right (a first push: a feed)
        market.advance(seconds=max(apply_seconds, 1800.0 if feed else 0) + 1)
        if notified:
            server.notifications.flush()
            drain(channel, queue_url, writer, clock=market.naive_now)  # nothing yet; the queue is reachable
        note_changes()
        changes.clear()
        windows.clear()
        rng = random.Random(seed)
        hot = names[: max(1, skus // 4)]  # a flash sale: a quarter of the SKUs take most orders
        end = market.now + timedelta(minutes=minutes)
        origin = market.now
        sold = {sku: 0 for sku in names}
        refused = {sku: 0 for sku in names}
        placed = 0
        # (sku, the other marketplace, when Amazon took the order) of each order after which the other marketplace
        # showed more units than the shelf had left
        orders: list[tuple[str, str, datetime]] = []
        # what happens later, in the marketplace's time: (when, sequence, what)
        agenda: list[tuple[datetime, int, str]] = []
        sequence = [0]

        def later(when: datetime, what: str) -> None:
            sequence[0] += 1
            heapq.heappush(agenda, (when, sequence[0], what))

        def next_tick(after: datetime, every: float) -> datetime:
            """The first evaluation of a sensor ticking every `every` seconds at or after `after`."""
            ticks = -(-(after - origin).total_seconds() // every)
            return origin + timedelta(seconds=ticks * every)

        def sensor_push_after(booked: datetime) -> None:
            # the stock sensor sees the movement at its next tick and its run starts
            later(next_tick(booked, SENSOR_SECONDS) + timedelta(seconds=RUN_START_SECONDS), "sensor push")

        listening_until = [origin - timedelta(seconds=1)]  # the notifications run reads until idle this long

        def notified_order(taken: datetime) -> None:
            if taken <= listening_until[0]:  # a run is reading: the message is there in seconds
                applied = taken + timedelta(seconds=notify_seconds)
            else:  # the notifications sensor's next look starts a run
                applied = next_tick(taken + timedelta(seconds=notify_seconds), LISTEN_SECONDS) + timedelta(
                    seconds=RUN_START_SECONDS
                )
            listening_until[0] = max(listening_until[0], applied + timedelta(seconds=LISTEN_SECONDS))
            later(applied, "notifications")

        def happen(what: str) -> None:
            if what == "notifications":
                server.notifications.flush()  # what the marketplace sent is in the queue
                if strategy == "push":  # the product: the run that booked an order pushes what moved
                    marked = [0]

                    def after_batch(counts) -> None:
                        if counts.movements:
                            note_changes()
                            marked[0] = marked_now()
                            results = push_moved_stock(writer, now=market.naive_now, sleep=clock.sleep, clock=clock)
                            windows.append((marked[0], sum(r.calls for r in results)))

                    drain(channel, queue_url, writer, clock=market.naive_now, after_batch=after_batch)
                else:
                    counts = drain(channel, queue_url, writer, clock=market.naive_now)
                    if counts.movements:
                        note_changes()
                        sensor_push_after(market.now)
            elif what == "sensor push":
                with writer() as con:
                    moved = unmarked_movements(con).get(CHANNEL)
                if moved:
                    push()
            elif what == "sync":
                bring_ledger_up_to_date()
                note_changes()
                if notified or strategy == "push-poll":
                    sensor_push_after(market.now)
                else:  # polling-only and feed-only push on the sync's tick
                    push(full=feed)
                period = {"push-poll": tick, "polling-only": 900.0, "feed-only": 1800.0}.get(strategy, 900.0)
                later(market.now + timedelta(seconds=period), "sync")

        first_sync = {"push-poll": tick, "polling-only": 900.0, "feed-only": 1800.0}.get(strategy, 900.0)
        later(origin + timedelta(seconds=first_sync), "sync")
        while market.now < end:
            gap = rng.expovariate(orders_per_minute / 60)
            arrival = market.now + timedelta(seconds=gap)
            while agenda and agenda[0][0] <= min(arrival, end):
                when, _, what = heapq.heappop(agenda)
                market.advance(seconds=max(0.0, (when - market.now).total_seconds()))
                happen(what)
            if arrival >= end:
                break
            market.advance(seconds=max(0.0, (arrival - market.now).total_seconds()))
            if rng.random() < 0.03:  # a shelf recount finds a unit broken
                sku = rng.choice(hot)
                # among the units not sold yet: a unit sold, then broken, is a shipping problem no listing prevents
                if shelf[sku] > sold[sku]:
                    shelf[sku] -= 1
                    catalog.write_text(
                        "product_code,product_name,list_price,on_hand\n"
                        + "".join(f"{s},{s},9.99,{shelf[s]}\n" for s in names)
                    )
                    with writer() as con:
                        import_products(con, str(catalog))
                    note_changes()
                    if strategy in ("polling-only", "feed-only"):
                        pass  # pushed on the next sync's tick
                    else:
                        sensor_push_after(market.now)
                continue
            sku = rng.choice(hot) if rng.random() < 0.85 else rng.choice(names)
            units = rng.choice([1, 1, 1, 2])
            try:
                marketplace_id = rng.choice([US, CA])
                order_id = market.place_order([Item(sku, units, "9.99")], marketplace_id=marketplace_id)
                market.confirm(order_id)
                sold[sku] += units
                placed += 1
                other = CA if marketplace_id == US else US
                # the other marketplace shows more than the shelf has left: exposed until a push lowers it
                shown = server.listings.quantity(sku, other)
                if shown is not None and shown > max(0, shelf[sku] - sold[sku]):
                    orders.append((sku, other, market.naive_now()))
                if notified:
                    notified_order(market.now)
            except OrderRefused:
                refused[sku] += units
        # the end: the ledger and the listings catch up
        market.advance(minutes=3)
        bring_ledger_up_to_date()
        with writer() as con:
            # (sku, pool, when Amazon's ACCEPTED was read, when the quantity was sent): a feed's answers are
            # read when its report is, and count for the changes booked before the feed was sent
            pushes = con.execute(
                "select p.seller_sku, p.pool, p.pushed_at, coalesce(f.created_at, p.pushed_at) as sent_at "
                "from stock_pushes p left join stock_feeds f on p.via = 'feed' and f.feed_id = p.submission_id "
                "and f.channel = p.channel where p.status = 'ACCEPTED' order by p.pushed_at"
            ).fetchall()
            on_hand = dict(
                con.execute("select product_code, on_hand from inventory where location = 'warehouse'").fetchall()
            )
        listing_requests = [r for r in server.requests if r["path"].startswith(("/listings/", "/feeds/"))]
        throttled = sum(1 for r in listing_requests if r["status"] == 429)
        patch_calls = sum(1 for r in listing_requests if r["method"] == "PATCH")
        # each ledger change, to the first ACCEPTED answer for its SKU on each marketplace at or after it (and before
        # the SKU's next change: a marketplace already showing the right quantity is sent nothing, and waits for none)
        latencies = []
        for n, (sku, booked) in enumerate(changes):
            following = next((at for s, at in changes[n + 1 :] if s == sku and at > booked), None)
            for pool in (US, CA):
                after = next((at for s, p, at, sent in pushes if s == sku and p == pool and sent >= booked), None)
                if after is not None and (following is None or after < following):
                    latencies.append((after - booked).total_seconds())
        # an order on one marketplace, to the other marketplace's listing accepting a lower quantity
        cross = []
        for sku, other, taken in orders:
            after = next((at for s, p, at, sent in pushes if s == sku and p == other and sent >= taken), None)
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
            "orders_exposing_the_other_listing": len(orders),
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
        if held is not None:
            held.close()
        if sqs is not None:
            sqs.terminate()
            sqs.wait()
            os.environ.clear()
            os.environ.update(saved_environment)


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
    parser.add_argument(
        "--notify", type=float, default=NOTIFY_SECONDS, help="seconds from an order to its notification's booking"
    )
    parser.add_argument(
        "--strategies",
        default="push,push-sensor,polling-only,feed-only",
        help="which, comma-separated, of: push, push-sensor, push-poll, polling-only, feed-only",
    )
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
            "notify_seconds": args.notify,
            "seed": args.seed,
        },
        "strategies": [],
    }
    with environment(work):
        for strategy in args.strategies.split(","):
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
                notify_seconds=args.notify,
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
