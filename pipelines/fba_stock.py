"""FBA stock from Amazon: a getInventorySummaries count of each of a channel's marketplaces (after a sync
that brought order versions, and hourly), and amazon_fba brought to Amazon's number by adjustment
movements, so the ledger explains every change.

Amazon's physical count of a SKU is what it can ship plus what it holds for customer orders
(fulfillable + pendingCustomerOrderQuantity); ours is on hand plus what open orders reserve. Booking the
difference, as the catalog import does for the warehouse, keeps the reservations of orders Amazon knew
before the last sync did: an order placed since converges with the next sync, and nothing is booked twice.
A SKU Amazon does not list is left alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines import amazon
from pipelines.calls import CallPolicy
from pipelines.channels import Channel
from pipelines.events import Event
from pipelines.ledger import append_movements
from pipelines.ratelimit import TokenBucket
from pipelines.warehouse import transaction

INVENTORY_RATE, INVENTORY_BURST = 2.0, 2  # getInventorySummaries' usage plan (fbaInventory.json)
RECOUNT_EVERY = timedelta(hours=1)


class FbaInventoryError(RuntimeError):
    """One line: which marketplace, and Amazon's answer (no credentials in it)."""


@dataclass(frozen=True)
class FbaSnapshot:
    snapshot_id: int
    skus: int
    unreadable: int  # summaries kept raw whose quantities are not whole numbers
    adjustments: int
    calls: int


def fetch_fba_inventory(channel: Channel, account: str = "default", *, sleep: Callable[[float], None] = time.sleep,
                        clock: Callable[[], float] = time.time,
                        on_event: Callable[[Event], None] = lambda event: None) -> tuple[dict[str, list], int]:
    """Every summary of each of the channel's marketplaces, every page; and the number of calls made."""
    client = amazon.inventory_client(channel, account)
    policy = CallPolicy(TokenBucket(rate=INVENTORY_RATE, burst=INVENTORY_BURST, tokens=INVENTORY_BURST, clock=clock),
                        sleep=sleep, emit=on_event, refresh_access_token=lambda: amazon.forget_access_token(client))
    found = {}
    for marketplace_id in channel.marketplace_ids:
        summaries, token = [], None
        while True:
            try:
                page, token = policy.call(lambda: amazon.inventory_summaries_page(client, marketplace_id, token))
            except Exception as error:
                raise FbaInventoryError(f"{channel.name}: FBA inventory of marketplace {marketplace_id} not "
                                         f"fetched: {amazon.describe(error)}") from None
            summaries += page
            if not token:
                break
        found[marketplace_id] = summaries
    return found, policy.calls


def snapshot_due(con: duckdb.DuckDBPyConnection, channel: Channel, run_id: str, now: datetime) -> bool:
    """Stock is counted when order versions landed since the last count (this sync's, or a sync's killed
    before it counted), and otherwise once every RECOUNT_EVERY of syncs that asked Amazon for orders, for
    what moves at Amazon without an order (inbound receipts, damage). A sync the clock told there is nothing
    yet, and a quiet one after a recent count, send no request for stock."""
    return con.execute(
        """
        with last as (
            select max(raw_orders_seen) as seen, max(counted_at) as counted_at
            from fba_snapshots where channel = $channel
        )
        select exists (select 1 from raw_amazon_orders, last
                       where channel = $channel and ingest_id > coalesce(last.seen, -1))
            or (coalesce((select pages from sync_runs where run_id = $run and channel = $channel), 0) > 0
                and coalesce((select counted_at from last) <= $now - $every, true))
        """,
        {"run": run_id, "channel": channel.name, "now": now.replace(tzinfo=None), "every": RECOUNT_EVERY},
    ).fetchone()[0]


def record_fba_snapshot(con: duckdb.DuckDBPyConnection, channel: Channel, summaries: dict[str, list],
                        now: datetime, calls: int = 0) -> FbaSnapshot:
    """Keep the summaries raw, their quantities typed, and book amazon_fba to Amazon's count; one transaction."""
    rows = [(channel.name, marketplace_id, json.dumps(summary, sort_keys=True))
            for marketplace_id, listed in summaries.items() for summary in listed]
    with transaction(con):
        snapshot_id = con.execute("select nextval('fba_snapshot_seq')").fetchone()[0]
        con.execute("insert into fba_snapshots select ?, ?, ?, ?, coalesce(max(ingest_id), -1) "
                    "from raw_amazon_orders where channel = ?",
                    [snapshot_id, channel.name, len(rows), now.replace(tzinfo=None), channel.name])
        if rows:
            con.executemany("insert into raw_fba_inventory values (?, ?, ?, ?, now()::timestamp)",
                            [(snapshot_id, *row) for row in rows])
        con.execute(
            """
            insert into fba_inventory
            select * exclude (is_readable) from (
                select
                    snapshot_id, channel, marketplace_id,
                    payload ->> 'sellerSku' as seller_sku,
                    payload ->> 'asin' as asin,
                    try_cast(payload -> 'inventoryDetails' ->> 'fulfillableQuantity' as integer) as fulfillable,
                    try_cast(payload -> 'inventoryDetails' -> 'reservedQuantity' ->> 'pendingCustomerOrderQuantity'
                             as integer) as pending,
                    coalesce(try_cast(payload -> 'inventoryDetails' -> 'reservedQuantity'
                                      ->> 'totalReservedQuantity' as integer), pending) as reserved,
                    coalesce(try_cast(payload -> 'inventoryDetails' ->> 'inboundWorkingQuantity' as integer), 0)
                      + coalesce(try_cast(payload -> 'inventoryDetails' ->> 'inboundShippedQuantity' as integer), 0)
                      + coalesce(try_cast(payload -> 'inventoryDetails' ->> 'inboundReceivingQuantity' as integer), 0)
                      as inbound,
                    coalesce(try_cast(payload -> 'inventoryDetails' -> 'unfulfillableQuantity'
                                      ->> 'totalUnfulfillableQuantity' as integer), 0) as unfulfillable,
                    payload ->> 'lastUpdatedTime' as amazon_updated_at,
                    fetched_at,
                    seller_sku is not null and fulfillable >= 0 and pending >= 0 as is_readable
                from raw_fba_inventory
                where snapshot_id = $id
            )
            where is_readable
            """,
            {"id": snapshot_id},
        )
        kept, skus = con.execute("select count(*), count(distinct seller_sku) from fba_inventory "
                                 "where snapshot_id = ?", [snapshot_id]).fetchone()
        adjustments = append_movements(
            con,
            """
            with amazon as (
                select seller_sku as product_code, sum(fulfillable_quantity + pending_customer_order_quantity) as units
                from fba_inventory
                where snapshot_id = $id
                group by all
            ),
            ours as (
                select product_code, on_hand + reserved_quantity as units
                from inventory
                where location = 'amazon_fba' and channel = $channel
            )
            select product_id_for(product_code), product_code, null, amazon.units - coalesce(ours.units, 0),
                   'adjustment', 'amazon_fba', $channel
            from amazon
            left join ours using (product_code)
            where amazon.units <> coalesce(ours.units, 0)
            """,
            {"id": snapshot_id, "channel": channel.name},
        )
    return FbaSnapshot(snapshot_id, skus, len(rows) - kept, adjustments, calls)
