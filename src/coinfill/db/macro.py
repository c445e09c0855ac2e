"""What ``macro_indicators`` holds: the dates a gap plan and the coverage calendar start from,
and the write that never replaces a stored value with NULL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from coinfill.db.schema import macro_indicators
from coinfill.db.upsert import UpsertCounts, read_existing, upsert
from coinfill.macro.plan import StoredDates

KEYS = ("indicator_name", "indicator_date")


def stored_dates(
    engine: Engine, names: Sequence[str], start: date | None, end: date | None
) -> dict[str, StoredDates]:
    """Per indicator: dates with a value, dates FRED marked ``"."``, and the first date."""
    m = macro_indicators
    query = select(
        m.c.indicator_name, m.c.indicator_date, m.c.value.is_not(None), m.c.missing_at_source
    ).where(m.c.indicator_name.in_(list(names)))
    if start is not None:
        query = query.where(m.c.indicator_date >= start)
    if end is not None:
        query = query.where(m.c.indicator_date < end)
    filled: dict[str, set[date]] = defaultdict(set)
    no_value: dict[str, set[date]] = defaultdict(set)
    with engine.connect() as conn:
        for name, day, has_value, missing in conn.execute(query):
            day = as_date(day)
            if has_value:
                filled[name].add(day)
            elif missing:
                no_value[name].add(day)
    first = first_dates(engine, names)
    return {
        name: StoredDates(frozenset(filled[name]), frozenset(no_value[name]), first.get(name))
        for name in names
    }


def first_dates(engine: Engine, names: Sequence[str]) -> dict[str, date]:
    """The earliest stored date of each indicator that has rows."""
    m = macro_indicators
    query = (
        select(m.c.indicator_name, func.min(m.c.indicator_date))
        .where(m.c.indicator_name.in_(list(names)))
        .group_by(m.c.indicator_name)
    )
    with engine.connect() as conn:
        return {name: as_date(day) for name, day in conn.execute(query)}


def write_rows(
    engine: Engine, rows: pd.DataFrame, *, dry_run: bool = False, now: datetime | None = None
) -> UpsertCounts:
    """Upsert rows; a row whose value is NULL never touches a date that has a stored value."""
    if rows.empty:
        return UpsertCounts()
    existing = read_existing(engine, macro_indicators, rows, KEYS)
    has_value = existing.loc[existing["value"].notna(), list(KEYS)]
    blank = rows["value"].isna()
    protected = rows[list(KEYS)].merge(has_value, on=list(KEYS), how="left", indicator=True)
    keep = ~(blank.to_numpy() & (protected["_merge"] == "both").to_numpy())
    skipped = int((~keep).sum())
    counts = upsert(
        engine,
        macro_indicators,
        rows.loc[keep].reset_index(drop=True),
        KEYS,
        existing=existing,
        dry_run=dry_run,
        now=now,
    )
    return counts + UpsertCounts(unchanged=skipped)


def as_date(value: object) -> date:
    """A DATE as any driver returns it (date, datetime, or SQLite's text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
