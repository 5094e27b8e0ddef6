-- grain: one row per SKU on a changed order that no product has yet: its "Generic Product" placeholder
with

lines as (
    select * from new_order_lines semi join int_changed_orders using (order_id)
),

products as (
    select * from products
),

final as (
    select distinct
        lines.product_id,
        lines.product_code,
        'Generic Product' as product_name,
        null::decimal(18, 2) as list_price,
        true as is_placeholder
    from lines
    anti join products using (product_code)
    where lines.line_type = 'product'
)

select * from final
