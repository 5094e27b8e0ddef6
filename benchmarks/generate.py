"""Synthetic raw orders in the SP-API Orders v2026-01-01 shape, written straight into a warehouse.

Everything is generated inside DuckDB: each order is a pure function of (seed, order number), so a
later version of the same order can be rendered again (``append_changes``), and the stock the
transform should end up with can be computed from the same specification (``expected``).

The payload text is byte-for-byte what ``pipelines.ingest.orders`` stores for an order the sandbox
(``pipelines.sandbox.Marketplace``) renders in the same state: ``json.dumps(order, sort_keys=True,
ensure_ascii=False)`` of the fields ``INCLUDED_DATA`` asks for. Generated string values never hold
characters JSON must escape, so the text is assembled by concatenation.

Mix (per order unless noted): ~2.5 items; 9 % PENDING, 1 % PENDING_AVAILABILITY (pre-orders),
1.5 % cancelled while pending (by Amazon, no buyer), 1.5 % cancelled after confirmation (by the
merchant), 20 % UNSHIPPED, 67 % SHIPPED; 1 % of multi-item confirmed orders have one item cancelled;
5 % of items gift-wrapped; 60 % with paid shipping; 20 % with a promotion; tax on the price, shipping and
gift wrap, its detailed breakdown saying which; 3 % of items with a SKU missing from the catalog; 10 % FBA
(whose buyers come without email or phone, as Amazon sends them); 5 % of buyers
are businesses; buyers repeat (a pool of 0.7 buyers per order); nine marketplaces in three channels,
six currencies (USD, CAD, MXN, GBP, EUR, JPY).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from pipelines.sandbox import reference, traffic
from pipelines.warehouse.channels import add_channel, get_channel
from pipelines.warehouse.ledger import append_movements

GENERATOR_VERSION = 1
SPAN_DAYS = 365
CHANNELS = {
    "Amazon NA": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"],
    "Amazon EU": ["A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4", "A1RKKUPIHCS9HS"],
    "Amazon JP": ["A1VC38T7YXB528"],
}
# each channel's marketplaces with the cumulative share of orders up to each; what the simulation knows
# of a marketplace (its name, country, currency, tax rate and price level) is the sandbox's
SHARES = {
    "ATVPDKIKX0DER": 0.40,
    "A2EUQ1WTGCTBG2": 0.48,
    "A1AM78C64UM0Y8": 0.53,
    "A1F83G8C2ARO7P": 0.65,
    "A1PA6795UKMFR9": 0.77,
    "A13V1IB3VIYZZH": 0.84,
    "APJ6JRA9NG5V4": 0.89,
    "A1RKKUPIHCS9HS": 0.94,
    "A1VC38T7YXB528": 1.00,
}
# (idx, id, name, country, currency, decimals, tax rate, usd rate, email domain, channel, cumulative share)
MARKETPLACES = [
    (
        index,
        mid,
        info.name,
        info.country,
        info.currency,
        0 if info.currency == "JPY" else 2,
        str(info.tax_rate),
        str(info.usd_rate),
        info.email_domain,
        channel,
        SHARES[mid],
    )
    for index, (channel, mid) in enumerate(((c, m) for c, ids in CHANNELS.items() for m in ids), start=1)
    for info in [reference.MARKETPLACES[mid]]
]
# the sandbox's names and places, so generated buyers look like the sandbox's
PLACES = traffic.PLACES
FIRST_NAMES = traffic.FIRST_NAMES
LAST_NAMES = traffic.LAST_NAMES
STREETS = traffic.STREETS
COMPANY_WORDS = traffic.COMPANY_WORDS
COMPANY_SUFFIXES = ["LLC", "Ltd", "GmbH", "Inc"]
GIFT_MESSAGES = traffic.GIFT_MESSAGES
CANCEL_REASON = "Buyer requested cancellation"

# the status mix: cumulative shares of a uniform draw
STATUS_CASE = """
    case
        when u_status < 0.090 then 'PENDING'
        when u_status < 0.100 then 'PENDING_AVAILABILITY'
        when u_status < 0.115 then 'CANCELLED'   -- while pending: Amazon cancels, no buyer
        when u_status < 0.130 then 'CANCELLED'   -- after confirmation: the merchant cancels
        when u_status < 0.330 then 'UNSHIPPED'
        else 'SHIPPED'
    end"""
ITEMS_CASE = """
    case when u_items < 0.25 then 1 when u_items < 0.55 then 2 when u_items < 0.80 then 3
         when u_items < 0.92 then 4 else 5 end"""  # mean 2.47
UNKNOWN_SKU_RATE = 0.03
GIFT_RATE = 0.05
ITEM_CANCEL_RATE = 0.01
FBA_RATE = 0.10
SHIPPING_RATE = 0.60  # items whose buyer pays shipping, as in the sandbox
PROMOTION_RATE = 0.20  # items with a promotion (a tenth off)
BUSINESS_RATE = 0.05
BUYERS_PER_ORDER = 0.7


@dataclass
class GeneratorParams:
    n_orders: int
    seed: int = 1
    anchor: datetime | None = None  # naive UTC: the newest createdTime; default two days ago
    span_days: int = SPAN_DAYS
    catalog_size: int = 0  # 0: n_orders / 50, between 200 and 20,000
    unknown_pool: int = 0  # distinct SKUs missing from the catalog; 0: catalog_size / 10

    def resolved(self) -> GeneratorParams:
        anchor = self.anchor or (datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=2))
        catalog = self.catalog_size or min(20_000, max(200, self.n_orders // 50))
        return GeneratorParams(
            self.n_orders, self.seed, anchor, self.span_days, catalog, self.unknown_pool or max(20, catalog // 10)
        )

    @property
    def channel_start(self) -> datetime:
        return self.anchor - timedelta(days=self.span_days + 1)


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _setup(con: duckdb.DuckDBPyConnection, p: GeneratorParams) -> None:
    """Temp macros and lookup tables the generator's SQL uses (per connection)."""
    seed = int(p.seed)
    con.execute(f"create or replace temp macro bh(a, b) as (hash(a, b, {seed}) >> 1)::bigint")
    con.execute("create or replace temp macro bu(a, b) as (bh(a, b) % 1000000000)::double / 1e9")
    # money in minor units -> {"amount": "..", "currencyCode": ".."}, as the sandbox writes it
    con.execute("""
        create or replace temp macro bench_amount(m, dec) as
            case when dec = 0 then m::varchar
                 else if(m < 0, '-', '') || (abs(m) // 100)::varchar || '.' || lpad((abs(m) % 100)::varchar, 2, '0') end
    """)
    con.execute("""
        create or replace temp macro bench_money(m, dec, cur) as
            '{"amount": "' || bench_amount(m, dec) || '", "currencyCode": "' || cur || '"}'
    """)
    rows = ", ".join(
        f"({i}, '{mid}', '{name}', '{country}', '{cur}', {dec}, {tax}::decimal(6, 4), {usd}::decimal(10, 4), "
        f"'{domain}', '{channel}', {share})"
        for i, mid, name, country, cur, dec, tax, usd, domain, channel, share in MARKETPLACES
    )
    con.execute(f"""
        create or replace temp table bench_marketplaces as
        select * from (values {rows}) as t(mp_idx, marketplace_id, marketplace_name, country, currency, decimals,
                                           tax_rate, usd_rate, email_domain, channel, share)
    """)
    place_rows = ", ".join(
        f"('{country}', {k}, '{city}', '{state}', '{postal}', '{prefix}', {len(places)})"
        for country, places in PLACES.items()
        for k, (city, state, postal, prefix) in enumerate(places)
    )
    con.execute(f"""
        create or replace temp table bench_places as
        select * from (values {place_rows}) as t(country, k, city, state, postal_code, phone_prefix, n_places)
    """)
    con.execute("create table if not exists bench_changes (n bigint, status varchar, updated timestamp, batch integer)")


