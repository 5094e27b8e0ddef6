-- grain: one row per (order, product, reason, place) whose booked stock differs from what it should be
-- The ledger converges: each booking is the difference between the target and what is booked,
-- so replays, reordered versions and rebuilds all end at the same stock.
with

ledger_orders as (
    -- the orders to book: those the transform changed, or the one the back office touched
    select distinct order_id from ledger_scope
),

lines as (
    select order_lines.*
    from order_lines
    semi join ledger_orders using (order_id)
    where line_type = 'product'
),

shipment_lines as (
    select * from shipment_lines semi join ledger_orders using (order_id)
),

places as (
    -- an order fulfilled by Amazon takes stock from the channel's FBA stock, else from the warehouse
    select
        order_id,
        location_for(fulfilled_by) as location,
        channel_of_location(fulfilled_by, channel) as fba_channel
    from orders
    semi join ledger_orders using (order_id)
),

shipped_orders as (
    select order_id from shipments semi join ledger_orders using (order_id)
),

line_totals as (
    select
        order_id,
        product_code,
        sum(quantity) as quantity,
        sum(canceled_quantity) as canceled_quantity
    from lines
    group by order_id, product_code
),

at_ship as (
    select
        order_id,
        product_code,
        sum(canceled_quantity_at_ship) as canceled_quantity,
        sum(shipped_quantity) as shipped_quantity
    from shipment_lines
    group by order_id, product_code
),

returns as (
    -- restocked units come back where the return went: the warehouse, or Amazon's centre for an FBA return
    select
        sales_returns.order_id,
        sales_return_lines.product_code,
        sales_returns.location,
        sales_returns.channel as fba_channel,
        sum(sales_return_lines.quantity) as quantity
    from sales_return_lines
    inner join sales_returns using (return_id)
    semi join ledger_orders using (order_id)
    where sales_return_lines.is_restocked
    group by all
),

cancellations as (
    -- cancelled stock comes back, except what Amazon cancelled after the order was shipped here; of an order
    -- shipped here in part (packages), only units no package took
    select
        line_totals.order_id,
        line_totals.product_code,
        case
            when shipped_orders.order_id is null
                then least(line_totals.canceled_quantity,
                           line_totals.quantity - coalesce(at_ship.shipped_quantity, 0))
            else least(line_totals.canceled_quantity, coalesce(at_ship.canceled_quantity, 0))
        end as quantity,
        coalesce(at_ship.shipped_quantity, 0) as shipped_here
    from line_totals
    left join shipped_orders using (order_id)
    left join at_ship using (order_id, product_code)
),

targets as (
    -- every order reserves its stock from the moment it is seen, pending included; units that left
    -- the warehouse (marked shipped here) stay gone whatever a later version of the order says
    select order_id, product_code, 'order' as reason, places.location, places.fba_channel,
        -greatest(line_totals.quantity, cancellations.shipped_here + cancellations.quantity) as quantity
    from line_totals
    inner join cancellations using (order_id, product_code)
    inner join places using (order_id)
    union all
    select order_id, product_code, 'cancel', places.location, places.fba_channel, quantity
    from cancellations
    inner join places using (order_id)
    union all
    select order_id, product_code, 'return', location, fba_channel, quantity
    from returns
),

booked as (
    select order_id, product_code, reason, location, channel as fba_channel, sum(quantity_delta) as quantity
    from inventory_movements
    semi join ledger_orders using (order_id)
    where reason in ('order', 'cancel', 'return')
    group by all
),

products as (
    -- every SKU on an order line has a product by now, if only its placeholder
    select product_id, product_code from products
),

final as (
    select
        products.product_id,
        coalesce(targets.product_code, booked.product_code) as product_code,
        coalesce(targets.order_id, booked.order_id) as order_id,
        (coalesce(targets.quantity, 0) - coalesce(booked.quantity, 0))::integer as quantity_delta,
        coalesce(targets.reason, booked.reason) as reason,
        coalesce(targets.location, booked.location) as location,
        coalesce(targets.fba_channel, booked.fba_channel) as channel
    from targets
    full outer join booked
        on booked.order_id = targets.order_id
        and booked.product_code = targets.product_code
        and booked.reason = targets.reason
        and booked.location = targets.location
        and booked.fba_channel is not distinct from targets.fba_channel
    left join products on products.product_code = coalesce(targets.product_code, booked.product_code)
    where coalesce(targets.quantity, 0) <> coalesce(booked.quantity, 0)
)

select * from final
