-- grain: one row per changed order whose newest valid new version is newer than what the tables hold
-- (Amazon's lastUpdatedTime decides; the tables already hold the newest of the versions up to
-- $last_ingest_id, and nothing when a rebuild starts again from 0)
with

statuses as (
    select * from order_statuses
),

versions as not materialized (
    select * from stg_amazon__orders
),

valid as (
    select * from int_valid_order_versions
),

revisited as (
    select * from stg_amazon__orders_to_revisit
),

newest as (
    -- an aggregate over narrow rows, not a window over wide ones
    select
        channel,
        amazon_order_id,
        max(amazon_updated_at) as amazon_updated_at,
        arg_max(ingest_id, (amazon_updated_at, ingest_id)) as ingest_id
    from valid
    group by channel, amazon_order_id
),

superseded as (
    select newest.ingest_id
    from newest
    inner join orders
        on orders.channel = newest.channel
        and orders.channel_order_id = newest.amazon_order_id
    -- a row shown from a lapsed notification supersedes nothing: the poll's word is newer, whatever its time
    where orders.source_ingest_id <= $last_ingest_id
        and orders.order_id not in (select order_id from revisited)
        and (orders.amazon_updated_at, orders.source_ingest_id) > (newest.amazon_updated_at, newest.ingest_id)
),

final as (
    select
        order_id_for(versions.channel, versions.amazon_order_id) as order_id,
        versions.*,
        statuses.status,
        statuses.is_pending,
        statuses.is_canceled
    from versions
    inner join statuses on statuses.amazon_status = versions.fulfillment_status
    semi join newest using (ingest_id)
    anti join superseded using (ingest_id)
)

select * from final
