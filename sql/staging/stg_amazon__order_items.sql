-- grain: one row per item of each staged order version
with

versions as (
    select * from stg_amazon__order_versions
),

items as (
    select
        ingest_id,
        unnest(items) as item,
        generate_subscripts(items, 1) as item_index
    from versions
),

final as (
    select
        ingest_id,
        item_index,
        item.orderItemId as amazon_order_item_id,
        item.quantityOrdered as quantity_ordered,
        item.product.sellerSku as product_code,
        item.product.asin as asin,
        item.product.title as title,
        item.product.price.unitPrice.amount as unit_price,
        item.product.price.unitPrice.currencyCode as unit_price_currency,
        item.fulfillment.quantityFulfilled as quantity_fulfilled,
        item.cancellation.cancellationExecution is not null as is_item_canceled,
        item.fulfillment.packing.giftOption as gift_option,
        list_filter(item.proceeds.breakdowns, lambda b: b.type = 'GIFT_WRAP') as gift_wrap_charges
    from items
)

select * from final