def _spec_sql(p: GeneratorParams, source: str) -> str:
    """One row per order number in `source` (a relation with column n), in its current state."""
    anchor = p.anchor.strftime("%Y-%m-%d %H:%M:%S")
    span = p.span_days * 86400
    buyers = max(1, int(p.n_orders * BUYERS_PER_ORDER))
    n = max(1, p.n_orders)
    return f"""
    with src as (
        select n,
            bu(n, 'status') as u_status, bu(n, 'items') as u_items, bu(n, 'mp') as u_mp,
            bu(n, 'fba') as u_fba, bu(n, 'icancel') as u_icancel, bh(n, 'buyer') % {buyers} as buyer_no,
            timestamp '{anchor}' - to_seconds({span} - (n * {span}) // {n}) as created_ts
        from ({source})
    ),
    base as (
        select src.*,
            {STATUS_CASE} as base_status,
            u_status >= 0.100 and u_status < 0.115 as cancelled_while_pending,
            {ITEMS_CASE} as n_items,
            case when u_mp < 0.40 then 1 when u_mp < 0.48 then 2 when u_mp < 0.53 then 3 when u_mp < 0.65 then 4
                 when u_mp < 0.77 then 5 when u_mp < 0.84 then 6 when u_mp < 0.89 then 7 when u_mp < 0.94 then 8
                 else 9 end as mp_idx
        from src
    ),
    latest_change as (
        select n, status, updated from bench_changes
        qualify row_number() over (partition by n order by batch desc) = 1
    ),
    state as (
        select base.*,
            coalesce(c.status, base.base_status) as status,
            coalesce(
                c.updated,
                created_ts + case base_status
                    when 'UNSHIPPED' then to_seconds(60 + bh(n, 'dt') % 540)
                    when 'SHIPPED' then to_seconds(3600 + bh(n, 'dt') % 82800)
                    when 'CANCELLED' then to_seconds(600 + bh(n, 'dt') % 21000)
                    else interval 0 second end
            ) as updated_ts
        from base left join latest_change as c using (n)
    )
    select
        state.n,
        state.status,
        -- confirmed: Amazon has filled in buyer, recipient and prices
        state.status in ('UNSHIPPED', 'PARTIALLY_SHIPPED', 'SHIPPED')
            or (state.status = 'CANCELLED' and not (state.base_status = 'CANCELLED' and cancelled_while_pending))
            as confirmed,
        case when state.status = 'CANCELLED'
             then case when state.base_status = 'CANCELLED' and cancelled_while_pending then 'AMAZON' else 'MERCHANT' end
        end as cancelled_by,
        state.n_items,
        state.status in ('UNSHIPPED', 'SHIPPED') and state.n_items > 1 and u_icancel < {ITEM_CANCEL_RATE}
            as has_item_cancel,
        1 + bh(n, 'icancel_idx') % state.n_items as cancelled_item,
        case when u_fba < {FBA_RATE} then 'AMAZON' else 'MERCHANT' end as fulfilled_by,
        printf('%03d-%07d-%07d', 100 + bh(n, 'oid1') % 900, bh(n, 'oid2') % 10000000,
               (n * 3141593) % 10000000) as order_id,
        strftime(created_ts, '%Y-%m-%dT%H:%M:%SZ') as created_time,
        -- as the sandbox promises: shipped within two days of the purchase
        strftime(created_ts + interval 2 day, '%Y-%m-%dT%H:%M:%SZ') as ship_by_time,
        strftime(updated_ts, '%Y-%m-%dT%H:%M:%SZ') as updated_time,
        updated_ts,
        m.marketplace_id, m.marketplace_name, m.country, m.currency, m.decimals, m.tax_rate, m.usd_rate,
        m.channel,
        buyer_no,
        bu(buyer_no, 'business') < {BUSINESS_RATE} as business,
        {_sql_list(FIRST_NAMES)}[1 + bh(buyer_no, 'first') % {len(FIRST_NAMES)}] || ' '
            || {_sql_list(LAST_NAMES)}[1 + bh(buyer_no, 'last') % {len(LAST_NAMES)}] as buyer_name,
        substr(md5('buyer:' || buyer_no), 1, 14) || '@' || m.email_domain as buyer_email,
        {_sql_list(COMPANY_WORDS)}[1 + bh(buyer_no, 'cw') % {len(COMPANY_WORDS)}] || ' '
            || {_sql_list(COMPANY_SUFFIXES)}[1 + bh(buyer_no, 'cs') % {len(COMPANY_SUFFIXES)}] as company,
        (1 + bh(buyer_no, 'street_no') % 999)::varchar || ' '
            || {_sql_list(STREETS)}[1 + bh(buyer_no, 'street') % {len(STREETS)}] as address_line1,
        pl.city, pl.state, pl.postal_code,
        pl.phone_prefix || ' ' || (100 + bh(buyer_no, 'ph1') % 900)::varchar || ' '
            || (1000 + bh(buyer_no, 'ph2') % 9000)::varchar as phone
    from state
    inner join bench_marketplaces as m using (mp_idx)
    inner join bench_places as pl on pl.country = m.country and pl.k = bh(buyer_no, 'place') % pl.n_places
    """


