-- grain: one row per current order version: its money, by Amazon's proceeds categories
-- Amazon's order-level breakdowns, when it sends them, aggregate the items' (and add DELIVERY_TIP);
-- without them the items' breakdowns add up, and without those the prices.
with

current_versions as (
    select * from int_current_order_versions
),

items as (
    select * from stg_amazon__order_items
),

item_totals as (
    select
        ingest_id,
        sum(item_amount) as item_amount,
        sum(try_cast(unit_price as decimal(18, 2)) * try_cast(quantity_ordered as integer)) as priced_amount,
        sum(shipping_amount) as shipping_amount,
        sum(gift_wrap_amount) as gift_wrap_amount,
        sum(tax_amount) as tax_amount,
        sum(discount_amount) as discount_amount,
        sum(other_amount) as other_amount,
        bool_or(has_cancel_request) as has_cancel_request
    from items
    semi join current_versions using (ingest_id)
    group by ingest_id
),

components as (
    select
        current_versions.order_id,
        try_cast(current_versions.grand_total as decimal(18, 2)) as total_amount,
        current_versions.has_order_proceeds as by_order,
        current_versions.order_item_amount,
        current_versions.order_shipping_amount,
        current_versions.order_gift_wrap_amount,
        current_versions.order_tax_amount,
        current_versions.order_discount_amount,
        current_versions.order_other_amount,
        item_totals.*
    from current_versions
    inner join item_totals using (ingest_id)
),

amounts as (
    select
        order_id,
        total_amount,
        has_cancel_request,
        if(by_order, coalesce(order_item_amount, 0), coalesce(item_amount, priced_amount)) as items_amount,
        coalesce(if(by_order, order_shipping_amount, shipping_amount), 0) as shipping_amount,
        coalesce(if(by_order, order_gift_wrap_amount, gift_wrap_amount), 0) as gift_wrap_amount,
        coalesce(if(by_order, order_tax_amount, tax_amount), 0) as tax_amount,
        -- promotions reduce what the seller receives, whichever sign they are sent with
        -abs(coalesce(if(by_order, order_discount_amount, discount_amount), 0)) as discount_amount,
        if(by_order, order_other_amount, coalesce(other_amount, 0)) as other_amount
    from components
),

final as (
    select
        order_id,
        has_cancel_request,
        -- without a grand total (a pending order) the money is not known yet
        if(total_amount is null, null, items_amount) as items_amount,
        if(total_amount is null, null, shipping_amount) as shipping_amount,
        if(total_amount is null, null, gift_wrap_amount) as gift_wrap_amount,
        if(total_amount is null, null, tax_amount) as tax_amount,
        if(total_amount is null, null, discount_amount) as discount_amount,
        if(total_amount is null, null, other_amount) as other_amount,
        total_amount,
        -- a total whose items have no price at all is not reconciled either: all of it is unexplained
        total_amount - (coalesce(items_amount, 0) + shipping_amount + gift_wrap_amount + tax_amount
                        + discount_amount + other_amount) as unreconciled_amount
    from amounts
)

select * from final
