"""Which feature rows a changed source row affects, as per-symbol time intervals.

- a price row at t: its symbol's rows in [t, t + 8 days] (returns and volatility look back 7 d,
  the on-chain volatility's eligibility 8);
  the gold symbol's price: every symbol's rows in [t, t + 2 h];
- a technical row: its own feature row;
- a macro observation: every symbol from its first publication until it is too old to use
  (a row with nothing published, FRED's "." holiday, affects nothing);
- an on-chain day: its symbol from the day's end until the age limit after it;
- an article: every symbol in [published, published + 24 h] (counts depend on any news);
- a change in what on-chain sources serve: the changed days of that symbol, plus the age limit.

Intervals are half-open and merged per symbol; a refresh rebuilds exactly those rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pandas as pd

from coinfill.features.build import LOOKBACK
from coinfill.features.catalog import (
    GOLD_MAX_AGE,
    MACRO_INDICATORS,
    ONCHAIN_MAX_AGE,
    SENTIMENT_WINDOW,
    macro_max_age,
)
from coinfill.features.eligibility import VOLATILITY_HISTORY
from coinfill.macro.catalog import MacroSeries
from coinfill.onchain.availability import Availability

ALL = "*"  # an interval for every symbol
TICK = timedelta(seconds=1)  # makes a closed [a, b] half-open
DAY = timedelta(days=1)
ONCHAIN_REACH = DAY + DAY + ONCHAIN_MAX_AGE + TICK  # day end, longest delay, age limit
PRICE_REACH = max(LOOKBACK, VOLATILITY_HISTORY) + TICK


def affected(
    changed: Mapping[str, pd.DataFrame],
    series: Mapping[str, MacroSeries],
    gold_symbol: str,
    availability_before: str | None,
    availability_now: str,
) -> pd.DataFrame:
    """``symbol, start, end`` intervals (symbol ``*`` = every symbol), not yet merged."""
    parts = []
    prices = changed.get("price_data_real")
    if prices is not None and not prices.empty:
        stamped = pd.to_datetime(prices["timestamp"] // 1000, unit="s")
        t = _times(pd.to_datetime(prices["timestamp_iso"]).fillna(stamped))
        # A bar moves the returns and volatility of the next 7 days; an earlier first bar moves
        # eligibility up to 8 days on (price_volatility_7d needs 8 days of history).
        parts.append(_frame(prices["symbol"], t, t + PRICE_REACH))
        gold = t[(prices["symbol"] == gold_symbol).to_numpy()]
        parts.append(_frame(ALL, gold, gold + GOLD_MAX_AGE + TICK))
    technical = changed.get("technical_indicators")
    if technical is not None and not technical.empty:
        t = _times(technical["timestamp_iso"])
        parts.append(_frame(technical["symbol"], t, t + TICK))
    macro = changed.get("macro_indicators")
    if macro is not None and not macro.empty:
        parts.append(_macro_changes(macro, series))
    onchain = changed.get("crypto_onchain_data")
    if onchain is not None and not onchain.empty:
        day = _times(onchain["metric_date"])
        parts.append(_frame(onchain["symbol"], day + DAY, day + ONCHAIN_REACH))
    news = changed.get("news_articles")
    if news is not None and not news.empty:
        t = _times(news["published_at"])
        parts.append(_frame(ALL, t, t + SENTIMENT_WINDOW + TICK))
    parts.append(_availability_changes(availability_before, availability_now))
    # A row without a time (an undated article) affects no feature row.
    parts = [p.dropna(subset=["start", "end"]) for p in parts]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _frame(
            [], pd.Series([], dtype="datetime64[us]"), pd.Series([], dtype="datetime64[us]")
        )
    return pd.concat(parts, ignore_index=True)


def _macro_changes(macro: pd.DataFrame, series: Mapping[str, MacroSeries]) -> pd.DataFrame:
    """Every symbol from the first moment the row's value was readable (its first release, or
    the latest value's when only that is known — the events of ``pointintime.macro_events``)
    until the value is too old to use. A row never readable (FRED's "." holidays: no value,
    no release time) makes no event, so it affects no feature row."""
    wanted = {i: macro_max_age(series[i]) for i in MACRO_INDICATORS.values() if i in series}
    macro = macro.loc[macro["indicator_name"].isin(wanted)].reset_index(drop=True)
    known = _times(macro["published_at"])
    if "value_known_at" in macro:
        known = known.fillna(_times(macro["value_known_at"]))
    limit = pd.to_timedelta(macro["indicator_name"].map(wanted)).reset_index(drop=True)
    end = _times(macro["indicator_date"]) + limit + DAY
    return _frame(ALL, known, end).dropna(subset=["start"])


def intervals(
    found: pd.DataFrame, symbols: Sequence[str]
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Merge the intervals of each of ``symbols`` (with the every-symbol ones)."""
    everyone = found.loc[found["symbol"] == ALL]
    own = found.loc[found["symbol"].isin(symbols)]
    spread = pd.concat(
        [own, *(everyone.assign(symbol=s) for s in symbols if not everyone.empty)],
        ignore_index=True,
    )
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for symbol, group in spread.sort_values(["symbol", "start"]).groupby("symbol", sort=False):
        merged: list[tuple[datetime, datetime]] = []
        for a, b in zip(group["start"], group["end"], strict=True):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        out[str(symbol)] = [(pd.Timestamp(a).to_pydatetime(), pd.Timestamp(b).to_pydatetime())
                            for a, b in merged]  # fmt: skip
    return out


def availability_snapshot(entries: Sequence[Availability]) -> str:
    """What on-chain sources serve, as stable JSON (compared with the next run's)."""
    spans = sorted(
        [e.symbol, e.metric, e.source, e.status, _iso(e.first), _iso(e.last)] for e in entries
    )
    return json.dumps(spans, separators=(",", ":"))


def _availability_changes(before: str | None, now: str) -> pd.DataFrame:
    old = {tuple(x[:3]): x[3:] for x in json.loads(before or "[]")}
    new = {tuple(x[:3]): x[3:] for x in json.loads(now)}
    rows = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        for first, last in _changed_days(a, b):
            rows.append((key[0], pd.Timestamp(first) + DAY, pd.Timestamp(last) + ONCHAIN_REACH))
    return pd.DataFrame(rows, columns=["symbol", "start", "end"])


def _changed_days(a: list[str] | None, b: list[str] | None) -> list[tuple[str, str]]:
    """Day ranges whose servability differs between two ``[status, first, last]`` entries:
    between the two starts and between the two ends when only the span moved (the usual
    case: one more day served), else the whole of both spans."""
    if a and b and a[0] == b[0] and all(a[1:]) and all(b[1:]):
        moved = [sorted((x, y)) for x, y in ((a[1], b[1]), (a[2], b[2])) if x != y]
        return [(lo, hi) for lo, hi in moved]
    days = [d for entry in (a, b) if entry for d in entry[1:] if d]
    return [(min(days), max(days))] if days else []


def _frame(symbol: object, start: pd.Series, end: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"start": start.to_numpy(), "end": end.to_numpy()})
    frame.insert(0, "symbol", symbol if isinstance(symbol, str) else pd.Series(symbol).to_numpy())
    return frame


def _times(values: pd.Series) -> pd.Series:
    return pd.Series(pd.to_datetime(values).astype("datetime64[us]").to_numpy())


def _iso(value: object) -> str | None:
    return None if value is None else str(value)
