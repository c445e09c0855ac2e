"""The macro suite's calendar: per indicator, the dates that should hold a value by now.

Coverage counts each series at its native frequency — a monthly series is 100 % covered by one
row a month, not 3 % of daily rows — and only dates that should be published by now (an October
CPI is not missing on 1 November). Holidays FRED lists as ``"."`` are stored and not eligible.
With an open window start, a series' calendar starts at its first stored date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from coinfill.backfill import end_day
from coinfill.db.macro import first_dates
from coinfill.macro.calendar import expected_dates
from coinfill.macro.catalog import MacroSeries
from expectations.contracts import Contract, contract_for


def macro_contract(chosen: Sequence[MacroSeries]) -> Contract:
    """The macro suite measuring exactly the chosen indicators (users may add their own)."""
    return replace(contract_for("macro"), coverage=tuple(s.indicator_name for s in chosen))


def coverage_calendar(
    engine: Engine,
    chosen: Sequence[MacroSeries],
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> dict[str, list[date]]:
    today = now.date()
    firsts = first_dates(engine, [s.indicator_name for s in chosen]) if start is None else {}
    last = today + timedelta(days=1)
    if end is not None:
        last = min(last, end_day(end))
    calendar: dict[str, list[date]] = {}
    for series in chosen:
        first = start.date() if start is not None else firsts.get(series.indicator_name)
        calendar[series.indicator_name] = (
            expected_dates(series, first, last, today) if first is not None else []
        )
    return calendar
