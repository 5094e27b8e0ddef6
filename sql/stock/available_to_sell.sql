-- grain: one row per channel and product (SKU) of the catalog, for the seller's own warehouse
-- What a channel's merchant-fulfilled listing may show: the warehouse's on hand (the ledger already takes what
-- every channel's unshipped orders reserve) less the channel's buffer, never below 0. FBA stock is Amazon's to
-- count and is never here.
with

warehouse_stock as (
    select product_code, on_hand, reserved_quantity
    from inventory
    where location = 'warehouse'
),

catalog as (
    -- placeholders (a SKU seen on an order, not in the catalog) have no count of ours to list
    select product_code from products where not is_placeholder
),

active_channels as (
    select channel from channels where removed_at is null
),

channel_buffers as (
    select channel, buffer_units, buffer_percent, max_listed from stock_buffers where product_code = ''
),

sku_buffers as (
    select channel, product_code, buffer_units, buffer_percent, max_listed from stock_buffers where product_code <> ''
),

buffered as (
    select
        active_channels.channel,
        catalog.product_code,
        coalesce(warehouse_stock.on_hand, 0) + coalesce(warehouse_stock.reserved_quantity, 0) as physical_quantity,
        coalesce(warehouse_stock.reserved_quantity, 0) as reserved_quantity,
        coalesce(warehouse_stock.on_hand, 0) as unreserved_quantity,
        coalesce(sku_buffers.buffer_units, channel_buffers.buffer_units, 0) as buffer_units,
        coalesce(sku_buffers.buffer_percent, channel_buffers.buffer_percent, 0) as buffer_percent,
        coalesce(sku_buffers.max_listed, channel_buffers.max_listed) as max_listed
    from active_channels
    cross join catalog
    left join warehouse_stock using (product_code)
    left join channel_buffers using (channel)
    left join sku_buffers
        on sku_buffers.channel = active_channels.channel
        and sku_buffers.product_code = catalog.product_code
),

final as (
    select
        channel,
        product_code,
        physical_quantity,
        reserved_quantity,
        unreserved_quantity,
        buffer_units,
        buffer_percent,
        max_listed,
        greatest(0, least(
            coalesce(max_listed, 2147483647),
            unreserved_quantity - buffer_units
                - ceil(greatest(unreserved_quantity, 0) * buffer_percent / 100)::integer
        ))::integer as available_quantity
    from buffered
)

select * from final
