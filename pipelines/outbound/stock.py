"""Stock flows back to Amazon (issue #26): each merchant-fulfilled listing of a channel is set to what the
warehouse has available to sell (sql/stock/available_to_sell.sql), soon after any change of stock.

- Every ledger movement (an order from the poll or a notification, a cancellation, a shipment's correction, a
  return received, a catalog count) marks its SKU for each channel: marks are read from inventory_movements past
  the channel's watermark, so no writer of the ledger has to remember to mark anything.
- A push reads the channel's listings from Amazon (searchListingsItems; every hour, or on a full push), keeps
  the merchant-fulfilled ones (a DEFAULT fulfilment channel code) matched to catalog products by seller SKU, and
  sends one patchListingsItem (`merge`, DEFAULT, the quantity) per marked SKU and stock pool whose quantity
  differs from the last one Amazon ACCEPTED. FBA listings are never sent: Amazon counts those units itself.
- Each answer is committed once it is in (ACCEPTED with its submissionId, INVALID with its issues), and the
  SKU's mark is cleared with it. A push killed at any point leaves whole rows only; the next one sends again
  what has no ACCEPTED answer at the right quantity, and a quantity sent twice is harmless (it is absolute).
- The warehouse's writer is held for those commits only, never while Amazon is asked.
- Europe's marketplaces share one merchant-fulfilled quantity per seller SKU (the Pan-European pool of
  fba_stock): one call per SKU and pool, not per marketplace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from pipelines.amazon import client as amazon
from pipelines.amazon.calls import CallPolicy
from pipelines.amazon.limits import (
    CREATE_FEED_BURST,
    CREATE_FEED_RATE,
    GET_FEED_BURST,
    GET_FEED_RATE,
    LISTINGS_BURST,
    LISTINGS_RATE,
)
from pipelines.amazon.ratelimit import MARGIN_TOKENS, TokenBucket
from pipelines.events import Event, Retry
from pipelines.ingest.fba_stock import PAN_EUROPEAN
from pipelines.sql import quote, read_sql
from pipelines.warehouse.channels import REGIONS, Channel, get_channel
from pipelines.warehouse.connection import transaction

MIN_RATE = 0.05  # requests/s: the slowest pace 429s in a row slow a push to
LISTINGS_REFRESH = timedelta(hours=1)  # the listings are read again this often (and on a full push)
DRIFT_GRACE = timedelta(minutes=5)  # Amazon applies an accepted patch within minutes: younger ones are not drift
SKUS_PER_LOOKUP = 20
FEED_MIN_SKUS = 20  # a first push of more SKUs than this goes as a listings feed (a patch each is quicker below)
FEED_POLL_SECONDS = 5.0  # searchListingsItems' identifiers: "maxItems": 20
# A quantity Amazon refused (INVALID) is sent again once its value changes, or after a backoff that doubles with each
# refusal in a row, from a minute to at most an hour: a listing Amazon keeps refusing is not asked every few seconds
REFUSED_BACKOFF_FIRST = timedelta(minutes=1)
REFUSED_BACKOFF_MOST = timedelta(hours=1)
# a SKU marked again keeps its first mark's time: the push owes its quantity since then
KEEP_EARLIEST_MARK = "on conflict do update set marked_at = least(stock_marks.marked_at, excluded.marked_at)"


class StockPushRefused(ValueError):
    """One line: why this channel pushes nothing."""


def pool_of(marketplace_id: str) -> str:
    return "EU" if marketplace_id in PAN_EUROPEAN else marketplace_id


def pools(channel: Channel) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for marketplace_id in channel.marketplace_ids:
        found.setdefault(pool_of(marketplace_id), []).append(marketplace_id)
    return found


def check_pushable(channel: Channel) -> None:
    if not channel.seller_id:
        raise StockPushRefused(
            f"channel {channel.name!r} has no seller id, so its stock is not pushed: "
            f"amazon-orders channel set {channel.name!r} --seller-id MERCHANT_TOKEN"
        )


# -- buffers --------------------------------------------------------------------------------------------
def set_buffer(
    con: duckdb.DuckDBPyConnection,
    channel: str,
    product_code: str | None,
    *,
    units: int | None = None,
    percent: float | None = None,
    max_listed: int | None = None,
    clear: bool = False,
    now: datetime,
) -> None:
    """Set (or with `clear`, remove) the channel's buffer, or one SKU's on that channel; marks what it changes."""
    if units is not None and units < 0:
        raise StockPushRefused(f"--units {units} is negative: a buffer holds units back")
    if percent is not None and not 0 <= percent <= 100:
        raise StockPushRefused(f"--percent {percent:g} is not between 0 and 100")
    if max_listed is not None and max_listed < 0:
        raise StockPushRefused(f"--max-listed {max_listed} is negative")
    if not clear and units is None and percent is None and max_listed is None:
        raise StockPushRefused("say what to hold back: --units, --percent or --max-listed (or --clear)")
    code = product_code or ""
    with transaction(con):
        row = con.execute(
            "select buffer_units, buffer_percent, max_listed from stock_buffers where channel = ? and product_code = ?",
            [channel, code],
        ).fetchone()
        con.execute("delete from stock_buffers where channel = ? and product_code = ?", [channel, code])
        if not clear:
            old = row or (None, None, None)
            con.execute(
                "insert into stock_buffers values (?, ?, ?, ?, ?, ?)",
                [
                    channel,
                    code,
                    units if units is not None else old[0],
                    percent if percent is not None else old[1],
                    max_listed if max_listed is not None else old[2],
                    now.replace(tzinfo=None),
                ],
            )
        # what the buffer covers is pushed again
        con.execute(
            "insert into stock_marks select ?, product_code, ? from products "
            f"where not is_placeholder and (? = '' or product_code = ?) {KEEP_EARLIEST_MARK}",
            [channel, now.replace(tzinfo=None), code, code],
        )


def buffers(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select channel, nullif(product_code, '') as sku, buffer_units, buffer_percent, max_listed "
        "from stock_buffers order by all"
    ).fetchall()


def available_to_sell(con: duckdb.DuckDBPyConnection, channel: str | None = None):
    relation = con.sql(read_sql("stock/available_to_sell.sql"))
    if channel is not None:
        relation = relation.filter(f"channel = {quote(channel)}")
    return relation


# -- marks ----------------------------------------------------------------------------------------------
def mark_changes(con: duckdb.DuckDBPyConnection, channel: str, now: datetime) -> int:
    """Mark the SKUs of the warehouse movements booked since the channel last looked; inside a transaction.
    A ledger whose ids went back (a rebuild) marks every SKU."""
    seen = con.execute("select movements_seen from stock_push_state where channel = ?", [channel]).fetchone()
    newest = con.execute("select coalesce(max(movement_id), 0) from inventory_movements").fetchone()[0]
    if seen is None:
        con.execute("insert into stock_push_state (channel, movements_seen) values (?, 0)", [channel])
        seen = (0,)
    after = seen[0] if newest >= seen[0] else 0
    marked = con.execute(
        f"""
        insert into stock_marks
        select ?, product_code, ? from inventory_movements
        where movement_id > ? and location = 'warehouse'
        group by product_code
        {KEEP_EARLIEST_MARK}
        """,
        [channel, now.replace(tzinfo=None), after],
    ).fetchone()[0]
    con.execute("update stock_push_state set movements_seen = ? where channel = ?", [newest, channel])
    return marked


def refused_backoff(refusals: int) -> timedelta:
    """How long a quantity Amazon refused `refusals` times in a row waits before it is sent again."""
    return min(REFUSED_BACKOFF_FIRST * 2 ** max(0, min(refusals, 20) - 1), REFUSED_BACKOFF_MOST)


def _refused_sql() -> str:
    """Per channel, pool and SKU whose latest answer is INVALID: the quantity refused, when, how many refusals since
    the last ACCEPTED, and when it may be sent again (the backoff past the latest refusal)."""
    first, most = int(REFUSED_BACKOFF_FIRST.total_seconds()), int(REFUSED_BACKOFF_MOST.total_seconds())
    return f"""
        with answers as (
            -- answers in the order they were recorded (two can share a second)
            select channel, pool, seller_sku, status, quantity, pushed_at, (pushed_at, rowid) as answered,
                   max((pushed_at, rowid)) filter (where status = 'ACCEPTED')
                       over (partition by channel, pool, seller_sku) as accepted
            from stock_pushes
        ),
        latest as (
            select channel, pool, seller_sku, arg_max(status, answered) as status,
                   arg_max(quantity, answered) as quantity, max(pushed_at) as refused_at,
                   count(*) filter (where status = 'INVALID' and (accepted is null or answered > accepted))
                       as refusals
            from answers group by all
        )
        select channel, pool, seller_sku, quantity, refused_at, refusals,
               refused_at + to_seconds(least({first} * pow(2, least(refusals, 20) - 1), {most})::bigint) as retry_at
        from latest where status = 'INVALID'
    """


def unmarked_movements(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> dict[str, int]:
    """Channels with a seller id whose stock moved since they last looked, or with a listing whose refused quantity's
    backoff has passed (what the sensor watches; `now` in the warehouse's time, the system's by default)."""
    at = now.astimezone(UTC).replace(tzinfo=None) if now is not None and now.tzinfo else now
    return dict(
        con.execute(
            f"""
        select channels.channel,
               (select count(*) from inventory_movements m
                where m.location = 'warehouse' and m.movement_id > coalesce(s.movements_seen, 0))
               + (select count(*) from stock_marks k where k.channel = channels.channel)
               -- a refused quantity due again, on a merchant-fulfilled listing the channel still has
               + (select count(*) from ({_refused_sql()}) r
                  join amazon_listings l using (channel, pool, seller_sku)
                  where r.channel = channels.channel and l.is_merchant_fulfilled
                    and r.retry_at <= coalesce($now, now()::timestamp))
        from channels left join stock_push_state s using (channel)
        where channels.removed_at is null and channels.seller_id is not null
          -- a channel whose listings, read within the hour, hold nothing merchant-fulfilled has nothing to push
          and not (s.listings_read_at > now()::timestamp - interval 1 hour
                   and not exists (select 1 from amazon_listings l
                                   where l.channel = channels.channel and l.is_merchant_fulfilled))
        """,
            {"now": at},
        ).fetchall()
    )


# -- the push -------------------------------------------------------------------------------------------
@dataclass
class PushResult:
    channel: str
    pushed: int = 0  # ACCEPTED
    invalid: int = 0  # 200 with status INVALID
    failed: int = 0  # no answer after retries
    unchanged: int = 0  # marked, but Amazon already has the quantity
    fba_skipped: int = 0  # FBA listings of marked SKUs: never sent
    not_listed: int = 0  # marked SKUs the channel does not list (merchant-fulfilled) on Amazon
    listings_read: int = 0  # listings searchListingsItems answered this push (0: the hour-old read was used)
    calls: int = 0
    throttled: int = 0  # 429s
    drifting: int = 0  # listings that differed from the last accepted push when last read back
    backing_off: int = 0  # listings whose quantity Amazon refused (INVALID), not sent again until their backoff ends
    errors: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        parts = [f"{self.pushed} pushed", f"{self.unchanged} unchanged"]
        if self.invalid:
            parts.append(f"{self.invalid} INVALID")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.fba_skipped:
            parts.append(f"{self.fba_skipped} FBA not sent")
        if self.not_listed:
            parts.append(f"{self.not_listed} not listed")
        if self.backing_off:
            parts.append(f"{self.backing_off} refused and backing off")
        return f"{self.channel}: stock {', '.join(parts)} ({self.calls} call(s), {self.throttled} throttled)"

    def metadata(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": "; ".join(self.errors)}


def read_listings(
    channel: Channel,
    client,
    policy: CallPolicy,
    skus: list[str] | None = None,
    on_rate: Callable[[str | None], None] = lambda rate: None,
) -> dict[tuple[str, str], dict]:
    """(pool, seller SKU) -> {marketplace_ids, is_merchant_fulfilled, listed_quantity}: every listing of the
    channel, or only `skus`."""
    found: dict[tuple[str, str], dict] = {}
    batches = [skus[i : i + SKUS_PER_LOOKUP] for i in range(0, len(skus), SKUS_PER_LOOKUP)] if skus else [None]
    for pool, marketplace_ids in pools(channel).items():
        for batch in batches:
            token = None
            while True:
                page = policy.call(
                    lambda: amazon.search_listings_page(client, channel.seller_id, marketplace_ids, token, batch)
                )
                on_rate(page.rate_limit)
                for item in page.items:
                    sku = item.get("sku")
                    if not isinstance(sku, str):
                        continue
                    codes = {
                        entry.get("fulfillmentChannelCode"): entry.get("quantity")
                        for entry in item.get("fulfillmentAvailability") or []
                        if isinstance(entry, dict)
                    }
                    listed_in = sorted(
                        {
                            s.get("marketplaceId")
                            for s in item.get("summaries") or []
                            if isinstance(s, dict) and s.get("marketplaceId") in marketplace_ids
                        }
                        or marketplace_ids
                    )
                    quantity = codes.get("DEFAULT")
                    found[(pool, sku)] = {
                        "marketplace_ids": listed_in,
                        "is_merchant_fulfilled": "DEFAULT" in codes,
                        "listed_quantity": quantity if isinstance(quantity, int) else None,
                    }
                token = page.next_token
                if not token:
                    break
    return found


def _record_listings(con, channel: str, listings: dict, now: datetime, *, whole: bool) -> None:
    with transaction(con):
        if whole:
            con.execute("delete from amazon_listings where channel = ?", [channel])
            con.execute(
                "update stock_push_state set listings_read_at = ? where channel = ?",
                [now.replace(tzinfo=None), channel],
            )
        else:
            for pool, sku in listings:
                con.execute(
                    "delete from amazon_listings where channel = ? and pool = ? and seller_sku = ?",
                    [channel, pool, sku],
                )
        if listings:
            con.executemany(
                "insert into amazon_listings values (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        channel,
                        pool,
                        sku,
                        row["marketplace_ids"],
                        row["is_merchant_fulfilled"],
                        row["listed_quantity"],
                        now.replace(tzinfo=None),
                    )
                    for (pool, sku), row in listings.items()
                ],
            )


class _PlanBucket(TokenBucket):
    """The usage plan's bucket, whose waiting margin is never banked as a token: a request that waited for its
    token leaves none over, so the next one waits a whole token's time plus the margin again."""

    def take(self) -> None:
        self._refill()
        if 1 < self.tokens < 1 + 2 * MARGIN_TOKENS:
            self.tokens = 1.0
        self.tokens -= 1


