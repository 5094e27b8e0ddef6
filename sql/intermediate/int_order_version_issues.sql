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

order_issues as (
    select ingest_id, 'createdTime ' || coalesce('''' || created_time || ''' is not an ISO 8601 time', 'is missing') as reason
    from versions where created_at is null
    union all
    select ingest_id, 'lastUpdatedTime ' || coalesce('''' || last_updated_time || ''' is not an ISO 8601 time', 'is missing')
    from versions where amazon_updated_at is null
    union all
    select ingest_id, 'createdTime ' || created_time || ' is in the future'
    from versions where created_at > fetched_at + interval 1 day
    union all
    select ingest_id, 'lastUpdatedTime ' || last_updated_time || ' is in the future'
    from versions where amazon_updated_at > fetched_at + interval 1 day
    union all
    select ingest_id, 'orderItems is missing or empty'
    -- from_json leaves orderItems null when it is not a list
    from versions where coalesce(len(items), 0) = 0
    union all
    select ingest_id, 'fulfillmentStatus ' || coalesce('''' || fulfillment_status || ''' is not a known status', 'is missing')
    from versions
    where fulfillment_status is null or fulfillment_status not in (
        'PENDING_AVAILABILITY', 'PENDING', 'UNSHIPPED', 'PARTIALLY_SHIPPED', 'SHIPPED', 'CANCELLED', 'UNFULFILLABLE'
    )
    union all
    select ingest_id, 'grandTotal amount ''' || grand_total || ''' is not a number'
    from versions where grand_total is not null and try_cast(grand_total as decimal(18, 2)) is null
    union all
    select ingest_id, 'grandTotal amount ' || grand_total || ' is negative'
    from versions where try_cast(grand_total as decimal(18, 2)) < 0
    union all
    select ingest_id, 'grandTotal currency ''' || grand_total_currency || ''' is not an ISO 4217 code'
    from versions
    where grand_total_currency is not null
        and grand_total_currency not in (select currency_code from iso_currencies)
),

item_issues as (
    select ingest_id, 'item ' || item_index || ': quantityOrdered ' || coalesce('''' || quantity_ordered || ''' is not a whole number of at least 1', 'is missing') as reason
    from items
    where quantity_ordered is null
        or not regexp_full_match(quantity_ordered, '[0-9]{1,9}')
        or quantity_ordered::integer < 1
    union all
    select ingest_id, 'item ' || item_index || ': sellerSku is missing'
    from items where coalesce(trim(product_code), '') = ''
    union all
    select ingest_id, 'item ' || item_index || ': unit price ''' || unit_price || ''' is not a number'
    from items where unit_price is not null and try_cast(unit_price as decimal(18, 2)) is null
    union all
    select ingest_id, 'item ' || item_index || ': unit price ' || unit_price || ' is negative'
    from items where try_cast(unit_price as decimal(18, 2)) < 0
    union all
    select ingest_id, 'item ' || item_index || ': unit price currency ''' || unit_price_currency || ''' is not an ISO 4217 code'
    from items
    where unit_price_currency is not null
        and unit_price_currency not in (select currency_code from iso_currencies)
    union all
    select ingest_id, 'item ' || item_index || ': quantityFulfilled ''' || quantity_fulfilled || ''' is not a whole number'
    from items where quantity_fulfilled is not null and not regexp_full_match(quantity_fulfilled, '[0-9]{1,9}')
    union all
    select ingest_id, 'item ' || item_index || ': gift-wrap charge is not a number'
    from items
    where len(list_filter(gift_wrap_charges, lambda c: try_cast(c.subtotal.amount as decimal(18, 2)) is null)) > 0
    union all
    select ingest_id, 'orderItemId ' || amazon_order_item_id || ' appears more than once'
    from items
    group by ingest_id, amazon_order_item_id
    having count(*) > 1 and amazon_order_item_id is not null
),

final as (
    select * from order_issues
    union all
    select * from item_issues
)

select * from final
