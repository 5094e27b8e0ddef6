-- The warehouse: landing tables, sync state, local inputs (catalog, shipments, returns) and the
-- core order-management tables. Every statement is idempotent so opening a warehouse migrates it.
-- Keys of the large tables are enforced by the asset checks rather than indexes: ART indexes
-- make bulk merges slow and memory-hungry.

create sequence if not exists ingest_seq;

create table if not exists channels (
    channel varchar primary key,
    marketplace_ids varchar[] not null,
    start_at timestamp not null,
    endpoint varchar,
    token_url varchar,
    created_at timestamp not null
);

-- One row per channel: the committed watermark and, while a window is being paged, where it stands.
create table if not exists channel_sync_state (
    channel varchar primary key,
    watermark timestamp not null,
    window_after timestamp,
    window_before timestamp,
    next_token varchar,
    rate_tokens double,
    rate_checked_epoch double,
    rate_per_second double
);

-- warehouses created before the rate was kept
alter table channel_sync_state add column if not exists rate_per_second double;

create table if not exists sync_runs (
    run_id varchar,
    channel varchar,
    started_at timestamp,
    finished_at timestamp,
    status varchar,
    pages integer,
    orders_fetched integer,
    orders_stored integer,
    watermark timestamp,
    error varchar
);

-- Append-only: every distinct version of every order, as Amazon sent it.
create table if not exists raw_amazon_orders (
    ingest_id bigint not null default nextval('ingest_seq'),
    channel varchar not null,
    amazon_order_id varchar,
    last_updated_time varchar,
    payload json not null,
    payload_hash varchar not null,
    fetched_at timestamp not null,
    run_id varchar
);

create table if not exists transform_state (
    name varchar primary key,
    last_ingest_id bigint not null
);

create table if not exists quarantine (
    ingest_id bigint not null,
    channel varchar not null,
    amazon_order_id varchar,
    reason varchar not null,
    quarantined_at timestamp not null
);

create table if not exists accounts (
    account_id varchar not null,
    account_name varchar,
    is_placeholder boolean not null,
    is_business boolean not null default false,
    source_updated_at timestamp
);

insert into accounts (account_id, account_name, is_placeholder)
select 'ACC-PENDING', 'Amazon Pending Account', true
where not exists (select 1 from accounts where account_id = 'ACC-PENDING');

create table if not exists contacts (
    contact_id varchar not null,
    account_id varchar not null,
    full_name varchar,
    email varchar,
    phone varchar,
    address_line1 varchar,
    address_line2 varchar,
    address_line3 varchar,
    city varchar,
    state varchar,
    postal_code varchar,
    country_code varchar,
    source_updated_at timestamp
);

create table if not exists products (
    product_id varchar not null,
    product_code varchar not null,
    product_name varchar not null,
    list_price decimal(18, 2),
    is_placeholder boolean not null
);

create table if not exists orders (
    order_id varchar not null,
    channel varchar not null,
    channel_order_id varchar not null,
    marketplace_id varchar,
    status varchar not null,
    payment_status varchar not null,
    account_id varchar not null,
    contact_id varchar,
    fulfilled_by varchar,
    currency varchar,
    total_amount decimal(18, 2),
    purchased_at timestamp not null,
    amazon_updated_at timestamp not null,
    is_shipped boolean not null,
    is_business boolean not null,
    source_ingest_id bigint not null
);

create table if not exists order_lines (
    order_id varchar not null,
    line_number integer not null,
    line_type varchar not null,
    product_id varchar,
    product_code varchar,
    description varchar,
    quantity integer not null,
    canceled_quantity integer not null,
    unit_price decimal(18, 2),
    line_amount decimal(18, 2),
    notes varchar,
    amazon_order_item_id varchar
);

create table if not exists inventory_movements (
    movement_id bigint not null,
    product_id varchar,
    product_code varchar not null,
    order_id varchar,
    quantity_delta integer not null,
    reason varchar not null,
    created_at timestamp not null
);

create table if not exists shipments (
    shipment_id varchar primary key,
    order_id varchar not null unique,
    shipped_at timestamp not null
);

-- What Amazon had cancelled when the order was marked shipped here: only that stock comes back.
create table if not exists shipment_lines (
    shipment_id varchar not null,
    order_id varchar not null,
    product_code varchar not null,
    canceled_quantity_at_ship integer not null
);

create table if not exists sales_returns (
    return_id varchar primary key,
    order_id varchar not null,
    created_at timestamp not null,
    reason varchar
);

create table if not exists sales_return_lines (
    return_id varchar not null,
    line_number integer not null,
    product_code varchar not null,
    quantity integer not null,
    is_restocked boolean not null
);

create or replace view inventory as
select
    product_code,
    sum(quantity_delta)::bigint as on_hand
from inventory_movements
group by product_code;

-- ISO 4217 codes: an amount in any other currency is quarantined.
create or replace table iso_currencies as
select unnest(string_split(
    'AED,AFN,ALL,AMD,ANG,AOA,ARS,AUD,AWG,AZN,BAM,BBD,BDT,BGN,BHD,BIF,BMD,BND,BOB,BRL,BSD,BTN,BWP,BYN,'
    || 'BZD,CAD,CDF,CHF,CLP,CNY,COP,CRC,CUP,CVE,CZK,DJF,DKK,DOP,DZD,EGP,ERN,ETB,EUR,FJD,FKP,GBP,GEL,'
    || 'GHS,GIP,GMD,GNF,GTQ,GYD,HKD,HNL,HTG,HUF,IDR,ILS,INR,IQD,IRR,ISK,JMD,JOD,JPY,KES,KGS,KHR,KMF,'
    || 'KPW,KRW,KWD,KYD,KZT,LAK,LBP,LKR,LRD,LSL,LYD,MAD,MDL,MGA,MKD,MMK,MNT,MOP,MRU,MUR,MVR,MWK,MXN,'
    || 'MYR,MZN,NAD,NGN,NIO,NOK,NPR,NZD,OMR,PAB,PEN,PGK,PHP,PKR,PLN,PYG,QAR,RON,RSD,RUB,RWF,SAR,SBD,'
    || 'SCR,SDG,SEK,SGD,SHP,SLE,SOS,SRD,SSP,STN,SYP,SZL,THB,TJS,TMT,TND,TOP,TRY,TTD,TWD,TZS,UAH,UGX,'
    || 'USD,UYU,UZS,VES,VND,VUV,WST,XAF,XCD,XOF,XPF,YER,ZAR,ZMW,ZWL', ',')) as currency_code;
