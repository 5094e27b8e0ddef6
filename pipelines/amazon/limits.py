"""Every limit Amazon sets that this product obeys, each beside the sentence of Amazon's model or
documentation it comes from (the models are in the sandbox's `models/` folder). A limit changes here only
when Amazon's text does."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipelines.clock import iso

# -- Orders API v2026-01-01, searchOrders (orders_2026-01-01.json) --------------------------------
# "Usage Plan: | Rate (requests per second) | Burst | | 0.0056 | 20 |"
SEARCH_ORDERS_RATE, SEARCH_ORDERS_BURST = 0.0056, 20
# maxResultsPerPage: "The value must be between 1 and 100. Default: 100."
SEARCH_ORDERS_PAGE_SIZE = 100
# lastUpdatedBefore: "at least two minutes before the time of the request"
SEARCH_ORDERS_SETTLE = timedelta(minutes=2)
# paginationToken: "The token will expire after 24 hours."
PAGINATION_TOKEN_LIFETIME = timedelta(hours=24)

# -- FBA Inventory API v1, getInventorySummaries (fbaInventory.json) -------------------------------
# "Usage Plan: | Rate (requests per second) | Burst | | 2 | 2 |"
INVENTORY_RATE, INVENTORY_BURST = 2.0, 2

# -- Reports API 2021-06-30 (reports_2021-06-30.json) ------------------------------------------------
# each operation's "Usage Plan: | Rate (requests per second) | Burst |": createReport 0.0167 / 15,
# getReport 2 / 15, getReportDocument 0.0167 / 15
REPORTS_USAGE_PLANS = {"createReport": (0.0167, 15), "getReport": (2.0, 15), "getReportDocument": (0.0167, 15)}
# Amazon's report type values page: a returns report covers "at most about 30 days per request"
REPORT_MOST_DAYS = timedelta(days=30)

# -- Amazon SQS (ReceiveMessage), where ORDER_CHANGE notifications arrive ----------------------------
# MaxNumberOfMessages: "Valid values: 1 to 10."
SQS_MOST_PER_RECEIVE = 10
# WaitTimeSeconds: "The duration (in seconds) for which the call waits for a message to arrive in the
# queue before returning" ... "Valid values: 0 to 20."
SQS_LONGEST_POLL_SECONDS = 20

# -- Listings Items API 2021-08-01 (listingsItems_2021-08-01.json) ----------------------------------
# patchListingsItem's and searchListingsItems' "Usage Plan: | Rate (requests per second) | Burst | | 5 | 5 |"
LISTINGS_RATE, LISTINGS_BURST = 5.0, 5

# -- Feeds API 2021-06-30 (feeds_2021-06-30.json) ------------------------------------------------------
# createFeed's "Usage Plan: | 0.0083 | 15 |"; getFeed's "| 2 | 15 |"
CREATE_FEED_RATE, CREATE_FEED_BURST = 0.0083, 15
GET_FEED_RATE, GET_FEED_BURST = 2.0, 15

# -- Orders API v0, confirmShipment (ordersV0.json) ------------------------------------------------------
# "Usage Plan: | Rate (requests per second) | Burst | | 2 | 10 |"
CONFIRM_SHIPMENT_RATE, CONFIRM_SHIPMENT_BURST = 2.0, 10

# -- how far back the Orders API serves orders -----------------------------------------------------------


class StartTooOld(ValueError):
    """The channel's start is older than the Orders API serves; the message is the one line shown."""


# Orders API v2026-01-01 (orders_2026-01-01.json, info.description): "This API does not display order data
# that is more than two years old, except in the JP, AU, and SG marketplaces, for which data from 2016 and
# after is available."
ORDERS_HISTORY_YEARS = 2
LONG_HISTORY_MARKETPLACES = {"A1VC38T7YXB528": "JP", "A39IBJ37TRP1C6": "AU", "A19VAU5U5O7RUS": "SG"}
LONG_HISTORY_FROM = datetime(2016, 1, 1)


def earliest_start(marketplace_ids, now: datetime) -> datetime:
    """The oldest order creation time Amazon serves for every one of these marketplaces."""
    if all(m in LONG_HISTORY_MARKETPLACES for m in marketplace_ids):
        return LONG_HISTORY_FROM
    try:
        return now.replace(year=now.year - ORDERS_HISTORY_YEARS)
    except ValueError:  # 29 February
        return now.replace(year=now.year - ORDERS_HISTORY_YEARS, day=28)


def check_start(marketplace_ids, start_at: datetime, now: datetime) -> None:
    limit = earliest_start(marketplace_ids, now)
    if start_at < limit:
        where = (
            "from 2016 on in JP, AU and SG"
            if limit == LONG_HISTORY_FROM
            else "no order data more than two years old (2016 on in JP, AU and SG)"
        )
        raise StartTooOld(
            f"--start {iso(start_at)} is older than Amazon serves orders ({where}): start at {iso(limit)} or later"
        )
