"""The sandbox's Listings Items API 2021-08-01 against Amazon's model: its static sandbox cases (x-amzn-api-sandbox)
replayed over HTTP, every answer checked against the model's schema, and its rules (usage plan, required
parameters, merge keeping the handling time, replace wiping it, an FBA code never taken for DEFAULT)."""

from __future__ import annotations

import httpx
import pytest
from amazon_models import for_generation, problems, response_schema, schema
from conftest import sandbox_client
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from sp_api.api import ListingsItemsV20210801
from sp_api.base.exceptions import SellingApiBadRequestException

from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.sandbox.listings import LISTINGS_MODEL, LISTINGS_PATH
from pipelines.sandbox.marketplace import OrderRefused

MODEL = "listingsItems_2021-08-01.json"
ITEM_PATH = "/listings/2021-08-01/items/{sellerId}/{sku}"
SEARCH_PATH = "/listings/2021-08-01/items/{sellerId}"
US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
SELLER = "A3TH9S8BH6GOGM"


def cases(operation_id: str) -> list[tuple[int, dict, dict]]:
    found = []
    for methods in LISTINGS_MODEL["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                for status, response in operation["responses"].items():
                    for case in (response.get("x-amzn-api-sandbox") or {}).get("static", []):
                        params = {k: v["value"] for k, v in case["request"]["parameters"].items() if "value" in v}
                        found.append((int(status), params, case["response"]))
    return found


def client_for(server) -> ListingsItemsV20210801:
    return sandbox_client(server, ListingsItemsV20210801, US)


def quantity_patch(quantity: int, product_type="PRODUCT", op="merge", code="DEFAULT") -> dict:
    """A patchListingsItem body setting the quantity a fulfilment channel offers, as the stock push sends it."""
    return {
        "productType": product_type,
        "patches": [
            {
                "op": op,
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": code, "quantity": quantity}],
            }
        ],
    }


def token(server) -> str:
    return httpx.post(
        server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "z", "client_id": "x", "client_secret": "y"},
    ).json()["access_token"]


@pytest.fixture
def server():
    market = Marketplace(seed=3)
    # usage plans 100 times the model's; an accepted patch applied an hour of the marketplace's time later (36 s
    # of real time at this speedup, whichever comes first)
    with SandboxServer(market, speedup=100, listing_apply_seconds=3600) as served:
        served.listings.seller_id = SELLER
        yield served


def seed_luggage(server) -> None:
    """The listing of the model's examples: one SKU in the US and Canada, 100 units merchant-fulfilled."""
    for marketplace_id, created, updated, status in (
        (US, "2021-02-01T00:00:00Z", "2021-03-01T00:00:00Z", ["BUYABLE"]),
        (CA, "2021-02-02T01:00:00Z", "2021-03-05T00:00:00Z", []),
    ):
        server.listings.list_item(
            "GM-ZDPI-9B4E",
            100,
            marketplace_id=marketplace_id,
            product_type="LUGGAGE",
            asin="B071VG5N9D",
            item_name="Hardside Carry-On Spinner Suitcase Luggage",
            created=created,
            updated=updated,
            status=status,
            handling_days=None,
        )
    for sku in ("HW-ZDPI-9B4E", "TC-ZDPI-9B4E"):  # the search case's other two, changed before it
        server.listings.list_item(sku, 5, marketplace_id=US, updated="2021-01-01T00:00:00Z")


def summaries(item: dict) -> list[dict]:
    """What the sandbox keeps of a summary (it has no images)."""
    return [{k: v for k, v in s.items() if k != "mainImage"} for s in item.get("summaries", [])]


def test_the_model_documents_the_cases_this_file_replays():
    assert [status for status, _, _ in cases("getListingsItem")] == [200, 400]
    assert [status for status, _, _ in cases("patchListingsItem")] == [200, 200, 200, 400]
    assert [status for status, _, _ in cases("searchListingsItems")] == [200, 400]


def test_get_listings_item_answers_the_documented_listing(server):
    seed_luggage(server)
    (_, _, documented), _ = cases("getListingsItem")
    answer = (
        client_for(server)
        .get_listings_item(
            SELLER, "GM-ZDPI-9B4E", marketplaceIds=f"{US},{CA}", includedData="summaries,fulfillmentAvailability,issues"
        )
        .payload
    )
    assert problems(answer, response_schema(MODEL, ITEM_PATH, "200")) == []
    assert answer["sku"] == documented["sku"]
    assert summaries(answer) == summaries(documented)
    assert answer["fulfillmentAvailability"] == documented["fulfillmentAvailability"]


