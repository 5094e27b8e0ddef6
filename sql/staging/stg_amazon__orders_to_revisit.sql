-- grain: one row per order the tables show from a notification version that has lapsed: it is derived
-- again from all its versions (then the poll's newest shows, or, when the poll never listed the order,
-- it goes and its stock comes back)
with

shown as (
    select order_id, channel, channel_order_id, source_ingest_id from orders
),

lapsed as (
    select * from stg_amazon__lapsed_notification_versions
),

final as (
    select shown.order_id, shown.channel, shown.channel_order_id as amazon_order_id
    from shown
    inner join lapsed on lapsed.ingest_id = shown.source_ingest_id
)

select * from final
