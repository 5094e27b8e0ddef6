-- grain: one row per valid order version (the current ones marked): who bought it, as an account and a contact
with

versions as (
    select * from stg_amazon__orders
),

valid as (
    select * from int_valid_order_versions
),

current_versions as (
    select * from int_current_order_versions
),

statuses as (
    select * from order_statuses
),

identified as (
    select
        order_id_for(versions.channel, versions.amazon_order_id) as order_id,
        versions.ingest_id,
        versions.ingest_id in (select ingest_id from current_versions) as is_current,
        amazon_order_id,
        -- a notification's version carries its base's buyer, as of the base's time
        coalesce(try_cast(purged_ids.buyer_updated_at as timestamptz)::timestamp, amazon_updated_at)
            as amazon_updated_at,
        is_business,
        statuses.is_pending,
        buyer_name,
        buyer_email,
        buyer_company,
        address,
        purged_ids,
        -- Amazon's (anonymised) buyer email identifies a buyer; a name and postcode when it is withheld
        -- (FBA orders carry no email)
        coalesce(
            'email:' || buyer_email,
            'name:' || lower(coalesce(buyer_name, address.name)) || '|' || coalesce(address.postalCode, '')
        ) as buyer_key
    from versions
    semi join valid using (ingest_id)
    inner join statuses on statuses.amazon_status = versions.fulfillment_status
),

final as (
    select
        order_id,
        ingest_id,
        is_current,
        amazon_order_id,
        amazon_updated_at,
        is_business and buyer_company is not null as is_business,
        case
            -- once its PII is purged, an order keeps the ids it had
            when purged_ids.account_id is not null then purged_ids.account_id
            -- pending orders sit under one placeholder account until Amazon tells who bought them
            when is_pending or buyer_key is null then 'ACC-PENDING'
            when is_business and buyer_company is not null
                then account_id_for('company:' || lower(buyer_company))
            else account_id_for(buyer_key)
        end as account_id,
        case
            when is_business and buyer_company is not null then buyer_company
            else coalesce(buyer_name, address.name, buyer_email)
        end as account_name,
        coalesce(
            purged_ids.contact_id,
            case when not is_pending then contact_id_for(buyer_key) end
        ) as contact_id,
        coalesce(buyer_name, address.name, buyer_email) as full_name,
        buyer_email as email,
        address.phone as phone,
        address.addressLine1 as address_line1,
        address.addressLine2 as address_line2,
        address.addressLine3 as address_line3,
        address.city as city,
        address.stateOrRegion as state,
        address.postalCode as postal_code,
        address.countryCode as country_code
    from identified
)

select * from final
