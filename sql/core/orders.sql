-- grain: one row per order, rebuilt for every order that changed
with

current_versions as (
    select * from int_current_order_versions
),

buyers as (
    select * from int_order_buyers
),

shipments as (
    select * from shipments
),

statuses as (
    select
        *,
        case fulfillment_status
            when 'PENDING' then 'Pending'
            when 'PENDING_AVAILABILITY' then 'Pending Availability'
            when 'UNSHIPPED' then 'Unshipped'
            when 'PARTIALLY_SHIPPED' then 'Partially Shipped'
            when 'SHIPPED' then 'Shipped'
            when 'CANCELLED' then 'Canceled'
            when 'UNFULFILLABLE' then 'Unfulfillable'
        end as status,
        try_cast(grand_total as decimal(18, 2)) as total_amount,
        coalesce(grand_total_currency, first_item_currency) as currency
    from current_versions
),

final as (
    select
        statuses.order_id,
        statuses.channel,
        statuses.amazon_order_id as channel_order_id,
        statuses.marketplace_id,
        statuses.status,
        -- Amazon fills in prices once payment is authorised; until then the order is unpaid
        case
            when statuses.status in ('Pending', 'Pending Availability') or statuses.total_amount is null
                then 'Unpaid'
            else 'Paid'
        end as payment_status,
        buyers.account_id,
        buyers.contact_id,
        statuses.fulfilled_by,
        statuses.currency,
        statuses.total_amount,
        statuses.created_at as purchased_at,
        statuses.amazon_updated_at,
        shipments.order_id is not null as is_shipped,
        buyers.is_business,
        statuses.ingest_id as source_ingest_id
    from statuses
    inner join buyers using (order_id)
    left join shipments using (order_id)
)

select * from final