def _items_sql(p: GeneratorParams, spec: str) -> str:
    """One row per item of the orders in relation `spec`, with its prices in minor units."""
    return f"""
    with lines as (
        select spec.*, unnest(range(1, spec.n_items + 1)) as item_index from {spec} as spec
    ),
    picked as (
        select lines.*,
            bu(n * 8 + item_index, 'unknown') < {UNKNOWN_SKU_RATE} as unknown_sku,
            -- popular SKUs sell more: a skewed draw, then distinct SKUs within the order
            (floor({p.catalog_size} * pow(bu(n, 'sku'), 2))::bigint + (item_index - 1) * 37) % {p.catalog_size}
                as sku_no,
            [1, 1, 1, 1, 2, 2, 3][1 + bh(n * 8 + item_index, 'qty') % 7] as quantity,
            bu(n * 8 + item_index, 'gift') < {GIFT_RATE} as gift,
            bu(n * 8 + item_index, 'ship') < {SHIPPING_RATE} as paid_shipping,
            bu(n * 8 + item_index, 'promo') < {PROMOTION_RATE} as promoted,
            {_sql_list(GIFT_MESSAGES)}[1 + bh(n * 8 + item_index, 'gmsg') % {len(GIFT_MESSAGES)}] as gift_message,
            ['STANDARD', 'PREMIUM'][1 + bh(n * 8 + item_index, 'glvl') % 2] as gift_wrap_level,
            (10000000000000 + ((n * 8 + item_index)::hugeint * 1442695040888963407) % 90000000000000)::varchar
                as order_item_id,
            has_item_cancel and item_index = cancelled_item as item_cancelled
        from lines
    ),
    priced as (
        select picked.*,
            case when unknown_sku then 'UNKNOWN-' || lpad((bh(n * 8 + item_index, 'unk_no') % {p.unknown_pool})::varchar, 6, '0')
                 else 'SKU-' || lpad(sku_no::varchar, 5, '0') end as sku
        from picked
    ),
    final as (
        select priced.*,
            'B0' || upper(substr(md5('asin:' || sku), 1, 8)) as asin,
            'Sandbox Product ' || sku as title,
            round((500 + (hash('price:' || sku) % 9500)::bigint) * usd_rate * (case when decimals = 0 then 1 else 100 end) / 100)::bigint
                as unit_minor,
            round(499 * usd_rate * (case when decimals = 0 then 1 else 100 end) / 100)::bigint as gift_minor,
            case when paid_shipping
                then round(399 * usd_rate * (case when decimals = 0 then 1 else 100 end) / 100)::bigint else 0 end
                as shipping_minor
        from priced
    ),
    charged as (
        select final.*,
            unit_minor * quantity as item_minor,
            case when promoted then round(unit_minor * quantity / 10)::bigint else 0 end as discount_minor,
            case when gift then gift_minor else 0 end as wrap_minor
        from final
    )
    select charged.*,
        round((item_minor - discount_minor) * tax_rate)::bigint as item_tax_minor,
        round(shipping_minor * tax_rate)::bigint as shipping_tax_minor,
        round(wrap_minor * tax_rate)::bigint as wrap_tax_minor,
        round((item_minor - discount_minor) * tax_rate)::bigint + round(shipping_minor * tax_rate)::bigint
            + round(wrap_minor * tax_rate)::bigint as tax_minor,
        case when item_cancelled or status = 'CANCELLED' then 0 else quantity end as open_quantity
    from charged
    """


