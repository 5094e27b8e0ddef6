"""The call-and-retry policy on its own: no server, no warehouse; the request is a function that fails
the way python-amazon-sp-api fails, from the HTTP status alone (Amazon's messages are terse)."""

from __future__ import annotations

import httpx
import pytest
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import exceptions as spe

from pipelines.amazon.calls import CallPolicy
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.events import AccessTokenRefreshed, RateLimitWait, Retry

TERSE = [{"code": "InvalidInput", "message": "Invalid Input"}]


class Clock:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def policy(clock, events, refreshed, tokens=20.0):
    bucket = TokenBucket(rate=1.0, burst=20, tokens=tokens, checked_at=clock.now, clock=clock)
    return CallPolicy(
        bucket, sleep=clock.sleep, on_event=events.append, refresh_access_token=lambda: refreshed.append(1)
    )


def failing(*errors, then="page"):
    remaining = list(errors)

    def send():
        if remaining:
            raise remaining.pop(0)
        return then

    return send


@pytest.fixture
def run():
    clock, events, refreshed = Clock(), [], []

    def call(send, **kwargs):
        subject = policy(clock, events, refreshed, **kwargs)
        return subject.call(send), subject

    call.clock, call.events, call.refreshed = clock, events, refreshed
    return call


def test_a_5xx_is_retried_after_1_then_2_seconds(run):
    page, subject = run(
        failing(spe.SellingApiServerException(TERSE), spe.SellingApiTemporarilyUnavailableException(TERSE))
    )
    assert page == "page" and subject.calls == 3
    assert run.clock.sleeps == [1, 2]
    assert [e.delay for e in run.events if isinstance(e, Retry)] == [1, 2]


def test_a_timeout_and_a_dropped_connection_are_retried(run):
    page, _ = run(failing(httpx.ReadTimeout("slow"), httpx.ConnectError("refused")))
    assert page == "page" and run.clock.sleeps == [1, 2]


def test_a_429_waits_for_the_bucket_not_a_backoff(run):
    page, subject = run(failing(spe.SellingApiRequestThrottledException(TERSE, headers={})), tokens=20)
    assert page == "page"
    retry = [e for e in run.events if isinstance(e, Retry)]
    assert [r.delay for r in retry] == [None]
    # the server said its bucket is empty: the next request waits one token's time (1 s at 1 request/s)
    assert [e for e in run.events if isinstance(e, RateLimitWait)] and run.clock.sleeps[0] == pytest.approx(1.02)


def test_a_403_refreshes_the_access_token_once_then_gives_up(run):
    page, _ = run(failing(spe.SellingApiForbiddenException(TERSE)))
    assert page == "page" and run.refreshed == [1] and AccessTokenRefreshed() in run.events
    with pytest.raises(spe.SellingApiForbiddenException):
        run(failing(spe.SellingApiForbiddenException(TERSE), spe.SellingApiForbiddenException(TERSE)))
    assert run.refreshed == [1, 1] and run.clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        spe.SellingApiBadRequestException(TERSE),
        spe.SellingApiNotFoundException(TERSE),
        AuthorizationError("invalid_grant", "refused", 400),
    ],
)
def test_what_retrying_cannot_mend_is_raised_at_once(run, error):
    with pytest.raises(type(error)):
        run(failing(error))
    assert run.clock.sleeps == [] and not [e for e in run.events if isinstance(e, Retry)]


def test_lwa_failing_for_a_while_is_retried(run):
    page, _ = run(failing(AuthorizationError("server_error", "down", 503)))
    assert page == "page" and run.clock.sleeps == [1]


def test_retries_are_bounded(run):
    errors = [spe.SellingApiServerException(TERSE) for _ in range(6)]
    with pytest.raises(spe.SellingApiServerException):
        run(failing(*errors))
    assert run.clock.sleeps == [1, 2, 4, 8, 16]