def test_search_listings_items_answers_the_documented_page(server):
    seed_luggage(server)
    (_, params, documented), _ = cases("searchListingsItems")
    response = client_for(server).search_listings_items(
        SELLER, **{k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
    )
    answer = response.payload
    assert problems(answer, response_schema(MODEL, SEARCH_PATH, "200")) == []
    assert answer["numberOfResults"] == documented["numberOfResults"] == 3
    assert [i["sku"] for i in answer["items"]] == [i["sku"] for i in documented["items"]]
    assert summaries(answer["items"][0]) == summaries(documented["items"][0])
    assert answer["items"][0]["fulfillmentAvailability"] == documented["items"][0]["fulfillmentAvailability"]
    next_token = response.next_token or answer.get("pagination", {}).get("nextToken")
    assert next_token  # and the next page, with the same parameters, is the second SKU
    second = client_for(server).search_listings_items(
        SELLER, pageToken=next_token, **{k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
    )
    assert [i["sku"] for i in second.payload["items"]] == ["TC-ZDPI-9B4E"]


def test_the_documented_bad_requests_are_refused_as_documented(server):
    seed_luggage(server)
    for operation, method, path in (
        ("getListingsItem", "GET", f"{LISTINGS_PATH}/{SELLER}/BadSKU"),
        ("patchListingsItem", "PATCH", f"{LISTINGS_PATH}/{SELLER}/BadSKU"),
    ):
        ((status, params, documented),) = [c for c in cases(operation) if c[0] == 400]
        # the documented request names the SKU alone: no marketplaceIds (required), no body. python-amazon-sp-api
        # adds the client's marketplace to every request, so this one goes out as documented through httpx
        answer = httpx.request(method, server.url + path, headers={"x-amz-access-token": token(server)})
        assert (answer.status_code, answer.json()) == (status, documented)
    ((status, params, documented),) = [c for c in cases("searchListingsItems") if c[0] == 400]
    with pytest.raises(SellingApiBadRequestException) as refused:
        client_for(server).search_listings_items(SELLER, marketplaceIds=",".join(params["marketplaceIds"]))
    assert refused.value.code == 400 and refused.value.error == documented["errors"]


def test_patch_answers_accepted_valid_and_invalid_as_documented(server):
    seed_luggage(server)
    server.listings.list_item("VALIDATION_VALID", 1, asin="B07N4M94X4")
    server.listings.list_item("VALIDATION_INVALID", 1)
    client = client_for(server)
    quantity = quantity_patch(7, "LUGGAGE")
    accepted, valid, invalid = [c for c in cases("patchListingsItem") if c[0] == 200]
    answer = client.patch_listings_item(SELLER, "GM-ZDPI-9B4E", marketplaceIds=US, body=quantity).payload
    assert problems(answer, response_schema(MODEL, ITEM_PATH, "200", "patch")) == []
    assert {k: v for k, v in answer.items() if k != "submissionId"} == {
        k: v for k, v in accepted[2].items() if k != "submissionId"
    }
    for (_, params, documented), body in (
        (valid, quantity),
        (
            invalid,
            {
                "productType": "LUGGAGE",
                "patches": [{"op": "replace", "path": "/attributes/fake_attribute", "value": [{"value": "x"}]}],
            },
        ),
    ):
        answer = client.patch_listings_item(
            SELLER,
            params["sku"],
            marketplaceIds=",".join(params["marketplaceIds"]),
            includedData=",".join(params["includedData"]),
            mode=params["mode"],
            body=body,
        ).payload
        assert problems(answer, response_schema(MODEL, ITEM_PATH, "200", "patch")) == []
        assert {k: v for k, v in answer.items() if k != "submissionId"} == {
            k: v for k, v in documented.items() if k != "submissionId"
        }
    # a preview changes nothing
    assert server.listings.quantity("VALIDATION_VALID") == 1


def test_merge_keeps_the_handling_time_replace_wipes_it_and_an_fba_code_is_a_second_entry(server):
    client = client_for(server)
    for sku in ("MERGED", "REPLACED", "FBA-CODE"):
        server.listings.list_item(sku, 3, handling_days=4)

    def patch(sku, op, code="DEFAULT"):
        body = quantity_patch(9, op=op, code=code)
        assert client.patch_listings_item(SELLER, sku, marketplaceIds=US, body=body).payload["status"] == "ACCEPTED"

    patch("MERGED", "merge")
    patch("REPLACED", "replace")
    patch("FBA-CODE", "merge", "AMAZON_NA")
    assert server.listings.quantity("MERGED") == 3  # accepted, not yet applied
    server.marketplace.advance(seconds=server.listings.apply_seconds)
    assert server.listings.entries("MERGED") == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 9, "lead_time_to_ship_max_days": 4}
    ]
    assert server.listings.entries("REPLACED") == [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}]
    assert server.listings.entries("FBA-CODE") == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 3, "lead_time_to_ship_max_days": 4},
        {"fulfillment_channel_code": "AMAZON_NA", "quantity": 9},
    ]


