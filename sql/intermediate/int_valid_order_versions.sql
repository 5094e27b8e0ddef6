-- grain: one row per staged order version that may be imported: it broke no rule, belongs to the
-- channel (created from its start on), is a sale of this channel, and, if a notification's, still counts
with

channels as (
    select * from channels
),

versions as not materialized (
    select * from stg_amazon__orders
),

issues as (
    select * from int_order_version_issues
),

lapsed as (
    select * from stg_amazon__lapsed_notification_versions
),

final as (
    select versions.ingest_id, versions.channel, versions.amazon_order_id, versions.amazon_updated_at
    from versions
    inner join channels using (channel)
    anti join issues using (ingest_id)
    anti join lapsed using (ingest_id)
    where versions.created_at >= channels.start_at
        -- Amazon fulfilling another sales channel's order: not a sale of this channel
        and versions.sales_channel is distinct from 'NON_AMAZON'
)

select * from final
