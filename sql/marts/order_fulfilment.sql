-- grain: one row per order Amazon has confirmed (not pending): when it was purchased and shipped, by whom, how long that took and whether it left after Amazon's ship-by window closed
-- order_id: The order (orders.order_id).
-- channel: The channel's name.
-- channel_order_id: Amazon's order id.
-- marketplace_name: The marketplace's name.
-- fulfilled_by: MERCHANT or AMAZON.
-- status: The order's status.
-- purchased_at: Amazon's createdTime (UTC).
-- latest_ship_at: The end of Amazon's ship-by window (fulfillment.shipByWindow.latestDateTime, UTC); empty when Amazon gives none.
-- shipped_at: When it shipped (orders.shipped_at, UTC); empty while it has not.
-- shipped_by: amazon package (the package's shipTime), amazon (Amazon reported it shipped: all it tells of an FBA order) or marked here (amazon-orders ship).
-- hours_to_ship: Hours from purchase to shipping.
-- is_shipped_late: It shipped after its ship-by window closed; empty without both times.
-- is_overdue: Not shipped, not cancelled, and its ship-by window closed before the marts were built.
with

orders as (
    select * from orders where status not in (select status from order_statuses where is_pending)
),

shipments as (
    select * from shipments
),

shipped_on_amazon as (
    -- what the order's shown version says of its packages: which of the three sources orders.shipped_at took
    select
        ingest_id as source_ingest_id,
        try_cast(payload ->> '$.fulfillment.shipByWindow.latestDateTime' as timestamptz)::timestamp as latest_ship_at,
        json_array_length(payload -> '$.packages') > 0 as has_packages
    from raw_amazon_orders
    where ingest_id in (select source_ingest_id from orders)
),

final as (
    select
        orders.order_id,
        orders.channel,
        orders.channel_order_id,
        coalesce(orders.marketplace_name, orders.marketplace_id) as marketplace_name,
        orders.fulfilled_by,
        orders.status,
        orders.purchased_at,
        shipped_on_amazon.latest_ship_at,
        orders.shipped_at,
        case
            when orders.shipped_at is null then null
            when shipments.shipped_at is not distinct from orders.shipped_at then 'marked here'
            when coalesce(shipped_on_amazon.has_packages, false) then 'amazon package'
            else 'amazon'
        end as shipped_by,
        round(epoch(orders.shipped_at - orders.purchased_at) / 3600, 1)::double as hours_to_ship,
        orders.shipped_at > shipped_on_amazon.latest_ship_at as is_shipped_late,
        orders.shipped_at is null and orders.status <> 'Canceled'
            and coalesce(shipped_on_amazon.latest_ship_at < $as_of, false) as is_overdue
    from orders
    left join shipments using (order_id)
    left join shipped_on_amazon using (source_ingest_id)
)

select * from final
