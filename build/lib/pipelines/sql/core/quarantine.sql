-- grain: one row per order version landed since the last transform that is not imported, with why
with

raw as (
    select * from raw_amazon_orders
    where ingest_id > $last_ingest_id and ingest_id <= $upto_ingest_id
),

issues as (
    select * from int_order_version_issues
),

rejected as (
    select * from contract_rejections
),

current_versions as (
    select * from int_current_order_versions
),

broken_rules as (
    select issues.ingest_id, raw.channel, raw.amazon_order_id, issues.reason
    from issues
    inner join raw using (ingest_id)
),

refused_by_contract as (
    select current_versions.ingest_id, current_versions.channel, current_versions.amazon_order_id, rejected.reason
    from rejected
    inner join current_versions using (order_id)
),

without_order_id as (
    select ingest_id, channel, null as amazon_order_id, 'orderId is missing or not a string' as reason
    from raw
    where amazon_order_id is null
),

final as (
    select *, now()::timestamp as quarantined_at from broken_rules
    union all
    select *, now()::timestamp from refused_by_contract
    union all
    select *, now()::timestamp from without_order_id
)

select * from final
