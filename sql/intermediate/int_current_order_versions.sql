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
    select versions.*
    from versions
    inner join channels using (channel)
    anti join issues using (ingest_id)
    where versions.created_at >= channels.start_at
),

final as (
    select
        'SO-' || substr(md5(channel || '|' || amazon_order_id), 1, 16) as order_id,
        *
    from valid
    qualify row_number() over (
        partition by channel, amazon_order_id
        order by amazon_updated_at desc, ingest_id desc
    ) = 1
)

select * from final
