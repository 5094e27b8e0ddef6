"""How one request to Amazon is made: paced to the usage plan, retried while Amazon or the network
fails for a while, sent again with a fresh access token after a 403, and given up with its cause
when that is not enough.

The request is a function handed in, so the policy is plain Python, tested without a server or a
warehouse. What it does on the way is told as events (rate-limit waits, retries, token refreshes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pipelines.amazon.client import FORBIDDEN, THROTTLED, TRANSIENT, classify, describe, forget_access_token
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.events import AccessTokenRefreshed, Event, RateLimitWait, Retry

MAX_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 60.0

T = TypeVar("T")


class CallPolicy:
    def __init__(
        self,
        bucket: TokenBucket,
        *,
        sleep: Callable[[float], None],
        on_event: Callable[[Event], None],
        refresh_access_token: Callable[[], None],
        max_attempts: int | None = None,
    ):
        self.bucket = bucket
        self.sleep = sleep
        self.on_event = on_event
        self.refresh_access_token = refresh_access_token
        self.max_attempts = max_attempts or MAX_ATTEMPTS
        self.calls = 0
        self.waited_seconds = 0.0
        self.retries: list[str] = []

    @classmethod
    def for_client(
        cls, client, bucket: TokenBucket, *, sleep: Callable[[float], None], on_event: Callable[[Event], None]
    ) -> CallPolicy:
        """The policy of one python-amazon-sp-api client's calls: after a 403 it drops that client's access token."""
        return cls(bucket, sleep=sleep, on_event=on_event, refresh_access_token=lambda: forget_access_token(client))

    def call(self, send: Callable[[], T]) -> T:
        """send() once the usage plan allows; raise its error when retrying cannot help."""
        attempt, refreshed = 0, False
        while True:
            wait = self.bucket.wait_time()
            if wait > 0:
                self.on_event(RateLimitWait(wait))
                self.waited_seconds += wait
                self.sleep(wait)
            self.bucket.take()
            self.calls += 1
            try:
                return send()
            except Exception as error:
                meaning = classify(error)
                if meaning == FORBIDDEN and not refreshed:
                    # an access token lives an hour: a 403 is first taken to mean it has expired
                    self.refresh_access_token()
                    refreshed = True
                    self.on_event(AccessTokenRefreshed())
                    continue
                if meaning not in (THROTTLED, TRANSIENT):
                    raise
                attempt += 1
                self.retries.append(describe(error))
                if attempt >= self.max_attempts:
                    raise
                if meaning == THROTTLED:
                    # the server's bucket is empty: the next token, not a guess, says when to retry
                    self.bucket.observe_rate((getattr(error, "headers", None) or {}).get("x-amzn-RateLimit-Limit"))
                    self.bucket.empty()
                    self.on_event(Retry(attempt, describe(error), None))
                    continue
                delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))
                self.on_event(Retry(attempt, describe(error), delay))
                self.sleep(delay)
