-- grain: one row per order version landed since the last transform ($last_ingest_id, $upto_ingest_id],
-- and every earlier version of an order to derive again (stg_amazon__orders_to_revisit)
with

revisited as (
    select channel, amazon_order_id from stg_amazon__orders_to_revisit
),

landed as (
    select *
    from raw_amazon_orders
    -- ingest_id grows with every landing, so this reads only the newest row groups
    where ingest_id > $last_ingest_id
        and ingest_id <= $upto_ingest_id
        and amazon_order_id is not null
    union all
    select raw.*
    from raw_amazon_orders as raw
    semi join revisited using (channel, amazon_order_id)
    where raw.ingest_id <= $last_ingest_id
),

versions as (
    select
        raw.ingest_id,
        raw.channel,
        raw.amazon_order_id,
        raw.fetched_at,
        order_payload(raw.payload) as o
    from landed as raw
),

final as (
    select
        ingest_id,
        channel,
        amazon_order_id,
        fetched_at,
        o.createdTime as created_time,
        try_cast(o.createdTime as timestamptz)::timestamp as created_at,
        o.lastUpdatedTime as last_updated_time,
        try_cast(o.lastUpdatedTime as timestamptz)::timestamp as amazon_updated_at,
        o.salesChannel.marketplaceId as marketplace_id,
        o.salesChannel.channelName as sales_channel,
        -- the original this order replaces or exchanges, when it is one
        list_filter(o.associatedOrders, lambda a: a.associationType in ('REPLACEMENT_ORIGINAL_ID', 'EXCHANGE_ORIGINAL_ID'))[1]
            as replaced_order,
        coalesce(list_contains(o.programs, 'AMAZON_BUSINESS'), false)
            or o.buyer.buyerCompanyName is not null as is_business,
        nullif(trim(o.buyer.buyerName), '') as buyer_name,
        nullif(lower(trim(o.buyer.buyerEmail)), '') as buyer_email,
        nullif(trim(o.buyer.buyerCompanyName), '') as buyer_company,
        o.recipient.deliveryAddress as address,
        o.proceeds.grandTotal.amount as grand_total,
        o.proceeds.grandTotal.currencyCode as grand_total_currency,
        -- Amazon's order-level proceeds, when it sends them (they aggregate the items' and add a delivery tip)
        len(o.proceeds.breakdowns) > 0 as has_order_proceeds,
        proceeds_amounts(o.proceeds.breakdowns) as order_proceeds,
        unreadable_amounts(o.proceeds.breakdowns) > 0 as has_unreadable_order_amount,
        amounts_finer_than_cents(o.proceeds.breakdowns) > 0 as has_order_amount_finer_than_cents,
        o.fulfillment.fulfillmentStatus as fulfillment_status,
        o.fulfillment.fulfilledBy as fulfilled_by,
        o.orderItems[1].product.price.unitPrice.currencyCode as first_item_currency,
        o._amazon_orders as purged_ids,
        -- from_json leaves orderItems null when it is not a list
        coalesce(len(o.orderItems), 0) as item_count,
        -- unnested by stg_amazon__order_items; every other model reads stg_amazon__orders, without them
        o.orderItems as items
    from versions
)

-- the order's proceeds as order_item_amount, order_shipping_amount ... order_other_amount
select * exclude (order_proceeds), columns(order_proceeds.*) as 'order_\0' from final
