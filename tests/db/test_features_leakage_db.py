"""End-to-end leakage check of ``ml_features_materialized`` on SQLite and MariaDB: source rows are
stored, the table is built, and every macro, gold and on-chain cell of every row is checked
against a brute-force recomputation from the inserted rows: published at or before t, never
after (values published one second after a row included), ages equal to t − observation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from coinfill.db import schema
from coinfill.db.upsert import upsert
from coinfill.features import catalog as features
from coinfill.features.build import Scope, build_chunk
from coinfill.features.inputs import load_inputs
from coinfill.macro.catalog import catalog
from coinfill.onchain.metrics import BLOCKCHAIN_INFO, COINMETRICS, COMPUTED, MESSARI, available_at

SYMBOLS = ["BTC", "ETH"]
GOLD = "PAXG"
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
ts = datetime.fromisoformat
DAY = timedelta(days=1)
# The documented limits, spelled out here so that a changed constant in src fails the test.
GOLD_MAX_AGE, ONCHAIN_MAX_AGE = timedelta(hours=2), timedelta(days=3)
START = datetime(2026, 3, 1)
TIMES = [START + i * HOUR for i in range(8 * 24)]  # 1–8 March, hourly close times
CAT = catalog()
FEATURE = {i: f for f, i in features.MACRO_INDICATORS.items() if f != "gold_price"}  # FRED features
AGE = {c: features.age_column(c) for c in (*FEATURE.values(), "gold_price")}  # age columns

# indicator, observation date, first_value, published_at, value, value_known_at
MACRO: list[tuple[str, str, float | None, str | None, float | None, str | None]] = [
    ("US_UNEMPLOYMENT", "2025-11-01", 4.50, "2025-12-05 13:30", 4.55, "2026-01-09 13:30"),
    # December revised on 4 March, after January was out: never used again.
    ("US_UNEMPLOYMENT", "2025-12-01", 4.40, "2026-01-09 13:30", 4.45, "2026-03-04 06:00"),
    ("US_UNEMPLOYMENT", "2026-01-01", 4.30, "2026-02-06 13:30", 4.35, "2026-03-02 10:00:01"),
    ("US_UNEMPLOYMENT", "2026-02-01", 4.20, "2026-03-06 12:00", 4.25, "2026-04-03 12:30"),
    ("US_UNEMPLOYMENT", "2026-03-01", 4.10, "2026-04-03 12:30", 4.10, "2026-04-03 12:30"),
    ("US_GDP", "2025-07-01", 2.0, "2025-10-30 12:30", 2.2, "2026-03-05 12:00"),
    ("US_GDP", "2025-10-01", 1.5, "2026-03-04 08:00:01", 1.7, "2026-03-06 20:00"),
    ("US_GDP", "2026-01-01", 0.9, "2026-04-29 12:30", 0.9, "2026-04-29 12:30"),
    ("FEDERAL_FUNDS_RATE", "2025-12-01", 3.90, "2026-01-02 16:00", 3.90, "2026-01-02 16:00"),
    ("FEDERAL_FUNDS_RATE", "2026-01-01", 3.80, "2026-03-03 12:00:01", 3.81, "2026-03-07 00:00"),
    ("VIX", "2026-02-20", 20.0, "2026-02-23 05:00", 20.0, "2026-02-23 05:00"),
    ("VIX", "2026-02-23", 21.0, "2026-02-25 05:00", 21.0, "2026-02-25 05:00"),
    ("VIX", "2026-03-04", 22.0, "2026-03-05 07:00:01", 22.0, "2026-03-05 07:00:01"),
    ("VIX", "2026-03-05", 23.0, "2026-03-07 05:00", 23.0, "2026-03-07 05:00"),
    ("VIX", "2026-03-06", None, None, 99.0, None),  # no publication time: never usable
    ("VIX", "2026-03-07", 24.0, "2026-03-08 23:00:01", 24.0, "2026-03-08 23:00:01"),
]
# PAXG closes: on the hour, then a gap, then one second past the hour, an invalid 0, 3-hourly.
GOLD_TIMES = (
    [datetime(2026, 2, 28, 22) + i * HOUR for i in range(39)]
    + [datetime(2026, 3, 3, 6) + SECOND + i * HOUR for i in range(25)]
    + [datetime(2026, 3, 6, 12) + i * 3 * HOUR for i in range(9)]
)
ONCHAIN_DAYS = {"BTC": range(-5, 8), "ETH": [-5, -4, -3, -2, 4, 5, 6, 7]}  # days from 1 March
ACT, TX, FLOW, VOL = ("active_addresses_24h", "transaction_count_24h", "exchange_net_flow_24h",
                      "price_volatility_7d")  # fmt: skip
ONCHAIN = (ACT, TX, FLOW, VOL)
SOURCE = {ACT: "active_addresses_source", TX: "transaction_count_source",
          FLOW: "exchange_net_flow_source"}  # fmt: skip
NEWS: list[tuple[str, str, float | None, str, float | None]] = [
    ("2026-03-01 08:00", "BTC", 0.6, "positive", 0.9),
    ("2026-03-02 10:00", "BTC", -0.4, "negative", 0.7),  # exactly at a row; t − 24 h a day later
    ("2026-03-02 10:00:01", "ETH", 0.3, "positive", 0.8),
    ("2026-03-02 18:30", "BTC,ETH", None, "positive", None),  # not scored
    ("2026-03-03 05:00", " eth , btc ", 0.1, "neutral", 0.5),
    ("2026-03-03 09:59:59", "SOL", 0.9, "positive", 0.9),  # news collected, not about ours
    ("2026-03-07 12:00", "ETH", -0.8, "negative", 0.6),
]


@dataclass(frozen=True)
class Event:
    known: datetime  # when the value became readable
    observed: datetime  # the period it describes
    value: float
    rank: int = 0  # at the same instant and period, a revision (1) beats the first release
    source: str | None = None


Cell = tuple[dict[Any, Any], str, list[Event], timedelta, timedelta]


def onchain_value(symbol: str, offset: int, column: str) -> float:
    base = {"BTC": 1_000_000.0, "ETH": 2_000_000.0}[symbol] + 100 * offset
    return base + ONCHAIN.index(column)


def onchain_source(symbol: str, offset: int, column: str) -> str | None:
    if column == FLOW:
        return COINMETRICS if symbol == "BTC" and offset != 3 else None
    if symbol == "ETH":
        return MESSARI if column == TX else COINMETRICS
    if offset == 2:  # 3 March from the BTC fallback, readable an hour after the day
        return BLOCKCHAIN_INFO
    return None if offset == 4 and column == ACT else COINMETRICS  # no source: a day's delay


def macro_events() -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {feature: [] for feature in FEATURE.values()}
    for name, day, first, published, value, known in MACRO:
        observed = ts(day)
        if first is not None and published is not None:
            out[FEATURE[name]].append(Event(ts(published), observed, first))
        if value is not None and known is not None:
            out[FEATURE[name]].append(Event(ts(known), observed, value, rank=1))
    return out


def gold_events() -> list[Event]:
    return [Event(t, t, 3000.0 + i / 4) for i, t in enumerate(GOLD_TIMES)]


def onchain_events(symbol: str, column: str) -> list[Event]:
    out = []
    for offset in ONCHAIN_DAYS[symbol]:
        day = START.date() + timedelta(days=offset)
        source = COMPUTED if column == VOL else onchain_source(symbol, offset, column)
        if column == FLOW and source is None:
            continue  # no value that day
        known = available_at(day, source or COINMETRICS)  # no source: the longest delay
        observed = datetime(day.year, day.month, day.day)
        out.append(Event(known, observed, onchain_value(symbol, offset, column), 0, source))
    return out


def store_sources(engine: Engine) -> None:
    prices = [
        (s, t, 100.0 * (k + 1) + i) for k, s in enumerate(SYMBOLS) for i, t in enumerate(TIMES)
    ]
    prices += [(GOLD, e.observed, e.value) for e in gold_events()]
    prices.append((GOLD, datetime(2026, 3, 5), 0.0))  # invalid close: never gold
    frame = pd.DataFrame(prices, columns=["symbol", "timestamp_iso", "current_price"])
    frame["timestamp"] = [pd.Timestamp(t).value // 10**6 for t in frame["timestamp_iso"]]
    for column in ("high_24h", "low_24h", "volume_usd_24h"):
        frame[column] = frame["current_price"]
    upsert(engine, schema.price_data_real, frame, ("symbol", "timestamp"))

    macro = pd.DataFrame(
        [
            {"indicator_name": name, "indicator_date": date.fromisoformat(day), "value": value,
             "first_value": first, "published_at": None if pub is None else ts(pub),
             "value_known_at": None if known is None else ts(known),
             "series_id": CAT[name].series_id, "frequency": CAT[name].frequency}
            for name, day, first, pub, value, known in MACRO
        ]
    )  # fmt: skip
    upsert(engine, schema.macro_indicators, macro, ("indicator_name", "indicator_date"))

    onchain: dict[tuple[str, datetime], dict[str, Any]] = {}
    for symbol in SYMBOLS:
        for column in ONCHAIN:
            for e in onchain_events(symbol, column):
                row = onchain.setdefault((symbol, e.observed), {SOURCE[FLOW]: None, FLOW: None})
                row.update(symbol=symbol, metric_date=e.observed.date(), data_source="mixed")
                row[column] = e.value
                if column in SOURCE:
                    row[SOURCE[column]] = e.source
    frame = pd.DataFrame(onchain.values())
    upsert(engine, schema.crypto_onchain_data, frame, ("symbol", "metric_date"))

    news = pd.DataFrame(
        [
            {"url_hash": f"h{i}", "url": f"https://news.example/{i}", "published_at": ts(t),
             "symbols": symbols, "sentiment_score": score, "sentiment_label": label,
             "sentiment_confidence": confidence}
            for i, (t, symbols, score, label, confidence) in enumerate(NEWS)
        ]
    )  # fmt: skip
    upsert(engine, schema.news_articles, news, ("url_hash",))


def build(engine: Engine) -> pd.DataFrame:
    """Store the sources, build the table, read every stored feature row back."""
    store_sources(engine)
    inputs = load_inputs(engine, CAT, SYMBOLS, None, None, GOLD)
    build_chunk(engine, SYMBOLS, Scope(None, None), inputs, now=datetime(2030, 1, 1))
    with engine.connect() as conn:
        result = conn.execute(select(schema.ml_features_materialized))
        table = pd.DataFrame(result.all(), columns=list(result.keys()))
    table["timestamp_iso"] = [pd.Timestamp(t).to_pydatetime() for t in table["timestamp_iso"]]
    assert sorted(zip(table["symbol"], table["timestamp_iso"], strict=True)) == [
        (s, t) for s in SYMBOLS for t in TIMES
    ]
    return table


def cells(table: pd.DataFrame) -> Iterator[Cell]:
    """Each (row, column, that column's events for the row, max age, age measured from)."""
    macro, gold = macro_events(), gold_events()
    onchain = {(s, c): onchain_events(s, c) for s in SYMBOLS for c in ONCHAIN}
    limits = {f: features.macro_max_age(CAT[i]) for i, f in FEATURE.items()}
    for row in table.to_dict("records"):
        for feature, events in macro.items():
            yield row, feature, events, limits[feature], timedelta(0)
        yield row, "gold_price", gold, GOLD_MAX_AGE, timedelta(0)
        for column in ONCHAIN:
            yield row, column, onchain[(row["symbol"], column)], ONCHAIN_MAX_AGE, DAY


def test_no_feature_value_was_published_after_its_row_time(engine: Engine) -> None:
    table = build(engine)
    checked = 0
    for row, column, events, _, _ in cells(table):
        t, stored = row["timestamp_iso"], row[column]
        if pd.isna(stored):
            assert column not in AGE or pd.isna(row[AGE[column]])
            continue
        published = [e for e in events if e.known <= t and math.isclose(e.value, stored)]
        later = [e for e in events if e.known > t and math.isclose(e.value, stored)]
        where = f"{row['symbol']} {t} {column}={stored}"
        assert published, f"{where}: not among the values published by t (later: {later})"
        if column in AGE:
            ages = {(t - e.observed) / HOUR for e in published}
            assert row[AGE[column]] == pytest.approx(ages.pop(), abs=1e-9), where
            assert not ages, where  # one observation per value
        checked += 1
    assert checked > 2000  # the check is not vacuous


def expected(events: list[Event], t: datetime, limit: timedelta, since: timedelta) -> Event | None:
    """Brute force: the newest period readable at t, its latest value by t; None when stale."""
    known = [e for e in events if e.known <= t]
    if not known:
        return None
    newest = max(e.observed for e in known)
    pick = max((e for e in known if e.observed == newest), key=lambda e: (e.known, e.rank))
    return None if t - (pick.observed + since) > limit else pick


def test_every_cell_equals_the_brute_force_point_in_time_value(engine: Engine) -> None:
    table = build(engine)
    for row, column, events, limit, since in cells(table):
        t = row["timestamp_iso"]
        want = expected(events, t, limit, since)
        where = f"{row['symbol']} {t} {column}"
        if want is None:
            assert pd.isna(row[column]), (
                f"{where}: {row[column]} where nothing usable was published"
            )
            assert column not in SOURCE or pd.isna(row[SOURCE[column]]), where
            continue
        assert row[column] == pytest.approx(want.value, rel=1e-12), where
        if column in SOURCE:
            source = row[SOURCE[column]]
            assert (None if pd.isna(source) else source) == want.source, where
        if column in AGE:
            assert row[AGE[column]] == pytest.approx((t - want.observed) / HOUR), where

    def cell(symbol: str, when: str, column: str) -> float | None:
        found = table.loc[(table["symbol"] == symbol) & (table["timestamp_iso"] == ts(when))]
        value = found.iloc[0][column]
        return None if pd.isna(value) else float(value)

    spots = {  # the adversarial moments, spelled out
        ("BTC", "2026-03-02 10:00", "unemployment_rate"): 4.30,  # revised one second later
        ("BTC", "2026-03-02 11:00", "unemployment_rate"): 4.35,
        ("BTC", "2026-03-06 11:00", "unemployment_rate"): 4.35,  # not December's 4 March revision
        ("BTC", "2026-03-06 12:00", "unemployment_rate"): 4.20,  # published exactly at t
        ("BTC", "2026-03-04 08:00", "gdp_growth"): 2.0,  # Q4 published one second later
        ("BTC", "2026-03-05 13:00", "gdp_growth"): 1.5,  # Q3's late revision does not replace Q4
        ("ETH", "2026-03-06 20:00", "gdp_growth"): 1.7,
        ("BTC", "2026-03-03 12:00", "fed_funds_rate"): None,  # December stale, January 1 s later
        ("ETH", "2026-03-03 13:00", "fed_funds_rate"): 3.80,
        ("BTC", "2026-03-03 00:00", "vix"): 21.0,  # exactly 8 days old
        ("BTC", "2026-03-03 01:00", "vix"): None,
        ("ETH", "2026-03-08 23:00", "vix"): 23.0,  # the 7 March close comes one second later
        ("BTC", "2026-03-03 07:00", "gold_price"): 3000.0 + 39 / 4,  # the 06:00:01 close
        ("BTC", "2026-03-03 06:00", "gold_price"): None,
        ("ETH", "2026-03-02 14:00", "gold_price"): 3000.0 + 38 / 4,  # 12:00, exactly 2 h old
        ("ETH", "2026-03-02 15:00", "gold_price"): None,
        ("ETH", "2026-03-06 14:00", "gold_price"): 3000.0 + 64 / 4,  # exactly 2 h old
        ("BTC", "2026-03-04 00:00", ACT): onchain_value("BTC", 1, ACT),  # 2 March, CoinMetrics
        ("BTC", "2026-03-04 01:00", ACT): onchain_value("BTC", 2, ACT),  # 3 March, blockchain.info
        ("ETH", "2026-03-03 00:00", ACT): onchain_value("ETH", -2, ACT),  # 3 days after its day
        ("ETH", "2026-03-03 01:00", ACT): None,  # stale, and BTC's days are not ETH's
        ("ETH", "2026-03-08 23:00", FLOW): None,
    }
    for (symbol, when, column), value in spots.items():
        assert cell(symbol, when, column) == value, (symbol, when, column)


def test_sentiment_uses_articles_published_in_the_trailing_24_hours(engine: Engine) -> None:
    table = build(engine)
    articles = [(ts(t), [s.strip().upper() for s in syms.split(",")], score, label, conf)
                for t, syms, score, label, conf in NEWS]  # fmt: skip
    for row in table.to_dict("records"):
        t, symbol = row["timestamp_iso"], row["symbol"]
        window = [a for a in articles if t - timedelta(hours=24) < a[0] <= t]
        mine = [a for a in window if symbol in a[1]]
        scored = [(a[2], a[3] == "positive") for a in mine if a[2] is not None]
        confident = [a[4] for a in mine if a[4] is not None]
        want = {
            "sentiment_count_24h": float(len(mine)) if window else None,
            "sentiment_mean_24h": sum(x for x, _ in scored) / len(scored) if scored else None,
            "sentiment_positive_share_24h": (
                sum(p for _, p in scored) / len(scored) if scored else None
            ),
            "sentiment_confidence_mean_24h": sum(confident) / len(confident) if confident else None,
        }
        for column, value in want.items():
            got = None if pd.isna(row[column]) else float(row[column])
            assert got == (None if value is None else pytest.approx(value)), (symbol, t, column)
