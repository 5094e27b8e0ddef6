"""UTC instants: the warehouse stores naive UTC timestamps; Amazon speaks ISO 8601."""

from __future__ import annotations

from datetime import datetime, timezone


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
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def iso(moment: datetime) -> str:
    """Amazon's format: second precision with a Z."""
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
