-- grain: one row per order and SKU with units returned: every sales return's units, a clerk's or Amazon's
-- (the marts read it; the transform does not)
with

sales_returns as (
    select * from sales_returns
),

sales_return_lines as (
    select * from sales_return_lines
),

final as (
    select sales_returns.order_id, sales_return_lines.product_code, sum(sales_return_lines.quantity) as units
    from sales_returns
    inner join sales_return_lines using (return_id)
    group by all
)

select * from final
