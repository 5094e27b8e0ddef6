-- grain: one row per buyer contact seen in the changed orders, as of its newest order
with

buyers as (
    -- only the orders that passed validation
    select * from int_order_buyers semi join int_changed_orders using (order_id)
),

final as (
    select
        contact_id,
        account_id,
        full_name,
        email,
        phone,
        address_line1,
        address_line2,
        address_line3,
        city,
        state,
        postal_code,
        country_code,
        amazon_updated_at as source_updated_at
    from buyers
    where contact_id is not null
    qualify row_number() over (
        partition by contact_id order by amazon_updated_at desc, amazon_order_id desc
    ) = 1
)

select * from final
