"""The bare-DuckDB baseline of a rebuild: read the same raw rows, write the same number of rows.

Two `create table as select` statements parse each payload with DuckDB's JSON functions and write
an orders-like table (one row per raw version, ~15 fields) and a lines-like table (one row per
item plus one per gift-wrapped item, like order_lines) with plain projections and casts: no
versioning, validation, identity resolution, ledger or pandas. Whatever the product spends above
this is the cost of its rules.
"""

from __future__ import annotations

import time

import duckdb


def _amount(breakdowns: str, kind: str) -> str:
    """A proceeds category's amount, as plain DuckDB list functions."""
    return (
        f"list_sum(list_transform(list_filter({breakdowns}, lambda b: b.type = '{kind}'), "
        "lambda b: try_cast(b.subtotal.amount as decimal(18, 2))))"
    )


ORDERS_LIKE = f"""
create or replace table bench_baseline_orders as
with parsed as (
    select ingest_id, channel, amazon_order_id, order_payload(payload) as o
    from raw_amazon_orders
)
select
    ingest_id,
    channel,
    amazon_order_id,
    o.salesChannel.marketplaceId as marketplace_id,
    o.fulfillment.fulfillmentStatus as status,
    o.fulfillment.fulfilledBy as fulfilled_by,
    o.proceeds.grandTotal.currencyCode as currency,
    try_cast(o.proceeds.grandTotal.amount as decimal(18, 2)) as total_amount,
    {_amount("o.proceeds.breakdowns", "ITEM")} as items_amount,
    {_amount("o.proceeds.breakdowns", "SHIPPING")} as shipping_amount,
    {_amount("o.proceeds.breakdowns", "GIFT_WRAP")} as gift_wrap_amount,
    {_amount("o.proceeds.breakdowns", "TAX")} as tax_amount,
    {_amount("o.proceeds.breakdowns", "DISCOUNT")} as discount_amount,
    o.associatedOrders[1].orderId as replaced_order_id,
    o.salesChannel.channelName as sales_channel,
    try_cast(o.createdTime as timestamptz)::timestamp as purchased_at,
    try_cast(o.lastUpdatedTime as timestamptz)::timestamp as amazon_updated_at,
    o.buyer.buyerName as buyer_name,
    lower(o.buyer.buyerEmail) as buyer_email,
    o.buyer.buyerCompanyName as buyer_company,
    o.recipient.deliveryAddress.addressLine1 as address_line1,
    o.recipient.deliveryAddress.city as city,
    o.recipient.deliveryAddress.postalCode as postal_code,
    o.recipient.deliveryAddress.countryCode as country_code,
    o.recipient.deliveryAddress.phone as phone
from parsed
"""

LINES_LIKE = f"""
create or replace table bench_baseline_lines as
with parsed as (
    select ingest_id, order_payload(payload) as o from raw_amazon_orders
),
items as (
    select ingest_id, unnest(o.orderItems) as item, generate_subscripts(o.orderItems, 1) as item_index
    from parsed
)
select
    ingest_id,
    item_index,
    'product' as line_type,
    item.orderItemId as amazon_order_item_id,
    item.product.sellerSku as product_code,
    coalesce(item.product.title, item.product.sellerSku) as description,
    try_cast(item.quantityOrdered as integer) as quantity,
    try_cast(item.product.price.unitPrice.amount as decimal(18, 2)) as unit_price,
    {_amount("item.proceeds.breakdowns", "SHIPPING")} as shipping_amount,
    {_amount("item.proceeds.breakdowns", "TAX")} as tax_amount,
    {_amount("item.proceeds.breakdowns", "DISCOUNT")} as discount_amount,
    item.cancellation.cancellationRequest is not null as has_cancel_request,
    item.cancellation.cancellationExecution is not null as is_canceled,
    null::varchar as notes
from items
union all
select
    ingest_id,
    item_index,
    'gift_wrap',
    item.orderItemId,
    null,
    'Gift wrap',
    1,
    null,
    {_amount("item.proceeds.breakdowns", "GIFT_WRAP")},
    null,
    null,
    false,
    item.cancellation.cancellationExecution is not null,
    'Gift message: ' || coalesce(item.fulfillment.packing.giftOption.giftMessage, '')
from items
where item.fulfillment.packing.giftOption is not null
"""


def run_baseline(con: duckdb.DuckDBPyConnection) -> dict:
    """Write the two baseline tables in one transaction (as the product does), then report rows."""
    started = time.perf_counter()
    con.execute("begin transaction")
    con.execute(ORDERS_LIKE)
    con.execute(LINES_LIKE)
    con.execute("commit")
    seconds = time.perf_counter() - started
    orders = con.execute("select count(*) from bench_baseline_orders").fetchone()[0]
    lines = con.execute("select count(*) from bench_baseline_lines").fetchone()[0]
    return {"seconds": seconds, "orders_rows": orders, "lines_rows": lines}


def drop_baseline(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table if exists bench_baseline_orders")
    con.execute("drop table if exists bench_baseline_lines")
    con.execute("checkpoint")
