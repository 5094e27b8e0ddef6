"""Tests for the SP-API sandbox: the simulated marketplace and its Amazon-like HTTP server."""

import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipelines.sandbox import Buyer, Item, Marketplace, SandboxServer

SEARCH = "/orders/2026-01-01/orders"
US = "ATVPDKIKX0DER"
START = datetime(2026, 1, 1, tzinfo=UTC)
SINCE = "2025-12-31T00:00:00Z"


@pytest.fixture
def market():
    return Marketplace(seed=7)


@pytest.fixture
def server(market):
    # A generous burst so tests that are not about rate limits never hit one.
    with SandboxServer(market, search_burst=1000, get_burst=1000) as srv:
        yield srv


def api(srv, timeout=5.0):
    """An httpx client that talks to the sandbox with a valid access token."""
    token = httpx.post(
        srv.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"},
    ).json()["access_token"]
    return httpx.Client(base_url=srv.url, headers={"x-amz-access-token": token}, timeout=timeout)


def place(market, count, **kwargs):
    ids = []
    for n in range(count):
        ids.append(market.place_order([Item(f"SKU-{n % 7}", quantity=1 + n % 3)], **kwargs))
        market.advance(seconds=1)
    market.advance(minutes=5)  # past the 2-minute margin, so every order is searchable
    return ids


def error_code(response):
    return response.json()["errors"][0]["code"]


# -- marketplace ---------------------------------------------------------------------------


def test_ids_times_and_determinism():
    first, second = Marketplace(seed=3), Marketplace(seed=3)
    ids = [m.place_order([Item("A"), Item("B")]) for m in (first, second)]
    assert ids[0] == ids[1]
    assert re.fullmatch(r"\d{3}-\d{7}-\d{7}", ids[0])
    order = first.order(ids[0])
    assert all(re.fullmatch(r"\d{14}", item["orderItemId"]) for item in order["orderItems"])
    assert order["createdTime"] == order["lastUpdatedTime"] == "2026-01-01T00:00:00Z"
    same_sku = first.order(first.place_order([Item("A")]))
    assert same_sku["orderItems"][0]["product"]["asin"] == order["orderItems"][0]["product"]["asin"]
    assert Marketplace(seed=4).place_order([Item("A")]) != ids[0]


