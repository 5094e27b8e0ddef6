-- grain: one row per order line: each item, then its gift wrap right after it when it has one
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

order_items as (
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
        item_index,
        0 as position_in_item,
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
        'SKU: ' || product_code
            || '; ASIN: ' || coalesce(asin, '')
            || '; Title: ' || coalesce(title, '')
            || '; Unit price: ' || coalesce(unit_price || ' ' || coalesce(unit_price_currency, order_currency, ''), 'not yet known')
            as amazon_data,
        amazon_order_item_id
    from order_items
),

gift_wrap_lines as (
    select
        order_id,
        item_index,
        1 as position_in_item,
        'gift_wrap' as line_type,
        null as product_id,
        null as product_code,
        'Gift wrap' as description,
        1 as quantity,
        case when is_order_canceled or is_item_canceled then 1 else 0 end as canceled_quantity,
        coalesce(list_sum(list_transform(gift_wrap_charges, lambda c: c.subtotal.amount::decimal(18, 2))), 0)::decimal(18, 2) as unit_price,
        coalesce(list_sum(list_transform(gift_wrap_charges, lambda c: c.subtotal.amount::decimal(18, 2))), 0)::decimal(18, 2) as line_amount,
        -- exactly as Amazon sent them
        'Gift message: ' || coalesce(gift_option.giftMessage, '') || chr(10)
            || 'Gift wrap level: ' || coalesce(gift_option.giftWrapLevel, '') as amazon_data,
        amazon_order_item_id
    from order_items
    where gift_option is not null or len(gift_wrap_charges) > 0
),

lines as (
    select * from product_lines
    union all
    select * from gift_wrap_lines
),

final as (
    select
        lines.order_id,
        row_number() over (partition by lines.order_id order by lines.item_index, lines.position_in_item)::integer
            as line_number,
        lines.line_type,
        lines.product_id,
        lines.product_code,
        lines.description,
        lines.quantity,
        lines.canceled_quantity,
        lines.unit_price,
        lines.line_amount,
        -- Amazon's data for the line stays in its notes while its product is a placeholder
        case
            when lines.line_type = 'gift_wrap' or products.is_placeholder is distinct from false
                then lines.amazon_data
        end as notes,
        lines.amazon_order_item_id
    from lines
    left join products using (product_code)
)

select * from final