ORDER_JSON = """
    '{'
    || '"associatedOrders": [], '
    || case when s.confirmed then '"buyer": {'
        || case when s.business then '"buyerCompanyName": "' || s.company || '", ' else '' end
        || case when s.fulfilled_by = 'MERCHANT' then '"buyerEmail": "' || s.buyer_email || '", ' else '' end
        || '"buyerName": "' || s.buyer_name || '"}, ' else '' end
    || '"createdTime": "' || s.created_time || '", '
    || '"fulfillment": {"fulfilledBy": "' || s.fulfilled_by || '", "fulfillmentServiceLevel": "STANDARD", '
    || '"fulfillmentStatus": "' || s.status || '", '
    || '"shipByWindow": {"earliestDateTime": "' || s.created_time || '", "latestDateTime": "' || s.ship_by_time || '"}}, '
    || '"lastUpdatedTime": "' || s.updated_time || '", '
    || '"orderAliases": [], '
    || '"orderId": "' || s.order_id || '", '
    || '"orderItems": [' || i.items_json || '], '
    -- a merchant-fulfilled order shipped has its package, as the sandbox's has (the seller confirmed it)
    || case when s.status = 'SHIPPED' and s.fulfilled_by = 'MERCHANT' then '"packages": [{"carrier": "UPS", '
        || '"createdTime": "' || s.updated_time || '", "packageItems": [' || coalesce(i.package_items_json, '') || '], '
        || '"packageReferenceId": "PKG-' || s.order_id || '-1", "packageStatus": {"status": "SHIPPED"}, '
        || '"shipTime": "' || s.updated_time || '", "shippingService": "UPS Ground", '
        || '"trackingNumber": "1Z' || upper(substr(md5(s.order_id), 1, 16)) || '"}], ' else '' end
    || case when s.confirmed then '"proceeds": {"breakdowns": ['
        || '{"subtotal": ' || bench_money(i.item_total, s.decimals, s.currency) || ', "type": "ITEM"}'
        || case when i.shipping_items > 0
            then ', {"subtotal": ' || bench_money(i.shipping_total, s.decimals, s.currency) || ', "type": "SHIPPING"}'
            else '' end
        || case when i.gift_items > 0
            then ', {"subtotal": ' || bench_money(i.gift_total, s.decimals, s.currency) || ', "type": "GIFT_WRAP"}'
            else '' end
        || case when i.promoted_items > 0
            then ', {"subtotal": ' || bench_money(-i.discount_total, s.decimals, s.currency) || ', "type": "DISCOUNT"}'
            else '' end
        || ', {"subtotal": ' || bench_money(i.tax_total, s.decimals, s.currency) || ', "type": "TAX"}'
        || '], "grandTotal": '
        || bench_money(i.item_total + i.shipping_total + i.gift_total - i.discount_total + i.tax_total,
                       s.decimals, s.currency) || '}, ' else '' end
    || '"programs": ['
        || case when s.status = 'PENDING_AVAILABILITY' then '"PREORDER"'
                when s.business and s.confirmed then '"AMAZON_BUSINESS"' else '' end || '], '
    || case when s.confirmed then '"recipient": {"deliveryAddress": {'
        || '"addressLine1": "' || s.address_line1 || '", '
        || '"addressType": "' || case when s.business then 'COMMERCIAL' else 'RESIDENTIAL' end || '", '
        || '"city": "' || s.city || '", '
        || case when s.business then '"companyName": "' || s.company || '", ' else '' end
        || '"countryCode": "' || s.country || '", "name": "' || s.buyer_name || '", '
        || case when s.fulfilled_by = 'MERCHANT' then '"phone": "' || s.phone || '", ' else '' end
        || '"postalCode": "' || s.postal_code || '", "stateOrRegion": "' || s.state || '"}}, ' else '' end
    || '"salesChannel": {"channelName": "AMAZON", "marketplaceId": "' || s.marketplace_id
    || '", "marketplaceName": "' || s.marketplace_name || '"}'
    || '}'"""

