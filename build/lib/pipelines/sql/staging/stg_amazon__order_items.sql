-- grain: one row per item of each staged order version
with

versions as (
    select * from stg_amazon__order_versions
),

gift_wrapped as (
    select
        ingest_id,
        items,
        -- an item gets a gift-wrap line when it has a gift option or a gift-wrap charge
        list_transform(items, lambda item: (
            item.fulfillment.packing.giftOption is not null
            or len(list_filter(item.proceeds.breakdowns, lambda b: b.type = 'GIFT_WRAP')) > 0
        )::integer) as gift_lines
    from versions
),

items as (
    select
        ingest_id,
        unnest(items) as item,
        generate_subscripts(items, 1) as item_index,
        gift_lines
    from gift_wrapped
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
        list_filter(item.proceeds.breakdowns, lambda b: b.type = 'GIFT_WRAP') as gift_wrap_charges,
        gift_lines[item_index] = 1 as has_gift_wrap,
        -- the item's line comes after every earlier item's line and gift-wrap line
        (item_index + coalesce(list_sum(gift_lines[1:item_index - 1]), 0))::integer as line_number
    from items
)

select * from final
