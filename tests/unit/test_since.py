"""``since`` values shared by the CLI and the admin API: durations or ISO 8601 times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from handler.since import MAX_SECONDS, SinceError, parse_since

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "back"), [
    ("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)),
    ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("0h", timedelta(0)),
    (" 24h ", timedelta(hours=24)),
])
def test_a_duration_counts_back_from_now(value, back):
    assert parse_since(value, NOW) == NOW - back


def test_a_duration_counts_back_from_now_in_utc_whatever_now_s_offset():
    local_now = NOW.astimezone(timezone(timedelta(hours=5)))
    since = parse_since("1h", local_now)
    assert since == NOW - timedelta(hours=1)
    assert since is not None and since.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_nothing_means_no_bound(value):
    assert parse_since(value, NOW) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, tzinfo=UTC)),
    ("2026-11-30T10:00:00+00:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),
    ("2026-11-30T15:00:00+05:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),
    ("2026-11-30T10:00:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),
    ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
])
def test_an_iso_time_is_an_aware_utc_instant_and_naive_means_utc(value, expected):
    since = parse_since(value, NOW)
    assert since == expected
    assert since is not None and since.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [
    "yesterday", "24", "h", "-5h", "1.5h", "24w", "2026-13-01", "1_000h", "+5h",
    "²h", "٣h", "1" * 5000 + "h", "9999-12-31T23:59:59-01:00",
])
def test_anything_else_is_a_since_error(value):
    with pytest.raises(SinceError):
        parse_since(value, NOW)


def test_a_duration_too_far_back_to_represent_is_a_since_error():
    assert parse_since(f"{MAX_SECONDS}s", NOW.replace(year=5000)) is not None
    with pytest.raises(SinceError, match="too far back"):
        parse_since(f"{MAX_SECONDS + 1}s", NOW)
    with pytest.raises(SinceError, match="too far back"):
        parse_since("9" * 40 + "d", NOW)


def test_a_since_error_is_a_value_error_for_callers_that_catch_those():
    assert issubclass(SinceError, ValueError)