def _plan_sharers(con, channel: Channel) -> list[str]:
    """The channels whose pushes share one usage plan with this one: Amazon's plans are per selling partner (and
    application) and region, so the same seller id on the same endpoint (or region) counts once."""
    region = REGIONS.get(channel.marketplace_ids[0])
    return [
        name
        for name, endpoint, marketplace_ids in con.execute(
            "select channel, endpoint, marketplace_ids from channels where removed_at is null and seller_id = ?",
            [channel.seller_id],
        ).fetchall()
        if endpoint == channel.endpoint and REGIONS.get(marketplace_ids[0]) == region
    ] or [channel.name]


def _load_bucket(con, channel: Channel, clock: Callable[[], float]) -> TokenBucket:
    bucket = _PlanBucket(
        rate=LISTINGS_RATE, burst=LISTINGS_BURST, tokens=LISTINGS_BURST, checked_at=clock(), clock=clock
    )
    row = con.execute(
        "select rate_tokens, rate_checked_epoch, rate_per_second from stock_push_state "
        "where channel in (select unnest(?::varchar[])) and rate_tokens is not null "
        "order by rate_checked_epoch desc limit 1",
        [_plan_sharers(con, channel)],
    ).fetchone()
    if row and row[0] is not None:
        bucket.tokens, bucket.checked_at = row[0], min(row[1], clock())
        bucket.rate = row[2] or LISTINGS_RATE
    return bucket


