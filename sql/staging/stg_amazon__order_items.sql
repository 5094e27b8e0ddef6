-- grain: one row per item of each staged order version
with

versions as (
    select * from stg_amazon__order_versions
),

gift_wrapped as (
    select
        ingest_id,
        fulfillment_status,
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
        fulfillment_status,
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
        -- the units that left: Amazon's count where it gives one (the model makes it optional); without it,
        -- a SHIPPED order ("All items have been shipped to the customer") shipped every unit its cancellations
        -- did not take, and any other order nothing it could not name (a PARTIALLY_SHIPPED one's next version
        -- says which)
        case
            when item.fulfillment.quantityFulfilled is not null
                then least(try_cast(item.fulfillment.quantityFulfilled as integer),
                           try_cast(item.quantityOrdered as integer))
            when fulfillment_status = 'SHIPPED' and item.cancellation.cancellationExecution is null
                then try_cast(item.quantityOrdered as integer)
            else 0
        end as shipped_quantity,
        item.cancellation.cancellationExecution is not null as is_item_canceled,
        -- a buyer's request that Amazon has not carried out yet
        coalesce(item.cancellation.cancellationRequest.requester = 'BUYER', false)
            and item.cancellation.cancellationExecution is null as has_cancel_request,
        item.cancellation.cancellationRequest.cancelReason as cancel_request_reason,
        len(item.proceeds.breakdowns) > 0 as is_priced,
        unreadable_amounts(list_filter(item.proceeds.breakdowns, lambda b: b.type <> 'GIFT_WRAP')) > 0
            as has_unreadable_amount,
        unreadable_amounts(list_filter(item.proceeds.breakdowns, lambda b: b.type = 'GIFT_WRAP')) > 0
            as has_unreadable_gift_wrap_charge,
        amounts_finer_than_cents(item.proceeds.breakdowns) > 0 as has_amount_finer_than_cents,
        -- item_amount, shipping_amount, gift_wrap_amount, tax_amount, discount_amount, other_amount
        unnest(proceeds_amounts(item.proceeds.breakdowns)),
        -- the detailed breakdowns say how much of the tax and the promotions fall on the gift wrap
        detailed_proceeds_of(item.proceeds.breakdowns, 'TAX', 'GIFT_WRAP') as gift_wrap_tax_amount,
        detailed_proceeds_of(item.proceeds.breakdowns, 'DISCOUNT', 'GIFT_WRAP') as gift_wrap_discount_amount,
        item.fulfillment.packing.giftOption as gift_option,
        gift_lines[item_index] = 1 as has_gift_wrap,
        -- the item's line comes after every earlier item's line and gift-wrap line
        (item_index + coalesce(list_sum(gift_lines[1:item_index - 1]), 0))::integer as line_number
    from items
)

select * from final
