"""Client-side pacing to Amazon's usage plan: a token bucket that survives between runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.amazon.limits import SEARCH_ORDERS_BURST, SEARCH_ORDERS_RATE

# a paced request waits 2% of a token's time more, and at least the few ms a request is on the way
MARGIN_TOKENS = 0.02
MARGIN_SECONDS = 0.005


@dataclass
class TokenBucket:
    rate: float = SEARCH_ORDERS_RATE
    burst: float = SEARCH_ORDERS_BURST
    tokens: float = SEARCH_ORDERS_BURST
    checked_at: float = field(default_factory=time.time)
    clock: Callable[[], float] = time.time

    @classmethod
    def full(cls, rate: float, burst: float, clock: Callable[[], float] = time.time) -> TokenBucket:
        """A bucket of a usage plan (`rate` requests a second, `burst` at once) with its whole burst to spend."""
        return cls(rate=rate, burst=burst, tokens=burst, checked_at=clock(), clock=clock)

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.checked_at) * self.rate)
        self.checked_at = now

    def wait_time(self) -> float:
        """Seconds until a request may be sent.

        The server counts a token when the request arrives, a little after it leaves: a request
        that waited for its token waits a small margin more, so that jitter is not a 429.
        """
        self._refill()
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate + max(MARGIN_TOKENS / self.rate, MARGIN_SECONDS)

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def empty(self) -> None:
        """The server said 429: it is the authority on how much burst is left."""
        self._refill()
        self.tokens = min(self.tokens, 0.0)

    def observe_rate(self, header: str | None) -> None:
        """Follow `x-amzn-RateLimit-Limit` when the server sends one."""
        try:
            rate = float(header) if header else None
        except ValueError:
            return
        if rate and rate > 0:
            self._refill()
            self.rate = rate