def _pools_listing(con: duckdb.DuckDBPyConnection, skus: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per SKU, the (channel, pool) pairs that list it merchant-fulfilled with a quantity of their own, in a fixed
    order: every channel with a seller id draws on the one warehouse."""
    found: dict[str, list[tuple[str, str]]] = {}
    for sku, channel, pool in con.execute(
        "select l.seller_sku, l.channel, l.pool from amazon_listings l join channels c using (channel) "
        "where l.is_merchant_fulfilled and c.removed_at is null and c.seller_id is not null "
        "and l.seller_sku in (select unnest(?::varchar[])) order by all",
        [skus],
    ).fetchall():
        found.setdefault(sku, []).append((channel, pool))
    return found


def _share(available: int, pools_listing: list[tuple[str, str]], pool: tuple[str, str]) -> int:
    """The quantity one pool lists. Each pool sells what it shows until a push lowers it, and Amazon applies a push
    seconds to minutes after accepting it: the last units, shown in every pool at once, can sell twice. So when a
    SKU has no more units than pools listing it, each unit is shown in one pool only (the first ones in a fixed
    order); above that every pool shows them all (BENCHMARKS.md, "Stock back to Amazon")."""
    if available > len(pools_listing) or pool not in pools_listing:
        return available
    return 1 if pools_listing.index(pool) < available else 0


def push_stock(
    channel: Channel,
    writer: Callable[[], AbstractContextManager],
    *,
    now: Callable[[], datetime],
    account: str = "default",
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    on_event: Callable[[Event], None] = lambda event: None,
    feed_wait_seconds: float = 120.0,
) -> PushResult:
    """Push the channel's marked SKUs (with `full`, every SKU whose quantity differs from the last accepted one,
    listings read afresh). `writer()` opens the warehouse for one commit."""
    check_pushable(channel)
    result = PushResult(channel.name)
    settle_open_feeds(channel, writer, now=now, account=account, result=result)
    with writer() as con:
        with transaction(con):
            mark_changes(con, channel.name, now())
        snapshot = now().replace(tzinfo=None)
        available = dict(available_to_sell(con, channel.name).select("product_code, available_quantity").fetchall())
        marks = dict(
            con.execute("select product_code, marked_at from stock_marks where channel = ?", [channel.name]).fetchall()
        )
        last = {
            (pool, sku): (quantity, status, accepted)
            for pool, sku, quantity, status, accepted in con.execute(
                """
            select pool, seller_sku, arg_max(quantity, pushed_at), arg_max(status, pushed_at),
                   arg_max(quantity, pushed_at) filter (where status = 'ACCEPTED')
            from stock_pushes where channel = ? group by all
            """,
                [channel.name],
            ).fetchall()
        }
        read_at = con.execute(
            "select listings_read_at from stock_push_state where channel = ?", [channel.name]
        ).fetchone()[0]
        cached = {
            (pool, sku): {"marketplace_ids": list(ids), "is_merchant_fulfilled": mfn, "listed_quantity": q}
            for pool, sku, ids, mfn, q in con.execute(
                "select pool, seller_sku, marketplace_ids, is_merchant_fulfilled, listed_quantity "
                "from amazon_listings where channel = ?",
                [channel.name],
            ).fetchall()
        }
        bucket = _load_bucket(con, channel, clock)
        sharers = _plan_sharers(con, channel)
        refused = {
            (pool, sku): (quantity, retry_at)
            for pool, sku, quantity, retry_at in con.execute(
                f"select pool, seller_sku, quantity, retry_at from ({_refused_sql()}) where channel = ?",
                [channel.name],
            ).fetchall()
        }

    def counting(event: Event) -> None:
        if isinstance(event, Retry) and event.cause.startswith("HTTP 429"):
            result.throttled += 1
            # Amazon sends no x-amzn-RateLimit-Limit with a 429: until a 200 says the rate, a 429 in a row halves
            # the pace (a seller's plan may be below the model's default, or another application shares it)
            bucket.rate = max(bucket.rate / 2, MIN_RATE)
        on_event(event)

    client = amazon.listings_client(channel, account)
    policy = CallPolicy.for_client(client, bucket, sleep=sleep, on_event=counting)

    def observe(rate: str | None) -> None:
        bucket.observe_rate(rate)

    try:
        whole = full or read_at is None or read_at <= snapshot - LISTINGS_REFRESH
        if whole:
            listings = read_listings(channel, client, policy, on_rate=observe)
            result.listings_read = len(listings)
        else:
            # SKUs marked that the hour-old read does not know yet are looked up
            unknown = sorted(
                sku for sku in marks if sku in available and not any((pool, sku) in cached for pool in pools(channel))
            )
            listings = dict(cached)
            if unknown:
                found = read_listings(channel, client, policy, unknown, on_rate=observe)
                listings.update(found)
                result.listings_read = len(found)
        # a pool that starts or stops listing a SKU changes the other channels' shares of its last units (_share)
        pooled = {key for key, listing in listings.items() if listing["is_merchant_fulfilled"]}
        pooled_before = {key for key, listing in cached.items() if listing["is_merchant_fulfilled"]}
        moved_pools = sorted({sku for _, sku in (pooled ^ pooled_before if whole else pooled - pooled_before)})
        with writer() as con:
            _record_listings(con, channel.name, listings, now(), whole=whole)
            if moved_pools:
                con.execute(
                    "insert into stock_marks select l.channel, l.seller_sku, ? from amazon_listings l "
                    "join channels c using (channel) where l.channel <> ? and l.is_merchant_fulfilled "
                    "and c.removed_at is null and c.seller_id is not null "
                    f"and l.seller_sku in (select unnest(?::varchar[])) group by all {KEEP_EARLIEST_MARK}",
                    [now().replace(tzinfo=None), channel.name, moved_pools],
                )
            if whole:  # read back whole: what drifts from the last accepted push, before this push changes it
                with transaction(con):
                    con.execute("delete from stock_drift where channel = ?", [channel.name])
                    con.execute(f"insert into stock_drift {drifting(con, channel.name).sql_query()}")
        with writer() as con:
            result.drifting = con.execute(
                "select count(*) from stock_drift where channel = ?", [channel.name]
            ).fetchone()[0]

        plan: dict[str, list[tuple[str, dict]]] = {}
        for (pool, sku), listing in sorted(listings.items()):
            if sku not in available:
                continue  # not a catalog product: left as the seller listed it
            if not listing["is_merchant_fulfilled"]:
                result.fba_skipped += sku in marks
                continue
            plan.setdefault(sku, []).append((pool, listing))
        result.not_listed = sum(1 for sku in marks if sku not in plan)
        clear_only = [sku for sku in marks if sku not in plan]
        order = sorted(plan, key=lambda sku: (marks.get(sku) or datetime.max, sku))
        with writer() as con:
            shared = _pools_listing(con, sorted(plan))
        sends: list[tuple[str, str, dict, int]] = []  # (sku, pool, listing, quantity)
        for sku in order:
            for pool, listing in plan[sku]:
                quantity = _share(available[sku], shared.get(sku, []), (channel.name, pool))
                accepted = last.get((pool, sku), (None, None, None))[2]
                if full:
                    sends.append((sku, pool, listing, quantity))  # the nightly bulk: every merchant-fulfilled SKU
                    continue
                if accepted == quantity:  # Amazon's last accepted quantity is this one: nothing to send
                    result.unchanged += sku in marks
                    continue
                refusal = refused.get((pool, sku))
                if refusal and refusal[0] == quantity and snapshot < refusal[1]:
                    result.backing_off += 1  # Amazon refused this very quantity: asked again after the backoff
                    continue
                sends.append((sku, pool, listing, quantity))
        first = not last
        if full or (first and len(sends) > FEED_MIN_SKUS):
            # a channel's first push of many SKUs, and the nightly one, go as one JSON_LISTINGS_FEED per pool
            _send_feeds(
                channel,
                writer,
                sends,
                marks,
                snapshot,
                result,
                now=now,
                account=account,
                sleep=sleep,
                clock=clock,
                on_event=counting,
                wait_seconds=feed_wait_seconds,
            )
        else:
            _send_patches(channel, writer, client, policy, observe, sends, marks, snapshot, result, now=now)
        sent_skus = {sku for sku, _, _, _ in sends}
        settled = [sku for sku in plan if sku in marks and sku not in sent_skus]
        clear_only += settled
        if clear_only:
            with writer() as con:
                con.execute(
                    "delete from stock_marks where channel = ? and marked_at <= ? and product_code in "
                    "(select unnest(?::varchar[]))",
                    [channel.name, snapshot, clear_only],
                )
    finally:
        result.calls += policy.calls
        try:
            with writer() as con:
                bucket._refill()
                con.execute(
                    "update stock_push_state set rate_tokens = ?, rate_checked_epoch = ?, rate_per_second = ? "
                    "where channel in (select unnest(?::varchar[]))",
                    [bucket.tokens, bucket.checked_at, bucket.rate, sharers],
                )
        except Exception:
            pass
    return result


def push_moved_stock(
    writer: Callable[[], AbstractContextManager],
    *,
    now: Callable[[], datetime],
    account: str = "default",
    skip: Callable[[], set[str]] = set,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    say: Callable[[str], None] = lambda line: None,
) -> list[PushResult]:
    """Push every channel (with a seller id) whose stock moved, now: what a notification's batch runs once it has
    booked an order, so that the other marketplaces' listings drop seconds after a sale rather than after the
    sensor's interval and a run's start. Channels in `skip()` (a stock push run of theirs is going) are left to
    that run. A push that fails is told and left to the sensor (its marks stay); it never fails the caller."""
    with writer() as con:
        moved = [name for name, count in sorted(unmarked_movements(con, now()).items()) if count]
        channels = [get_channel(con, name) for name in moved]
    busy = skip() if channels else set()
    results = []
    for channel in channels:
        if channel.name in busy:
            continue
        try:
            result = push_stock(channel, writer, now=now, account=account, sleep=sleep, clock=clock)
        except Exception as error:  # the sensor's push tries again; the booking stands
            say(f"{channel.name}: stock not pushed after the notifications: {amazon.describe(error)}")
            continue
        say(result.line)
        results.append(result)
    return results


# -- what status and the `stock` command show -----------------------------------------------------------
def stock_table(con: duckdb.DuckDBPyConnection, channel: str | None = None):
    """Per channel and SKU: available, listed on Amazon (as last read), last pushed and its answer."""
    where = f"where a.channel = {quote(channel)}" if channel else ""
    return con.sql(f"""
        with pushes as (
            select channel, seller_sku, pool, arg_max(quantity, pushed_at) as last_pushed,
                   arg_max(status, pushed_at) as last_answer, max(pushed_at) as pushed_at
            from stock_pushes group by all
        )
        select a.channel, a.product_code as sku, a.physical_quantity as physical, a.reserved_quantity as reserved,
               a.available_quantity as available, l.pool, l.is_merchant_fulfilled as mfn,
               l.listed_quantity as listed_on_amazon, p.last_pushed, p.last_answer, p.pushed_at
        from ({read_sql("stock/available_to_sell.sql")}) a
        left join amazon_listings l on l.channel = a.channel and l.seller_sku = a.product_code
        left join pushes p on p.channel = a.channel and p.seller_sku = a.product_code and p.pool = l.pool
        {where}
        order by a.channel, a.product_code, l.pool
    """)


def drifting(con: duckdb.DuckDBPyConnection, channel: str | None = None):
    """Merchant-fulfilled listings whose quantity, as last read from Amazon, differs from the last accepted push
    by more than the units of the channel's merchant orders since (Amazon's own decrements): more than was pushed,
    or less than that less those orders. Pushes younger than DRIFT_GRACE at the read are not judged."""
    where = f"and l.channel = {quote(channel)}" if channel else ""
    return con.sql(f"""
        with accepted as (
            select channel, pool, seller_sku, arg_max(quantity, pushed_at) as pushed, max(pushed_at) as pushed_at
            from stock_pushes where status = 'ACCEPTED' group by all
        ),
        ordered as (
            select accepted.channel, accepted.pool, accepted.seller_sku, coalesce(sum(order_lines.quantity), 0) as units
            from accepted
            left join orders on orders.channel = accepted.channel and orders.fulfilled_by = 'MERCHANT'
                and orders.purchased_at >= accepted.pushed_at
            left join order_lines on order_lines.order_id = orders.order_id
                and order_lines.product_code = accepted.seller_sku and order_lines.line_type = 'product'
            group by all
        )
        select l.channel, l.pool, l.seller_sku, a.pushed, l.listed_quantity, o.units as ordered_since, l.read_at
        from amazon_listings l
        inner join accepted a using (channel, pool, seller_sku)
        inner join ordered o using (channel, pool, seller_sku)
        where l.is_merchant_fulfilled and a.pushed_at <= l.read_at - interval 5 minute
          and (l.listed_quantity > a.pushed or l.listed_quantity < a.pushed - o.units) {where}
        order by l.channel, l.seller_sku
    """)


# -- the patches and the feeds ----------------------------------------------------------------------------
def _record(
    writer,
    channel: str,
    rows: list[tuple],
    marks: dict,
    snapshot: datetime,
    clear: list[str],
    now: Callable[[], datetime],
    via: str,
) -> None:
    """Amazon's answers (pool, sku, quantity, status, submission id, issues JSON) and the marks they settle, in
    one commit."""
    with writer() as con:
        with transaction(con):
            if rows:
                con.executemany(
                    f"insert into stock_pushes values (?, ?, ?, ?, ?, ?, ?, '{via}', ?, ?)",
                    [
                        (channel, pool, sku, q, status, submission, issues, marks.get(sku), now().replace(tzinfo=None))
                        for pool, sku, q, status, submission, issues in rows
                    ],
                )
            if clear:
                con.execute(
                    "delete from stock_marks where channel = ? and marked_at <= ? and product_code in "
                    "(select unnest(?::varchar[]))",
                    [channel, snapshot, clear],
                )


def _send_patches(
    channel: Channel, writer, client, policy: CallPolicy, observe, sends, marks, snapshot, result: PushResult, *, now
) -> None:
    by_sku: dict[str, list] = {}
    for sku, pool, listing, quantity in sends:
        by_sku.setdefault(sku, []).append((pool, listing, quantity))
    for sku, targets in by_sku.items():
        rows = []
        for pool, listing, quantity in targets:
            try:
                payload, rate = policy.call(
                    lambda: amazon.patch_listing_quantity(
                        client, channel.seller_id, sku, listing["marketplace_ids"], quantity
                    )
                )
                observe(rate)
            except Exception as error:
                result.failed += 1
                result.errors.append(f"{sku}: {amazon.describe(error)}")
                rows.append((pool, sku, quantity, "FAILED", None, json.dumps([{"message": amazon.describe(error)}])))
                continue
            status = payload["status"]
            if status == "ACCEPTED":
                result.pushed += 1
            else:
                result.invalid += 1
                result.errors.append(
                    f"{sku}: INVALID "
                    + "; ".join(
                        f"{i.get('code')} {i.get('message')}"
                        for i in payload.get("issues") or []
                        if isinstance(i, dict)
                    )
                )
            rows.append(
                (pool, sku, quantity, status, payload.get("submissionId"), json.dumps(payload.get("issues") or []))
            )
        failed = any(row[3] == "FAILED" for row in rows)
        _record(writer, channel.name, rows, marks, snapshot, [] if failed else [sku], now, "patch")


def _send_feeds(
    channel: Channel,
    writer,
    sends,
    marks,
    snapshot,
    result: PushResult,
    *,
    now,
    account,
    sleep,
    clock,
    on_event,
    wait_seconds: float,
) -> None:
    """One JSON_LISTINGS_FEED per pool, its processing report read back and mapped to SKUs by messageId."""
    client = amazon.feeds_client(channel, account)
    policy = CallPolicy.for_client(
        client, TokenBucket.full(CREATE_FEED_RATE, CREATE_FEED_BURST, clock), sleep=sleep, on_event=on_event
    )
    by_pool: dict[str, list] = {}
    for sku, pool, listing, quantity in sends:
        by_pool.setdefault(pool, []).append((sku, listing, quantity))
    open_feeds = []
    for pool, targets in by_pool.items():
        messages, mapping = [], {}
        marketplace_ids = sorted({m for _, listing, _ in targets for m in listing["marketplace_ids"]})
        for number, (sku, _, quantity) in enumerate(targets, start=1):
            messages.append(
                {
                    "messageId": number,
                    "sku": sku,
                    "operationType": "PATCH",
                    "productType": "PRODUCT",
                    "patches": [
                        {
                            "op": "merge",
                            "path": "/attributes/fulfillment_availability",
                            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
                        }
                    ],
                }
            )
            mapping[str(number)] = [pool, sku, quantity, marks.get(sku).isoformat() if marks.get(sku) else None]
        document = json.dumps(
            {"header": {"sellerId": channel.seller_id, "version": "2.0"}, "messages": messages}, ensure_ascii=False
        ).encode("utf-8")
        try:
            feed_id = policy.call(lambda: amazon.create_listings_feed(client, document, marketplace_ids))
        except Exception as error:
            result.failed += len(targets)
            result.errors.append(f"feed of {len(targets)} SKU(s) for {pool} not sent: {amazon.describe(error)}")
            continue
        with writer() as con:
            con.execute(
                "insert into stock_feeds values (?, ?, null, ?, 'IN_QUEUE', ?, null, ?)",
                [
                    channel.name,
                    feed_id,
                    len(targets),
                    now().replace(tzinfo=None),
                    json.dumps({"messages": mapping, "snapshot": snapshot.isoformat()}),
                ],
            )
        open_feeds.append(feed_id)
    deadline = clock() + wait_seconds
    while open_feeds:
        for feed_id in list(open_feeds):
            if _settle_feed(channel, writer, client, policy, feed_id, result, now=now):
                open_feeds.remove(feed_id)
        if open_feeds:
            if clock() >= deadline:
                result.errors.append(
                    f"feed(s) {', '.join(open_feeds)} still processing at Amazon; the next push reads their reports"
                )
                break
            sleep(FEED_POLL_SECONDS)
    result.calls += policy.calls


def _settle_feed(
    channel: Channel, writer, client, policy: CallPolicy, feed_id: str, result: PushResult, *, now
) -> bool:
    """Read the feed's status; once Amazon is done with it, record each message's answer. True when settled."""
    feed = policy.call(lambda: amazon.get_feed(client, feed_id))
    status = feed["processingStatus"]
    with writer() as con:
        row = con.execute(
            "select report from stock_feeds where channel = ? and feed_id = ?", [channel.name, feed_id]
        ).fetchone()
        con.execute(
            "update stock_feeds set status = ?, checked_at = ? where channel = ? and feed_id = ?",
            [status if status != "DONE" else "PROCESSING_REPORT", now().replace(tzinfo=None), channel.name, feed_id],
        )
    if status in ("IN_QUEUE", "IN_PROGRESS"):
        return False
    sent = json.loads(row[0])
    mapping, snapshot = sent["messages"], datetime.fromisoformat(sent["snapshot"])
    if status != "DONE":  # FATAL or CANCELLED: nothing of it applied; the marks stay for the next push
        with writer() as con:
            con.execute(
                "update stock_feeds set status = ? where channel = ? and feed_id = ?", [status, channel.name, feed_id]
            )
        result.failed += len(mapping)
        result.errors.append(f"feed {feed_id} ended {status}")
        return True
    report = policy.call(lambda: amazon.feed_result(client, feed["resultFeedDocumentId"]))
    issues: dict[str, list] = {}
    for issue in report.get("issues") or []:
        if isinstance(issue, dict) and issue.get("severity") == "ERROR":
            issues.setdefault(str(issue.get("messageId")), []).append(issue)
    rows, marks = [], {}
    for message_id, (pool, sku, quantity, marked) in mapping.items():
        refused = issues.get(message_id)
        if refused:
            result.invalid += 1
            result.errors.append(f"{sku}: INVALID " + "; ".join(f"{i.get('code')} {i.get('message')}" for i in refused))
        else:
            result.pushed += 1
        rows.append((pool, sku, quantity, "INVALID" if refused else "ACCEPTED", feed_id, json.dumps(refused or [])))
        marks[sku] = datetime.fromisoformat(marked) if marked else None
    _record(writer, channel.name, rows, marks, snapshot, sorted({row[1] for row in rows}), now, "feed")
    with writer() as con:
        con.execute(
            "update stock_feeds set status = 'DONE', report = ? where channel = ? and feed_id = ?",
            [json.dumps({**sent, "report": report}), channel.name, feed_id],
        )
    return True


def settle_open_feeds(
    channel: Channel,
    writer,
    *,
    now,
    account: str = "default",
    result: PushResult,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The reports of feeds an earlier push left at Amazon (still processing when it stopped waiting)."""
    with writer() as con:
        waiting = [
            feed_id
            for (feed_id,) in con.execute(
                "select feed_id from stock_feeds where channel = ? and status in ('IN_QUEUE', 'IN_PROGRESS', "
                "'PROCESSING_REPORT') order by created_at",
                [channel.name],
            ).fetchall()
        ]
    if not waiting:
        return
    client = amazon.feeds_client(channel, account)
    policy = CallPolicy.for_client(
        client, TokenBucket.full(GET_FEED_RATE, GET_FEED_BURST), sleep=sleep, on_event=lambda event: None
    )
    for feed_id in waiting:
        try:
            _settle_feed(channel, writer, client, policy, feed_id, result, now=now)
        except Exception as error:
            result.errors.append(f"feed {feed_id}: {amazon.describe(error)}")
