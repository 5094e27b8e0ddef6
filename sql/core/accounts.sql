-- grain: one row per buyer account seen in the changed orders, as of its newest order
with

buyers as (
    -- only the orders that passed validation
    select * from int_order_buyers semi join int_changed_orders using (order_id) where is_current
),

final as (
    select
        account_id,
        account_name,
        false as is_placeholder,
        is_business,
        amazon_updated_at as source_updated_at
    from buyers
    where account_id <> 'ACC-PENDING'
    qualify row_number() over (
        partition by account_id order by amazon_updated_at desc, amazon_order_id desc
    ) = 1
)

select * from final
