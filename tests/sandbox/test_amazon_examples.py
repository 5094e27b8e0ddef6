"""Amazon's static sandbox cases (`x-amzn-api-sandbox` in the Orders model), replayed against the sandbox
seeded with Amazon's example orders, through the real python-amazon-sp-api client over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import Warehouse, channel_add, sandbox_client
from sp_api.api import OrdersV20260101
from sp_api.base import Marketplaces
from sp_api.base.exceptions import SellingApiException

from pipelines.sandbox import Marketplace, SandboxServer
from pipelines.sandbox.examples import example_orders, seed, static_cases
from pipelines.sandbox.marketplace import MARKETPLACES, parse_time

CASES = static_cases()
# Amazon's canned answer to the Japanese search lists the only JP order created in the window, asks for no
# smaller page, and still carries a nextToken. No server that pages by maxResultsPerPage ("Default: 100") can
# answer that; the sandbox follows the model's paging rule and says there is no next page.
CANNED_NEXT_TOKEN = {"250-1234567-8901234"}


def case_id(case) -> str:
    return f"{case.operation}-{case.status}-{case.params.get('orderId') or case.params.get('marketplaceIds', ['?'])[0]}"


def marketplace_for(case) -> Marketplace:
    """A marketplace holding Amazon's example orders, its clock where the documented answer was given."""
    bound = case.response.get("createdBefore") or case.response.get("lastUpdatedBefore")
    # the sandbox's default bound is two minutes before now: the documented one, when the answer shows it
    now = parse_time(bound) + timedelta(minutes=2) if bound else datetime(2025, 4, 1, tzinfo=UTC)
    market = Marketplace(seed=1, start=now)
    seed(market)
    return market


def client_for(server) -> OrdersV20260101:
    return sandbox_client(server, OrdersV20260101)


def test_the_model_documents_the_cases_this_file_replays():
    assert [(c.operation, c.status) for c in CASES] == [("searchOrders", 200)] * 3 + [("searchOrders", 400)] + [
        ("getOrder", 200)
    ] * 3 + [("getOrder", 400)]
    assert len(example_orders()) == 8


