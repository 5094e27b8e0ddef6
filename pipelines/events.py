"""What a sync tells as it goes: one event per step, read by the progress output and by tests alike.

Each event's text is the progress line (without the channel's name, which the caller adds).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import ClassVar, dataclass_transform

from pipelines.clock import iso


@dataclass_transform(frozen_default=True)
class _Event:
    """An event: each subclass is a frozen dataclass of its annotated fields (PEP 681 tells type checkers so)."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


class _Line(_Event):
    """An event whose progress line is its `line` filled in with its fields, times written as ISO 8601."""

    line: ClassVar[str]

    def __str__(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return self.line.format(**{k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()})


class WindowOpened(_Event):
    after: datetime
    before: datetime
    resumed: bool = False

    def __str__(self) -> str:
        if self.resumed:
            return f"resuming the interrupted window {iso(self.after)} .. {iso(self.before)} at its last page"
        return f"window {iso(self.after)} .. {iso(self.before)}"


class NothingToFetch(_Line):
    watermark: datetime
    bound: datetime
    line = "nothing to fetch: the watermark {watermark} is as recent as Amazon serves (up to {bound})"


class PageLanded(_Line):
    page: int
    orders: int
    orders_fetched: int
    new_versions: int
    land_seconds: float = 0.0  # the landing transaction's time
    line = "page {page}, {orders_fetched} orders fetched, {new_versions} new versions"


class WindowRestarted(_Event):
    reason: str  # "expired": the saved cursor is too old to send; "refused": Amazon refused it

    def __str__(self) -> str:
        why = "too old to send" if self.reason == "expired" else "refused by Amazon"
        return f"pagination token {why}; restarting the window from its beginning"


class WindowDone(_Line):
    watermark: datetime
    line = "window done, watermark {watermark}"


class WatermarkPulledBack(_Line):
    was: datetime
    now: datetime
    line = "warning: the watermark {was} was ahead of what has passed on both clocks; pulled back to {now}"


class HistoryOutOfReach(_Line):
    was: datetime
    now: datetime
    line = (
        "warning: changes from {was} to {now} are older than Amazon serves orders and cannot be fetched; "
        "reading from {now}"
    )


class RateLimitWait(_Line):
    seconds: float
    line = "rate limit, waiting {seconds:.1f} s"


class Retry(_Event):
    attempt: int
    cause: str
    delay: float | None  # None: as soon as the usage plan allows another request

    def __str__(self) -> str:
        when = "when the rate allows" if self.delay is None else f"in {self.delay:.0f} s"
        return f"{self.cause}; retry {self.attempt} {when}"


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
