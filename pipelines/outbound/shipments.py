"""Packages shipped here confirmed to Amazon, each once (Orders API v0 confirmShipment).

Who waits for whom: the warehouse is held for commits only. A batch of due packages is marked `sending` in
one commit; then the requests go out, paced to the usage plan, with the warehouse free; their answers are
committed a batch at a time. A package marked `sending` whose answer was never recorded (a crash, a SIGKILL
between Amazon's 204 and our commit) is sent again by the next run with the same packageReferenceId, which
Amazon treats as an edit of that package, never as a second one.

Decisions come from the HTTP status (python-amazon-sp-api's exception class), never from message words:
204 confirmed; 429 waits for the usage plan and is sent again; 5xx, timeouts and bodies that are not a 204
back off and are sent again, a bounded number of times, then stay `retrying` for the next run; a 403 fetches
a fresh access token once; any other 4xx is `refused` with Amazon's error code, for the clerk to correct.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from pipelines.amazon import client as amazon
from pipelines.amazon.limits import CONFIRM_SHIPMENT_BURST, CONFIRM_SHIPMENT_RATE
from pipelines.amazon.ratelimit import TokenBucket
from pipelines.backoffice.shipments import due_packages, mark_sending, record_outcomes
from pipelines.warehouse.channels import Channel

BATCH = 100  # packages marked `sending` per commit
COMMIT_EVERY_SECONDS = 1.0  # answers are committed at least this often
TRANSIENT_ATTEMPTS = 5  # sends of a package per run while Amazon fails (backoff 1, 2, 4, 8 s between)
THROTTLED_ATTEMPTS = 20


@dataclass
class Counts:
    sent: int = 0  # requests
    confirmed: int = 0
    refused: int = 0
    retrying: int = 0
    refusals: list[str] = field(default_factory=list)  # "ORDER package N: CODE"


def _error_code(error: BaseException) -> tuple[str, str]:
    """Amazon's error code (else the HTTP status or failure) and message, without anything from the credentials."""
    code = getattr(error, "amzn_code", None) or (
        f"HTTP {error.code}" if hasattr(error, "code") else type(error).__name__
    )
    return str(code), amazon.describe(error)


def confirm_packages(
    read: Callable[[], AbstractContextManager],
    write: Callable[[], AbstractContextManager],
    channel: Channel,
    account: str,
    now: Callable,
    say: Callable[[str], None] = lambda line: None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    bucket: TokenBucket | None = None,
) -> Counts:
    """Send every due package of `channel` once (and again while Amazon is throttled or unavailable)."""
    counts, done = Counts(), []
    bucket = bucket or TokenBucket.full(CONFIRM_SHIPMENT_RATE, CONFIRM_SHIPMENT_BURST, clock)
    client = None
    while True:
        with read() as con:
            due = due_packages(con, channel.name, skip=tuple(done), limit=BATCH)
        if not due:
            return counts
        with write() as con:
            mark_sending(con, [package["package_id"] for package in due], now())
        if client is None:
            client = amazon.orders_v0_client(channel, account)
        outcomes, flushed = [], clock()
        for package in due:
            outcome = _send(client, package, bucket, counts, sleep, say, channel.name)
            outcomes.append(outcome)
            done.append(package["package_id"])
            if clock() - flushed >= COMMIT_EVERY_SECONDS:
                with write() as con:
                    record_outcomes(con, outcomes, now())
                outcomes, flushed = [], clock()
        if outcomes:
            with write() as con:
                record_outcomes(con, outcomes, now())


def _send(client, package: dict, bucket: TokenBucket, counts: Counts, sleep, say, channel: str) -> tuple:
    order, body = package["channel_order_id"], package["body"]
    reference = body["packageDetail"]["packageReferenceId"]
    transient = throttled = 0
    refreshed = False
    while True:
        wait = bucket.wait_time()
        if wait > 0:
            sleep(wait)
        bucket.take()
        counts.sent += 1
        try:
            bucket.observe_rate(amazon.confirm_shipment(client, order, body))
        except Exception as error:
            meaning = amazon.classify(error)
            code, message = _error_code(error)
            if meaning == amazon.THROTTLED and throttled < THROTTLED_ATTEMPTS:
                throttled += 1
                bucket.observe_rate(getattr(error, "headers", None) and error.headers.get("x-amzn-RateLimit-Limit"))
                bucket.empty()
                continue
            if meaning == amazon.FORBIDDEN and not refreshed:
                refreshed = True
                amazon.forget_access_token(client)
                continue
            if meaning in (amazon.TRANSIENT, amazon.THROTTLED):
                transient += 1
                if transient < TRANSIENT_ATTEMPTS:
                    say(f"{channel}: package {reference} of order {order}: {message}; sending it again")
                    sleep(2 ** (transient - 1))
                    continue
                counts.retrying += 1
                say(f"{channel}: package {reference} of order {order}: {message}; the next run sends it again")
                return (package["package_id"], "retrying", code, message)
            counts.refused += 1
            counts.refusals.append(f"order {order} package {reference}: {code}")
            say(f"{channel}: Amazon refused package {reference} of order {order}: {message}")
            return (package["package_id"], "refused", code, message)
        counts.confirmed += 1
        say(f"{channel}: package {reference} of order {order} confirmed to Amazon")
        return (package["package_id"], "confirmed", None, None)
