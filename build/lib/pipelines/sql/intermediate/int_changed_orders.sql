-- grain: one row per order the transform writes: its current version passed the table contracts too
with

current_versions as (
    select * from int_current_order_versions
),

rejected as (
    select * from contract_rejections
),

final as (
    select order_id
    from current_versions
    anti join rejected using (order_id)
)

select * from final
