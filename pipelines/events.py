"""What a sync tells as it goes: one event per step, read by the progress output and by tests alike.

Each event's text is the progress line (without the channel's name, which the caller adds).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import ClassVar

from pipelines.clock import iso


class _Line:
    """An event whose progress line is its `line` filled in with its fields, times written as ISO 8601."""

    line: ClassVar[str]

    def __str__(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return self.line.format(**{k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()})


@dataclass(frozen=True)
class WindowOpened:
    after: datetime
    before: datetime
    resumed: bool = False

    def __str__(self) -> str:
        if self.resumed:
            return f"resuming the interrupted window {iso(self.after)} .. {iso(self.before)} at its last page"
        return f"window {iso(self.after)} .. {iso(self.before)}"


@dataclass(frozen=True)
class NothingToFetch(_Line):
    watermark: datetime
    bound: datetime
    line = "nothing to fetch: the watermark {watermark} is as recent as Amazon serves (up to {bound})"


@dataclass(frozen=True)
class PageLanded(_Line):
    page: int
    orders: int
    orders_fetched: int
    new_versions: int
    land_seconds: float = 0.0  # the landing transaction's time
    line = "page {page}, {orders_fetched} orders fetched, {new_versions} new versions"


@dataclass(frozen=True)
class WindowRestarted:
    reason: str  # "expired": the saved cursor is too old to send; "refused": Amazon refused it

    def __str__(self) -> str:
        why = "too old to send" if self.reason == "expired" else "refused by Amazon"
        return f"pagination token {why}; restarting the window from its beginning"


@dataclass(frozen=True)
class WindowDone(_Line):
    watermark: datetime
    line = "window done, watermark {watermark}"


@dataclass(frozen=True)
class WatermarkPulledBack(_Line):
    was: datetime
    now: datetime
    line = "warning: the watermark {was} was ahead of what has passed on both clocks; pulled back to {now}"


@dataclass(frozen=True)
class HistoryOutOfReach(_Line):
    was: datetime
    now: datetime
    line = (
        "warning: changes from {was} to {now} are older than Amazon serves orders and cannot be fetched; "
        "reading from {now}"
    )


@dataclass(frozen=True)
class RateLimitWait(_Line):
    seconds: float
    line = "rate limit, waiting {seconds:.1f} s"


@dataclass(frozen=True)
class Retry:
    attempt: int
    cause: str
    delay: float | None  # None: as soon as the usage plan allows another request

    def __str__(self) -> str:
        when = "when the rate allows" if self.delay is None else f"in {self.delay:.0f} s"
        return f"{self.cause}; retry {self.attempt} {when}"


@dataclass(frozen=True)
class AccessTokenRefreshed(_Line):
    line = "access token refused (HTTP 403); asking for a fresh one"


Event = (
    WindowOpened
    | NothingToFetch
    | PageLanded
    | WindowRestarted
    | WindowDone
    | WatermarkPulledBack
    | HistoryOutOfReach
    | RateLimitWait
    | Retry
    | AccessTokenRefreshed
)
