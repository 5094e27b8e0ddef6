"""Every limit Amazon sets that this product obeys, each beside the sentence of Amazon's model or
documentation it comes from (the models are in the sandbox's `models/` folder). A limit changes here only
when Amazon's text does."""

from __future__ import annotations

from datetime import timedelta

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
