-- grain: one row per order version landed from a notification that no longer counts: a version of its
-- order fetched by a later poll has landed, or the poll's windows have passed its time by the grace
-- without listing the order again (notification_version_counts in warehouse/macros.sql)
with

landed as (
    -- narrow: only what the rule reads
    select ingest_id, channel, amazon_order_id, run_id, last_updated_time
    from raw_amazon_orders
    where ingest_id <= $upto_ingest_id and amazon_order_id is not null
),

notified as (
    select * from landed where is_notification_version(run_id)
),

polled as (
    select channel, amazon_order_id, max(ingest_id) as last_polled_ingest_id
    from landed
    semi join notified using (channel, amazon_order_id)
    where not is_notification_version(run_id)
    group by channel, amazon_order_id
),

sync_state as (
    select channel, watermark from channel_sync_state
),

final as (
    select notified.ingest_id, notified.channel, notified.amazon_order_id
    from notified
    left join polled using (channel, amazon_order_id)
    left join sync_state using (channel)
    where not coalesce(notification_version_counts(
        notified.ingest_id,
        try_cast(notified.last_updated_time as timestamptz)::timestamp,
        polled.last_polled_ingest_id,
        sync_state.watermark
    ), false)
)

select * from final
