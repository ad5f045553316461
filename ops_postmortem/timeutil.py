"""Parsing the times incident data comes with: mixed offsets, precisions and sentinels."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from ops_postmortem.model import UTC

# Go's zero time: Alertmanager sends it as endsAt while an alert is still firing.
_SENTINEL_PREFIXES = ("0001-01-01", "0000-00-00")

# RFC 3339 with any fraction length (Go emits nanoseconds), "Z" or an offset with or without a colon.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*"
    r"(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)


class NaiveTimeError(ValueError):
    """A time without a zone: refusing to guess which one was meant."""


def is_sentinel(text: str | None) -> bool:
    return not text or text.startswith(_SENTINEL_PREFIXES)


def parse_time(text: str, *, default_tz: str | None = None) -> datetime:
    """Parse an RFC 3339 / ISO-8601 time to aware UTC.

    A time without a zone raises NaiveTimeError unless `default_tz` (an IANA name or "UTC") is given.
    """
    raw = text.strip()
    m = _RFC3339.match(raw)
    if not m:
        raise ValueError(f"not an ISO-8601 time: {text!r}")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    if zone is None:
        if default_tz is None:
            raise NaiveTimeError(f"time {text!r} has no zone; add Z or an offset such as +02:00")
        return _localize(naive, default_tz)
    if zone in ("Z", "z", "UTC"):
        return naive.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    offset = timedelta(hours=hours, minutes=minutes) * sign
    return (naive - offset).replace(tzinfo=UTC)


def _localize(naive: datetime, tz_name: str) -> datetime:
    if tz_name.upper() == "UTC":
        return naive.replace(tzinfo=UTC)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz_name!r}") from exc
    return naive.replace(tzinfo=zone).astimezone(UTC)


def parse_slack_ts(ts: str) -> datetime:
    """Slack's `ts` is a string of seconds with a 6-digit fraction; Decimal keeps every digit."""
    try:
        value = Decimal(ts)
    except InvalidOperation as exc:
        raise ValueError(f"not a Slack ts: {ts!r}") from exc
    seconds = int(value)
    micro = int((value - seconds) * 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)


def parse_epoch(value: float | str) -> datetime:
    """Seconds or milliseconds since the epoch (guessed by magnitude, as alerting tools mix both)."""
    number = Decimal(str(value))
    if number > 10**11:
        number = number / 1000
    seconds = int(number)
    micro = int((number - seconds) * 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '2h', '1d', '4w' -> timedelta."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 2h, 1d, 4w)")
    amount = float(m.group(1))
    unit = m.group(2).lower()[0]
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return timedelta(seconds=amount * factor)
