"""How the marketplace's records are written as Amazon writes them: an order as the Orders API v2026-01-01
answers it (every dataset, then as served with some optional fields left out), an FBA stock as
getInventorySummaries' InventorySummary, and a return as a row of Amazon's returns reports."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

from .records import Item, Order
from .reference import MARKETPLACES, asin_for, digest, format_time, parse_time, quantize, title_for

# The returns reports and their header columns (../shared/amazon-models/README.md, "Report columns")
MFN_RETURNS_REPORT = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS_REPORT = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
RETURNS_REPORTS = {
    MFN_RETURNS_REPORT: (
        "MFN",
        (
            "Order ID",
            "Order date",
            "Return request date",
            "Return request status",
            "Amazon RMA ID",
            "Merchant RMA ID",
            "Label type",
            "Label cost",
            "Currency code",
            "Return carrier",
            "Tracking ID",
            "Label to be paid by",
            "A-to-Z Claim",
            "Is prime",
            "ASIN",
            "Merchant SKU",
            "Item Name",
            "Return quantity",
            "Return Reason",
            "In policy",
            "Return type",
            "Resolution",
            "Invoice number",
            "Return delivery date",
            "Order Amount",
            "Order quantity",
            "SafeT Action reason",
            "SafeT claim id",
            "SafeT claim state",
            "SafeT claim creation time",
            "SafeT claim reimbursement amount",
            "Refunded Amount",
        ),
    ),
    FBA_RETURNS_REPORT: (
        "FBA",
        (
            "return-date",
            "order-id",
            "sku",
            "asin",
            "fnsku",
            "product-name",
            "quantity",
            "fulfillment-center-id",
            "detailed-disposition",
            "reason",
            "status",
            "license-plate-number",
            "customer-comments",
        ),
    ),
}
# How Amazon writes the returns reports, as seen in real documents (tests/corpus/README.md has each source):
# - the merchant-fulfilled flat file dates a return "14-Jul-2025" (a US document:
#   bowshygow/amazon-review-automation docs/amazon-sp-api.md @ b5544966);
# - the FBA returns report writes "2025-06-05T15:31:40+00:00" (aplotlib/PriceAnalysis9000 PA9.py @ 8a61887b);
# - Amazon.ae's FBA returns report has no `status` column (abuzuhri/Amazon-SP-API-CSharp PR #126);
# - documents are not all UTF-8: windows-1252 in the US, Canada, Brazil and Europe, windows-31j (cp932) in
#   Japan, UTF-8 in Australia and Singapore (saleweaver/python-amazon-sp-api PR #764), and a European download
#   says so in its header, "Content-Type: text/plain; charset=Cp1252" (amzn/selling-partner-api-models#2748).
MFN_RETURN_DATE = "%d-%b-%Y"
FBA_RETURN_DATE = "%Y-%m-%dT%H:%M:%S+00:00"
FBA_RETURNS_WITHOUT_STATUS = {"A2VIGQ35RCS4UG"}
DOCUMENT_ENCODINGS = {
    **dict.fromkeys(
        (
            "ATVPDKIKX0DER",
            "A2EUQ1WTGCTBG2",
            "A2Q3Y263D00KWC",
            "A1F83G8C2ARO7P",
            "A1PA6795UKMFR9",
            "A13V1IB3VIYZZH",
            "APJ6JRA9NG5V4",
            "A1RKKUPIHCS9HS",
            "A1805IZSGTT6HS",
        ),
        "cp1252",
    ),
    "A1VC38T7YXB528": "cp932",
}
# the download names its charset for Europe (models#2748); elsewhere nothing is known, so it does not
EUROPE = {"A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4", "A1RKKUPIHCS9HS", "A1805IZSGTT6HS"}
SHIP_BY = timedelta(days=2)  # the simulated seller's handling time: an order's ship-by window closes then


def render_order(order: Order) -> dict:
    """The order in the model's shape (Orders API v2026-01-01), with every dataset this simulator knows."""
    info = MARKETPLACES[order.marketplace_id]
    currency = info.currency

    def money(amount: Decimal) -> dict:
        return {"amount": str(quantize(amount, currency)), "currencyCode": currency}

    totals: dict[str, Decimal] = {}
    items = []
    for index, line in enumerate(order.lines):
        item = line.item
        product = {
            "asin": line.asin,
            "title": line.title,
            "sellerSku": item.sku,
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
        }
        doc_item = {"orderItemId": line.order_item_id, "quantityOrdered": item.quantity, "product": product}
        if order.confirmed:
            unit_price = quantize(Decimal(item.unit_price), currency)
            product["price"] = {"unitPrice": money(unit_price)}
            breakdowns = _item_proceeds(
                item, unit_price, currency, info.tax_rate, cod_fee=order.cod_fee if index == 0 else None
            )
            for entry in breakdowns:
                totals[entry["type"]] = totals.get(entry["type"], Decimal(0)) + Decimal(entry["subtotal"]["amount"])
            doc_item["proceeds"] = {
                "proceedsTotal": money(sum(Decimal(e["subtotal"]["amount"]) for e in breakdowns)),
                "breakdowns": breakdowns,
            }
            if item.promotion_id:
                doc_item["promotion"] = {"breakdowns": [{"promotionId": item.promotion_id}]}
        if line.cancellation is not None:
            doc_item["cancellation"] = copy.deepcopy(line.cancellation)
        fulfillment = {"quantityFulfilled": line.shipped, "quantityUnfulfilled": line.open_quantity}
        gift = {"giftMessage": item.gift_message, "giftWrapLevel": item.gift_wrap_level}
        if any(gift.values()):
            fulfillment["packing"] = {"giftOption": {k: v for k, v in gift.items() if v is not None}}
        doc_item["fulfillment"] = fulfillment
        items.append(doc_item)

    programs = []
    if order.status == "PENDING_AVAILABILITY":
        programs.append("PREORDER")
    if order.business and order.confirmed:
        programs.append("AMAZON_BUSINESS")
    doc = {
        "orderId": order.order_id,
        "orderAliases": [],
        "createdTime": order.created,
        "lastUpdatedTime": order.updated,
        "programs": programs,
        "associatedOrders": [dict(order.associated)] if order.associated else [],
        "salesChannel": {
            "channelName": order.sales_channel,
            "marketplaceId": order.marketplace_id,
            "marketplaceName": info.name,
        },
    }
    if order.confirmed:
        buyer = order.buyer
        doc["buyer"] = {"buyerName": buyer.name}
        # the model: buyerEmail is "Only available for merchant-fulfilled (FBM) orders"
        if order.fulfilled_by == "MERCHANT":
            doc["buyer"]["buyerEmail"] = buyer.email
        address = {"name": buyer.name}
        if order.business and buyer.company:
            doc["buyer"]["buyerCompanyName"] = buyer.company
            address["companyName"] = buyer.company
        address.update(
            addressLine1=buyer.address_line1,
            city=buyer.city,
            stateOrRegion=buyer.state,
            postalCode=buyer.postal_code,
            countryCode=buyer.country_code,
        )
        if order.fulfilled_by == "MERCHANT":  # Amazon delivers FBA orders: the seller gets no phone
            address["phone"] = buyer.phone
        address["addressType"] = "COMMERCIAL" if order.business else "RESIDENTIAL"
        doc["recipient"] = {"deliveryAddress": address}
        order_level = [{"type": kind, "subtotal": money(amount)} for kind, amount in totals.items()]
        if order.delivery_tip is not None:  # "charged separately and not attributed to a specific item"
            order_level.append(
                {"type": "DELIVERY_TIP", "status": "FINALIZED", "subtotal": money(Decimal(order.delivery_tip))}
            )
        grand_total = sum(Decimal(entry["subtotal"]["amount"]) for entry in order_level)
        doc["proceeds"] = {"grandTotal": money(grand_total), "breakdowns": order_level}
    doc["fulfillment"] = {
        "fulfillmentStatus": order.status,
        "fulfilledBy": order.fulfilled_by,
        "fulfillmentServiceLevel": "STANDARD",
        # the model: shipByWindow is "The promised time period within which the order must be shipped to
        # meet the customer's delivery expectations"; here a handling time of two days from the purchase
        "shipByWindow": {
            "earliestDateTime": order.created,
            "latestDateTime": format_time(parse_time(order.created) + SHIP_BY),
        },
    }
    doc["orderItems"] = items
    if order.packages:
        doc["packages"] = copy.deepcopy(order.packages)
    return doc


