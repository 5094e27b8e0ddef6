"""How far back Amazon serves orders: a channel's start may be no older (#28)."""

from __future__ import annotations

from datetime import datetime

from pipelines.timeutil import iso


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
        where = ("from 2016 on in JP, AU and SG" if limit == LONG_HISTORY_FROM
                 else "no order data more than two years old (2016 on in JP, AU and SG)")
        raise StartTooOld(f"--start {iso(start_at)} is older than Amazon serves orders ({where}): "
                           f"start at {iso(limit)} or later")
