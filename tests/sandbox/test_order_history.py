"""The sandbox serves orders as far back as Amazon does, and no further: "This API does not display order data
that is more than two years old, except in the JP, AU, and SG marketplaces, for which data from 2016 and after
is available." (orders_2026-01-01.json, info.description). A searchOrders starting before that is refused as
Amazon refuses a request, 400 InvalidInput; the product refuses such a channel start before it asks."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import refused

from pipelines.sandbox import Marketplace, SandboxServer

SEARCH = "/orders/2026-01-01/orders"
US, JP, AU, SG = "ATVPDKIKX0DER", "A1VC38T7YXB528", "A39IBJ37TRP1C6", "A19VAU5U5O7RUS"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TWO_YEARS_AGO = datetime(2024, 3, 1, 12, tzinfo=UTC)
SINCE_2016 = datetime(2016, 1, 1, tzinfo=UTC)


@pytest.fixture
def server():
    with SandboxServer(Marketplace(seed=1, start=NOW), search_burst=1000) as srv:
        yield srv


def search(srv, **params):
    token = httpx.post(
        srv.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"},
    ).json()["access_token"]
    return httpx.get(srv.url + SEARCH, params=params, headers={"x-amz-access-token": token}, timeout=10)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("bound", ["createdAfter", "lastUpdatedAfter"])
@pytest.mark.parametrize(
    "marketplaces, earliest",
    [
        ([US], TWO_YEARS_AGO),
        ([JP], SINCE_2016),
        ([AU, SG], SINCE_2016),
        ([JP, US], TWO_YEARS_AGO),  # one marketplace of two years is enough to hold the whole search to them
        ([], TWO_YEARS_AGO),  # no marketplace named: the seller's, of which any may keep two years only
    ],
)
def test_a_search_from_before_what_amazon_serves_is_refused_as_amazon_refuses_a_request(
    server, bound, marketplaces, earliest
):
    named = {"marketplaceIds": ",".join(marketplaces)} if marketplaces else {}
    too_old = search(server, **{bound: iso(earliest - timedelta(seconds=1))}, **named)
    assert too_old.status_code == 400
    assert too_old.json() == {
        "errors": [{"code": "InvalidInput", "message": "Invalid Input", "details": "Invalid Input"}]
    }
    assert search(server, **{bound: iso(earliest)}, **named).status_code == 200


def test_two_years_are_the_sandbox_clocks(server):
    server.marketplace.advance(days=1)
    assert search(server, createdAfter=iso(TWO_YEARS_AGO), marketplaceIds=US).status_code == 400
    assert search(server, createdAfter=iso(TWO_YEARS_AGO + timedelta(days=1)), marketplaceIds=US).status_code == 200


def test_the_products_channel_start_refusal_fires_before_any_request(shop):
    since = len(shop.sandbox.requests)
    start = shop.marketplace.now - timedelta(days=2 * 366)
    add = ["--db", shop.db, "channel", "add", "Old", "--marketplace", US, "--start", start.isoformat()]
    line = refused(shop.capsys, *add, "--endpoint", shop.sandbox.url, "--token-url", shop.sandbox.token_url)
    assert "older than Amazon serves orders" in line
    assert shop.sandbox.requests[since:] == []
    assert shop.one("select count(*) from channels") == 0
