"""The on-chain suite's denominator: per metric and symbol, the days some source can serve.

Coverage = values ÷ asset-days where a free source (or Messari, with a key) could have data:
the spans stored in ``onchain_availability`` for the three counts, and for
``price_volatility_7d`` the days whose eight daily closes are in ``price_data_real``. An asset
no source covers is not a miss; the run report lists it with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from coinfill.backfill import end_day
from coinfill.db.onchain import daily_closes, load_availability
from coinfill.db.scopes import price_symbols
from coinfill.onchain.availability import Availability
from coinfill.onchain.availability import eligible_days as servable_days
from coinfill.onchain.metrics import BITCOIN_GENESIS, VOLATILITY
from coinfill.onchain.volatility import CLOSES_NEEDED, close_days


def eligible_days(
    engine: Engine,
    symbols: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> dict[str, dict[str, list[date]]]:
    """``metric → symbol → days`` in the window that some source can fill."""
    entries = load_availability(engine, symbols)
    first = start.date() if start is not None else _earliest(entries)
    last = min(end_day(end), now.date()) if end is not None else now.date()
    chosen = list(symbols) if symbols is not None else price_symbols(engine)
    return eligible_from(engine, entries, chosen, first, last)


def eligible_from(
    engine: Engine,
    entries: Sequence[Availability],
    symbols: Sequence[str],
    first: date,
    last: date,
) -> dict[str, dict[str, list[date]]]:
    """The same from availability already at hand (a run's, before it is stored)."""
    days = servable_days(entries, first, last)
    days[VOLATILITY] = volatility_days(engine, symbols, first, last)
    return days


def volatility_days(
    engine: Engine, symbols: Sequence[str], start: date, end: date
) -> dict[str, list[date]]:
    """Per symbol, the days of ``[start, end)`` whose eight daily closes are stored."""
    if not symbols or start >= end:
        return {}
    first, stop = close_days(start, end)
    closes = daily_closes(engine, symbols, first, stop)
    out: dict[str, list[date]] = {}
    base = first.toordinal()
    span = (stop - first).days
    for symbol, group in closes.groupby("symbol"):
        have = np.zeros(span, dtype=np.int64)
        ordinals = [d.toordinal() - base for d in group.loc[group["close"] > 0, "day"]]
        have[[o for o in ordinals if 0 <= o < span]] = 1
        # Closes present among the eight days ending at each day: a running-sum difference.
        total = np.concatenate([[0], np.cumsum(have)])
        ends = np.arange(CLOSES_NEEDED - 1, span)
        complete = ends[(total[ends + 1] - total[ends + 1 - CLOSES_NEEDED]) == CLOSES_NEEDED]
        days = [first + timedelta(days=int(i)) for i in complete]
        days = [d for d in days if start <= d < end]
        if days:
            out[str(symbol)] = days
    return out


def _earliest(entries: Sequence[Availability]) -> date:
    return min((e.first for e in entries if e.first is not None), default=BITCOIN_GENESIS)