def leave_out_optional_of_order(seed: int, order: Order, doc: dict) -> dict:
    """Amazon may leave out what the model does not require: an Order needs only orderId, createdTime,
    lastUpdatedTime, salesChannel and orderItems, an OrderItem orderItemId, quantityOrdered and product,
    and ItemFulfillment lists no required property at all. A seeded share of orders (the same ones every
    run) comes without some of it: the items' counts (quantityFulfilled, quantityUnfulfilled) only where
    the status still tells them, that is where nothing has shipped, or a SHIPPED order each of whose items
    shipped whole or was cancelled before any of it shipped."""

    def dropped(field: str) -> bool:
        return digest(f"{seed}:omit:{order.order_id}:{field}") % 2 == 0

    if digest(f"{seed}:omit:{order.order_id}") % 4:
        return doc  # three orders in four come whole
    for name in ("orderAliases", "programs", "associatedOrders"):
        if not doc.get(name) and dropped(name):
            del doc[name]
    if dropped("marketplaceName"):
        del doc["salesChannel"]["marketplaceName"]
    if dropped("fulfillmentServiceLevel"):
        del doc["fulfillment"]["fulfillmentServiceLevel"]
    told_by_status = (
        not any(line.shipped for line in order.lines)
        if order.status != "SHIPPED"
        else all(line.shipped == (0 if line.is_cancelled else line.item.quantity) for line in order.lines)
    )
    if order.status != "PARTIALLY_SHIPPED" and told_by_status and dropped("counts"):
        for item in doc["orderItems"]:
            fulfillment = item["fulfillment"]
            del fulfillment["quantityFulfilled"], fulfillment["quantityUnfulfilled"]
            if not fulfillment:
                del item["fulfillment"]
    for item in doc["orderItems"]:
        if dropped(f"condition:{item['orderItemId']}"):
            del item["product"]["condition"]
    return doc


