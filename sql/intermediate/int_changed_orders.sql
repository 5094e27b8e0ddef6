-- grain: one row per order the transform writes: its current version passed the table contracts too,
-- or it was shown from a lapsed notification and no version gives it any more (it goes)
with

current_versions as (
    select * from int_current_order_versions
),

rejected as (
    select * from contract_rejections
),

revisited as (
    select * from stg_amazon__orders_to_revisit
),

final as (
    select order_id
    from current_versions
    anti join rejected using (order_id)
    union all
    select order_id
    from revisited
    anti join current_versions using (order_id)
)

select * from final
