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

order_items as not materialized (
    select
        current_versions.order_id,
        current_versions.fulfillment_status = 'CANCELLED' as is_order_canceled,
        current_versions.grand_total_currency as order_currency,
        items.*,
        items.quantity_ordered::integer as quantity,
        try_cast(items.unit_price as decimal(18, 2)) as unit_price_amount
    from current_versions
    inner join items using (ingest_id)
),

product_lines as (
    select
        order_id,
        line_number,
        'product' as line_type,
        'PRD-' || substr(md5(product_code), 1, 16) as product_id,
        product_code,
        coalesce(title, product_code) as description,
        quantity,
        case
            when is_order_canceled then quantity
            when is_item_canceled then greatest(quantity - coalesce(quantity_fulfilled::integer, 0), 0)
            else 0
        end as canceled_quantity,
        unit_price_amount as unit_price,
        unit_price_amount * quantity as line_amount,
        {
            'sku': product_code, 'asin': asin, 'title': title,
            'unit_price': unit_price, 'currency': coalesce(unit_price_currency, order_currency),
            'gift_message': null, 'gift_wrap_level': null
        } as amazon_data,
        amazon_order_item_id
    from order_items
),

gift_wrap_lines as (
    select
        order_id,
        line_number + 1,
        'gift_wrap' as line_type,
        null as product_id,
        null as product_code,
        'Gift wrap' as description,
        1 as quantity,
        case when is_order_canceled or is_item_canceled then 1 else 0 end as canceled_quantity,
        coalesce(list_sum(list_transform(gift_wrap_charges, lambda c: c.subtotal.amount::decimal(18, 2))), 0)::decimal(18, 2) as unit_price,
        coalesce(list_sum(list_transform(gift_wrap_charges, lambda c: c.subtotal.amount::decimal(18, 2))), 0)::decimal(18, 2) as line_amount,
        {
            'sku': null, 'asin': null, 'title': null, 'unit_price': null, 'currency': null,
            'gift_message': gift_option.giftMessage, 'gift_wrap_level': gift_option.giftWrapLevel
        } as amazon_data,
        amazon_order_item_id
    from order_items
    where has_gift_wrap
),

lines as (
    select * from product_lines
    union all
    select * from gift_wrap_lines
),

final as (
    select
        lines.order_id,
        lines.line_number,
        lines.line_type,
        lines.product_id,
        lines.product_code,
        lines.description,
        lines.quantity,
        lines.canceled_quantity,
        lines.unit_price,
        lines.line_amount,
        -- the gift message and wrap level exactly as Amazon sent them; Amazon's data for a product
        -- line while its product is a placeholder (written out only for those lines)
        case
            when lines.line_type = 'gift_wrap'
                then 'Gift message: ' || coalesce(lines.amazon_data.gift_message, '') || chr(10)
                    || 'Gift wrap level: ' || coalesce(lines.amazon_data.gift_wrap_level, '')
            when products.is_placeholder is distinct from false
                then 'SKU: ' || lines.amazon_data.sku
                    || '; ASIN: ' || coalesce(lines.amazon_data.asin, '')
                    || '; Title: ' || coalesce(lines.amazon_data.title, '')
                    || '; Unit price: ' || coalesce(lines.amazon_data.unit_price || ' '
                        || coalesce(lines.amazon_data.currency, ''), 'not yet known')
        end as notes,
        lines.amazon_order_item_id
    from lines
    left join products using (product_code)
)

select * from final
