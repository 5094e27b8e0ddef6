-- grain: one row per SKU, currency and month of sale in the marketplace's time zone: units sold and returned, return rate and revenue (returns count in the month of the sale they take back)
-- sales_month: The first day of the month of sale, in the marketplace's time zone.
-- product_code: The SKU.
-- product_name: The catalog name (Generic Product for a placeholder).
-- currency: ISO 4217 currency of the amounts.
-- orders: Orders with units of the SKU not cancelled.
-- units_sold: Units ordered less those cancelled.
-- units_returned: Units of those sales returned or refunded since (every sales return, a clerk's or Amazon's).
-- return_rate: Units returned over units sold; empty when none sold.
-- revenue_amount: The price of the units sold (order_lines.net_line_amount): no tax, shipping or promotions.
-- refunded_amount: The price of the units returned.
-- net_revenue_amount: Revenue less refunded.
with

orders as (
    select * from orders
),

order_lines as (
    select * from order_lines where line_type = 'product'
),

products as (
    select * from products
),

marketplaces as (
    select * from marketplaces
),

returned as (
    select * from int_returned_units
),

sold as (
    select
        orders.order_id,
        date_trunc('month', orders.purchased_at at time zone 'UTC' at time zone coalesce(marketplaces.time_zone, 'UTC'))::date
            as sales_month,
        order_lines.product_code,
        orders.currency,
        sum(order_lines.quantity - order_lines.canceled_quantity) as units_sold,
        sum(order_lines.net_line_amount) as revenue_amount,
        -- the SKU's unit price in the order (a SKU on two lines: their average)
        sum(order_lines.net_line_amount) / nullif(sum(order_lines.quantity - order_lines.canceled_quantity), 0)
            as unit_price
    from order_lines
    inner join orders using (order_id)
    left join marketplaces using (marketplace_id)
    where orders.currency is not null
    group by all
),

with_returns as (
    select
        sold.*,
        least(coalesce(returned.units, 0), sold.units_sold) as units_returned
    from sold
    left join returned using (order_id, product_code)
),

final as (
    select
        with_returns.sales_month,
        with_returns.product_code,
        coalesce(products.product_name, with_returns.product_code) as product_name,
        with_returns.currency,
        count(*) filter (where with_returns.units_sold > 0) as orders,
        sum(with_returns.units_sold)::bigint as units_sold,
        sum(with_returns.units_returned)::bigint as units_returned,
        round(sum(with_returns.units_returned) / nullif(sum(with_returns.units_sold), 0), 4)::double as return_rate,
        sum(with_returns.revenue_amount)::decimal(18, 2) as revenue_amount,
        sum(round(with_returns.units_returned * coalesce(with_returns.unit_price, 0), 2))::decimal(18, 2)
            as refunded_amount,
        (sum(with_returns.revenue_amount)
         - sum(round(with_returns.units_returned * coalesce(with_returns.unit_price, 0), 2)))::decimal(18, 2)
            as net_revenue_amount
    from with_returns
    left join products using (product_code)
    group by all
)

select * from final