def _item_proceeds(
    item: Item, unit_price: Decimal, currency: str, tax_rate: Decimal, cod_fee: str | None
) -> list[dict]:
    """An item's proceeds breakdowns: its price, shipping, gift wrap, promotion (negative), COD fee,
    and tax on each, the tax's detailed breakdown saying which."""

    def money(amount: Decimal) -> dict:
        return {"amount": str(quantize(amount, currency)), "currencyCode": currency}

    charged = {"ITEM": unit_price * item.quantity}
    for kind, amount in (("SHIPPING", item.shipping_charge), ("GIFT_WRAP", item.gift_wrap_charge)):
        if amount is not None:
            charged[kind] = quantize(Decimal(amount), currency)
    discount = quantize(Decimal(item.discount), currency) if item.discount else Decimal(0)
    taxed = dict(charged, ITEM=charged["ITEM"] - discount)
    tax = {kind: quantize(amount * tax_rate, currency) for kind, amount in taxed.items()}
    breakdowns = [{"type": kind, "subtotal": money(amount)} for kind, amount in charged.items()]
    if discount:
        breakdowns.append(
            {
                "type": "DISCOUNT",
                "subtotal": money(-discount),
                "detailedBreakdowns": [{"subtype": "ITEM", "value": money(-discount)}],
            }
        )
    if cod_fee is not None:
        breakdowns.append({"type": "COD_FEE", "subtotal": money(Decimal(cod_fee))})
    breakdowns.append(
        {
            "type": "TAX",
            "subtotal": money(sum(tax.values())),
            "detailedBreakdowns": [{"subtype": kind, "value": money(amount)} for kind, amount in tax.items()],
        }
    )
    return breakdowns


def leave_out_optional_of_summary(seed: int, summary: dict) -> dict:
    """Amazon may leave out any field of a summary: the model's InventorySummary, InventoryDetails,
    ReservedQuantity, ResearchingQuantity and UnfulfillableQuantity list no required property. A seeded
    share of summaries (the same ones every run) comes without some: a quantity only where it is zero,
    so the answer still says how many units there are."""
    sku = summary["sellerSku"]

    def dropped(field: str) -> bool:
        return digest(f"{seed}:omit:{sku}:{field}") % 3 == 0

    if digest(f"{seed}:omit:{sku}") % 4:
        return summary  # three summaries in four come whole
    details = summary["inventoryDetails"]
    for parent in (
        details,
        details["reservedQuantity"],
        details["unfulfillableQuantity"],
        details["researchingQuantity"],
    ):
        for name, value in list(parent.items()):
            if value == 0 and dropped(name):
                del parent[name]
    for name in ("researchingQuantity", "futureSupplyQuantity"):
        if dropped(name):
            del details[name]
    for name in ("fnSku", "condition", "productName", "totalQuantity", "stores", "lastUpdatedTime"):
        if dropped(name):
            del summary[name]
    return summary


