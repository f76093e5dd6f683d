"""When a sync with a ``schedule`` is due: pure logic, no I/O.

A block may carry ``schedule: 30m | hourly | daily``. ``push --due`` pushes a sync when its
last successful push started at least that long ago (or it never succeeded), so one cron
line or orchestrator step every 30 minutes serves every sync. The interval is shortened by
a slack of a tenth of it, at most five minutes, so a push that started a few seconds late
last time is not skipped this time (a 30m sync under a 30-minute cron would otherwise run
hourly). Syncs without a schedule are never due: ``--due`` leaves them to plain ``push``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["INTERVALS", "MAX_SLACK", "is_due", "next_due", "slack", "utc_datetime"]

INTERVALS: dict[str, timedelta] = {
    "30m": timedelta(minutes=30),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
}
MAX_SLACK = timedelta(minutes=5)


def slack(interval: timedelta) -> timedelta:
    return min(interval / 10, MAX_SLACK)


def is_due(schedule: str | None, last_success: datetime | None, now: datetime) -> bool:
    """Whether a sync on ``schedule`` whose last success started at ``last_success`` is due."""
    if schedule is None:
        return False
    if last_success is None:
        return True
    interval = INTERVALS[schedule]
    return _utc(now) - _utc(last_success) >= interval - slack(interval)


def next_due(schedule: str | None, last_success: datetime | None, now: datetime) -> datetime | None:
    """When a sync on ``schedule`` is next due: ``now`` if it is due, None without a schedule."""
    if schedule is None:
        return None
    if is_due(schedule, last_success, now) or last_success is None:
        return _utc(now)
    interval = INTERVALS[schedule]
    return _utc(last_success) + interval - slack(interval)


def utc_datetime() -> datetime:
    """Now, as an aware UTC datetime (``warehouse.utc_now`` gives the warehouse's timestamp text)."""
    return datetime.now(timezone.utc)


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC (how the state tables store them)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
