"""FBA stock from Amazon: a getInventorySummaries count of each of a channel's marketplaces (after a sync
that brought order versions, and hourly), and amazon_fba brought to Amazon's number by adjustment
movements, so the ledger explains every change.

Amazon's physical count of a SKU is what it can ship plus what it holds for customer orders
(fulfillable + pendingCustomerOrderQuantity); ours is on hand plus what open orders reserve. Booking the
difference, as the catalog import does for the warehouse, keeps the reservations of orders Amazon knew
before the last sync did: an order placed since converges with the next sync, and nothing is booked twice.
A SKU Amazon does not list is left alone, and so is one with a summary that could not be read.

Pan-European FBA pools a seller's stock across the EU marketplaces, and getInventorySummaries answers that
pooled quantity for each of them ("returns the same values for each EU marketplace - a sum of inventory
quantities from all the EU marketplaces (except the UK ...)", amzn/selling-partner-api-models#452, and #360):
a channel's count takes each pool once per SKU. The UK is a pool of its own since Brexit (docs#129 saw its
answers differ from the EU ones).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines.amazon import client as amazon
from pipelines.amazon.calls import CallPolicy
from pipelines.amazon.limits import INVENTORY_BURST, INVENTORY_RATE
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.events import Event
from pipelines.warehouse.channels import Channel
from pipelines.warehouse.connection import transaction
from pipelines.warehouse.ledger import append_movements

RECOUNT_EVERY = timedelta(hours=1)
# The Pan-European FBA marketplaces: DE, FR, IT, ES, NL, PL, SE, BE. Amazon.ie and Amazon.com.tr stay pools of
# their own: no source found says Amazon answers them the EU pool.
PAN_EUROPEAN = frozenset(
    {
        "A1PA6795UKMFR9",
        "A13V1IB3VIYZZH",
        "APJ6JRA9NG5V4",
        "A1RKKUPIHCS9HS",
        "A1805IZSGTT6HS",
        "A1C3SOZRARQ6R3",
        "A2NODRKZP88ZB9",
        "AMEN7PMS3EDWL",
    }
)


class FbaInventoryError(RuntimeError):
    """One line: which marketplace, and Amazon's answer (no credentials in it)."""


@dataclass(frozen=True)
class FbaSnapshot:
    snapshot_id: int
    summaries: int  # every summary Amazon listed, kept raw
    skus: int
    unreadable: int  # summaries set aside (fba_inventory_quarantine), each with its reason
    adjustments: int
    calls: int


def fetch_fba_inventory(
    channel: Channel,
    account: str = "default",
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    on_event: Callable[[Event], None] = lambda event: None,
) -> tuple[dict[str, list], int]:
    """Every summary of each of the channel's marketplaces, every page; and the number of calls made."""
    client = amazon.inventory_client(channel, account)
    policy = CallPolicy.for_client(
        client, TokenBucket.full(INVENTORY_RATE, INVENTORY_BURST, clock), sleep=sleep, on_event=on_event
    )
    found = {}
    for marketplace_id in channel.marketplace_ids:
        summaries, token = [], None
        while True:
            try:
                page, token = policy.call(lambda: amazon.inventory_summaries_page(client, marketplace_id, token))
            except Exception as error:
                raise FbaInventoryError(
                    f"{channel.name}: FBA inventory of marketplace {marketplace_id} not "
                    f"fetched: {amazon.describe(error)}"
                ) from None
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


