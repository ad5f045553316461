from datetime import datetime, timedelta

import pytest

from ops_postmortem.model import UTC
from ops_postmortem.timeutil import (
    NaiveTimeError,
    is_sentinel,
    parse_duration,
    parse_epoch,
    parse_slack_ts,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-03T23:37:30Z", datetime(2026, 11, 3, 23, 37, 30, tzinfo=UTC)),
        ("2026-11-03T23:37:30.123456789Z", datetime(2026, 11, 3, 23, 37, 30, 123456, tzinfo=UTC)),
        ("2026-11-03T15:37:30-08:00", datetime(2026, 11, 3, 23, 37, 30, tzinfo=UTC)),
        ("2026-11-04T00:37:30+0100", datetime(2026, 11, 3, 23, 37, 30, tzinfo=UTC)),
        ("2026-11-04 00:37+01", datetime(2026, 11, 3, 23, 37, tzinfo=UTC)),
        ("2026-11-03T23:37:30.5z", datetime(2026, 11, 3, 23, 37, 30, 500000, tzinfo=UTC)),
    ],
)
def test_parse_time_normalises_offsets_and_precision(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected
    assert parse_time(text).tzinfo is UTC


def test_naive_time_is_refused_unless_a_zone_is_given() -> None:
    with pytest.raises(NaiveTimeError, match="has no zone"):
        parse_time("2026-11-03 15:37:30")
    assert parse_time("2026-11-03 15:37:30", default_tz="America/Los_Angeles") == datetime(
        2026, 11, 3, 23, 37, 30, tzinfo=UTC
    )


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 time"):
        parse_time("yesterday at noon")


def test_sentinels() -> None:
    assert is_sentinel("0001-01-01T00:00:00Z")
    assert is_sentinel("")
    assert not is_sentinel("2026-11-03T23:37:30Z")


def test_slack_ts_keeps_every_digit() -> None:
    # As a float 1762213265.000200 would come back as ...000199; the string must not.
    assert parse_slack_ts("1762213265.000200").microsecond == 200
    assert parse_slack_ts("1762213265.000200") != parse_slack_ts("1762213265.000201")


def test_epoch_seconds_and_milliseconds() -> None:
    assert parse_epoch(1762213265) == parse_epoch(1762213265000)
    assert parse_epoch("1762213265500").microsecond == 500000


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("4w") == timedelta(weeks=4)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