ITEM_JSON = f"""
    '{{'
    || case
        when it.item_cancelled then '"cancellation": {{"cancellationExecution": {{"cancelReason": "{CANCEL_REASON}", '
            || '"cancelledBy": "MERCHANT"}}, "cancellationRequest": {{"cancelReason": "{CANCEL_REASON}", '
            || '"requester": "BUYER"}}}}, '
        when it.status = 'CANCELLED' then '"cancellation": {{"cancellationExecution": {{"cancelReason": '
            || '"{CANCEL_REASON}", "cancelledBy": "' || it.cancelled_by || '"}}}}, '
        else '' end
    || '"fulfillment": {{'
    || case when it.gift then '"packing": {{"giftOption": {{"giftMessage": "' || it.gift_message
        || '", "giftWrapLevel": "' || it.gift_wrap_level || '"}}}}, ' else '' end
    || '"quantityFulfilled": ' || (case when it.status = 'SHIPPED' then it.open_quantity else 0 end)::varchar
    || ', "quantityUnfulfilled": '
    || (case when it.status in ('SHIPPED', 'CANCELLED') then 0 else it.open_quantity end)::varchar || '}}, '
    || '"orderItemId": "' || it.order_item_id || '", '
    || case when it.confirmed then '"proceeds": {{"breakdowns": ['
        || '{{"subtotal": ' || bench_money(it.item_minor, it.decimals, it.currency) || ', "type": "ITEM"}}'
        || case when it.paid_shipping then ', {{"subtotal": ' || bench_money(it.shipping_minor, it.decimals, it.currency)
            || ', "type": "SHIPPING"}}' else '' end
        || case when it.gift then ', {{"subtotal": ' || bench_money(it.gift_minor, it.decimals, it.currency)
            || ', "type": "GIFT_WRAP"}}' else '' end
        || case when it.promoted then ', {{"detailedBreakdowns": [{{"subtype": "ITEM", "value": '
            || bench_money(-it.discount_minor, it.decimals, it.currency) || '}}], "subtotal": '
            || bench_money(-it.discount_minor, it.decimals, it.currency) || ', "type": "DISCOUNT"}}' else '' end
        || ', {{"detailedBreakdowns": [{{"subtype": "ITEM", "value": '
            || bench_money(it.item_tax_minor, it.decimals, it.currency) || '}}'
            || case when it.paid_shipping then ', {{"subtype": "SHIPPING", "value": '
                || bench_money(it.shipping_tax_minor, it.decimals, it.currency) || '}}' else '' end
            || case when it.gift then ', {{"subtype": "GIFT_WRAP", "value": '
                || bench_money(it.wrap_tax_minor, it.decimals, it.currency) || '}}' else '' end
        || '], "subtotal": ' || bench_money(it.tax_minor, it.decimals, it.currency) || ', "type": "TAX"}}'
        || '], "proceedsTotal": '
        || bench_money(it.item_minor + it.shipping_minor + it.wrap_minor - it.discount_minor + it.tax_minor,
                       it.decimals, it.currency) || '}}, ' else '' end
    || '"product": {{"asin": "' || it.asin || '", "condition": {{"conditionSubtype": "NEW", "conditionType": "NEW"}}, '
    || case when it.confirmed then '"price": {{"unitPrice": ' || bench_money(it.unit_minor, it.decimals, it.currency)
        || '}}, ' else '' end
    || '"sellerSku": "' || it.sku || '", "title": "' || it.title || '"}}, '
    || '"quantityOrdered": ' || it.quantity::varchar
    || '}}'"""


