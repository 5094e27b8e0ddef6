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

amounts as (
    select
        *,
        try_cast(grand_total as decimal(18, 2)) as total_amount,
        coalesce(grand_total_currency, first_item_currency) as currency
    from current_versions
),

final as (
    select
        amounts.order_id,
        amounts.channel,
        amounts.amazon_order_id as channel_order_id,
        amounts.marketplace_id,
        amounts.status,
        -- Amazon fills in prices once payment is authorised; until then the order is unpaid
        case when amounts.is_pending or amounts.total_amount is null then 'Unpaid' else 'Paid' end as payment_status,
        buyers.account_id,
        buyers.contact_id,
        amounts.fulfilled_by,
        amounts.currency,
        amounts.total_amount,
        amounts.created_at as purchased_at,
        amounts.amazon_updated_at,
        shipments.order_id is not null as is_shipped,
        buyers.is_business,
        amounts.ingest_id as source_ingest_id
    from amounts
    inner join buyers using (order_id)
    left join shipments using (order_id)
)

select * from final
