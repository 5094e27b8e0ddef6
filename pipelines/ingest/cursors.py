"""Where a channel's extraction stands, as a typed record kept in channel_sync_state.

The watermark is the before-bound of the last window that landed whole. While a window is being
paged, it is kept with the cursor (Amazon's pagination token, and when it arrived, by our clock)
so that an interrupted sync resumes where it stopped. The token bucket's state is kept too: the
usage plan counts across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.amazon.ratelimit import TokenBucket
from pipelines.warehouse.channels import Channel


@dataclass
class Window:
    after: datetime
    before: datetime
    next_token: str | None = None
    token_received_at: datetime | None = None


@dataclass
class SyncState:
    channel: str
    watermark: datetime
    first_sync: bool
    window: Window | None = None
    rate_tokens: float | None = None
    rate_checked_epoch: float | None = None
    rate_per_second: float | None = None

    def restore(self, bucket: TokenBucket) -> TokenBucket:
        if self.rate_tokens is not None:
            bucket.tokens, bucket.checked_at = self.rate_tokens, self.rate_checked_epoch
            # the rate the server last announced, not the published default
            bucket.rate = self.rate_per_second or bucket.rate
        return bucket

    def remember(self, bucket: TokenBucket) -> None:
        self.rate_tokens, self.rate_checked_epoch, self.rate_per_second = bucket.tokens, bucket.checked_at, bucket.rate


_COLUMNS = (
    "watermark",
    "window_after",
    "window_before",
    "next_token",
    "token_received_at",
    "rate_tokens",
    "rate_checked_epoch",
    "rate_per_second",
)


def load_state(con: duckdb.DuckDBPyConnection, channel: Channel) -> SyncState:
    row = con.execute(
        f"select {', '.join(_COLUMNS)} from channel_sync_state where channel = ?", [channel.name]
    ).fetchone()
    if row is None:
        return SyncState(channel.name, channel.start_at, first_sync=True)
    values = dict(zip(_COLUMNS, row))
    window = None
    if values["window_after"] is not None and values["window_before"] is not None:
        window = Window(
            values["window_after"], values["window_before"], values["next_token"], values["token_received_at"]
        )
    return SyncState(
        channel.name,
        values["watermark"],
        first_sync=False,
        window=window,
        rate_tokens=values["rate_tokens"],
        rate_checked_epoch=values["rate_checked_epoch"],
        rate_per_second=values["rate_per_second"],
    )


def save_state(con: duckdb.DuckDBPyConnection, state: SyncState) -> None:
    window = state.window or Window(None, None)
    values = [
        state.watermark,
        window.after,
        window.before,
        window.next_token,
        window.token_received_at,
        state.rate_tokens,
        state.rate_checked_epoch,
        state.rate_per_second,
    ]
    con.execute(
        f"""
        insert into channel_sync_state (channel, {", ".join(_COLUMNS)})
        values (?, {", ".join("?" for _ in _COLUMNS)})
        on conflict (channel) do update set {", ".join(f"{c} = excluded.{c}" for c in _COLUMNS)}
        """,
        [state.channel, *values],
    )
