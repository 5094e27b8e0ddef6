-- grain: one row per problem found in a staged order version (such a version is quarantined)
with

channels as (
    select * from channels
),

versions as (
    select versions.*
    from stg_amazon__order_versions as versions
    inner join channels using (channel)
    -- orders created before the channel's start are not ours to import, valid or not
    where versions.created_at is null or versions.created_at >= channels.start_at
),

items as (
    select items.*
    from stg_amazon__order_items as items
    semi join versions using (ingest_id)
),

-- each rule yields its reason or null; one pass over the rows checks them all
order_checks as (
    select
        ingest_id,
        [
            case when created_at is null
                then 'createdTime ' || coalesce('''' || created_time || ''' is not an ISO 8601 time', 'is missing') end,
            case when amazon_updated_at is null
                then 'lastUpdatedTime ' || coalesce('''' || last_updated_time || ''' is not an ISO 8601 time', 'is missing') end,
            case when created_at > fetched_at + interval 1 day
                then 'createdTime ' || created_time || ' is in the future' end,
            case when amazon_updated_at > fetched_at + interval 1 day
                then 'lastUpdatedTime ' || last_updated_time || ' is in the future' end,
            -- from_json leaves orderItems null when it is not a list
            case when coalesce(len(items), 0) = 0
                then 'orderItems is missing or empty' end,
            case when fulfillment_status is null or fulfillment_status not in (
                    'PENDING_AVAILABILITY', 'PENDING', 'UNSHIPPED', 'PARTIALLY_SHIPPED', 'SHIPPED', 'CANCELLED',
                    'UNFULFILLABLE')
                then 'fulfillmentStatus ' || coalesce('''' || fulfillment_status || ''' is not a known status', 'is missing') end,
            case when grand_total is not null and try_cast(grand_total as decimal(18, 2)) is null
                then 'grandTotal amount ''' || grand_total || ''' is not a number' end,
            case when try_cast(grand_total as decimal(18, 2)) < 0
                then 'grandTotal amount ' || grand_total || ' is negative' end,
            case when grand_total_currency is not null
                    and grand_total_currency not in (select currency_code from iso_currencies)
                then 'grandTotal currency ''' || grand_total_currency || ''' is not an ISO 4217 code' end
        ] as reasons
    from versions
),

item_checks as (
    select
        ingest_id,
        [
            case when quantity_ordered is null
                    or not regexp_full_match(quantity_ordered, '[0-9]{1,9}')
                    or quantity_ordered::integer < 1
                then 'item ' || item_index || ': quantityOrdered '
                    || coalesce('''' || quantity_ordered || ''' is not a whole number of at least 1', 'is missing') end,
            case when coalesce(trim(product_code), '') = ''
                then 'item ' || item_index || ': sellerSku is missing' end,
            case when unit_price is not null and try_cast(unit_price as decimal(18, 2)) is null
                then 'item ' || item_index || ': unit price ''' || unit_price || ''' is not a number' end,
            case when try_cast(unit_price as decimal(18, 2)) < 0
                then 'item ' || item_index || ': unit price ' || unit_price || ' is negative' end,
            case when unit_price_currency is not null
                    and unit_price_currency not in (select currency_code from iso_currencies)
                then 'item ' || item_index || ': unit price currency ''' || unit_price_currency
                    || ''' is not an ISO 4217 code' end,
            case when quantity_fulfilled is not null and not regexp_full_match(quantity_fulfilled, '[0-9]{1,9}')
                then 'item ' || item_index || ': quantityFulfilled ''' || quantity_fulfilled
                    || ''' is not a whole number' end,
            case when len(list_filter(gift_wrap_charges,
                                      lambda c: try_cast(c.subtotal.amount as decimal(18, 2)) is null)) > 0
                then 'item ' || item_index || ': gift-wrap charge is not a number' end
        ] as reasons
    from items
),

duplicate_items as (
    select ingest_id, 'orderItemId ' || amazon_order_item_id || ' appears more than once' as reason
    from items
    where amazon_order_item_id is not null
    group by ingest_id, amazon_order_item_id
    having count(*) > 1
),

final as (
    select ingest_id, unnest(list_filter(reasons, lambda r: r is not null)) as reason from order_checks
    union all
    select ingest_id, unnest(list_filter(reasons, lambda r: r is not null)) from item_checks
    union all
    select * from duplicate_items
)

select * from final