def _render_sql(p: GeneratorParams, source: str) -> str:
    """Rows ready for raw_amazon_orders for the order numbers in `source`."""
    return f"""
    with spec as ({_spec_sql(p, source)}),
    items as ({_items_sql(p, "spec")}),
    per_order as (
        select it.n,
            string_agg({ITEM_JSON}, ', ' order by it.item_index) as items_json,
            string_agg('{{"orderItemId": "' || it.order_item_id || '", "quantity": ' || it.open_quantity || '}}', ', '
                       order by it.item_index) filter (where it.open_quantity > 0) as package_items_json,
            sum(it.item_minor) as item_total,
            sum(it.tax_minor) as tax_total,
            sum(it.wrap_minor) as gift_total,
            sum(it.shipping_minor) as shipping_total,
            sum(it.discount_minor) as discount_total,
            count(*) filter (where it.gift) as gift_items,
            count(*) filter (where it.paid_shipping) as shipping_items,
            count(*) filter (where it.promoted) as promoted_items
        from items as it
        group by it.n
    )
    select s.n, s.channel, s.order_id as amazon_order_id, s.updated_time as last_updated_time,
           {ORDER_JSON} as payload
    from spec as s inner join per_order as i using (n)
    """


GENERATE_BATCH = 100_000  # orders rendered per statement: bounded memory whatever the size
WORKING_MEMORY = "4GB"  # at least this much for the generator's own statements


@contextmanager
def _roomy(con: duckdb.DuckDBPyConnection):
    """Raise the connection's memory limit (the product may cap it low) while the generator works."""
    before = con.execute("select current_setting('memory_limit')").fetchone()[0]  # text, e.g. '953.6 MiB'
    con.execute(f"set memory_limit = '{WORKING_MEMORY}'")
    after = con.execute("select current_setting('memory_limit')").fetchone()[0]
    if _mib(after) < _mib(before):  # never lower a larger limit
        con.execute(f"set memory_limit = '{before}'")
    try:
        yield
    finally:
        con.execute(f"set memory_limit = '{before}'")


def _mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1024**2, "bytes": 1 / 1024**2}.get(unit, 1)


def _params(con) -> GeneratorParams:
    row = con.execute(
        "select n_orders, seed, anchor, span_days, catalog_size, unknown_pool from bench_generator"
    ).fetchone()
    if row is None:
        raise RuntimeError("this warehouse holds no generated orders")
    return GeneratorParams(*row)


