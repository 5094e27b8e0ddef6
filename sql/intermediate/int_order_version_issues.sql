-- grain: one row per order version, item or repeated item id with problems (the version is quarantined)
with

channels as (
    select * from channels
),

versions as (
    -- only what the rules read: this is scanned twice, so it stays narrow
    select
        versions.ingest_id,
        versions.created_time,
        versions.created_at,
        versions.last_updated_time,
        versions.amazon_updated_at,
        versions.fetched_at,
        versions.item_count,
        versions.fulfillment_status,
        versions.grand_total,
        versions.grand_total_currency,
        versions.has_unreadable_order_amount,
        versions.has_order_amount_finer_than_cents
    from stg_amazon__orders as versions
    inner join channels using (channel)
    -- orders created before the channel's start are not ours to import, valid or not
    where versions.created_at is null or versions.created_at >= channels.start_at
),

items as not materialized (
    -- read twice straight from the staged items (a shared copy would cost more than a second scan)
    select * from stg_amazon__order_items
),

-- each rule yields its reason or null, joined in one line; one pass over the rows checks them all
order_checks as (
    select
        ingest_id,
        concat_ws('; ',
            case when created_at is null
                then 'createdTime ' || coalesce('''' || created_time || ''' is not an ISO 8601 time', 'is missing') end,
            case when amazon_updated_at is null
                then 'lastUpdatedTime ' || coalesce('''' || last_updated_time || ''' is not an ISO 8601 time', 'is missing') end,
            case when created_at > fetched_at + interval 1 day
                then 'createdTime ' || created_time || ' is in the future' end,
            case when amazon_updated_at > fetched_at + interval 1 day
                then 'lastUpdatedTime ' || last_updated_time || ' is in the future' end,
            case when item_count = 0
                then 'orderItems is missing or empty' end,
            case when fulfillment_status is null
                    or fulfillment_status not in (select amazon_status from order_statuses)
                then 'fulfillmentStatus ' || coalesce('''' || fulfillment_status || ''' is not a known status', 'is missing') end,
            case when grand_total is not null and try_cast(grand_total as decimal(18, 2)) is null
                then 'grandTotal amount ''' || grand_total || ''' is not a number' end,
            case when try_cast(grand_total as decimal(18, 2)) < 0
                then 'grandTotal amount ' || grand_total || ' is negative' end,
            case when grand_total_currency is not null
                    and grand_total_currency not in (select currency_code from iso_currencies)
                then 'grandTotal currency ''' || grand_total_currency || ''' is not an ISO 4217 code' end,
            case when has_unreadable_order_amount
                then 'a proceeds breakdown amount is not a number' end,
            -- the amounts are held to the cent: a finer one is not imported as another amount
            case when finer_than_cents(grand_total)
                then 'grandTotal amount ' || grand_total || ' is finer than a cent' end,
            case when has_order_amount_finer_than_cents
                then 'a proceeds breakdown amount is finer than a cent' end
        ) as reason
    from versions
),

item_checks as (
    select
        ingest_id,
        concat_ws('; ',
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
            case when has_unreadable_gift_wrap_charge
                then 'item ' || item_index || ': gift-wrap charge is not a number' end,
            -- the line a gift wrap becomes charges it: never less than nothing
            case when gift_wrap_amount < 0
                then 'item ' || item_index || ': gift-wrap charge ' || gift_wrap_amount || ' is negative' end,
            case when has_unreadable_amount
                then 'item ' || item_index || ': a proceeds breakdown amount is not a number' end,
            case when finer_than_cents(unit_price)
                then 'item ' || item_index || ': unit price ' || unit_price || ' is finer than a cent' end,
            case when has_amount_finer_than_cents
                then 'item ' || item_index || ': a proceeds breakdown amount is finer than a cent' end
        ) as reason
    from items
),

duplicate_items as (
    select ingest_id, 'orderItemId ' || amazon_order_item_id || ' appears more than once' as reason
    from items
    where amazon_order_item_id is not null
    group by ingest_id, amazon_order_item_id
    having count(*) > 1
),

checks as (
    select * from order_checks where reason <> ''
    union all
    select * from item_checks where reason <> ''
    union all
    select * from duplicate_items
),

final as (
    select * from checks semi join versions using (ingest_id)
)

select * from final
