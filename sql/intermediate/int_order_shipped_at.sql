-- grain: one row per changed order that Amazon reports shipped: when its first package left (packages'
-- shipTime, merchant-fulfilled orders only), and when Amazon first reported it shipped (the lastUpdatedTime
-- of its first version with a unit fulfilled: the only time Amazon gives of an order it ships itself)
with

changed as (
    select channel, amazon_order_id from int_current_order_versions
),

versions as (
    select
        raw.channel,
        raw.amazon_order_id,
        from_json(raw.payload, '{
            "lastUpdatedTime": "VARCHAR",
            "fulfillment": {"fulfillmentStatus": "VARCHAR"},
            "orderItems": [{"fulfillment": {"quantityFulfilled": "VARCHAR"}}],
            "packages": [{"shipTime": "VARCHAR"}]
        }') as o
    from raw_amazon_orders as raw
    semi join changed using (channel, amazon_order_id)
    -- what this transform has reached: a later batch derives the order again with what it lands
    where raw.ingest_id <= $upto_ingest_id
),

shipped_versions as (
    select
        channel,
        amazon_order_id,
        try_cast(o.lastUpdatedTime as timestamptz)::timestamp as amazon_updated_at,
        o.fulfillment.fulfillmentStatus in ('SHIPPED', 'PARTIALLY_SHIPPED')
            or coalesce(list_max(list_transform(o.orderItems,
                                                lambda i: try_cast(i.fulfillment.quantityFulfilled as integer))), 0) > 0
            as is_reported_shipped,
        list_min(list_transform(o.packages, lambda p: try_cast(p.shipTime as timestamptz)::timestamp)) as package_shipped_at
    from versions
),

final as (
    select
        order_id_for(channel, amazon_order_id) as order_id,
        min(package_shipped_at) as package_shipped_at,
        min(amazon_updated_at) filter (where is_reported_shipped) as reported_shipped_at
    from shipped_versions
    group by channel, amazon_order_id
    having min(package_shipped_at) is not null or bool_or(is_reported_shipped)
)

select * from final