def generate(con: duckdb.DuckDBPyConnection, params: GeneratorParams, *, run_id: str = "bench-generate") -> dict:
    """Write params.n_orders orders (one version each), their channels and a stocked catalog."""
    p = params.resolved()
    started = time.perf_counter()
    _setup(con, p)
    con.execute("begin transaction")
    try:
        con.execute("""
            create or replace table bench_generator (generator_version integer, n_orders bigint, seed bigint,
                anchor timestamp, span_days integer, catalog_size integer, unknown_pool integer,
                generated_at timestamp)
        """)
        con.execute(
            "insert into bench_generator values (?, ?, ?, ?, ?, ?, ?, now()::timestamp)",
            [GENERATOR_VERSION, p.n_orders, p.seed, p.anchor, p.span_days, p.catalog_size, p.unknown_pool],
        )
        con.execute("delete from bench_changes")
        for name, marketplace_ids in CHANNELS.items():
            if get_channel(con, name, missing_ok=True) is None:
                add_channel(con, name, marketplace_ids, start=p.channel_start)
        # the catalog: every known SKU, stocked with 100..999 units
        con.execute(f"""
            insert into products
            select product_id_for(code), code, 'Product ' || code,
                   ((500 + (hash('price:' || code) % 9500)::bigint) / 100)::decimal(18, 2), false
            from (select 'SKU-' || lpad(range::varchar, 5, '0') as code from range({p.catalog_size}))
            where code not in (select product_code from products)
        """)
        append_movements(
            con,
            f"""
            select product_id_for(code), code, null, 100 + bh(range, 'stock') % 900, 'adjustment', 'warehouse', null
            from (select range, 'SKU-' || lpad(range::varchar, 5, '0') as code from range({p.catalog_size}))
        """,
        )
        catalog_seconds = time.perf_counter() - started
        inserted = 0
        with _roomy(con):
            for low in range(0, p.n_orders, GENERATE_BATCH):
                high = min(p.n_orders, low + GENERATE_BATCH)
                inserted += _land(con, p, f"select range as n from range({low}, {high})", run_id, in_order=True)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    seconds = time.perf_counter() - started
    return {
        "orders": inserted,
        "seconds": round(seconds, 3),
        "catalog_seconds": round(catalog_seconds, 3),
        "params": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(p).items()},
    }


def _land(con, p, numbers: str, run_id: str, in_order: bool = False) -> int:
    """Insert the orders numbered by `numbers` (a select of `n`) into raw_amazon_orders, as fetched by `run_id`
    (in their numbers' order if asked); how many."""
    return con.execute(
        f"""
        insert into raw_amazon_orders
            (channel, amazon_order_id, last_updated_time, payload, payload_hash, fetched_at, run_id)
        select channel, amazon_order_id, last_updated_time, payload, md5(payload), now()::timestamp, ?
        from ({_render_sql(p, numbers)})
        {"order by n" if in_order else ""}
    """,
        [run_id],
    ).fetchone()[0]


# changes an order can go through, with the share of a batch each takes
CHANGES = [("UNSHIPPED", "SHIPPED", 0.6), ("PENDING", "UNSHIPPED", 0.3), ("UNSHIPPED", "CANCELLED", 0.1)]


def append_changes(con: duckdb.DuckDBPyConnection, count: int, *, run_id: str = "bench-changes") -> dict:
    """Append a new version of `count` existing orders (ship, confirm or cancel them) to the raw layer."""
    with _roomy(con):
        return _append_changes(con, count, run_id)


def _append_changes(con, count: int, run_id: str) -> dict:
    p = _params(con).resolved()
    started = time.perf_counter()
    _setup(con, p)
    batch = con.execute("select coalesce(max(batch), 0) + 1 from bench_changes").fetchone()[0]
    moment = p.anchor + timedelta(days=1, minutes=batch)
    con.execute("begin transaction")
    try:
        remaining = count
        for index, (before, after, share) in enumerate(CHANGES):
            wanted = remaining if index == len(CHANGES) - 1 else round(count * share)
            remaining -= wanted
            con.execute(
                f"""
                insert into bench_changes
                select n, ?, ?, ? from ({_spec_sql(p, f"select range as n from range({p.n_orders})")})
                where status = ? and n not in (select n from bench_changes where batch = ?)
                order by bh(n, 'pick-{batch}') limit {int(wanted)}
            """,
                [after, moment, batch, before, batch],
            )
        inserted = _land(con, p, f"select n from bench_changes where batch = {int(batch)}", run_id)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return {"changed_orders": inserted, "batch": batch, "seconds": round(time.perf_counter() - started, 3)}


def expected(con: duckdb.DuckDBPyConnection) -> dict:
    """What the core tables should hold, computed from the generator's own specification."""
    with _roomy(con):
        return _expected(con)


