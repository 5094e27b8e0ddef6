"""What a sync tells as it goes: one event per step, read by the progress output and by tests alike.

Each event's text is the progress line (without the channel's name, which the caller adds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipelines.clock import iso


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
class NothingToFetch:
    watermark: datetime
    bound: datetime

    def __str__(self) -> str:
        return (
            f"nothing to fetch: the watermark {iso(self.watermark)} is as recent as Amazon serves "
            f"(up to {iso(self.bound)})"
        )


@dataclass(frozen=True)
class PageLanded:
    page: int
    orders: int
    orders_fetched: int
    new_versions: int
    land_seconds: float = 0.0  # the landing transaction's time

    def __str__(self) -> str:
        return f"page {self.page}, {self.orders_fetched} orders fetched, {self.new_versions} new versions"


@dataclass(frozen=True)
class WindowRestarted:
    reason: str  # "expired": the saved cursor is too old to send; "refused": Amazon refused it

    def __str__(self) -> str:
        why = "too old to send" if self.reason == "expired" else "refused by Amazon"
        return f"pagination token {why}; restarting the window from its beginning"


@dataclass(frozen=True)
class WindowDone:
    watermark: datetime

    def __str__(self) -> str:
        return f"window done, watermark {iso(self.watermark)}"


@dataclass(frozen=True)
class WatermarkPulledBack:
    was: datetime
    now: datetime

    def __str__(self) -> str:
        return (
            f"warning: the watermark {iso(self.was)} was ahead of what has passed on both clocks; "
            f"pulled back to {iso(self.now)}"
        )


@dataclass(frozen=True)
class HistoryOutOfReach:
    was: datetime
    now: datetime

    def __str__(self) -> str:
        return (
            f"warning: changes from {iso(self.was)} to {iso(self.now)} are older than Amazon serves orders "
            f"and cannot be fetched; reading from {iso(self.now)}"
        )


@dataclass(frozen=True)
class RateLimitWait:
    seconds: float

    def __str__(self) -> str:
        return f"rate limit, waiting {self.seconds:.1f} s"


@dataclass(frozen=True)
class Retry:
    attempt: int
    cause: str
    delay: float | None  # None: as soon as the usage plan allows another request

    def __str__(self) -> str:
        when = "when the rate allows" if self.delay is None else f"in {self.delay:.0f} s"
        return f"{self.cause}; retry {self.attempt} {when}"


@dataclass(frozen=True)
class AccessTokenRefreshed:
    def __str__(self) -> str:
        return "access token refused (HTTP 403); asking for a fresh one"


Event = (
    WindowOpened
    | NothingToFetch
    | PageLanded
    | WindowRestarted
    | WindowDone
    | WatermarkPulledBack
    | RateLimitWait
    | Retry
    | AccessTokenRefreshed
)
