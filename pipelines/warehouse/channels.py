"""Channels: one Amazon seller connection each, with the moment from which its orders are imported.

The channels table is the one registry of channels. A channel is checked whole before it is
recorded: its name can go into log lines, and its endpoints receive the seller's access token
and (the token URL) the client secret and refresh token, so they must be Amazon's over HTTPS or a
sandbox on this machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import duckdb

from pipelines.amazon.client import REGIONS
from pipelines.clock import Clock, is_loopback, iso, parse_instant, system_now

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SELLER_ID = re.compile(r"[A-Z0-9]{1,64}")  # a Merchant Token, such as A3TH9S8BH6GOGM


class ChannelError(ValueError):
    pass


@dataclass(frozen=True)
class Channel:
    name: str
    marketplace_ids: tuple[str, ...]
    start_at: datetime  # naive UTC
    endpoint: str | None = None
    token_url: str | None = None
    seller_id: str | None = None  # the seller's Merchant Token: an ORDER_CHANGE notification's SellerId


def add_channel(
    con: duckdb.DuckDBPyConnection,
    name: str,
    marketplace_ids: list[str],
    *,
    start: str | datetime | None = None,
    endpoint: str | None = None,
    token_url: str | None = None,
    seller_id: str | None = None,
    now: Clock = system_now,
) -> Channel:
    name = name.strip()
    added_at = now().replace(microsecond=0)
    start_at = parse_instant(start, "--start") if start else added_at
    check_channel(name, marketplace_ids, start_at=start_at, now=added_at, endpoint=endpoint, token_url=token_url)
    if seller_id is not None:
        check_seller_id(seller_id)
    from pipelines.amazon.limits import check_start

    check_start(marketplace_ids, start_at, added_at)  # #28: no older than Amazon serves
    if get_channel(con, name, missing_ok=True):
        raise ChannelError(f"channel {name!r} already exists; pick another name")
    channel = Channel(name, tuple(dict.fromkeys(marketplace_ids)), start_at, endpoint, token_url, seller_id)
    if con.execute("select count(*) from channels where channel = ?", [name]).fetchone()[0]:
        # #28: a removed channel's name is free again; the orders it kept stay under it and the new one's
        # sync starts from its own start (their ids are the channel's name and Amazon's id: the same order
        # synced again updates in place)
        con.execute(
            "update channels set marketplace_ids = ?, start_at = ?, endpoint = ?, token_url = ?, "
            "created_at = ?, seller_id = ?, removed_at = null where channel = ?",
            [list(channel.marketplace_ids), start_at, endpoint, token_url, added_at, seller_id, name],
        )
        return channel
    con.execute(
        "insert into channels (channel, marketplace_ids, start_at, endpoint, token_url, created_at, seller_id) "
        "values (?, ?, ?, ?, ?, ?, ?)",
        [channel.name, list(channel.marketplace_ids), start_at, endpoint, token_url, added_at, seller_id],
    )
    return channel


def check_seller_id(seller_id: str) -> None:
    if not SELLER_ID.fullmatch(seller_id):
        raise ChannelError(
            f"--seller-id {seller_id!r} is not a seller id (the Merchant Token in Seller Central's "
            "account info: capital letters and digits, such as A3TH9S8BH6GOGM)"
        )


def set_seller_id(con: duckdb.DuckDBPyConnection, name: str, seller_id: str) -> None:
    """Record the channel's seller id (what Amazon's messages about its orders must carry)."""
    check_seller_id(seller_id)
    con.execute("update channels set seller_id = ? where channel = ? and removed_at is null", [seller_id, name])


def check_channel(
    name: str,
    marketplace_ids: list[str],
    *,
    start_at: datetime,
    now: datetime,
    endpoint: str | None,
    token_url: str | None,
) -> None:
    """Refuse, with one line naming the value, a channel that cannot be used as it is."""
    if not name:
        raise ChannelError("a channel needs a name")
    if _CONTROL.search(name):
        raise ChannelError(f"channel name {name!r} holds a control character (a newline, say); pick another name")
    if not marketplace_ids:
        raise ChannelError(f"channel {name!r} needs at least one --marketplace")
    for marketplace_id in marketplace_ids:
        if marketplace_id not in REGIONS:
            raise ChannelError(
                f"--marketplace {marketplace_id!r} is not an Amazon marketplace id "
                "(ATVPDKIKX0DER is Amazon.com, A1F83G8C2ARO7P Amazon.co.uk, ...)"
            )
    regions = {REGIONS[m] for m in marketplace_ids}
    if len(regions) > 1:
        raise ChannelError(
            f"the marketplaces {', '.join(marketplace_ids)} are served from different regions "
            f"({', '.join(sorted(regions))}): add a channel per region"
        )
    if start_at > now:
        raise ChannelError(f"--start {iso(start_at)} is in the future (now is {iso(now)})")
    for option, url in (("--endpoint", endpoint), ("--token-url", token_url)):
        if url is not None:
            _check_url(option, url)
    if token_url and not endpoint:
        raise ChannelError("--token-url goes with --endpoint (a sandbox's); Amazon's own need neither")
    if endpoint and not token_url:  # #28: the seller's refresh token would go to Amazon's LWA for another server
        raise ChannelError(
            "--endpoint needs --token-url (the LWA token URL of the same server); Amazon's own endpoints need neither"
        )


def _check_url(option: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(f"{option} {url!r} is not a URL such as https://sellingpartnerapi-na.amazon.com")
    # the seller's tokens go there: over HTTPS, or to a sandbox on this machine
    if parts.scheme != "https" and not is_loopback(url):
        raise ChannelError(f"{option} {url!r} must use https (plain http only for a sandbox on 127.0.0.1)")


def list_channels(con: duckdb.DuckDBPyConnection) -> list[Channel]:
    """The channels in use (a channel removed with its orders kept is not one)."""
    rows = con.execute(
        "select channel, marketplace_ids, start_at, endpoint, token_url, seller_id from channels "
        "where removed_at is null order by channel"
    ).fetchall()
    return [Channel(r[0], tuple(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def get_channel(con: duckdb.DuckDBPyConnection, name: str, *, missing_ok: bool = False) -> Channel | None:
    for channel in list_channels(con):
        if channel.name == name:
            return channel
    if missing_ok:
        return None
    raise ChannelError(f"no channel named {name!r}; `amazon-orders channel list` shows them")


def _removed_channel(con: duckdb.DuckDBPyConnection, name: str) -> Channel:
    """A channel removed with its orders kept (#28: `channel remove NAME --delete-orders` finds it)."""
    row = con.execute(
        "select channel, marketplace_ids, start_at, endpoint, token_url, seller_id from channels "
        "where channel = ? and removed_at is not null",
        [name],
    ).fetchone()
    if row is None:
        raise ChannelError(f"no channel named {name!r}; `amazon-orders channel list` shows them")
    return Channel(row[0], tuple(row[1]), row[2], row[3], row[4], row[5])


def remove_channel(
    con: duckdb.DuckDBPyConnection, name: str, *, delete_orders: bool = False, now: Clock = system_now
) -> int:
    """Stop syncing a channel. Its orders stay (and a rebuild keeps them) unless `delete_orders`: then
    they go, with their raw versions, lines, stock movements, shipments, returns and returns reports, and every row of
    the channel's in any table with a channel column (its stock pushes, listings, buffers, feeds). Returns the orders
    deleted. Inside the caller's transaction. A channel removed with its orders kept can have them deleted later."""
    channel = get_channel(con, name, missing_ok=delete_orders) or _removed_channel(con, name)
    con.execute("delete from channel_sync_state where channel = ?", [channel.name])
    con.execute("delete from returns_sync_state where channel = ?", [channel.name])
    if not delete_orders:
        con.execute(
            "update channels set removed_at = ? where channel = ?", [now().replace(microsecond=0), channel.name]
        )
        return 0
    orders = "select order_id from orders where channel = $channel"
    deleted = con.execute("select count(*) from orders where channel = $channel", {"channel": channel.name}).fetchone()[
        0
    ]
    for statement in (
        f"delete from inventory_movements where order_id in ({orders})",
        f"delete from sales_return_lines where return_id in (select return_id from sales_returns where order_id in ({orders}))",
        f"delete from sales_returns where order_id in ({orders})",
        f"delete from shipment_lines where order_id in ({orders})",
        f"delete from shipments where order_id in ({orders})",
        f"delete from package_lines where order_id in ({orders})",
        f"delete from packages where order_id in ({orders})",
        f"delete from order_lines where order_id in ({orders})",
        f"delete from last_transform_orders where order_id in ({orders})",
        "delete from orders where channel = $channel",
        "delete from raw_amazon_orders where channel = $channel",
        "delete from quarantine where channel = $channel",
        "delete from other_channel_orders where channel = $channel",
        "delete from amazon_returns where channel = $channel",
        "delete from returns_quarantine where channel = $channel",
        "delete from raw_report_rows where report_id in (select report_id from raw_report_documents "
        "where channel = $channel)",
        "delete from raw_report_documents where channel = $channel",
        "delete from sync_runs where channel = $channel",
        "delete from channels where channel = $channel",
        # buyers no order is left for
        "delete from contacts where contact_id not in (select contact_id from orders where contact_id is not null)",
        "delete from accounts where not is_placeholder and account_id not in (select account_id from orders)",
        "delete from sales_return_lines where return_id in (select return_id from sales_returns where channel = $channel)",
    ):
        con.execute(statement, {"channel": channel.name} if "$channel" in statement else None)
    # and every other row of the channel, in whichever table holds a channel column (stock marks, pushes, listings,
    # buffers, feeds, FBA counts, notifications ...): none is left behind, those of tables added later included
    for (table,) in con.execute(
        "select table_name from information_schema.columns join information_schema.tables using "
        "(table_catalog, table_schema, table_name) where column_name = 'channel' and table_type = 'BASE TABLE' "
        "and table_catalog = current_database() and table_schema = current_schema() order by 1"
    ).fetchall():
        con.execute(f'delete from "{table}" where channel = ?', [channel.name])
    return deleted
