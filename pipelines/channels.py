"""Channels: one Amazon seller connection each, with the moment from which its orders are imported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.clock import Clock, system_now
from pipelines.timeutil import parse_instant


class ChannelError(ValueError):
    pass


@dataclass(frozen=True)
class Channel:
    name: str
    marketplace_ids: tuple[str, ...]
    start_at: datetime  # naive UTC
    endpoint: str | None = None
    token_url: str | None = None


def add_channel(
    con: duckdb.DuckDBPyConnection,
    name: str,
    marketplace_ids: list[str],
    *,
    start: str | datetime | None = None,
    endpoint: str | None = None,
    token_url: str | None = None,
    now: Clock = system_now,
) -> Channel:
    name = name.strip()
    if not name:
        raise ChannelError("a channel needs a name")
    if not marketplace_ids:
        raise ChannelError(f"channel {name!r} needs at least one --marketplace")
    added_at = now().replace(microsecond=0)
    start_at = parse_instant(start, "--start") if start else added_at
    if get_channel(con, name, missing_ok=True):
        raise ChannelError(f"channel {name!r} already exists; pick another name")
    channel = Channel(name, tuple(dict.fromkeys(marketplace_ids)), start_at, endpoint, token_url)
    con.execute(
        "insert into channels values (?, ?, ?, ?, ?, ?)",
        [channel.name, list(channel.marketplace_ids), start_at, endpoint, token_url, added_at],
    )
    return channel


def list_channels(con: duckdb.DuckDBPyConnection) -> list[Channel]:
    rows = con.execute(
        "select channel, marketplace_ids, start_at, endpoint, token_url from channels order by channel"
    ).fetchall()
    return [Channel(r[0], tuple(r[1]), r[2], r[3], r[4]) for r in rows]


def get_channel(con: duckdb.DuckDBPyConnection, name: str, *, missing_ok: bool = False) -> Channel | None:
    for channel in list_channels(con):
        if channel.name == name:
            return channel
    if missing_ok:
        return None
    raise ChannelError(f"no channel named {name!r}; `amazon-orders channel list` shows them")
