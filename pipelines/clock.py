"""What time it is: naive UTC, as the warehouse stores times.

Amazon's rules are about wall time (a window ends at least two minutes before now, a pagination
token lives 24 hours), so every such decision reads a clock handed in. By default it is the
system clock. With AMAZON_ORDERS_CLOCK_URL set to a loopback URL that answers {"now": ISO 8601},
as the sandbox's /_sandbox/clock does, it is the simulated marketplace's: tests and the demo move
hours of marketplace time in seconds, and the product lives in the same time.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

Clock = Callable[[], datetime]
CLOCK_URL_VARIABLE = "AMAZON_ORDERS_CLOCK_URL"


def parse_instant(value: str | datetime, what: str = "time") -> datetime:
    """An ISO 8601 instant as naive UTC; a value without an offset is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{what} {value!r} is not an ISO 8601 time such as 2026-11-01T00:00:00Z") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def iso(moment: datetime) -> str:
    """Amazon's format: second precision with a Z."""
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def system_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_clock(url: str) -> Clock:
    """A clock read from a simulator on this machine."""
    if not is_loopback(url):
        raise ValueError(f"{CLOCK_URL_VARIABLE} must be a loopback URL (a sandbox on this machine), not {url!r}")

    def now() -> datetime:
        return parse_instant(_client().get(url).json()["now"], CLOCK_URL_VARIABLE)

    return now


@functools.cache
def _client() -> httpx.Client:
    """One client for every reading in this process: a client costs more than a request (it loads the
    certificate store, which a loopback clock never uses)."""
    return httpx.Client(timeout=5)


def from_environment() -> Clock:
    url = os.environ.get(CLOCK_URL_VARIABLE)
    return http_clock(url) if url else system_now


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str, option: str = "--older-than") -> timedelta:
    """'30m', '12h', '1d', '2w' as a timedelta; anything else is refused naming the value."""
    found = _AGE.fullmatch(text.strip())
    if not found:
        raise ValueError(f"{option} {text!r} is not an age such as 30m, 12h, 1d or 2w")
    return timedelta(**{_UNITS[found.group(2).lower()]: float(found.group(1))})