def inventory_summary(sku: str, *, units: int, held: int, unsellable: int, inbound: int, changed: str) -> dict:
    """Amazon's InventorySummary (with details) of one SKU's FBA stock: ``units`` in the fulfilment centres,
    ``held`` of them for open orders, ``unsellable`` and ``inbound`` ones besides, last changed at ``changed``."""
    return {
        "asin": asin_for(sku),
        "fnSku": "X00" + asin_for(sku)[3:],
        "sellerSku": sku,
        "condition": "NewItem",
        "productName": title_for(sku),
        "lastUpdatedTime": changed,
        # "The total number of units in an inbound shipment or in Amazon fulfillment centers."
        "totalQuantity": units + unsellable + inbound,
        "inventoryDetails": {
            "fulfillableQuantity": units - held,
            "inboundWorkingQuantity": 0,
            "inboundReceivingQuantity": 0,
            "inboundShippedQuantity": inbound,
            "reservedQuantity": {
                "totalReservedQuantity": held,
                "pendingCustomerOrderQuantity": held,
                "pendingTransshipmentQuantity": 0,
                "fcProcessingQuantity": 0,
            },
            "researchingQuantity": {"totalResearchingQuantity": 0, "researchingQuantityBreakdown": []},
            "unfulfillableQuantity": {
                "totalUnfulfillableQuantity": unsellable,
                "customerDamagedQuantity": 0,
                "warehouseDamagedQuantity": 0,
                "distributorDamagedQuantity": 0,
                "carrierDamagedQuantity": 0,
                "defectiveQuantity": 0,
                "expiredQuantity": 0,
            },
            # not in the model, but in Amazon's real answers (tests/corpus/fba_inventory/)
            "futureSupplyQuantity": {"reservedFutureSupplyQuantity": 0, "futureSupplyBuyableQuantity": 0},
        },
        "stores": [],  # as in Amazon's real answer (tests/corpus/fba_inventory/)
    }


def returns_report_rows(report_type: str, marketplace_id: str, listed: list[dict], titles: dict) -> list[list[str]]:
    """The rows (header first) of a returns report listing these returns (the marketplace's entries, in order),
    written as Amazon writes them for the report's first marketplace; ``titles`` by (order id, SKU)."""
    kind, header = RETURNS_REPORTS[report_type]
    if kind == "FBA" and marketplace_id in FBA_RETURNS_WITHOUT_STATUS:
        header = tuple(column for column in header if column != "status")
    rows = [list(header)]
    for r in listed:
        asin, title = asin_for(r["sku"]), titles[r["order_id"], r["sku"]]
        if kind == "FBA":
            values = {
                "return-date": r["date"].strftime(FBA_RETURN_DATE),
                "order-id": r["order_id"],
                "sku": r["sku"],
                "asin": asin,
                "fnsku": "X00" + asin[3:],
                "product-name": title,
                "quantity": str(r["quantity"]),
                "fulfillment-center-id": "PHX7",
                "detailed-disposition": r["disposition"],
                "reason": r["reason"],
                "status": r["status"],
                "license-plate-number": r["key"],
                "customer-comments": r["comments"],
            }
            rows.append([values[column] for column in header])
        else:
            values = dict.fromkeys(header, "")
            values.update(
                {
                    "Order ID": r["order_id"],
                    "Order date": parse_time(r["created"]).strftime(MFN_RETURN_DATE),
                    "Return request date": r["date"].strftime(MFN_RETURN_DATE),
                    "Return request status": r["status"],
                    "Amazon RMA ID": r["key"],
                    "Label type": "" if r["returnless"] else "AmazonPrePaidLabel",
                    "ASIN": asin,
                    "Merchant SKU": r["sku"],
                    "Item Name": title,
                    "Return quantity": str(r["quantity"]),
                    "Return Reason": r["reason"],
                    "In policy": "Y",
                    "Return type": "C-Returns",
                    "Resolution": "StandardRefund",
                    "Order quantity": str(r["ordered"]),
                }
            )
            # the US document ends its row after "Order quantity" with a tab: the SafeT and refund columns
            # are left out, not written empty
            kept = header[: header.index("Order quantity") + 1]
            rows.append([values[column] for column in kept] + [""])
    return rows
    return rows
