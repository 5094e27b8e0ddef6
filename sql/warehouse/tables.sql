-- The warehouse's tables: landing tables, sync state, local inputs (catalog, shipments, returns) and the
-- core order-management tables. Every statement is idempotent, so opening a warehouse migrates it; what
-- each table and column means is in docs.yml.
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

-- The digest of the schema (sql/warehouse/) last applied: a warehouse opened again without a change skips it.
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

-- what an analyst asks of orders without reading Amazon's JSON
alter table orders add column if not exists marketplace_name varchar;
alter table orders add column if not exists shipped_at timestamp;
alter table order_lines add column if not exists net_line_amount decimal(18, 2);

-- a clerk's reason for a return Amazon's returns report brought first (its own reason is Amazon's)
alter table sales_returns add column if not exists clerk_reason varchar;

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

-- stock pushed back to Amazon ---------------------------------------------------------------------
-- What is held back from a channel's listings: a channel's row (product_code '') for all its SKUs, a SKU's row
-- for one SKU (each of its set fields overrides the channel's).
create table if not exists stock_buffers (
    channel varchar not null,
    product_code varchar not null,
    buffer_units integer,
    buffer_percent decimal(5, 2),
    max_listed integer,
    updated_at timestamp not null
);
-- Per channel: how far the ledger has been read for marks, and the Listings usage plan as last seen.
create table if not exists stock_push_state (
    channel varchar primary key,
    movements_seen bigint not null default 0,
    listings_read_at timestamp,
    rate_tokens double,
    rate_checked_epoch double,
    rate_per_second double
);
-- SKUs whose stock changed since their last push to a channel (a ledger movement marks them).
create table if not exists stock_marks (
    channel varchar not null,
    product_code varchar not null,
    marked_at timestamp not null,
    primary key (channel, product_code)
);
-- The channel's listings as Amazon answered searchListingsItems: one row per pool and seller SKU.
create table if not exists amazon_listings (
    channel varchar not null,
    pool varchar not null,
    seller_sku varchar not null,
    marketplace_ids varchar[] not null,
    is_merchant_fulfilled boolean not null,
    listed_quantity integer,
    read_at timestamp not null
);
-- Every answer Amazon gave to a pushed quantity, appended once the answer is in.
create table if not exists stock_pushes (
    channel varchar not null,
    pool varchar not null,
    seller_sku varchar not null,
    quantity integer not null,
    status varchar not null,
    submission_id varchar,
    issues json,
    via varchar not null,
    marked_at timestamp,
    pushed_at timestamp not null
);
-- JSON_LISTINGS_FEEDs sent, and what their processing report said.
create table if not exists stock_feeds (
    channel varchar not null,
    feed_id varchar not null,
    document_id varchar,
    skus integer not null,
    status varchar not null,
    created_at timestamp not null,
    checked_at timestamp,
    report json
);

-- Listings found drifting from the last accepted push when the channel's listings were last read back.
create table if not exists stock_drift (
    channel varchar not null,
    pool varchar not null,
    seller_sku varchar not null,
    pushed integer,
    listed_quantity integer,
    ordered_since bigint,
    read_at timestamp not null
);

-- Packages confirmed to Amazon (Orders API v0 confirmShipment), one per parcel shipped here: its state on the
-- way to Amazon, and its lines by Amazon's orderItemId.
create table if not exists packages (
    package_id varchar primary key,
    order_id varchar not null,
    package_reference_id varchar not null,
    carrier_code varchar not null,
    carrier_name varchar,
    shipping_method varchar,
    tracking_number varchar not null,
    ship_date timestamp not null,
    state varchar not null,
    error_code varchar,
    error_message varchar,
    attempts integer not null default 0,
    created_at timestamp not null,
    sent_at timestamp,
    confirmed_at timestamp,
    unique (order_id, package_reference_id)
);
create table if not exists package_lines (
    package_id varchar not null,
    order_id varchar not null,
    amazon_order_item_id varchar not null,
    product_code varchar not null,
    quantity integer not null
);

-- The order sync_runs rows were recorded in: a sync that found nothing to do records its run in the same instant
-- of the clock as a failed one just before it, and the later is the channel's last sync (#28).
create sequence if not exists sync_run_seq;
alter table sync_runs add column if not exists recorded_seq bigint default nextval('sync_run_seq');

-- The published copy's last failure, while it lasts: one row, gone at the next copy written (#28)
create table if not exists publish_failures (
    failed_since timestamp not null,
    failed_at timestamp not null,
    error varchar not null
);