def _expected(con) -> dict:
    p = _params(con).resolved()
    _setup(con, p)
    con.execute(f"""
        create or replace temp table bench_expected_items as
        with spec as ({_spec_sql(p, f"select range as n from range({p.n_orders})")})
        select n, status, confirmed, business, company, sku, quantity, gift, item_cancelled,
               quantity - open_quantity as canceled_quantity,
               -- Amazon gives an FBA order's buyer no email: the product knows them by name and postcode
               case when fulfilled_by = 'MERCHANT' then 'email:' || buyer_email
                    else 'name:' || lower(buyer_name) || '|' || postal_code end as buyer_key,
               case when fulfilled_by = 'AMAZON' then 'amazon_fba' else 'warehouse' end as location,
               case when fulfilled_by = 'AMAZON' then channel end as fba_channel
        from ({_items_sql(p, "spec")})
    """)
    con.execute(f"""
        create or replace temp table bench_expected_inventory as
        with stock as (
            select 'SKU-' || lpad(range::varchar, 5, '0') as product_code, 'warehouse' as location,
                   null::varchar as channel, 100 + bh(range, 'stock') % 900 as on_hand
            from range({p.catalog_size})
            union all
            select sku, location, fba_channel, -sum(quantity) + sum(canceled_quantity)
            from bench_expected_items group by all
        )
        select product_code, location, channel, sum(on_hand)::bigint as on_hand from stock group by all
    """)
    counts = con.execute("""
        select count(distinct n), count(*), count(*) filter (where gift),
               count(distinct sku) filter (where sku like 'UNKNOWN-%'),
               sum(quantity), sum(canceled_quantity),
               count(distinct buyer_key) filter (where confirmed),
               count(distinct case when business then 'company:' || lower(company) else buyer_key end)
                   filter (where confirmed)
        from bench_expected_items
    """).fetchone()
    by_status = dict(
        con.execute(
            "select status, count(distinct n) from bench_expected_items group by status order by status"
        ).fetchall()
    )
    on_hand = con.execute("select sum(on_hand) from bench_expected_inventory").fetchone()[0]
    return {
        "orders": counts[0],
        "product_lines": counts[1],
        "gift_wrap_lines": counts[2],
        "order_lines": counts[1] + counts[2],
        "placeholder_products": counts[3],
        "quantity_ordered": int(counts[4]),
        "quantity_canceled": int(counts[5]),
        "contacts": counts[6],
        "accounts": counts[7] + 1,  # plus the 'Amazon Pending Account' placeholder
        "orders_by_status": by_status,
        "on_hand_total": int(on_hand),
    }


def actual(con: duckdb.DuckDBPyConnection) -> dict:
    """The same figures as `expected`, read from the core tables."""
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731 - a one-line helper of this function
    status_names = {
        "Pending": "PENDING",
        "Pending Availability": "PENDING_AVAILABILITY",
        "Unshipped": "UNSHIPPED",
        "Shipped": "SHIPPED",
        "Canceled": "CANCELLED",
    }
    return {
        "orders": one("select count(*) from orders"),
        "product_lines": one("select count(*) from order_lines where line_type = 'product'"),
        "gift_wrap_lines": one("select count(*) from order_lines where line_type = 'gift_wrap'"),
        "order_lines": one("select count(*) from order_lines"),
        "placeholder_products": one("select count(*) from products where is_placeholder"),
        "quantity_ordered": int(one("select sum(quantity) from order_lines where line_type = 'product'")),
        "quantity_canceled": int(one("select sum(canceled_quantity) from order_lines where line_type = 'product'")),
        "contacts": one("select count(*) from contacts"),
        "accounts": one("select count(*) from accounts"),
        "orders_by_status": {
            status_names.get(s, s): c
            for s, c in con.execute("select status, count(*) from orders group by status order by status").fetchall()
        },
        "on_hand_total": int(one("select sum(on_hand) from inventory")),
    }


def inventory_mismatches(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[tuple]:
    """Product codes and locations whose on-hand differs from the expectation (call `expected` first)."""
    return con.execute(f"""
        select coalesce(e.product_code, i.product_code), coalesce(e.location, i.location), e.on_hand as expected,
               i.on_hand as actual
        from bench_expected_inventory as e
        full outer join inventory as i
            on i.product_code = e.product_code and i.location = e.location and i.channel is not distinct from e.channel
        where e.on_hand is distinct from i.on_hand
        limit {int(limit)}
    """).fetchall()
