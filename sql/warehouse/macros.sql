-- Formulas the models and the import code share: stable local ids, Amazon's proceeds breakdowns, and
-- where an order's stock is. Pure expressions over their arguments.

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

-- An order's JSON as Amazon sent it (searchOrders, with the included data), read into the fields the
-- models use; what Amazon leaves out is null. The staging model and the benchmarks' baseline both read it so.
create or replace macro order_payload(payload) as
    from_json(payload, '{
        "createdTime": "VARCHAR",
        "lastUpdatedTime": "VARCHAR",
        "programs": ["VARCHAR"],
        "associatedOrders": [{"orderId": "VARCHAR", "associationType": "VARCHAR"}],
        "salesChannel": {"channelName": "VARCHAR", "marketplaceId": "VARCHAR"},
        "buyer": {"buyerName": "VARCHAR", "buyerEmail": "VARCHAR", "buyerCompanyName": "VARCHAR"},
        "recipient": {"deliveryAddress": {
            "name": "VARCHAR", "addressLine1": "VARCHAR", "addressLine2": "VARCHAR",
            "addressLine3": "VARCHAR", "city": "VARCHAR", "stateOrRegion": "VARCHAR",
            "postalCode": "VARCHAR", "countryCode": "VARCHAR", "phone": "VARCHAR"}},
        "proceeds": {"grandTotal": {"amount": "VARCHAR", "currencyCode": "VARCHAR"},
                     "breakdowns": [{"type": "VARCHAR",
                                     "subtotal": {"amount": "VARCHAR", "currencyCode": "VARCHAR"}}]},
        "_amazon_orders": {"account_id": "VARCHAR", "contact_id": "VARCHAR", "buyer_updated_at": "VARCHAR"},
        "fulfillment": {"fulfillmentStatus": "VARCHAR", "fulfilledBy": "VARCHAR"},
        "orderItems": [{
            "orderItemId": "VARCHAR",
            "quantityOrdered": "VARCHAR",
            "product": {"asin": "VARCHAR", "title": "VARCHAR", "sellerSku": "VARCHAR",
                        "price": {"unitPrice": {"amount": "VARCHAR", "currencyCode": "VARCHAR"}}},
            "proceeds": {"breakdowns": [{"type": "VARCHAR",
                                         "subtotal": {"amount": "VARCHAR", "currencyCode": "VARCHAR"},
                                         "detailedBreakdowns": [{"subtype": "VARCHAR",
                                                                 "value": {"amount": "VARCHAR"}}]}]},
            "cancellation": {"cancellationRequest": {"requester": "VARCHAR", "cancelReason": "VARCHAR"},
                             "cancellationExecution": {"cancelledBy": "VARCHAR", "cancelReason": "VARCHAR"}},
            "fulfillment": {"quantityFulfilled": "VARCHAR",
                            "packing": {"giftOption": {"giftMessage": "VARCHAR", "giftWrapLevel": "VARCHAR"}}}
        }]
    }');

-- Amazon's proceeds breakdowns: the amount of one category (null when it has none), and of one
-- subtype of a category's detailed breakdowns.
create or replace macro proceeds_of(breakdowns, kind) as
    list_sum(list_transform(list_filter(breakdowns, lambda b: b.type = kind),
                            lambda b: try_cast(b.subtotal.amount as decimal(18, 2))));
-- A breakdown's amounts in the categories the tables keep (an item's breakdowns and an order's alike):
-- COD fees, delivery tips (an order's only) and other charges together as other_amount.
create or replace macro proceeds_amounts(breakdowns) as {
    'item_amount': proceeds_of(breakdowns, 'ITEM'),
    'shipping_amount': proceeds_of(breakdowns, 'SHIPPING'),
    'gift_wrap_amount': proceeds_of(breakdowns, 'GIFT_WRAP'),
    'tax_amount': proceeds_of(breakdowns, 'TAX'),
    'discount_amount': proceeds_of(breakdowns, 'DISCOUNT'),
    'other_amount': coalesce(proceeds_of(breakdowns, 'COD_FEE'), 0) + coalesce(proceeds_of(breakdowns, 'DELIVERY_TIP'), 0)
        + coalesce(proceeds_of(breakdowns, 'OTHER'), 0)
};
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

-- An FBA quantity as Amazon sent it, when it is not a whole number of up to 8 digits: the reason, else null.
create or replace macro fba_quantity_problem(field, value) as
    case when not regexp_full_match(value, '[0-9]{1,8}')
        then field || ' ''' || value || ''' is not a whole number from 0 to 99999999' end;
