"""Source rows for the feature-table tests: real bundled prices, and small hand-made macro,
on-chain and news rows dated inside the bundled history (October 2017), stored through the
project's own write paths (upsert, ``write_values``, ``save_availability``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from coinfill.db.macro import write_rows as write_macro
from coinfill.db.onchain import save_availability, write_values
from coinfill.db.schema import news_articles
from coinfill.db.upsert import upsert
from coinfill.onchain.availability import Availability

T0 = datetime(2017, 10, 1)  # the first bundled bar
HOURS = 720  # bars stored before the changes: 2017-10-01 00:00 … 2017-10-30 23:00
EXTRA_HOURS = 24  # bars added later: 2017-10-31
SYMBOLS = ["BTC", "ETH", "XRP"]
GROWING = ["BTC", "ETH"]  # the symbols that get new bars
ONCHAIN_SYMBOL = "BTC"
ONCHAIN_METRICS = ("active_addresses_24h", "transaction_count_24h")

# VIX (daily, lag 2 days): every weekday close from 2017-09-25 to 2017-10-27, known three days
# later at 04:00 UTC (the end of the US Eastern day of date + 2).
VIX_DAYS = [
    d for d in (date(2017, 9, 25) + timedelta(days=i) for i in range(33)) if d.weekday() < 5
]
VIX_REVISED_DAY = date(2017, 10, 27)
VIX_REVISED_KNOWN = datetime(2017, 10, 30, 20, 0)
VIX_REVISED_VALUE = 99.5
# US unemployment (monthly): August published 2017-09-01, September published 2017-10-06.
UNEMPLOYMENT = [
    (date(2017, 8, 1), datetime(2017, 9, 1, 12, 30), 4.4),
    (date(2017, 9, 1), datetime(2017, 10, 6, 12, 30), 4.2),
]
ONCHAIN_FIRST = date(2017, 9, 25)
ONCHAIN_LAST = date(2017, 10, 27)  # stored at first; three more days come later
ONCHAIN_MORE = [date(2017, 10, 28), date(2017, 10, 29), date(2017, 10, 30)]
NEWS = [  # (published, symbols, score, label)
    (datetime(2017, 10, 3, 9, 15), "BTC,ETH", 0.6, "positive"),
    (datetime(2017, 10, 12, 17, 40), "XRP", -0.4, "negative"),
    (datetime(2017, 10, 20, 8, 5), "BTC", 0.2, "positive"),
]
NEW_ARTICLE = (datetime(2017, 10, 30, 10, 30), "ETH,XRP", -0.7, "negative")
CORRECTED_HOUR = 700  # a BTC bar whose close is corrected after the first build


def hour(i: int) -> datetime:
    return T0 + timedelta(hours=i)


def vix_published(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=3), time(4, 0))


def vix_value(day: date) -> float:
    return 10.0 + (day.toordinal() % 7) * 0.35


def macro_frame(revised: bool = False) -> pd.DataFrame:
    """``macro_indicators`` rows (as ``coinfill.macro.rows`` makes them)."""
    rows: list[dict[str, Any]] = []
    for day, published, value in UNEMPLOYMENT:
        rows.append(_macro("US_UNEMPLOYMENT", "UNRATE", "monthly", day, published, value, value,
                           published))  # fmt: skip
    for day in VIX_DAYS:
        published = vix_published(day)
        value = vix_value(day)
        if revised and day == VIX_REVISED_DAY:
            rows.append(_macro("VIX", "VIXCLS", "daily", day, published, VIX_REVISED_VALUE,
                               value, VIX_REVISED_KNOWN))  # fmt: skip
        else:
            rows.append(_macro("VIX", "VIXCLS", "daily", day, published, value, value, published))
    return pd.DataFrame(rows)


def _macro(
    name: str,
    series: str,
    frequency: str,
    day: date,
    published: datetime,
    value: float,
    first: float,
    known: datetime,
) -> dict[str, Any]:
    return {
        "indicator_name": name,
        "indicator_date": day,
        "value": value,
        "first_value": first,
        "series_id": series,
        "units": "lin",
        "frequency": frequency,
        "data_source": "fred",
        "published_at": published,
        "value_known_at": known,
        "missing_at_source": False,
    }


def onchain_value(metric: str, day: date) -> float:
    base = 600_000.0 if metric == "active_addresses_24h" else 250_000.0
    return base + 1_000.0 * (day.toordinal() % 11)


def onchain_frame(days: Sequence[date]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "symbol": ONCHAIN_SYMBOL,
                "metric_date": day,
                "active_addresses_24h": onchain_value("active_addresses_24h", day),
                "active_addresses_source": "coinmetrics",
                "transaction_count_24h": onchain_value("transaction_count_24h", day),
                "transaction_count_source": "coinmetrics",
            }
            for day in days
        ]
    )


def availability(last: date) -> list[Availability]:
    return [
        Availability(ONCHAIN_SYMBOL, metric, "coinmetrics", ONCHAIN_FIRST, last)
        for metric in ONCHAIN_METRICS
    ]


def news_frame(articles: Sequence[tuple[datetime, str, float, str]]) -> pd.DataFrame:
    rows = []
    for published, symbols, score, label in articles:
        url = f"https://news.example/{published:%Y%m%d%H%M}/{symbols}"
        rows.append(
            {
                "url_hash": hashlib.sha256(url.encode()).hexdigest(),
                "url": url,
                "source": "example",
                "title": f"{symbols} news",
                "published_at": published,
                "symbols": symbols,
                "sentiment_score": score,
                "sentiment_label": label,
                "sentiment_confidence": 0.8,
                "sentiment_model": "lexicon",
            }
        )
    return pd.DataFrame(rows)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def store_sources(engine: Engine, now: datetime) -> None:
    """Macro, on-chain (with what the source serves) and news rows of the first build."""
    write_macro(engine, macro_frame(), now=now)
    write_values(engine, onchain_frame(days_between(ONCHAIN_FIRST, ONCHAIN_LAST)), now=now)
    save_availability(engine, availability(ONCHAIN_LAST), now)
    upsert(engine, news_articles, news_frame(NEWS), ("url_hash",), now=now)


def read_table(engine: Engine, table: str, drop: Sequence[str] = ()) -> pd.DataFrame:
    """Every row of ``table`` sorted by its natural key, without the ``drop`` columns."""
    with engine.connect() as conn:
        frame = pd.read_sql(text(f"SELECT * FROM {table}"), conn)
    frame = frame.drop(columns=list(drop))
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"]).astype("datetime64[us]")
    return frame.sort_values(["symbol", "timestamp_iso"]).reset_index(drop=True)


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same keys, same columns; floats equal within ``rtol`` (NULLs in the same cells)."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    keys = ["symbol", "timestamp_iso"]
    pd.testing.assert_frame_equal(got[keys], want[keys])
    for column in got.columns.drop(keys):
        a, b = got[column], want[column]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            x = a.to_numpy(dtype=float, na_value=np.nan)
            y = b.to_numpy(dtype=float, na_value=np.nan)
            same = np.isclose(x, y, rtol=rtol, atol=0.0, equal_nan=True)
        else:
            same = ((a.isna() & b.isna()) | (a.astype(object) == b.astype(object))).to_numpy()
        where = np.flatnonzero(~same)
        assert where.size == 0, (
            f"{column}: {where.size} cells differ, e.g. "
            f"{got.loc[where[:3], keys].to_dict('records')}: "
            f"{a.iloc[where[:3]].tolist()} != {b.iloc[where[:3]].tolist()}"
        )
