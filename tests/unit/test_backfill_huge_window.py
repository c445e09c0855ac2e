"""A ``days`` (or ``start``) reaching before any stored time means all history, and an ``end``
at the far edge of the calendar means no end: never an ``OverflowError`` (from the window or
the look-back arithmetic applied to it downstream)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from coinfill.backfill import (
    EPOCH,
    Window,
    day_span,
    end_day,
    plan_window,
    symbols_per_chunk,
    to_ms,
)
from coinfill.errors import InputError

NOW = datetime(2026, 11, 21, 10, 37)
ALL = Window(None, None, days=0)
DAYS_SINCE_EPOCH = (datetime(2026, 11, 21, 10) - EPOCH).days  # 20,778


@pytest.mark.parametrize(
    "days", [DAYS_SINCE_EPOCH + 1, 800_000, 999_999_999, 1_000_000_000, 10**30]
)
def test_days_beyond_any_history_mean_all_history(days: int) -> None:
    window = plan_window(days, None, None, now=NOW)
    assert window == ALL and window.label == "all"
    assert symbols_per_chunk(window, minimum=25, target_rows=400_000, lookback_rows=600,
                             now=NOW) == 25  # fmt: skip


def test_the_longest_window_within_history_stays_a_window() -> None:
    window = plan_window(DAYS_SINCE_EPOCH, None, None, now=NOW)
    assert window.start == datetime(1970, 1, 1, 10) and window.label == f"{DAYS_SINCE_EPOCH}d"
    assert window.start - timedelta(days=400) < EPOCH  # look-back before it still computes
    assert to_ms(window.start) == 36_000_000


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("0001-01-01", None, Window(None, None)),
        ("0001-01-01", "9999-12-31", Window(None, None)),
        ("1969-12-31T23:00", "2024-01-01", Window(None, datetime(2024, 1, 1))),
        ("2024-01-01", "9999-12-31T23:59:59", Window(datetime(2024, 1, 1), None)),
        ("1970-01-01", "9998-12-31", Window(EPOCH, datetime(9998, 12, 31))),
    ],
)
def test_dates_at_the_edges_of_the_calendar_mean_open_ends(
    start: str, end: str | None, expected: Window
) -> None:
    window = plan_window(None, start, end, now=NOW)
    assert window == expected
    day_span(window.start, window.end)  # downstream: observation days, …
    if window.end is not None:
        end_day(window.end + timedelta(hours=1))  # … a day past the end, …
    if window.start is not None:
        assert window.start - timedelta(days=400) < window.start  # … a look-back before it


def test_an_inverted_or_unrepresentable_window_is_still_an_input_error() -> None:
    with pytest.raises(InputError, match="is not before end"):
        plan_window(None, "1960-01-01", "1950-01-01", now=NOW)
    with pytest.raises(InputError, match="out of range in UTC"):
        plan_window(None, "0001-01-01T00:00+01:00", None, now=NOW)
