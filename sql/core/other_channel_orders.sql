-- grain: one row per version landed since the last transform of an order Amazon fulfils for another sales channel
with

versions as (
    select * from stg_amazon__orders
),

issues as (
    select * from int_order_version_issues
),

final as (
    select ingest_id, channel, amazon_order_id, sales_channel
    from versions
    anti join issues using (ingest_id)
    where sales_channel = 'NON_AMAZON'
        -- only what landed since the last transform (an order derived again stages its earlier versions)
        and ingest_id > $last_ingest_id
)

select * from final
