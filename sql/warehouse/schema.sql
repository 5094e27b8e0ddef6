-- The warehouse: landing tables, sync state, local inputs (catalog, shipments, returns), reference
-- tables, id formulas and the core order-management tables. Every statement is idempotent, so
-- opening a warehouse migrates it. The comments on tables and columns are the one description of
-- each: the Dagster UI, the pandera contracts and the README's table reference read them.
-- Keys of the large tables are enforced by the asset checks rather than indexes: ART indexes
-- make bulk merges slow and memory-hungry.

create sequence if not exists ingest_seq;

-- landing and state ---------------------------------------------------------------------------

create table if not exists channels (
    channel varchar primary key,
    marketplace_ids varchar[] not null,
    start_at timestamp not null,
    endpoint varchar,
    token_url varchar,
    created_at timestamp not null,
    removed_at timestamp
);

-- warehouses created before a channel could be removed
alter table channels add column if not exists removed_at timestamp;
-- the seller's Merchant Token: an ORDER_CHANGE notification about the channel's orders carries it
alter table channels add column if not exists seller_id varchar;

-- One row per channel: the committed watermark and, while a window is being paged, where it stands.
create table if not exists channel_sync_state (
    channel varchar primary key,
    watermark timestamp not null,
    window_after timestamp,
    window_before timestamp,
    next_token varchar,
    token_received_at timestamp,
    rate_tokens double,
    rate_checked_epoch double,
    rate_per_second double
);

-- warehouses created before these were kept
alter table channel_sync_state add column if not exists rate_per_second double;
alter table channel_sync_state add column if not exists token_received_at timestamp;

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

-- The digest of the schema.sql last applied: a warehouse opened again without a change skips it.
create table if not exists applied_schema (
    digest varchar not null
);

-- Set in the transaction that redacts PII; cleared in the rewritten file that replaces this one, so
-- an interrupted rewrite is done again by the next purge.
create table if not exists pending_rewrites (
    reason varchar not null,
    requested_at timestamp not null
);

-- The orders the last transform wrote: the asset checks read those rows.
create table if not exists last_transform_orders (
    order_id varchar
);

-- Work tables of one connection: the orders whose stock the ledger books next, and the versions
-- the table contracts refused in this transform.
create temp table if not exists ledger_scope (
    order_id varchar
);

create temp table if not exists contract_rejections (
    order_id varchar,
    reason varchar
);

-- reference tables and id formulas --------------------------------------------------------------

-- Amazon's fulfillment statuses and what they mean here. Pending orders have no buyer or prices
-- yet: they sit under the Amazon Pending Account and are Unpaid. Final orders keep their buyer's
-- details only for the retention period.
create or replace table order_statuses as
select * from (values
    ('PENDING_AVAILABILITY', 'Pending Availability', true, false, false),
    ('PENDING', 'Pending', true, false, false),
    ('UNSHIPPED', 'Unshipped', false, false, false),
    ('PARTIALLY_SHIPPED', 'Partially Shipped', false, false, false),
    ('SHIPPED', 'Shipped', false, true, false),
    ('CANCELLED', 'Canceled', false, true, true),
    ('UNFULFILLABLE', 'Unfulfillable', false, false, false)
) as statuses(amazon_status, status, is_pending, is_final, is_canceled);

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

-- Local ids are stable: a pure function of Amazon's keys, the same after a rebuild.
create or replace macro order_id_for(channel, amazon_order_id) as
    'SO-' || substr(md5(channel || '|' || amazon_order_id), 1, 16);
create or replace macro product_id_for(product_code) as
    'PRD-' || substr(md5(product_code), 1, 16);
create or replace macro account_id_for(buyer_key) as
    'ACC-' || substr(md5(buyer_key), 1, 16);
create or replace macro contact_id_for(buyer_key) as
    'CON-' || substr(md5(buyer_key), 1, 16);
create or replace macro shipment_id_for(order_id) as
    'SHP-' || substr(order_id, 4);

-- Amazon's proceeds breakdowns: the amount of one category (null when it has none), and of one
-- subtype of a category's detailed breakdowns.
create or replace macro proceeds_of(breakdowns, kind) as
    list_sum(list_transform(list_filter(breakdowns, lambda b: b.type = kind),
                            lambda b: try_cast(b.subtotal.amount as decimal(18, 2))));
