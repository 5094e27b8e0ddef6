-- grain: one row per buyer contact seen in the changed orders, as of its newest order
-- A detail a later version leaves out (Amazon withdraws an FBA buyer's phone, say) does not blank
-- what an earlier one said: each missing detail is the newest value any of the contact's versions gave.
with

buyers as (
    -- only the orders that passed validation
    select * from int_order_buyers semi join int_changed_orders using (order_id) where is_current
),

history as (
    -- every version landed in this run of those orders' contacts
    select * from int_order_buyers where contact_id in (select contact_id from buyers)
),

newest as (
    select
        *,
        count(*) over (partition by contact_id) as versions
    from history
    qualify row_number() over (
        partition by contact_id order by amazon_updated_at desc, amazon_order_id desc
    ) = 1
),

incomplete as (
    -- a withdrawn name, email, phone or address shows in these (a second address line is often absent)
    select contact_id from newest
    where versions > 1 and (full_name is null or email is null or phone is null or address_line1 is null or city is null or postal_code is null)
),

earlier as (
    select
        contact_id,
        arg_max(full_name, amazon_updated_at) filter (where full_name is not null) as full_name,
        arg_max(email, amazon_updated_at) filter (where email is not null) as email,
        arg_max(phone, amazon_updated_at) filter (where phone is not null) as phone,
        arg_max(address_line1, amazon_updated_at) filter (where address_line1 is not null) as address_line1,
        arg_max(address_line2, amazon_updated_at) filter (where address_line2 is not null) as address_line2,
        arg_max(address_line3, amazon_updated_at) filter (where address_line3 is not null) as address_line3,
        arg_max(city, amazon_updated_at) filter (where city is not null) as city,
        arg_max(state, amazon_updated_at) filter (where state is not null) as state,
        arg_max(postal_code, amazon_updated_at) filter (where postal_code is not null) as postal_code,
        arg_max(country_code, amazon_updated_at) filter (where country_code is not null) as country_code
    from history
    semi join incomplete using (contact_id)
    group by contact_id
),

final as (
    select
        newest.contact_id,
        newest.account_id,
        coalesce(newest.full_name, earlier.full_name) as full_name,
        coalesce(newest.email, earlier.email) as email,
        coalesce(newest.phone, earlier.phone) as phone,
        coalesce(newest.address_line1, earlier.address_line1) as address_line1,
        coalesce(newest.address_line2, earlier.address_line2) as address_line2,
        coalesce(newest.address_line3, earlier.address_line3) as address_line3,
        coalesce(newest.city, earlier.city) as city,
        coalesce(newest.state, earlier.state) as state,
        coalesce(newest.postal_code, earlier.postal_code) as postal_code,
        coalesce(newest.country_code, earlier.country_code) as country_code,
        newest.amazon_updated_at as source_updated_at
    from newest
    left join earlier using (contact_id)
)

select * from final