def test_the_sandbox_knows_every_marketplace_of_amazons_table_and_of_the_examples():
    assert set(MARKETPLACES) == {m.marketplace_id for m in Marketplaces}
    assert {o["salesChannel"]["marketplaceId"] for o in example_orders()} <= set(MARKETPLACES)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_a_documented_request_gets_the_documented_answer(case):
    market = marketplace_for(case)
    with SandboxServer(market, search_burst=100, get_burst=100) as server:
        params = dict(case.params)
        if "paginationToken" in params:  # a token from Amazon's documentation: the sandbox never issued it
            server.orders.seed_pagination_token(
                params["paginationToken"], {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
            )
        client = client_for(server)
        try:
            if case.operation == "searchOrders":
                response = client.search_orders(**params)
            else:
                response = client.get_order(params.pop("orderId"), **params)
            status, body, next_token = 200, response.payload, response.next_token
        except SellingApiException as error:
            status, body, next_token = error.code, {"errors": error.error}, None
    assert status == case.status
    if status != 200:
        assert [e["code"] for e in body["errors"]] == [e["code"] for e in case.response["errors"]] == ["InvalidInput"]
        return
    if case.operation == "getOrder":
        assert body["order"] == case.response["order"]
        return
    assert body["orders"] == case.response["orders"]
    bound_key = "createdBefore" if "createdAfter" in case.params else "lastUpdatedBefore"
    assert body[bound_key] == case.response[bound_key]
    documented_next = "pagination" in case.response
    listed = {order["orderId"] for order in case.response["orders"]}
    assert (next_token is not None) == (documented_next and not listed & CANNED_NEXT_TOKEN)


# -- Amazon's example orders, end to end -------------------------------------------------------------
# Each example order's money as the model's text gives it (the UK example's lines add up to 89.97;
# shipping 10.00 and tax 4.00 make its 103.97), read through sandbox, client, extract and transform.
# (order, status, fulfilled by, currency, items, shipping, gift wrap, tax, discount, other, total, replaces)
EXPECTED_ORDERS = {
    ("250-1234567-8901234", "Shipped", "AMAZON", "JPY", 19940, 0, 0, 0, 0, 0, 19940, None),
    ("202-7654321-1098765", "Shipped", "MERCHANT", "GBP", 34.99, 0, 0, 0, 0, 0, 34.99, None),
    ("171-2345678-9012345", "Unshipped", "MERCHANT", "BRL", 1599.90, 0, 0, 0, 0, 0, 1599.90, None),
    ("123-4567890-1234567", "Shipped", "MERCHANT", "USD", 149.97, 0, 0, 0.02, 0, 5.00, 154.99, "123-4567890-1234566"),
    ("171-9876543-2109876", "Unshipped", "MERCHANT", "BRL", 299.90, 0, 0, 0, 0, 0, 299.90, None),
    ("028-1234567-8901234", "Shipped", "MERCHANT", "TRY", 125.00, 0, 0, 0, 0, 0, 125.00, None),
    ("114-9876543-1234567", "Unshipped", "MERCHANT", "USD", 39.99, 0, 0, 10.00, 0, 0, 49.99, None),
    ("202-1234567-8901234", "Shipped", "MERCHANT", "GBP", 89.97, 10.00, 0, 4.00, 0, 0, 103.97, None),
}
# a channel per region: the examples' marketplaces are served from three
CHANNELS = {
    "Amazon NA": ["ATVPDKIKX0DER", "A2Q3Y263D00KWC"],
    "Amazon EU": ["A1F83G8C2ARO7P", "A33AVAJ2PDY3EV"],
    "Amazon FE": ["A1VC38T7YXB528"],
}


@pytest.fixture(scope="module")
def examples_synced(tmp_path_factory):
    from conftest import live_in_sandbox_time, seller_environment

    from pipelines.cli import commands as cli

    tmp = tmp_path_factory.mktemp("examples")
    db = str(tmp / "examples.duckdb")
    market = Marketplace(seed=1, start=datetime(2025, 4, 1, tzinfo=UTC))
    seed(market)
    with pytest.MonkeyPatch.context() as env, SandboxServer(market, speedup=5000) as server:
        seller_environment(tmp, env)  # module-scoped, so not the per-test autouse fixture
        live_in_sandbox_time(env, server)
        catalog = tmp / "catalog.csv"
        catalog.write_text(
            "product_code,product_name,list_price,on_hand\nECHO-DOT-4-JP-CHARCOAL,Echo Dot JP,59.80,10\n"
            "ECHO-DOT-4-UK-CHARCOAL-3PACK,Echo Dot 3-pack,89.97,10\n"
        )
        assert cli.main(["--db", db, "products", "import", str(catalog)]) == 0
        for name, marketplaces in CHANNELS.items():
            assert cli.main(["--db", db, *channel_add(server, name, "2024-12-01T00:00:00Z", marketplaces)]) == 0
        assert cli.main(["--db", db, "sync"]) == 0
    return Warehouse(db)  # synced once from a sandbox holding Amazon's example orders: read-only for the tests


def test_amazons_example_orders_come_out_as_the_model_says(examples_synced):
    shop = examples_synced
    rows = shop.query("""
        select channel_order_id, status, fulfilled_by, currency, items_amount, shipping_amount, gift_wrap_amount,
               tax_amount, discount_amount, other_amount, total_amount, replaced_channel_order_id
        from orders""")
    assert {tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows} == {
        tuple(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in row)
        for row in EXPECTED_ORDERS
    }
    assert shop.query("select distinct unreconciled_amount from orders") == [(0,)]  # every example reconciles
    assert (
        shop.one("select replacement_type from orders where channel_order_id = '123-4567890-1234567'") == "REPLACEMENT"
    )


def test_the_uk_example_splits_its_money_over_its_lines(examples_synced):
    lines = examples_synced.query("""
        select line_type, product_code, quantity, unit_price, line_amount, l.shipping_amount, l.tax_amount,
               l.discount_amount, canceled_quantity, shipped_quantity, notes
        from order_lines l join orders using (order_id) where channel_order_id = '202-1234567-8901234'
        order by line_number""")
    assert lines == [
        (
            "product",
            "ECHO-DOT-4-UK-CHARCOAL-3PACK",
            3,
            Decimal("29.99"),
            Decimal("89.97"),
            Decimal("10.00"),
            Decimal("4.00"),
            Decimal("0.00"),
            0,
            3,
            None,
        ),
        (
            "gift_wrap",
            None,
            1,
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.00"),
            0,
            1,
            "Gift message: Happy Christmas! Hope you enjoy your new smart speakers.\nGift wrap level: PREMIUM",
        ),
    ]


def test_the_gift_wrap_of_an_item_that_shipped_is_not_cancelled(examples_synced):
    """123-4567890-1234567: its gift-wrapped item carries a cancellation execution, yet both units shipped."""
    lines = examples_synced.query("""
        select line_type, quantity, canceled_quantity, shipped_quantity, l.has_cancel_request
        from order_lines l join orders using (order_id) where channel_order_id = '123-4567890-1234567'
        order by line_number""")
    assert lines == [("product", 2, 0, 2, False), ("gift_wrap", 1, 0, 1, False), ("product", 1, 0, 1, False)]


def test_the_fba_example_leaves_the_warehouse_alone(examples_synced):
    stock = examples_synced.query("""
        select product_code, location, channel, on_hand, reserved_quantity from inventory
        where product_code in ('ECHO-DOT-4-JP-CHARCOAL', 'FIRE-TV-4K-MAX-JP') order by all""")
    assert stock == [
        ("ECHO-DOT-4-JP-CHARCOAL", "amazon_fba", "Amazon FE", -1, 0),
        ("ECHO-DOT-4-JP-CHARCOAL", "warehouse", None, 10, 0),
        ("FIRE-TV-4K-MAX-JP", "amazon_fba", "Amazon FE", -2, 0),
    ]
