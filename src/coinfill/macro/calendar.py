"""Which observation dates a series has, which should be published by now, and when a day's
publication counts as known.

Daily FRED series are business-day series: weekdays, with ``"."`` on market holidays (those come
back from FRED and are stored as "no value at source", not counted as missing). Monthly series
are dated the first of the month, quarterly ones the first of January, April, July, October.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from coinfill.macro.catalog import Frequency, MacroSeries

# FRED's real-time days are US Eastern days (St. Louis Fed releases follow the federal calendar).
FRED_TZ = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def observation_dates(frequency: Frequency, start: date, end: date) -> Iterator[date]:
    """The dates a series of ``frequency`` has in ``[start, end)``."""
    if frequency == "daily":
        day = start
        while day < end:
            if day.weekday() < 5:
                yield day
            day += timedelta(days=1)
        return
    step = 1 if frequency == "monthly" else 3
    month = ((start.month - 1) // step) * step + 1
    current = date(start.year, month, 1)
    while current < end:
        if current >= start:
            yield current
        current = _add_months(current, step)


def expected_dates(series: MacroSeries, start: date, end: date, today: date) -> list[date]:
    """Dates in ``[start, end)`` that should be published by ``today`` (date + lag < today)."""
    if not series.collectable:
        return []
    last = today - timedelta(days=series.lag_days + 1)
    return list(observation_dates(series.frequency, start, min(end, last + timedelta(days=1))))


def known_at(day: date) -> datetime:
    """When something published on US Eastern ``day`` is certainly public: the end of that day,
    as naive UTC. Conservative by up to a day: a feature never sees it too early."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=FRED_TZ)
    return end_of_day.astimezone(UTC).replace(tzinfo=None)


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)