def record_fba_snapshot(
    con: duckdb.DuckDBPyConnection, channel: Channel, summaries: dict[str, list], now: datetime, calls: int = 0
) -> FbaSnapshot:
    """Keep the summaries raw, the readable ones' quantities typed (the rest set aside with the reason), and book
    amazon_fba to Amazon's count: each stock pool once per SKU. One transaction."""
    rows = [
        (channel.name, marketplace_id, json.dumps(summary, sort_keys=True))
        for marketplace_id, listed in summaries.items()
        for summary in listed
    ]
    with transaction(con):
        snapshot_id = con.execute("select nextval('fba_snapshot_seq')").fetchone()[0]
        con.execute(
            "insert into fba_snapshots select ?, ?, ?, ?, coalesce(max(ingest_id), -1) "
            "from raw_amazon_orders where channel = ?",
            [snapshot_id, channel.name, len(rows), now.replace(tzinfo=None), channel.name],
        )
        if rows:
            con.executemany(
                "insert into raw_fba_inventory values (?, ?, ?, ?, now()::timestamp)",
                [(snapshot_id, *row) for row in rows],
            )
        params = {"id": snapshot_id, "pan_european": sorted(PAN_EUROPEAN)}
        con.execute(f"create or replace temp table fba_summaries_read as {_READ_SUMMARIES}", params)
        con.execute(
            """
            insert into fba_inventory by name
            select
                snapshot_id, channel, marketplace_id, seller_sku, asin, fulfillable_quantity,
                pending_customer_order_quantity, reserved_quantity, inbound_quantity, unfulfillable_quantity,
                amazon_updated_at, fetched_at, pool,
                -- a pooled stock counts once per SKU: Amazon answers the same pool for each of its marketplaces;
                -- should their answers differ (a count taken between two requests), the larger one
                row_number() over (partition by pool, seller_sku
                                   order by fulfillable_quantity + pending_customer_order_quantity desc,
                                            marketplace_id) = 1 as is_counted
            from fba_summaries_read
            where reason = ''
            """
        )
        con.execute(
            "insert into fba_inventory_quarantine select snapshot_id, channel, marketplace_id, summary_key, "
            "seller_sku, reason from fba_summaries_read where reason <> ''"
        )
        readable, skus = con.execute(
            "select count(*), count(distinct seller_sku) from fba_inventory where snapshot_id = ?", [snapshot_id]
        ).fetchone()
        adjustments = append_movements(
            con,
            """
            with amazon as (
                select seller_sku as product_code, sum(fulfillable_quantity + pending_customer_order_quantity) as units
                from fba_inventory
                where snapshot_id = $id and is_counted
                    -- a SKU with a summary set aside is known only in part this time: it is left alone
                    and seller_sku not in (select seller_sku from fba_summaries_read
                                           where reason <> '' and seller_sku is not null)
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
        con.execute("drop table fba_summaries_read")
    return FbaSnapshot(snapshot_id, len(rows), skus, len(rows) - readable, adjustments, calls)


# A summary as this side reads it. Every quantity is optional in the model ("InventoryDetails",
# "ReservedQuantity" and "UnfulfillableQuantity" list no required property): an absent one holds no units.
# Only what cannot be read at all sets a summary aside: no sellerSku, no inventoryDetails, or a quantity
# that is there and not a whole number.
_READ_SUMMARIES = """
with

summaries as (
    select
        snapshot_id,
        channel,
        marketplace_id,
        fetched_at,
        payload,
        if(list_contains($pan_european, marketplace_id), 'EU', marketplace_id) as pool,
        json_type(payload) as payload_type,
        -- the SKU as Amazon writes it, as orders name it
        if(json_type(payload, '$.sellerSku') = 'VARCHAR', payload ->> 'sellerSku', null) as seller_sku,
        json_type(payload, '$.inventoryDetails') as details_type,
        payload ->> '$.inventoryDetails.fulfillableQuantity' as fulfillable,
        payload ->> '$.inventoryDetails.reservedQuantity.pendingCustomerOrderQuantity' as pending,
        payload ->> '$.inventoryDetails.reservedQuantity.totalReservedQuantity' as total_reserved,
        payload ->> '$.inventoryDetails.inboundWorkingQuantity' as inbound_working,
        payload ->> '$.inventoryDetails.inboundShippedQuantity' as inbound_shipped,
        payload ->> '$.inventoryDetails.inboundReceivingQuantity' as inbound_receiving,
        payload ->> '$.inventoryDetails.unfulfillableQuantity.totalUnfulfillableQuantity' as unfulfillable
    from raw_fba_inventory
    where snapshot_id = $id
),

checked as (
    select
        *,
        concat_ws('; ',
            case when payload_type <> 'OBJECT' then 'the summary is not a JSON object' end,
            case when coalesce(trim(seller_sku), '') = '' then 'sellerSku is missing or not a string' end,
            -- "This object will not appear if the details parameter in the request is false": this side asks
            -- with details, so a summary without them tells no quantity at all (not that there are none)
            case when details_type is distinct from 'OBJECT' then 'inventoryDetails is missing' end,
            fba_quantity_problem('fulfillableQuantity', fulfillable),
            fba_quantity_problem('pendingCustomerOrderQuantity', pending),
            fba_quantity_problem('totalReservedQuantity', total_reserved),
            fba_quantity_problem('inboundWorkingQuantity', inbound_working),
            fba_quantity_problem('inboundShippedQuantity', inbound_shipped),
            fba_quantity_problem('inboundReceivingQuantity', inbound_receiving),
            fba_quantity_problem('totalUnfulfillableQuantity', unfulfillable)
        ) as reason
    from summaries
),

final as (
    select
        snapshot_id,
        channel,
        marketplace_id,
        pool,
        seller_sku,
        coalesce(nullif(trim(seller_sku), ''), payload ->> 'fnSku', payload ->> 'asin', md5(payload::varchar))
            as summary_key,
        payload ->> 'asin' as asin,
        coalesce(try_cast(fulfillable as integer), 0) as fulfillable_quantity,
        coalesce(try_cast(pending as integer), 0) as pending_customer_order_quantity,
        -- the units held for customer orders are reserved, whatever else Amazon leaves out
        coalesce(try_cast(total_reserved as integer), try_cast(pending as integer), 0) as reserved_quantity,
        coalesce(try_cast(inbound_working as integer), 0) + coalesce(try_cast(inbound_shipped as integer), 0)
            + coalesce(try_cast(inbound_receiving as integer), 0) as inbound_quantity,
        coalesce(try_cast(unfulfillable as integer), 0) as unfulfillable_quantity,
        payload ->> 'lastUpdatedTime' as amazon_updated_at,
        fetched_at,
        reason
    from checked
)

select * from final
"""