create or replace macro unreadable_amounts(breakdowns) as
    len(list_filter(breakdowns, lambda b: b.subtotal.amount is not null
                                          and try_cast(b.subtotal.amount as decimal(18, 2)) is null));
-- An amount finer than the cent, which the amounts' decimal(18, 2) would round: not imported as another amount.
create or replace macro finer_than_cents(amount) as
    try_cast(amount as decimal(18, 2)) is distinct from try_cast(amount as decimal(38, 18))
    and try_cast(amount as decimal(18, 2)) is not null;
create or replace macro amounts_finer_than_cents(breakdowns) as
    len(list_filter(breakdowns, lambda b: finer_than_cents(b.subtotal.amount)));
create or replace macro detailed_proceeds_of(breakdowns, kind, part) as
    list_sum(list_transform(
        flatten(list_transform(list_filter(breakdowns, lambda b: b.type = kind), lambda b: b.detailedBreakdowns)),
        lambda d: if(d.subtype = part, try_cast(d.value.amount as decimal(18, 2)), null)));

-- Where an order's stock is: the seller's own warehouse, or Amazon's fulfilment centres for orders
-- fulfilled by Amazon (FBA stock belongs to the channel, the seller account in one region).
-- Notifications are for speed, the poll for truth. An order version landed from a notification counts
-- until the poll has spoken: no version of its order fetched by a later poll has landed, and the poll's
-- windows have not passed its time by 5 minutes (extract's OVERLAP: Amazon may list a change that late).
create or replace macro is_notification_version(run_id) as coalesce(run_id, '') like 'notification:%';
create or replace macro notification_version_counts(ingest_id, changed_at, last_polled_ingest_id, watermark) as
    ingest_id > coalesce(last_polled_ingest_id, 0)
    and (watermark is null or watermark < changed_at + interval 5 minute);

create or replace macro location_for(fulfilled_by) as
    if(fulfilled_by = 'AMAZON', 'amazon_fba', 'warehouse');
create or replace macro channel_of_location(fulfilled_by, channel) as
    if(fulfilled_by = 'AMAZON', channel, null);

-- the core tables -------------------------------------------------------------------------------

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
    items_amount decimal(18, 2),
    shipping_amount decimal(18, 2),
    gift_wrap_amount decimal(18, 2),
    tax_amount decimal(18, 2),
    discount_amount decimal(18, 2),
    other_amount decimal(18, 2),
    total_amount decimal(18, 2),
    unreconciled_amount decimal(18, 2),
    has_cancel_request boolean not null default false,
    replaced_channel_order_id varchar,
    replacement_type varchar,
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
    shipped_quantity integer not null default 0,
    unit_price decimal(18, 2),
    line_amount decimal(18, 2),
    shipping_amount decimal(18, 2),
    tax_amount decimal(18, 2),
    discount_amount decimal(18, 2),
    has_cancel_request boolean not null default false,
    cancel_request_reason varchar,
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
    created_at timestamp not null,
    location varchar not null default 'warehouse',
    channel varchar
);

-- Amazon's FBA stock as getInventorySummaries reported it: every summary as sent, then its quantities.
create sequence if not exists fba_snapshot_seq;
create table if not exists fba_snapshots (
    snapshot_id bigint not null,
    channel varchar not null,
    summaries integer not null,
    counted_at timestamp not null,
    raw_orders_seen bigint not null
);
create table if not exists raw_fba_inventory (
    snapshot_id bigint not null,
    channel varchar not null,
    marketplace_id varchar not null,
    payload json not null,
    fetched_at timestamp not null
);
create table if not exists fba_inventory (
    snapshot_id bigint not null,
    channel varchar not null,
    marketplace_id varchar not null,
    seller_sku varchar not null,
    asin varchar,
    fulfillable_quantity integer not null,
    pending_customer_order_quantity integer not null,
    reserved_quantity integer not null,
    inbound_quantity integer not null,
    unfulfillable_quantity integer not null,
    amazon_updated_at varchar,
    fetched_at timestamp not null,
    pool varchar,
    is_counted boolean not null default true
);
-- warehouses made before Pan-European stock was counted once: each of their rows counted
alter table fba_inventory add column if not exists pool varchar;
alter table fba_inventory add column if not exists is_counted boolean default true;
-- The summaries of each count that could not be read (no sellerSku, a quantity that is not a whole
-- number ...): kept raw in raw_fba_inventory, left out of the count, and told in status and a check.
create table if not exists fba_inventory_quarantine (
    snapshot_id bigint not null,
    channel varchar not null,
    marketplace_id varchar not null,
    summary_key varchar not null,  -- the sellerSku, else the fnSku or ASIN, else the summary's hash
    seller_sku varchar,
    reason varchar not null
);