def test_the_sandbox_refuses_what_the_model_does_not_allow(server):
    server.listings.list_item("MUG", 3)
    client = client_for(server)
    [good] = quantity_patch(1)["patches"]
    for params, body in (
        ({"marketplaceIds": US}, {"patches": [good]}),  # "required": ["productType", "patches"]
        ({"marketplaceIds": US}, {"productType": "PRODUCT", "patches": []}),  # "minItems": 1
        ({"marketplaceIds": US}, {"productType": "PRODUCT", "patches": [{**good, "op": "move"}]}),  # op's enum
        ({"marketplaceIds": US, "includedData": "identifiers"}, {"productType": "PRODUCT", "patches": [good]}),
        ({"marketplaceIds": "XX"}, {"productType": "PRODUCT", "patches": [good]}),
    ):
        with pytest.raises(SellingApiBadRequestException):
            client.patch_listings_item(SELLER, "MUG", body=body, **params)
    for params in (
        {"pageSize": 21},
        {"identifiers": "MUG"},
        {"identifiersType": "SKU"},
        {"includedData": "prices"},
        {"createdAfter": "yesterday"},
    ):
        with pytest.raises(SellingApiBadRequestException):
            client.search_listings_items(SELLER, marketplaceIds=US, **params)
    # a negative quantity is content Amazon refuses with a 200 INVALID
    negative = {
        "productType": "PRODUCT",
        "patches": [{**good, "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": -1}]}],
    }
    assert client.patch_listings_item(SELLER, "MUG", marketplaceIds=US, body=negative).payload["status"] == "INVALID"
    # another seller's listings are not this token's
    other = httpx.get(
        f"{server.url}{LISTINGS_PATH}/A1OTHERSELLER",
        params={"marketplaceIds": US},
        headers={"x-amz-access-token": token(server)},
    )
    assert other.status_code == 403


def test_the_usage_plan_is_the_models_and_the_rate_header_is_sent(server):
    market = Marketplace(seed=4)
    clock = [0.0]
    with SandboxServer(market, real_clock=lambda: clock[0]) as slow:
        slow.listings.list_item("MUG", 3)
        client = client_for(slow)
        statuses = []
        for _ in range(7):
            try:
                response = client.get_listings_item(SELLER, "MUG", marketplaceIds=US)
                statuses.append((200, response.headers.get("x-amzn-RateLimit-Limit")))
            except Exception as error:
                statuses.append((getattr(error, "code", None), None))
    # getListingsItem: "| 5 | 10 |"... the burst is 10: seven in the same instant all pass
    assert statuses == [(200, "5")] * 7
    with SandboxServer(Marketplace(seed=5), real_clock=lambda: clock[0]) as slow:
        slow.listings.list_item("MUG", 3)
        body = quantity_patch(1)
        answers = []
        for _ in range(6):
            try:
                answers.append(
                    client_for(slow).patch_listings_item(SELLER, "MUG", marketplaceIds=US, body=body).payload["status"]
                )
            except Exception as error:
                answers.append(getattr(error, "code", None))
    # patchListingsItem: "| 5 | 5 |": the sixth in the same instant is a 429
    assert answers == ["ACCEPTED"] * 5 + [429]


def test_an_order_draws_the_listing_down_and_none_is_taken_past_zero(server):
    server.listings.list_item("MUG", 2)
    server.listings.list_item("FBA", 0, fulfillment_channel_code="AMAZON_NA")
    market = server.marketplace
    market.place_order([Item("MUG", 2)])
    assert server.listings.quantity("MUG") == 0
    with pytest.raises(OrderRefused):
        market.place_order([Item("MUG", 1)])
    market.place_order([Item("FBA", 1)], fulfilled_by="AMAZON")  # Amazon's own stock: not the listing's quantity
    market.place_order([Item("UNLISTED", 1)])  # a SKU the seller does not list here: not the sandbox's to refuse
    counts = market.simulate(
        hours=2,
        orders_per_hour=60,
        skus=["MUG"],
        fba_rate=0,
        unknown_sku_rate=0,
        replacement_rate=0,
        marketplaces=(US,),
    )
    assert counts["placed"] == 0 and counts["refused"] > 0


# -- cases generated from the model's schema (hypothesis-jsonschema, fixed seed and budget) --------------------
PATCH_REQUEST = for_generation(schema(MODEL, "ListingsItemPatchRequest"))


@settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=from_schema(PATCH_REQUEST))
def test_any_patch_the_model_allows_is_answered_as_the_model_says_never_500(server, body):
    """Whatever ListingsItemPatchRequest the model allows, the sandbox answers 200 with a submission the model
    describes (ACCEPTED, or INVALID with issues) or 400; never an error of its own, and never ACCEPTED for anything
    but fulfillment_availability with a channel code."""
    server.listings.list_item("MUG", 3)
    response = httpx.patch(
        f"{server.url}{LISTINGS_PATH}/{SELLER}/MUG",
        params={"marketplaceIds": US},
        json=body,
        headers={"x-amz-access-token": token(server)},
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        answer = response.json()
        assert problems(answer, response_schema(MODEL, ITEM_PATH, "200", "patch")) == []
        if answer["status"] == "ACCEPTED":
            assert all(op["path"] == "/attributes/fulfillment_availability" for op in body["patches"])
            assert all(v.get("fulfillment_channel_code") for op in body["patches"] for v in op.get("value", []))
        else:
            assert answer["status"] == "INVALID" and answer["issues"]
