-- grain: one row per order line: each item, then its gift wrap right after it when it has one
-- (line numbers come from stg_amazon__order_items)
with

current_versions as (
    select * from int_current_order_versions
),

items as (
    select * from stg_amazon__order_items
),

products as (
    select * from products
),

lines as (
    select
        current_versions.order_id,
        current_versions.is_canceled as is_order_canceled,
        coalesce(items.unit_price_currency, current_versions.grand_total_currency) as currency,
        items.*,
        items.quantity_ordered::integer as quantity,
        try_cast(items.unit_price as decimal(18, 2)) as unit_price_amount,
        if(items.has_gift_wrap, coalesce(items.gift_wrap_amount, 0), null) as wrap_charge,
        -- a cancellation takes what had not shipped
        if(current_versions.is_canceled or items.is_item_canceled,
           greatest(items.quantity_ordered::integer - items.shipped_quantity, 0),
           0) as item_canceled,
        -- a gift-wrapped item yields a second line, its wrap: one pass over the items makes both
        unnest(if(items.has_gift_wrap, [false, true], [false])) as is_gift_wrap
    from current_versions
    inner join items using (ingest_id)
),

final as (
    select
        lines.order_id,
        lines.line_number + lines.is_gift_wrap::integer as line_number,
        if(lines.is_gift_wrap, 'gift_wrap', 'product') as line_type,
        if(lines.is_gift_wrap, null, product_id_for(lines.product_code)) as product_id,
        if(lines.is_gift_wrap, null, lines.product_code) as product_code,
        if(lines.is_gift_wrap, 'Gift wrap', coalesce(lines.title, lines.product_code)) as description,
        if(lines.is_gift_wrap, 1, lines.quantity) as quantity,
        -- a cancellation gives back what had not shipped yet; a gift wrap goes only with its whole item
        case
            when lines.is_gift_wrap then (lines.item_canceled = lines.quantity)::integer
            else lines.item_canceled
        end as canceled_quantity,
        -- a gift wrap has shipped once its item has
        if(lines.is_gift_wrap, (lines.shipped_quantity > 0)::integer, lines.shipped_quantity) as shipped_quantity,
        if(lines.is_gift_wrap, lines.wrap_charge, lines.unit_price_amount) as unit_price,
        if(lines.is_gift_wrap, lines.wrap_charge, lines.unit_price_amount * lines.quantity) as line_amount,
        -- once Amazon has priced the item (its proceeds), a category it does not list is zero;
        -- what the detailed breakdown puts on the gift wrap goes on the wrap's line
        if(lines.is_priced, if(lines.is_gift_wrap, 0, coalesce(lines.shipping_amount, 0)), null) as shipping_amount,
        if(lines.is_priced,
           if(lines.is_gift_wrap, coalesce(lines.gift_wrap_tax_amount, 0),
              coalesce(lines.tax_amount, 0) - coalesce(lines.gift_wrap_tax_amount, 0)),
           null) as tax_amount,
        if(lines.is_priced,
           -abs(if(lines.is_gift_wrap, coalesce(lines.gift_wrap_discount_amount, 0),
                   coalesce(lines.discount_amount, 0) - coalesce(lines.gift_wrap_discount_amount, 0))),
           null) as discount_amount,
        not lines.is_gift_wrap and coalesce(lines.has_cancel_request, false) as has_cancel_request,
        if(lines.is_gift_wrap, null, lines.cancel_request_reason) as cancel_request_reason,
        -- the gift message and wrap level exactly as Amazon sent them; Amazon's data for a product
        -- line while its product is a placeholder (written out only for those lines)
        case
            when lines.is_gift_wrap
                then 'Gift message: ' || coalesce(lines.gift_option.giftMessage, '') || chr(10)
                    || 'Gift wrap level: ' || coalesce(lines.gift_option.giftWrapLevel, '')
            when products.is_placeholder is distinct from false
                then 'SKU: ' || lines.product_code
                    || '; ASIN: ' || coalesce(lines.asin, '')
                    || '; Title: ' || coalesce(lines.title, '')
                    || '; Unit price: ' || coalesce(lines.unit_price || ' ' || coalesce(lines.currency, ''),
                                                    'not yet known')
        end as notes,
        lines.amazon_order_item_id,
        -- what the line still sells: its cancelled units (a gift wrap cancelled with its whole item) left out
        if(lines.is_gift_wrap,
           if(lines.item_canceled = lines.quantity, 0, lines.wrap_charge),
           lines.unit_price_amount * (lines.quantity - lines.item_canceled)) as net_line_amount
    from lines
    left join products using (product_code)
)

select * from final
