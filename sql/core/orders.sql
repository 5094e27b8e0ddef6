-- grain: one row per order, rebuilt for every order that changed
with

current_versions as (
    select * from int_current_order_versions
),

buyers as (
    select * from int_order_buyers where is_current
),

shipments as (
    select * from shipments
),

money as (
    select * from int_order_amounts
),

marketplaces as (
    select * from marketplaces
),

shipped_on_amazon as (
    select * from int_order_shipped_at
),

amounts as (
    select
        current_versions.*,
        money.* exclude (order_id),
        coalesce(grand_total_currency, first_item_currency) as currency
    from current_versions
    inner join money using (order_id)
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
        amounts.items_amount,
        amounts.shipping_amount,
        amounts.gift_wrap_amount,
        amounts.tax_amount,
        amounts.discount_amount,
        amounts.other_amount,
        amounts.total_amount,
        amounts.unreconciled_amount,
        amounts.has_cancel_request,
        amounts.replaced_order.orderId as replaced_channel_order_id,
        replace(replace(amounts.replaced_order.associationType, '_ORIGINAL_ID', ''), '_', ' ') as replacement_type,
        amounts.created_at as purchased_at,
        amounts.amazon_updated_at,
        shipments.order_id is not null as is_shipped,
        buyers.is_business,
        amounts.ingest_id as source_ingest_id,
        marketplaces.marketplace_name,
        -- the package's handover to the carrier, else Amazon's first word (all it tells of FBA), else our own
        -- mark (the order in which `ship` fills it in too, so incremental and rebuild agree)
        coalesce(shipped_on_amazon.package_shipped_at, shipped_on_amazon.reported_shipped_at, shipments.shipped_at)
            as shipped_at
    from amounts
    inner join buyers using (order_id)
    left join shipments using (order_id)
    left join marketplaces using (marketplace_id)
    left join shipped_on_amazon using (order_id)
)

select * from final