def test_pending_order_gains_details_on_confirm(market):
    order_id = market.place_order(
        [Item("GIFT", 2, "10.00", gift_message="Hi", gift_wrap_level="PREMIUM", gift_wrap_charge="3.00")]
    )
    pending = market.order(order_id)
    assert pending["fulfillment"]["fulfillmentStatus"] == "PENDING"
    assert not {"buyer", "recipient", "proceeds"} & pending.keys()
    item = pending["orderItems"][0]
    assert "price" not in item["product"] and "proceeds" not in item
    assert item["quantityOrdered"] == 2 and item["product"]["sellerSku"] == "GIFT"
    assert item["fulfillment"]["packing"]["giftOption"] == {"giftMessage": "Hi", "giftWrapLevel": "PREMIUM"}

    market.advance(minutes=3)
    market.confirm(order_id)
    confirmed = market.order(order_id)
    assert confirmed["lastUpdatedTime"] == "2026-01-01T00:03:00Z" > pending["lastUpdatedTime"]
    assert confirmed["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert confirmed["buyer"]["buyerEmail"].endswith("@marketplace.amazon.com")
    assert confirmed["recipient"]["deliveryAddress"]["countryCode"] == "US"
    item = confirmed["orderItems"][0]
    assert item["product"]["price"]["unitPrice"] == {"amount": "10.00", "currencyCode": "USD"}
    breakdowns = {b["type"]: b["subtotal"]["amount"] for b in item["proceeds"]["breakdowns"]}
    # tax is 8 % of the price and of the gift wrap, and its detailed breakdown says which is which
    assert breakdowns == {"ITEM": "20.00", "TAX": "1.84", "GIFT_WRAP": "3.00"}
    [tax] = [b for b in item["proceeds"]["breakdowns"] if b["type"] == "TAX"]
    assert {d["subtype"]: d["value"]["amount"] for d in tax["detailedBreakdowns"]} == {
        "ITEM": "1.60",
        "GIFT_WRAP": "0.24",
    }
    assert item["proceeds"]["proceedsTotal"]["amount"] == "24.84"
    assert confirmed["proceeds"]["grandTotal"]["amount"] == "24.84"
    assert {b["type"]: b["subtotal"]["amount"] for b in confirmed["proceeds"]["breakdowns"]} == breakdowns


def test_business_buyer_and_currency(market):
    buyer = Buyer("Ana Ruiz", "ana@example.com", company="Ruiz SA", country_code="MX")
    order_id = market.place_order(
        [Item("A", unit_price="100")], marketplace_id="A1VC38T7YXB528", buyer=buyer, business=True
    )
    market.confirm(order_id)
    order = market.order(order_id)
    assert order["programs"] == ["AMAZON_BUSINESS"]
    assert order["buyer"] == {"buyerName": "Ana Ruiz", "buyerEmail": "ana@example.com", "buyerCompanyName": "Ruiz SA"}
    assert order["salesChannel"] == {
        "channelName": "AMAZON",
        "marketplaceId": "A1VC38T7YXB528",
        "marketplaceName": "Amazon.co.jp",
    }
    assert order["orderItems"][0]["product"]["price"]["unitPrice"] == {"amount": "100", "currencyCode": "JPY"}


def test_ship_cancel_and_item_cancel(market):
    shipped = market.place_order([Item("A", 2), Item("B", 1)], status="UNSHIPPED")
    market.cancel_item(shipped, "B")
    partial = market.order(shipped)
    assert partial["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert partial["orderItems"][1]["cancellation"]["cancellationRequest"]["requester"] == "BUYER"
    assert partial["orderItems"][1]["fulfillment"]["quantityUnfulfilled"] == 0
    market.ship(shipped)
    order = market.order(shipped)
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert [i["fulfillment"]["quantityFulfilled"] for i in order["orderItems"]] == [2, 0]
    assert [i["fulfillment"]["quantityUnfulfilled"] for i in order["orderItems"]] == [0, 0]
    assert order["packages"][0]["packageItems"] == [
        {"orderItemId": order["orderItems"][0]["orderItemId"], "quantity": 2}
    ]

    cancelled = market.place_order([Item("A"), Item("B")], status="UNSHIPPED")
    market.cancel(cancelled, reason="Out of stock")
    order = market.order(cancelled)
    assert order["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert all(
        i["cancellation"]["cancellationExecution"]["cancelReason"] == "Out of stock" for i in order["orderItems"]
    )
    with pytest.raises(ValueError):
        market.ship(cancelled)


def test_simulate_is_seeded():
    runs = []
    for _ in range(2):
        market = Marketplace(seed=11)
        counts = market.simulate(hours=24, orders_per_hour=20, skus=["A", "B", "C", "D"])
        runs.append((counts, market.now, market.search(time_field="createdTime", after=START, before=market.now)))
    assert runs[0] == runs[1]
    counts, now, results = runs[0]
    assert now == START + timedelta(hours=24)
    assert counts["placed"] == len(results) > 300
    assert 0 < counts["shipped"] < counts["confirmed"] <= counts["placed"]
    statuses = {order["fulfillment"]["fulfillmentStatus"] for order, _ in results}
    assert {"PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED"} <= statuses


# -- token endpoint and auth -------------------------------------------------------------------


def test_token_endpoint(server):
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "Atzr|secret-refresh",
        "client_id": "cid",
        "client_secret": "top-secret",
    }
    ok = httpx.post(server.token_url, data=form)
    assert ok.status_code == 200
    body = ok.json()
    assert body["access_token"].startswith("Atza|sandbox.")
    assert (body["token_type"], body["expires_in"], body["refresh_token"]) == ("bearer", 3600, "Atzr|secret-refresh")

    missing = httpx.post(server.token_url, data={k: v for k, v in form.items() if k != "client_secret"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    server.inject("token_invalid_grant")
    assert httpx.post(server.token_url, data=form).json()["error"] == "invalid_grant"
    assert "top-secret" not in missing.text
    assert "secret" not in repr(server.requests)


def test_api_requires_access_token(server):
    response = httpx.get(
        server.url + SEARCH, params={"lastUpdatedAfter": SINCE}, headers={"x-amz-access-token": "Atza|real"}
    )
    assert response.status_code == 403
    assert response.json() == {
        "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
    }


# -- searchOrders rules ------------------------------------------------------------------------
# Each rule the sandbox enforces, with the sentence of Amazon's model it comes from. The clock of
# these tests is 2026-01-01T00:00:00Z; Amazon's answer to any refusal is the same terse body.

INVALID_INPUT = {"errors": [{"code": "InvalidInput", "message": "Invalid Input", "details": "Invalid Input"}]}
RULES = [
    ("You must provide exactly one of `createdAfter` and `lastUpdatedAfter` in your request.", {}),
    (
        "You must provide exactly one of `createdAfter` and `lastUpdatedAfter` in your request.",
        {"lastUpdatedAfter": SINCE, "createdAfter": SINCE},
    ),
    (
        "If `createdAfter` is provided, neither `lastUpdatedAfter` nor `lastUpdatedBefore` may be provided.",
        {"createdAfter": SINCE, "lastUpdatedBefore": SINCE},
    ),
    (
        "If `lastUpdatedAfter` is provided, neither `createdAfter` nor `createdBefore` may be provided.",
        {"lastUpdatedAfter": SINCE, "createdBefore": SINCE},
    ),
    (
        "The date must be in [ISO 8601](https://developer-docs.amazon.com/sp-api/docs/iso-8601) format.",
        {"lastUpdatedAfter": "yesterday"},
    ),
    # the strict reading of the parameter's format (RFC 3339's date-time): a time without its offset is refused
    ('"format": "date-time"', {"lastUpdatedAfter": "2025-12-31T00:00:00"}),
    (
        "if provided must be equal to or after the `lastUpdatedAfter` date and at least two minutes before the time "
        "of the request",
        {"lastUpdatedAfter": SINCE, "lastUpdatedBefore": "2025-12-31T23:58:30Z"},
    ),
    (
        "if provided must be equal to or after the `lastUpdatedAfter` date and at least two minutes before the time "
        "of the request",
        {"lastUpdatedAfter": "2025-12-31T12:00:00Z", "lastUpdatedBefore": "2025-12-31T11:00:00Z"},
    ),
    (
        "if provided must be equal to or after the `createdAfter` date and at least two minutes before the time of "
        "the request",
        {"createdAfter": "2025-12-31T12:00:00Z", "createdBefore": "2025-12-31T11:00:00Z"},
    ),
    ("The value must be between 1 and 100.", {"lastUpdatedAfter": SINCE, "maxResultsPerPage": "0"}),
    ("The value must be between 1 and 100.", {"lastUpdatedAfter": SINCE, "maxResultsPerPage": "101"}),
    ("The value must be between 1 and 100.", {"lastUpdatedAfter": SINCE, "maxResultsPerPage": "ten"}),
    (
        '"enum": ["BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE"',
        {"lastUpdatedAfter": SINCE, "includedData": "BUYER,SHOE_SIZE"},
    ),
    (
        '"enum": ["PENDING_AVAILABILITY", "PENDING", "UNSHIPPED"',
        {"lastUpdatedAfter": SINCE, "fulfillmentStatuses": "LOST"},
    ),
    ('"enum": ["MERCHANT", "AMAZON"]', {"lastUpdatedAfter": SINCE, "fulfilledBy": "SELLER"}),
    (
        "Refer to [Marketplace IDs](https://developer-docs.amazon.com/sp-api/docs/marketplace-ids) for a complete list "
        "of `marketplaceId` values.",
        {"lastUpdatedAfter": SINCE, "marketplaceIds": "ATVPDKIKX0DER,NOT-A-MARKETPLACE"},
    ),
    ('"maxItems": 50', {"lastUpdatedAfter": SINCE, "marketplaceIds": ",".join([US] * 51)}),
    (
        "you must pass the `nextToken` value as the `paginationToken` query parameter",
        {"lastUpdatedAfter": SINCE, "paginationToken": "no-such-token"},
    ),
]


@pytest.mark.parametrize("quote, params", RULES, ids=[f"{n:02d}" for n in range(len(RULES))])
def test_a_request_the_model_forbids_is_refused_tersely(server, quote, params):
    assert quote in server_model_text()  # the rule is Amazon's
    with api(server) as client:
        response = client.get(SEARCH, params=params)
    assert response.status_code == 400
    assert response.json() == INVALID_INPUT
    assert response.headers["x-amzn-RequestId"] and "x-amzn-RateLimit-Limit" in response.headers


def server_model_text() -> str:
    from pipelines.sandbox.orders import MODEL

    return json.dumps(MODEL, ensure_ascii=False)


TOKEN_SENTENCE = (
    "All other parameters must be provided with the same values that were provided with the request "
    "that generated this token, with the exception of `maxResultsPerPage` and `includedData`, which "
    "can be modified between calls."
)


def first_page(client, **params):
    params = {"lastUpdatedAfter": SINCE, "marketplaceIds": US, "maxResultsPerPage": "2", **params}
    body = client.get(SEARCH, params=params).json()
    return params, body


@pytest.mark.parametrize(
    "change",
    [
        {"lastUpdatedAfter": None, "marketplaceIds": None, "maxResultsPerPage": None},  # the token alone
        {"lastUpdatedAfter": "2025-12-31T00:00:01Z"},
        {"marketplaceIds": f"{US},A2EUQ1WTGCTBG2"},
        {"marketplaceIds": None},
        {"lastUpdatedBefore": "2026-01-01T00:03:03Z"},  # a bound the first request left to its default
        {"fulfilledBy": "MERCHANT"},
    ],
)
def test_a_pagination_token_comes_with_the_same_parameters_as_its_first_request(server, market, change):
    assert TOKEN_SENTENCE in server_model_text()
    place(market, 5)
    with api(server) as client:
        params, body = first_page(client)
        again = {**params, "paginationToken": body["pagination"]["nextToken"], **change}
        response = client.get(SEARCH, params={k: v for k, v in again.items() if v is not None})
        assert response.status_code == 400 and response.json() == INVALID_INPUT
        # page size and datasets may change between calls
        same = {
            **params,
            "paginationToken": body["pagination"]["nextToken"],
            "maxResultsPerPage": "3",
            "includedData": "BUYER,FULFILLMENT",
        }
        assert [o["fulfillment"]["fulfillmentStatus"] for o in client.get(SEARCH, params=same).json()["orders"]] == [
            "PENDING"
        ] * 3


def test_under_the_applied_reading_a_token_needs_the_bound_amazon_chose(market):
    """The other strict reading of the same sentence: the before-bound a first request left out is
    the one it was applied with, echoed as lastUpdatedBefore, and must then be sent."""
    place(market, 5)
    with SandboxServer(market, search_burst=1000, token_reading="applied") as server, api(server) as client:
        params, body = first_page(client)
        token = body["pagination"]["nextToken"]
        refused = client.get(SEARCH, params={**params, "paginationToken": token})
        assert refused.status_code == 400 and refused.json() == INVALID_INPUT
        accepted = client.get(
            SEARCH, params={**params, "paginationToken": token, "lastUpdatedBefore": body["lastUpdatedBefore"]}
        )
        assert accepted.status_code == 200 and len(accepted.json()["orders"]) == 2


def test_a_pagination_token_expires_after_24_hours_of_the_marketplace(server, market):
    assert "The token will expire after 24 hours." in server_model_text()
    place(market, 5)
    with api(server) as client:
        params, body = first_page(client)
        token = body["pagination"]["nextToken"]
        market.advance(hours=23, minutes=59)
        assert client.get(SEARCH, params={**params, "paginationToken": token}).status_code == 200
        market.advance(minutes=2)
        expired = client.get(SEARCH, params={**params, "paginationToken": token})
    assert expired.status_code == 400 and expired.json() == INVALID_INPUT


def test_ignores_client_library_marketplace_params(server, market):
    place(market, 2)
    params = {"lastUpdatedAfter": SINCE, "MarketplaceId": US, "MarketplaceIds": US, "marketplace_ids": US}
    with api(server) as client:
        assert len(client.get(SEARCH, params=params).json()["orders"]) == 2


def test_effective_before_bound_is_echoed(server, market):
    place(market, 3)  # clock is now 00:05:03
    with api(server) as client:
        default = client.get(SEARCH, params={"lastUpdatedAfter": SINCE}).json()
        assert default["lastUpdatedBefore"] == "2026-01-01T00:03:03Z"
        given = client.get(
            SEARCH, params={"lastUpdatedAfter": SINCE, "lastUpdatedBefore": "2026-01-01T00:00:01Z"}
        ).json()
        assert given["lastUpdatedBefore"] == "2026-01-01T00:00:01Z" and len(given["orders"]) == 2
        created = client.get(SEARCH, params={"createdAfter": SINCE}).json()
        assert created["createdBefore"] == "2026-01-01T00:03:03Z" and "lastUpdatedBefore" not in created

        first = client.get(SEARCH, params={"lastUpdatedAfter": SINCE, "maxResultsPerPage": "2"}).json()
        market.advance(hours=1)
        last = client.get(
            SEARCH, params={"lastUpdatedAfter": SINCE, "paginationToken": first["pagination"]["nextToken"]}
        ).json()
        assert last["lastUpdatedBefore"] == first["lastUpdatedBefore"] == "2026-01-01T00:03:03Z"


def test_filters_and_sorting(server, market):
    us = place(market, 2)
    uk = market.place_order([Item("A")], marketplace_id="A1F83G8C2ARO7P", fulfilled_by="AMAZON")
    market.advance(minutes=5)
    market.touch(us[0])  # now the most recently updated
    market.advance(minutes=5)
    with api(server) as client:

        def ids(**params):
            return [
                o["orderId"] for o in client.get(SEARCH, params={"lastUpdatedAfter": SINCE, **params}).json()["orders"]
            ]

        assert ids() == [us[1], uk, us[0]]
        assert ids(marketplaceIds=f"{US},A2EUQ1WTGCTBG2") == [us[1], us[0]]
        assert ids(fulfilledBy="AMAZON") == [uk]
        assert ids(fulfillmentStatuses="UNSHIPPED,SHIPPED") == []
        assert ids(lastUpdatedAfter="2026-01-01T00:10:00Z") == [us[0]]
        assert [o["orderId"] for o in client.get(SEARCH, params={"createdAfter": SINCE}).json()["orders"]] == [*us, uk]


def test_pagination_snapshot_survives_changes(server, market):
    ids = place(market, 250)
    seen, pages = [], []
    with api(server) as client:
        response = client.get(
            SEARCH, params={"lastUpdatedAfter": SINCE, "maxResultsPerPage": "100", "marketplaceIds": US}
        )
        while True:
            body = response.json()
            pages.append(len(body["orders"]))
            seen += [o["orderId"] for o in body["orders"]]
            # Changes between pages would reorder a live query; the snapshot must not move.
            market.confirm(ids[len(seen) % 250])
            market.place_order([Item("LATE")])
            market.advance(minutes=5)
            if "pagination" not in body:
                break
            token = body["pagination"]["nextToken"]
            again = {"lastUpdatedAfter": SINCE, "marketplaceIds": US, "paginationToken": token}
            response = client.get(SEARCH, params=again)
            # The same token gives the same page, so a client may retry safely.
            assert client.get(SEARCH, params=again).json() == response.json()
    assert pages == [100, 100, 50]
    assert sorted(seen) == sorted(ids)


def test_pending_order_in_search_gains_buyer_after_confirm(server, market):
    [order_id] = place(market, 1)
    params = {"lastUpdatedAfter": SINCE, "includedData": "BUYER,RECIPIENT,PROCEEDS"}
    with api(server) as client:
        [pending] = client.get(SEARCH, params=params).json()["orders"]
        assert not {"buyer", "recipient", "proceeds"} & pending.keys()
        assert "price" not in pending["orderItems"][0]["product"]
        market.confirm(order_id)
        market.advance(minutes=3)
        [confirmed] = client.get(SEARCH, params={**params, "lastUpdatedAfter": pending["lastUpdatedTime"]}).json()[
            "orders"
        ]
    assert confirmed["lastUpdatedTime"] > pending["lastUpdatedTime"]
    assert {"buyer", "recipient", "proceeds"} <= confirmed.keys()
    assert confirmed["orderItems"][0]["product"]["price"]["unitPrice"]["currencyCode"] == "USD"


def test_included_data_projection(server, market):
    order_id = market.place_order([Item("A", gift_message="Hi"), Item("B")], status="UNSHIPPED")
    market.cancel_item(order_id, "B")
    market.ship(order_id)
    market.advance(minutes=5)
    with api(server) as client:

        def fetch(included):
            params = {"lastUpdatedAfter": SINCE, "includedData": included} if included else {"lastUpdatedAfter": SINCE}
            return client.get(SEARCH, params=params).json()["orders"][0]

        bare = fetch(None)
        assert set(bare) == {
            "orderId",
            "orderAliases",
            "createdTime",
            "lastUpdatedTime",
            "programs",
            "associatedOrders",
            "salesChannel",
            "orderItems",
        }
        assert set(bare["orderItems"][0]) == {"orderItemId", "quantityOrdered", "product"}
        assert "price" in bare["orderItems"][0]["product"]
        assert set(fetch("BUYER")) - set(bare) == {"buyer"}
        full = fetch("BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,CANCELLATION,PACKAGES,TAX")
        assert set(full) - set(bare) == {"buyer", "recipient", "proceeds", "fulfillment", "packages"}
        assert set(full["orderItems"][0]) - set(bare["orderItems"][0]) == {"proceeds", "fulfillment"}
        assert "cancellation" in full["orderItems"][1]
        assert full == market.order(order_id)

        got = client.get(f"{SEARCH}/{order_id}", params={"includedData": "FULFILLMENT"}).json()["order"]
        assert got["fulfillment"]["fulfillmentStatus"] == "SHIPPED" and "buyer" not in got
        missing = client.get(f"{SEARCH}/111-0000000-0000000")
        assert missing.status_code == 404 and error_code(missing) == "NotFound"


def test_put_raw_orders_are_returned_verbatim(server, market):
    place(market, 1)
    hostile = {
        "orderId": "903-0000000-0000001",
        "lastUpdatedTime": "not a date",
        "orderItems": "nope",
        "extra": [1, None],
    }
    market.put_raw(hostile)
    market.put_raw({"orderId": "RAW-2", "lastUpdatedTime": "2020-01-01T00:00:00Z"})  # outside the window
    with api(server) as client:
        orders = client.get(SEARCH, params={"lastUpdatedAfter": SINCE, "includedData": "BUYER"}).json()["orders"]
        assert orders[-1] == hostile and len(orders) == 2
        assert client.get(f"{SEARCH}/903-0000000-0000001").json() == {"order": hostile}
        # getOrder's static sandbox case: an id that is not of Amazon's form is invalid input
        assert client.get(f"{SEARCH}/TEST_CASE_400").json() == INVALID_INPUT


# -- rate limits and faults ------------------------------------------------------------------------


def test_rate_limit_exhausted_burst(market):
    with SandboxServer(market, search_burst=3) as srv, api(srv) as client:
        statuses = [client.get(SEARCH, params={"lastUpdatedAfter": SINCE}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        throttled = client.get(SEARCH, params={"lastUpdatedAfter": SINCE})
        quota = {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}
        assert throttled.json() == {"errors": [quota]}
        # the model's 429 carries x-amzn-RequestId only
        assert "x-amzn-RateLimit-Limit" not in throttled.headers and throttled.headers["x-amzn-RequestId"]
        srv.reset_rate_limits()
        assert client.get(SEARCH, params={"lastUpdatedAfter": SINCE}).status_code == 200


class RealSeconds:
    """The sandbox's real clock, moved by the test: usage plans refill only when it says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_refills_with_speedup(market):
    seconds = RealSeconds()
    with (
        SandboxServer(market, get_rate=0.5, get_burst=1, speedup=40, real_clock=seconds) as srv,
        api(srv) as client,
    ):  # 20 requests/s
        order_id = market.place_order([Item("A")])
        first, second = client.get(f"{SEARCH}/{order_id}"), client.get(f"{SEARCH}/{order_id}")
        assert first.headers["x-amzn-RateLimit-Limit"] == "20"
        assert (first.status_code, second.status_code) == (200, 429)
        seconds.now += 0.04  # less than a token's 0.05 s
        assert client.get(f"{SEARCH}/{order_id}").status_code == 429
        seconds.now += 0.01
        assert client.get(f"{SEARCH}/{order_id}").status_code == 200


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        ("429", 429, lambda r: error_code(r) == "QuotaExceeded"),
        ("429_nobody", 429, lambda r: r.content == b""),
        ("500", 500, lambda r: error_code(r) == "InternalFailure"),
        ("503", 503, lambda r: error_code(r) == "ServiceUnavailable"),
        # an expired access token reads like any other refused one
        (
            "expired_token",
            403,
            lambda r: (
                r.json() == {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
            ),
        ),
        ("non_json", 200, lambda r: r.text == "<html>Service error</html>"),
        ("truncated", 200, lambda r: r.text.startswith('{"orders": [')),
    ],
)
def test_injected_faults(server, market, kind, status, check):
    place(market, 3)
    with api(server) as client:
        server.inject(kind, count=2)
        faulted = [client.get(SEARCH, params={"lastUpdatedAfter": SINCE}) for _ in range(2)]
        healthy = client.get(SEARCH, params={"lastUpdatedAfter": SINCE})
    for response in faulted:
        assert response.status_code == status and check(response)
        assert response.headers["x-amzn-RequestId"]
    if kind == "truncated":
        with pytest.raises(ValueError):
            faulted[0].json()
    assert len(healthy.json()["orders"]) == 3
    assert [r["status"] for r in server.requests[-3:]] == [status, status, 200]


def test_slow_fault_times_out_client(server, market):
    server.slow_seconds = 600  # held until the client gives up (and the server stops)
    server.inject("slow")
    with api(server, timeout=2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(SEARCH, params={"lastUpdatedAfter": SINCE})
        assert client.get(SEARCH, params={"lastUpdatedAfter": SINCE}).status_code == 200


def test_pagination_faults(server, market):
    place(market, 6)
    with api(server) as client:
        first = client.get(SEARCH, params={"lastUpdatedAfter": SINCE, "maxResultsPerPage": "2"}).json()
        server.inject("repeat_order")
        second = client.get(
            SEARCH,
            params={
                "lastUpdatedAfter": SINCE,
                "maxResultsPerPage": "2",
                "paginationToken": first["pagination"]["nextToken"],
            },
        ).json()
        assert [o["orderId"] for o in second["orders"]][:1] == [first["orders"][-1]["orderId"]]
        assert len(second["orders"]) == 3

        server.inject("invalid_pagination_token")
        token = second["pagination"]["nextToken"]
        for _ in range(2):  # the snapshot is gone, so a retry fails too
            response = client.get(SEARCH, params={"lastUpdatedAfter": SINCE, "paginationToken": token})
            assert response.status_code == 400 and error_code(response) == "InvalidInput"


def test_random_faults_are_seeded(market):
    runs = []
    for _ in range(2):
        with (
            SandboxServer(market, search_burst=100, fault_rates={"500": 0.3, "503": 0.2}, fault_seed=5) as srv,
            api(srv) as client,
        ):
            runs.append([client.get(SEARCH, params={"lastUpdatedAfter": SINCE}).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} == set(runs[0])


def test_pagination_token_expires(server, market):
    place(market, 3)
    server.orders.token_ttl = timedelta(minutes=10)
    with api(server) as client:
        first = client.get(SEARCH, params={"lastUpdatedAfter": SINCE, "maxResultsPerPage": "1"}).json()
        market.advance(minutes=11)
        response = client.get(
            SEARCH, params={"lastUpdatedAfter": SINCE, "paginationToken": first["pagination"]["nextToken"]}
        )
    assert response.status_code == 400 and response.json() == INVALID_INPUT


# -- admin endpoints and the real client -----------------------------------------------------------


def test_admin_endpoints(server, market):
    with httpx.Client(base_url=server.url + "/_sandbox") as admin:
        assert admin.get("/clock").json() == {"now": "2026-01-01T00:00:00Z"}
        assert admin.post("/advance", json={"seconds": 90}).json() == {"now": "2026-01-01T00:01:30Z"}
        new_order = {"items": [{"sku": "A", "quantity": 2, "gift_message": "Hi"}], "marketplace_id": US}
        order_id = admin.post("/orders", json=new_order).json()["orderId"]
        assert (
            admin.post(f"/orders/{order_id}/confirm").json()["order"]["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
        )
        assert admin.post(f"/orders/{order_id}/ship").status_code == 200
        assert admin.post(f"/orders/{order_id}/cancel").status_code == 400  # already shipped
        assert admin.post("/orders/nope/confirm").status_code == 404
        counts = admin.post("/simulate", json={"hours": 2, "orders_per_hour": 10, "skus": ["A", "B"]}).json()["counts"]
        assert counts["placed"] > 0
    assert market.order(order_id)["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert server.requests == []  # admin calls are not API requests


def test_real_sp_api_client(server, market):
    from conftest import sandbox_client
    from sp_api.api import OrdersV20260101

    place(market, 15)
    client = sandbox_client(server, OrdersV20260101, US)
    first = client.search_orders(
        lastUpdatedAfter=SINCE, marketplaceIds=[US], includedData=["BUYER"], maxResultsPerPage=10
    )
    assert len(first.payload["orders"]) == 10 and first.next_token
    assert first.payload["lastUpdatedBefore"] == "2026-01-01T00:03:15Z"
    second = client.search_orders(
        paginationToken=first.next_token,
        lastUpdatedAfter=SINCE,
        marketplaceIds=[US],
        includedData=["BUYER"],
        maxResultsPerPage=10,
    )
    assert len(second.payload["orders"]) == 5 and second.next_token is None
    order_id = second.payload["orders"][0]["orderId"]
    assert client.get_order(order_id, includedData=["FULFILLMENT"]).payload["order"]["orderId"] == order_id


def test_a_live_sandbox_catches_up_with_its_clock_at_once_then_keeps_up(market):
    now = [START + timedelta(hours=2)]
    with SandboxServer(market) as server:
        server.follow_real_time(
            orders_per_hour=30, skus=["A", "B"], marketplaces=(US,), every=0.01, clock=lambda: now[0]
        )
        # the two hours are simulated before it returns, so a sync started next finds them
        assert market.now == START + timedelta(hours=2)
        caught_up = market.search(time_field="createdTime", after=START, before=market.now)
        assert len(caught_up) > 20 and {order["salesChannel"]["marketplaceId"] for order, _ in caught_up} == {US}
        now[0] += timedelta(hours=1)
        deadline = time.monotonic() + 10  # its thread's next step, an event we can only wait for
        while market.now < now[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert market.now == now[0]
        assert len(market.search(time_field="createdTime", after=START, before=market.now)) > len(caught_up)
    assert server._live is None  # stop() ended the clock's thread
