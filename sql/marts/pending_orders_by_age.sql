-- grain: one row per channel, marketplace, pending status and age band: the orders Amazon has not confirmed yet, by how long ago they were placed (as the marts were built)
-- channel: The channel's name.
-- marketplace_name: The marketplace's name.
-- status: Pending or Pending Availability (a pre-order).
-- age_band: Under 1 hour, 1 to 24 hours, 1 to 3 days or over 3 days.
-- orders: Pending orders in the band.
-- units: Units they reserve.
-- oldest_purchased_at: When the oldest of them was placed (UTC).
with

pending as (
    select * from orders where status in (select status from order_statuses where is_pending)
),

units as (
    select order_id, sum(quantity - canceled_quantity) as units
    from order_lines
    where line_type = 'product'
    group by all
),

aged as (
    select
        pending.*,
        $as_of - pending.purchased_at as age
    from pending
),

final as (
    select
        aged.channel,
        coalesce(aged.marketplace_name, aged.marketplace_id) as marketplace_name,
        aged.status,
        case
            when aged.age < interval 1 hour then 'under 1 hour'
            when aged.age < interval 24 hour then '1 to 24 hours'
            when aged.age < interval 72 hour then '1 to 3 days'
            else 'over 3 days'
        end as age_band,
        count(*) as orders,
        coalesce(sum(units.units), 0)::bigint as units,
        min(aged.purchased_at) as oldest_purchased_at
    from aged
    left join units using (order_id)
    group by all
)

select * from final
