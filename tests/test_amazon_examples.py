"""Amazon's static sandbox cases (`x-amzn-api-sandbox` in the Orders model), replayed against the sandbox
seeded with Amazon's example orders, through the real python-amazon-sp-api client over HTTP."""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone

import pytest
from sp_api.api import OrdersV20260101
from sp_api.auth import AccessTokenClient
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
    now = parse_time(bound) + timedelta(minutes=2) if bound else datetime(2025, 4, 1, tzinfo=timezone.utc)
    market = Marketplace(seed=1, start=now)
    seed(market)
    return market


def client_for(server) -> OrdersV20260101:
    class SandboxTokenClient(AccessTokenClient):
        scheme = "http://"
        host = server.url.removeprefix("http://")
        path = "/auth/o2/token"

    return OrdersV20260101(
        marketplace=types.SimpleNamespace(endpoint=server.url, marketplace_id="ATVPDKIKX0DER", region="us-east-1"),
        credentials=dict(lwa_app_id="x", lwa_client_secret="y", refresh_token="z"),
        auth_token_client_class=SandboxTokenClient,
    )


def test_the_model_documents_the_cases_this_file_replays():
    assert [(c.operation, c.status) for c in CASES] == [("searchOrders", 200)] * 3 + [("searchOrders", 400)] + \
        [("getOrder", 200)] * 3 + [("getOrder", 400)]
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
            server.seed_pagination_token(params["paginationToken"],
                                         {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()})
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
