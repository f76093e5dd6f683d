from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dbt_revsync.schedule import INTERVALS, is_due, next_due

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "schedule, ago, due",
    [
        ("30m", None, True),
        ("30m", timedelta(minutes=29, seconds=50), True),  # within the slack: a cron every 30 minutes keeps it at 30m
        ("30m", timedelta(minutes=26, seconds=59), False),
        ("hourly", timedelta(minutes=40), False),
        ("hourly", timedelta(minutes=59), True),
        ("daily", timedelta(hours=23, minutes=50), False),
        ("daily", timedelta(hours=23, minutes=56), True),
        (None, None, False),
        (None, timedelta(days=30), False),
    ],
)
def test_is_due(schedule: str | None, ago: timedelta | None, due: bool) -> None:
    assert is_due(schedule, None if ago is None else NOW - ago, NOW) is due


def test_naive_times_are_utc_and_every_schedule_has_an_interval() -> None:
    naive = (NOW - timedelta(minutes=31)).replace(tzinfo=None)
    assert is_due("30m", naive, NOW)
    assert is_due("30m", NOW.astimezone(timezone(timedelta(hours=-4))) - timedelta(minutes=31), NOW)
    from dbt_revsync.blocks import SCHEDULES

    assert set(SCHEDULES) == set(INTERVALS)


@pytest.mark.parametrize(
    "schedule, ago",
    [
        ("30m", timedelta(minutes=5)),
        ("hourly", timedelta(minutes=10)),
        ("daily", timedelta(hours=2)),
        ("hourly", timedelta(hours=3)),
        ("30m", None),
    ],
)
def test_next_due_is_the_first_moment_is_due_says_yes(schedule: str, ago: timedelta | None) -> None:
    last = None if ago is None else NOW - ago
    when = next_due(schedule, last, NOW)
    assert when is not None and when >= NOW
    assert is_due(schedule, last, when)
    assert when == NOW or not is_due(schedule, last, when - timedelta(seconds=1))


def test_a_sync_without_a_schedule_is_never_due() -> None:
    assert next_due(None, NOW - timedelta(days=3), NOW) is None