-- Orders Amazon sent for another sales channel (Amazon fulfilling them from FBA stock): kept raw,
-- counted, never sales orders of this channel.
create table if not exists other_channel_orders (
    ingest_id bigint not null,
    channel varchar not null,
    amazon_order_id varchar not null,
    sales_channel varchar not null
);

create table if not exists shipments (
    shipment_id varchar primary key,
    order_id varchar not null unique,
    shipped_at timestamp not null
);

-- What Amazon had cancelled when the order was marked shipped here (only that stock comes back),
-- and how many units left.
create table if not exists shipment_lines (
    shipment_id varchar not null,
    order_id varchar not null,
    product_code varchar not null,
    canceled_quantity_at_ship integer not null,
    shipped_quantity integer
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

-- Amazon's returns reports (Reports API): each document as downloaded, each of its rows, where each
-- report type has got to, and each Amazon return with the sales return it became.
create table if not exists returns_sync_state (
    channel varchar not null,
    report_type varchar not null,
    reached_until timestamp not null,
    primary key (channel, report_type)
);
create table if not exists raw_report_documents (
    report_id varchar primary key,
    channel varchar not null,
    report_type varchar not null,
    data_start timestamp not null,
    data_end timestamp not null,
    processing_status varchar not null,
    report_document_id varchar,
    sha256 varchar,
    document varchar,  -- no longer kept (its rows are, in raw_report_rows); a warehouse's older reports have it
    fetched_at timestamp not null,
    header json,
    encoding varchar,
    document_bytes bigint,
    refusal varchar,
    refused_at_bound bigint
);
create table if not exists raw_report_rows (
    report_id varchar not null,
    line_number integer not null,
    fields json not null,
    primary key (report_id, line_number)
);
create table if not exists amazon_returns (
    channel varchar not null,
    report_type varchar not null,
    return_key varchar not null,  -- Amazon RMA ID (merchant-fulfilled) or license plate number (FBA)
    channel_order_id varchar not null,
    seller_sku varchar not null,
    quantity integer not null,
    returned_at timestamp not null,
    reason varchar,
    disposition varchar,
    amazon_status varchar,
    report_id varchar not null,
    line_number integer not null,
    return_id varchar not null,
    is_matched boolean not null,
    imported_at timestamp not null,
    primary key (channel, report_type, return_key, channel_order_id, seller_sku)
);
create table if not exists returns_quarantine (
    channel varchar not null,
    report_type varchar not null,
    row_key varchar not null,  -- the return line's key (return key|order|SKU), or the row's hash when unreadable
    report_id varchar not null,
    line_number integer not null,
    reason varchar not null,
    quarantined_at timestamp not null,
    kind varchar not null default 'not_held',
    channel_order_id varchar,
    seller_sku varchar,
    order_state varchar not null default '',
    tried_at timestamp,
    primary key (channel, report_type, row_key)
);

-- ORDER_CHANGE notifications: where a channel's arrive, every message as received, and how far they got.
create table if not exists channel_notifications (
    channel varchar primary key,
    queue_url varchar not null,
    queue_arn varchar not null,
    destination_id varchar not null,
    subscription_id varchar not null,
    subscribed_at timestamp not null
);
create table if not exists raw_notifications (
    notification_id varchar primary key,  -- NotificationId, or sqs:MessageId for a message without one
    channel varchar not null,
    body varchar not null,
    received_at timestamp not null,
    amazon_order_id varchar,
    changed_at timestamp,
    outcome varchar not null,  -- applied, stale, ignored or rejected
    reason varchar,
    ingest_id bigint  -- the order version it became in raw_amazon_orders
);
create table if not exists notification_state (
    channel varchar primary key,
    last_received_at timestamp not null,
    newest_change_at timestamp
);

-- warehouses made before these were kept: a shipment's units are what was not cancelled then
alter table order_lines add column if not exists shipped_quantity integer default 0;
alter table order_lines add column if not exists shipping_amount decimal(18, 2);
alter table order_lines add column if not exists tax_amount decimal(18, 2);
alter table order_lines add column if not exists discount_amount decimal(18, 2);
alter table order_lines add column if not exists has_cancel_request boolean default false;
alter table order_lines add column if not exists cancel_request_reason varchar;
alter table orders add column if not exists items_amount decimal(18, 2);
alter table orders add column if not exists shipping_amount decimal(18, 2);
alter table orders add column if not exists gift_wrap_amount decimal(18, 2);
alter table orders add column if not exists tax_amount decimal(18, 2);
alter table orders add column if not exists discount_amount decimal(18, 2);
alter table orders add column if not exists other_amount decimal(18, 2);
alter table orders add column if not exists unreconciled_amount decimal(18, 2);
alter table orders add column if not exists has_cancel_request boolean default false;
alter table orders add column if not exists replaced_channel_order_id varchar;
alter table orders add column if not exists replacement_type varchar;
alter table inventory_movements add column if not exists location varchar default 'warehouse';
alter table sales_returns add column if not exists source varchar default 'clerk';
alter table sales_returns add column if not exists status varchar default 'received';
alter table sales_returns add column if not exists location varchar default 'warehouse';
alter table sales_returns add column if not exists channel varchar;
alter table sales_returns add column if not exists disposition varchar;
alter table sales_returns add column if not exists received_at timestamp;
alter table sales_returns add column if not exists confirmed_by_clerk boolean default false;
alter table inventory_movements add column if not exists channel varchar;
alter table raw_report_documents add column if not exists header json;
alter table raw_report_documents add column if not exists encoding varchar;
alter table raw_report_documents add column if not exists document_bytes bigint;
alter table raw_report_documents add column if not exists refusal varchar;
alter table raw_report_documents add column if not exists refused_at_bound bigint;
alter table returns_quarantine add column if not exists kind varchar default 'not_held';
alter table returns_quarantine add column if not exists channel_order_id varchar;
alter table returns_quarantine add column if not exists seller_sku varchar;
alter table returns_quarantine add column if not exists order_state varchar default '';
alter table returns_quarantine add column if not exists tried_at timestamp;
alter table shipment_lines add column if not exists shipped_quantity integer;
update shipment_lines as s set shipped_quantity = l.quantity - s.canceled_quantity_at_ship
from (
    select order_id, product_code, sum(quantity) as quantity
    from order_lines
    where line_type = 'product' and order_id in (select order_id from shipment_lines where shipped_quantity is null)
    group by all
) as l
where s.shipped_quantity is null and l.order_id = s.order_id and l.product_code = s.product_code;

create or replace view inventory as
with

ledger as (
    select product_code, location, channel, sum(quantity_delta) as on_hand
    from inventory_movements
    group by all
),

reserved as (
    -- ordered and not cancelled, but neither shipped on Amazon nor marked shipped here yet
    select
        order_lines.product_code,
        location_for(orders.fulfilled_by) as location,
        channel_of_location(orders.fulfilled_by, orders.channel) as channel,
        sum(greatest(quantity - canceled_quantity - shipped_quantity, 0)) as reserved_quantity
    from order_lines
    inner join orders using (order_id)
    where line_type = 'product' and order_id not in (select order_id from shipments)
    group by all
)

select
    ledger.product_code,
    ledger.location,
    ledger.channel,
    ledger.on_hand::bigint as on_hand,
    coalesce(reserved.reserved_quantity, 0)::bigint as reserved_quantity
from ledger
left join reserved
    on reserved.product_code = ledger.product_code
    and reserved.location = ledger.location
    and reserved.channel is not distinct from ledger.channel;

-- what each table and column means ----------------------------------------------------------------

comment on table orders is 'One row per Amazon order: status, payment, account, totals.';
comment on column orders.order_id is 'Stable local id (SO-…), the same after a rebuild.';
comment on column orders.channel is 'The channel''s name (Agiliron''s Channel).';
comment on column orders.channel_order_id is 'Amazon''s order id (Agiliron''s Channel Order ID).';
comment on column orders.marketplace_id is 'The Amazon marketplace the order was placed in.';
comment on column orders.status is 'Pending, Pending Availability, Unshipped, Partially Shipped, Shipped, Canceled or Unfulfillable (see order_statuses).';
comment on column orders.payment_status is 'Unpaid while pending or without prices, else Paid.';
comment on column orders.account_id is 'The buyer''s account (ACC-PENDING while the order is pending).';
comment on column orders.contact_id is 'The buyer''s contact; empty while pending.';
comment on column orders.fulfilled_by is 'MERCHANT or AMAZON.';
comment on column orders.currency is 'ISO 4217 currency of the amounts.';
comment on column orders.items_amount is 'The items'' price (proceeds ITEM).';
comment on column orders.shipping_amount is 'Shipping charged (proceeds SHIPPING).';
comment on column orders.gift_wrap_amount is 'Gift wrap charged (proceeds GIFT_WRAP).';
comment on column orders.tax_amount is 'Tax (proceeds TAX).';
comment on column orders.discount_amount is 'Promotions (proceeds DISCOUNT): zero or negative.';
comment on column orders.other_amount is 'COD fee, delivery tip and other charges (proceeds COD_FEE, DELIVERY_TIP, OTHER).';
comment on column orders.total_amount is 'Amazon''s grand total; empty until Amazon fills prices in.';
comment on column orders.unreconciled_amount is 'The grand total less its components: 0 when they add up, empty without a total (the totals_reconcile check lists the others).';
comment on column orders.has_cancel_request is 'The buyer asked to cancel an item and Amazon has not cancelled it yet: do not ship before checking.';
comment on column orders.replaced_channel_order_id is 'The original order this one replaces or exchanges (Amazon''s associatedOrders).';
comment on column orders.replacement_type is 'REPLACEMENT or EXCHANGE when the order replaces another.';
comment on column orders.purchased_at is 'Amazon''s createdTime (UTC).';
comment on column orders.amazon_updated_at is 'Amazon''s lastUpdatedTime of the version shown (UTC).';
comment on column orders.is_shipped is 'Marked shipped here (amazon-orders ship).';
comment on column orders.is_business is 'An Amazon Business order with a company buyer.';
comment on column orders.source_ingest_id is 'The raw_amazon_orders version the row comes from.';

comment on table order_lines is 'Order lines: each item, then its gift wrap; placeholder lines keep Amazon''s data in notes.';
comment on column order_lines.order_id is 'The order (orders.order_id).';
comment on column order_lines.line_number is 'The line''s place: each item, then its gift wrap right after it.';
comment on column order_lines.line_type is 'product or gift_wrap.';
comment on column order_lines.product_id is 'The product (real or placeholder); empty for gift wrap.';
comment on column order_lines.product_code is 'The SKU; empty for gift wrap.';
comment on column order_lines.description is 'Amazon''s title, or "Gift wrap".';
comment on column order_lines.quantity is 'Units ordered (1 for gift wrap).';
comment on column order_lines.canceled_quantity is 'Units cancelled by Amazon (all of them when the order is Canceled).';
comment on column order_lines.shipped_quantity is 'Units Amazon reports shipped (quantityFulfilled; without it, every unit not cancelled of a Shipped order); for gift wrap, 1 once its item has shipped.';
comment on column order_lines.unit_price is 'Amazon''s unit price; for gift wrap, its charge (0 when none).';
comment on column order_lines.line_amount is 'Unit price times quantity; for gift wrap, its charge.';
comment on column order_lines.shipping_amount is 'The line''s shipping (the item''s proceeds SHIPPING).';
comment on column order_lines.tax_amount is 'The line''s tax: the item''s TAX, less what its detailed breakdown gives its gift wrap (that goes on the wrap line).';
comment on column order_lines.discount_amount is 'The line''s promotions (DISCOUNT): zero or negative; a gift wrap''s share on its own line.';
comment on column order_lines.has_cancel_request is 'The buyer asked to cancel this item and Amazon has not cancelled it yet.';
comment on column order_lines.cancel_request_reason is 'The buyer''s reason for the cancellation request.';
comment on column order_lines.notes is 'Amazon''s data (SKU, ASIN, title, unit price) while the product is a placeholder; for gift wrap, the gift message and wrap level exactly as sent.';
comment on column order_lines.amazon_order_item_id is 'Amazon''s orderItemId.';

comment on table accounts is 'Buyer accounts, plus the ''Amazon Pending Account'' placeholder.';
comment on column accounts.account_id is 'Stable local id (ACC-…): one per buyer (Amazon''s buyer email identifies a buyer), or per company for business orders.';
comment on column accounts.account_name is 'The company for business orders, else the buyer''s name.';
comment on column accounts.is_placeholder is 'The Amazon Pending Account.';
comment on column accounts.is_business is 'An Amazon Business buyer.';
comment on column accounts.source_updated_at is 'lastUpdatedTime of the order the row was taken from (the newest wins).';

comment on table contacts is 'Buyer contacts with their delivery address, from their newest order.';
comment on column contacts.contact_id is 'Stable local id (CON-…), one per buyer.';
comment on column contacts.account_id is 'The contact''s account.';
comment on column contacts.full_name is 'The buyer''s name.';
comment on column contacts.email is 'Amazon''s (anonymised) buyer email.';
comment on column contacts.phone is 'The delivery address''s phone.';
comment on column contacts.address_line1 is 'Delivery address, line 1.';
comment on column contacts.address_line2 is 'Delivery address, line 2.';
comment on column contacts.address_line3 is 'Delivery address, line 3.';
comment on column contacts.city is 'Delivery city (kept after a PII purge, for tax).';
comment on column contacts.state is 'Delivery state or region (kept after a PII purge).';
comment on column contacts.postal_code is 'Delivery postal code.';
comment on column contacts.country_code is 'Delivery country, ISO 3166 (kept after a PII purge).';
comment on column contacts.source_updated_at is 'lastUpdatedTime of the order the row was taken from (the newest wins).';

comment on table products is 'The catalog, plus ''Generic Product'' placeholders for unknown SKUs.';
comment on column products.product_id is 'Stable local id (PRD-…) of the SKU.';
comment on column products.product_code is 'The SKU.';
comment on column products.product_name is 'The catalog name, or Generic Product for a placeholder.';
comment on column products.list_price is 'The catalog''s list price.';
comment on column products.is_placeholder is 'A Generic Product created for a SKU the catalog lacks.';

comment on table inventory_movements is 'The stock ledger: order, cancel, return and adjustment movements.';
comment on column inventory_movements.movement_id is 'Ledger entry number, in booking order.';
comment on column inventory_movements.product_id is 'The product.';
comment on column inventory_movements.product_code is 'The SKU.';
comment on column inventory_movements.order_id is 'The order the movement belongs to; empty for adjustments.';
comment on column inventory_movements.quantity_delta is 'Units added to (positive) or taken from (negative) stock.';
comment on column inventory_movements.reason is 'order (a reservation), cancel, return or adjustment.';
comment on column inventory_movements.created_at is 'When the movement was booked (UTC).';
comment on column inventory_movements.location is 'warehouse (the seller''s own stock) or amazon_fba (at Amazon''s fulfilment centres).';
comment on column inventory_movements.channel is 'For amazon_fba: the channel whose FBA stock it is.';

comment on view inventory is 'Stock per product code and location: on hand (the ledger summed) and what open orders reserve of it.';
comment on column inventory.product_code is 'The SKU.';
comment on column inventory.location is 'warehouse or amazon_fba.';
comment on column inventory.channel is 'For amazon_fba: the channel whose FBA stock it is.';
comment on column inventory.on_hand is 'Units available to sell: the sum of the SKU''s movements (every order reserves its units when it arrives).';
comment on column inventory.reserved_quantity is 'Units reserved by orders not yet shipped (on Amazon or here): in the warehouse but not available.';

comment on table shipments is 'Orders marked shipped here.';
comment on table shipment_lines is 'What Amazon had cancelled of each SKU when the order was marked shipped here.';
comment on table sales_returns is 'Sales returns created from sales orders.';
comment on column sales_returns.source is 'clerk (entered here) or amazon (from Amazon''s returns reports).';
comment on column sales_returns.status is 'received, or awaiting_receipt for a merchant-fulfilled return still on its way back.';
comment on column sales_returns.location is 'Where restocked units go: warehouse, or amazon_fba for an FBA return.';
comment on column sales_returns.disposition is 'Amazon''s detailed disposition of an FBA return (SELLABLE, DAMAGED, ...).';
comment on column sales_returns.confirmed_by_clerk is 'An Amazon return that a clerk''s return command matched (no second return).';
comment on column channels.seller_id is 'The seller''s Merchant Token: an ORDER_CHANGE notification must carry it as SellerId.';
comment on table channel_notifications is 'The SQS queue a channel''s ORDER_CHANGE notifications go to, and the ids of its destination and subscription.';
comment on table raw_notifications is 'Every notification message as received, keyed by NotificationId, with what it did (applied, stale, ignored, rejected).';
comment on table notification_state is 'When each channel''s notifications last arrived, and the newest order change they carried.';
comment on table returns_sync_state is 'How far each returns report type has been read for each channel.';
comment on table raw_report_documents is 'Every returns report requested: its window, status, the document''s header, encoding, size and digest, and why it was refused when it was.';
comment on table raw_report_rows is 'Every row of every downloaded report document, with its line number.';
comment on table amazon_returns is 'One row per Amazon return, and the sales return it became or was matched to.';
comment on table returns_quarantine is 'Report rows not imported, with the reason and since when: unreadable ones until someone acts, the others tried again when their order changes.';
comment on table sales_return_lines is 'The SKUs and quantities of each sales return, and whether they went back on hand.';
comment on table order_statuses is 'Amazon''s fulfillment statuses, the status shown here, and which are pending, final or cancelled.';
comment on table raw_amazon_orders is 'Every distinct version of every order as Amazon sent it.';
comment on table other_channel_orders is 'Orders of another sales channel (NON_AMAZON) that Amazon fulfils: kept raw, not sales orders here.';
comment on table fba_snapshots is 'Each count of a channel''s FBA stock taken from Amazon: how many summaries it listed, when (the product''s clock), and the last raw order version it had seen.';
comment on table raw_fba_inventory is 'Every FBA inventory summary Amazon sent, per snapshot (one per channel and sync).';
comment on table fba_inventory is 'Amazon''s FBA quantities per snapshot, marketplace and SKU; the newest snapshot set amazon_fba on hand.';
comment on column fba_inventory.fulfillable_quantity is 'Units Amazon can pick, pack and ship now.';
comment on column fba_inventory.pending_customer_order_quantity is 'Units Amazon holds for customer orders not yet shipped.';
comment on column fba_inventory.reserved_quantity is 'All units Amazon holds back (customer orders, transfers, FC processing).';
comment on column fba_inventory.inbound_quantity is 'Units on their way in (working, shipped and receiving inbound shipments).';
comment on column fba_inventory.unfulfillable_quantity is 'Units in unsellable condition.';
comment on column fba_inventory.pool is 'The FBA stock the marketplace shares: EU for the Pan-European marketplaces (Amazon answers their pooled stock for each), else the marketplace itself.';
comment on column fba_inventory.is_counted is 'The one summary per pool and SKU whose quantities make the channel''s count (a pooled stock counts once).';
comment on table fba_inventory_quarantine is 'FBA inventory summaries a count set aside, with the reason; their payload stays in raw_fba_inventory.';
comment on table quarantine is 'Order versions that failed validation, with the reason; their payload stays in raw_amazon_orders.';

-- #28: a clerk's reason for a return Amazon's returns report brought first (its own reason is Amazon's)
alter table sales_returns add column if not exists clerk_reason varchar;
comment on column sales_returns.clerk_reason is 'What the clerk said confirming a return Amazon''s returns report brought (the reason column keeps Amazon''s).';
