"""Gap-driven plans: per series, which range to ask FRED for, and why.

A series is fetched when its window has gaps (an expected date with no row, or a NULL value the
source did not mark as ``"."``) and over a trailing window that FRED may still fill or revise
(``lag_days + revision_days`` back from today). Both become one request per series: FRED answers
any range in one page of up to 100,000 observations, and at 1 request/s a request is the cost.
A complete series outside the trailing window is not fetched at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from coinfill.macro.calendar import expected_dates, observation_dates
from coinfill.macro.catalog import MacroSeries
from coinfill.tables import markdown_table


@dataclass(frozen=True)
class StoredDates:
    """What ``macro_indicators`` holds for one indicator in a window."""

    filled: frozenset[date] = frozenset()
    no_value: frozenset[date] = frozenset()  # FRED answered "." (holidays)
    first: date | None = None  # earliest stored date, any window


@dataclass(frozen=True)
class SeriesPlan:
    series: MacroSeries
    expected: int
    gaps: tuple[date, ...]
    fetch: bool
    fetch_start: date | None  # None: from the series' first observation
    fetch_end: date | None  # exclusive; None: up to the latest
    reason: str
    observations: int = 0  # dates the request covers (an estimate of rows returned)

    @property
    def requests(self) -> int:
        return 1 if self.fetch else 0

    def as_row(self) -> dict[str, object]:
        return {
            "indicator": self.series.indicator_name,
            "series": self.series.series_id or "—",
            "expected dates": self.expected,
            "gaps": len(self.gaps),
            "fetch": _span(self.fetch_start, self.fetch_end) if self.fetch else "—",
            "requests": self.requests,
            "rows expected": self.observations,
            "why": self.reason,
        }


@dataclass(frozen=True)
class MacroPlan:
    series: tuple[SeriesPlan, ...]
    requests_per_second: float
    notes: tuple[str, ...] = field(default=())

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.series)

    @property
    def seconds_at_rate_limit(self) -> float:
        return max(0, self.requests - 1) / self.requests_per_second

    def markdown(self, window: str) -> str:
        lines = [
            f"**Plan for {window}**: {self.requests} request(s), "
            f"{sum(len(p.gaps) for p in self.series)} missing date(s), "
            f"≈ {self.seconds_at_rate_limit:.0f} s at {self.requests_per_second:g} request/s.",
            "",
            *markdown_table([p.as_row() for p in self.series]),
        ]
        return "\n".join(lines)


def plan_series(
    series: MacroSeries,
    stored: StoredDates,
    start: date | None,
    end: date | None,
    today: date,
    revision_days: int,
) -> SeriesPlan:
    """Plan one series for ``[start, end)`` (``start=None``: all history)."""
    if not series.collectable:
        return SeriesPlan(series, 0, (), False, None, None, f"skipped: {series.note}")
    calendar_start = start or stored.first
    calendar_end = min(end or today + timedelta(days=1), today + timedelta(days=1))
    expected = expected_dates(series, calendar_start, calendar_end, today) if calendar_start else []
    gaps = tuple(d for d in expected if d not in stored.filled and d not in stored.no_value)
    trailing = today - timedelta(days=series.lag_days + revision_days)
    in_trailing = calendar_end > trailing and (end is None or end > trailing)
    reasons = []
    if start is None:
        fetch_start: date | None = None
        reasons.append("all history")
    else:
        candidates = []
        if gaps:
            candidates.append(gaps[0])
            reasons.append(f"{len(gaps)} gap(s) from {gaps[0]}")
        if in_trailing:
            candidates.append(max(trailing, start))
            reasons.append(f"trailing {series.lag_days + revision_days} days FRED may revise")
        if not candidates:
            return SeriesPlan(series, len(expected), gaps, False, None, None, "complete")
        fetch_start = min(candidates)
    covered = list(
        observation_dates(series.frequency, fetch_start or date(1950, 1, 1), calendar_end)
    )
    return SeriesPlan(
        series,
        len(expected),
        gaps,
        True,
        fetch_start,
        end,
        "; ".join(reasons),
        observations=len(covered),
    )


def plan_all(
    chosen: Iterable[MacroSeries],
    stored: Mapping[str, StoredDates],
    start: date | None,
    end: date | None,
    today: date,
    *,
    revision_days: int,
    requests_per_second: float,
) -> MacroPlan:
    plans = tuple(
        plan_series(
            s, stored.get(s.indicator_name, StoredDates()), start, end, today, revision_days
        )
        for s in chosen
    )
    notes = tuple(
        f"{p.series.indicator_name}: {p.series.note}" for p in plans if not p.series.collectable
    )
    return MacroPlan(plans, requests_per_second, notes)


def _span(start: date | None, end: date | None) -> str:
    return f"{start or 'first'} .. {end or 'latest'}"
