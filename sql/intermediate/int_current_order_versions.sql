-- grain: one row per changed order: its newest valid version (Amazon's lastUpdatedTime decides)
with

channels as (
    select * from channels
),

versions as (
    select * from stg_amazon__order_versions
),

issues as (
    select * from int_order_version_issues
),

valid as (
    select versions.ingest_id, versions.channel, versions.amazon_order_id, versions.amazon_updated_at
    from versions
    inner join channels using (channel)
    anti join issues using (ingest_id)
    where versions.created_at >= channels.start_at
),

newest as (
    -- an aggregate over narrow rows, not a window over wide ones
    select arg_max(ingest_id, (amazon_updated_at, ingest_id)) as ingest_id
    from valid
    group by channel, amazon_order_id
),

final as (
    select
        'SO-' || substr(md5(versions.channel || '|' || versions.amazon_order_id), 1, 16) as order_id,
        versions.*
    from versions
    semi join newest using (ingest_id)
)

select * from final
