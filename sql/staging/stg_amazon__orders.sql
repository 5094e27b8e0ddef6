-- grain: one row per order version landed since the last transform, without its items
-- (stg_amazon__order_items holds them: the parsed list is dropped once they are unnested)
with

versions as (
    select * exclude (items) from stg_amazon__order_versions
)

select * from versions
