-- grain: one row per channel, marketplace, currency and day of sale in the marketplace's time zone: the orders Amazon has priced, net of what was cancelled and refunded (a refund counts on the day of the sale it takes back)
-- channel: The channel's name.
-- marketplace_id: The Amazon marketplace.
-- marketplace_name: Its name (Amazon.com, Amazon.co.uk, ...).
-- currency: ISO 4217 currency of the amounts.
-- sales_date: The day the orders were placed, in the marketplace's time zone (see marketplaces).
-- orders: Orders placed that day and not cancelled whole.
-- canceled_orders: Orders placed that day and cancelled whole.
-- units_sold: Units ordered less those cancelled.
-- units_refunded: Units of those orders returned or refunded since (every sales return, a clerk's or Amazon's).
-- gross_sales_amount: Amazon's grand totals of the orders, cancelled ones included: what sum(orders.total_amount) gives.
-- canceled_amount: What cancellations took: a cancelled order's grand total; a cancelled unit's share of its line's price, shipping, tax and promotions.
-- refunded_amount: What returns took back: a returned unit's share of its line's price, shipping, tax and promotions.
-- net_sales_amount: Gross less cancelled less refunded: the day's revenue.
with

orders as (
    select * from orders
),

order_lines as (
    select * from order_lines
),

marketplaces as (
    select * from marketplaces
),

returned as (
    select * from int_returned_units
),

line_values as (
    select
        order_id,
        line_type,
        product_code,
        quantity,
        canceled_quantity,
        coalesce(line_amount, 0) + coalesce(shipping_amount, 0) + coalesce(tax_amount, 0)
            + coalesce(discount_amount, 0) as line_total_amount
    from order_lines
),

sku_values as (
    -- a SKU's units and what they cost the buyer, per order (an order may list a SKU on two lines)
    select order_id, product_code, sum(quantity) as units, sum(line_total_amount) as total_amount
    from line_values
    where line_type = 'product'
    group by all
),

refunds as (
    select
        sku_values.order_id,
        sum(least(returned.units, sku_values.units)) as units,
        sum(round(sku_values.total_amount * least(returned.units, sku_values.units) / sku_values.units, 2))
            as amount
    from sku_values
    inner join returned using (order_id, product_code)
    group by all
),

cancellations as (
    select
        order_id,
        sum(round(line_total_amount * canceled_quantity / quantity, 2)) as amount,
        sum(if(line_type = 'product', quantity - canceled_quantity, 0)) as units_sold
    from line_values
    group by all
),

order_values as (
    select
        orders.channel,
        orders.marketplace_id,
        coalesce(orders.marketplace_name, orders.marketplace_id) as marketplace_name,
        orders.currency,
        -- the day of the marketplace, not of UTC (an unknown marketplace's is UTC's)
        (orders.purchased_at at time zone 'UTC' at time zone coalesce(marketplaces.time_zone, 'UTC'))::date
            as sales_date,
        orders.status = 'Canceled' as is_canceled,
        coalesce(cancellations.units_sold, 0) as units_sold,
        coalesce(refunds.units, 0) as units_refunded,
        coalesce(orders.total_amount, 0) as gross_sales_amount,
        if(orders.status = 'Canceled', coalesce(orders.total_amount, 0), coalesce(cancellations.amount, 0))
            as canceled_amount,
        -- never more than what the cancellations left
        least(coalesce(refunds.amount, 0),
              coalesce(orders.total_amount, 0)
              - if(orders.status = 'Canceled', coalesce(orders.total_amount, 0), coalesce(cancellations.amount, 0)))
            as refunded_amount
    from orders
    left join marketplaces using (marketplace_id)
    left join cancellations using (order_id)
    left join refunds using (order_id)
    -- a pending order has no prices yet: it counts once Amazon fills them in
    where orders.currency is not null
),

final as (
    select
        channel,
        marketplace_id,
        marketplace_name,
        currency,
        sales_date,
        count(*) filter (where not is_canceled) as orders,
        count(*) filter (where is_canceled) as canceled_orders,
        sum(units_sold)::bigint as units_sold,
        sum(units_refunded)::bigint as units_refunded,
        sum(gross_sales_amount)::decimal(18, 2) as gross_sales_amount,
        sum(canceled_amount)::decimal(18, 2) as canceled_amount,
        sum(refunded_amount)::decimal(18, 2) as refunded_amount,
        sum(gross_sales_amount - canceled_amount - refunded_amount)::decimal(18, 2) as net_sales_amount
    from order_values
    group by all
)

select * from final
