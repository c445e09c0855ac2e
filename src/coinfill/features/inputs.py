"""What every chunk of a feature build shares, read once per run: macro events, the gold price,
news mentions, which on-chain series are servable, and each symbol's first prices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from coinfill.db import features as db
from coinfill.db.onchain import load_availability
from coinfill.db.scopes import warmup_cutoffs
from coinfill.features.catalog import (
    GOLD_FEATURE,
    GOLD_MAX_AGE,
    MACRO_INDICATORS,
    SENTIMENT_WINDOW,
    macro_max_age,
)
from coinfill.features.eligibility import HOURLY, History, Servable
from coinfill.features.pointintime import KNOWN, OBSERVED, VALUE, effective, macro_events
from coinfill.features.price_features import seconds_of
from coinfill.indicators import WARMUP
from coinfill.macro.catalog import MacroSeries
from coinfill.prices.grid import interval_ms

FIRST_PRICES = max(WARMUP.values()) + 1
POSITIVE = "positive"


@dataclass(frozen=True)
class Inputs:
    macro: Mapping[str, pd.DataFrame]  # feature → effective events
    macro_age: Mapping[str, timedelta]
    macro_sources: Mapping[str, bool]  # indicator → has a source
    gold: pd.DataFrame  # effective events of the gold symbol's closes
    gold_first: datetime | None
    mentions: pd.DataFrame  # symbol, seconds, score, positive, confidence (by symbol, time)
    news_seconds: np.ndarray  # every article's publication time, ascending
    servable: Servable
    history: History
    bar: timedelta = HOURLY  # the price bars' interval: which returns can exist


def load_inputs(
    engine: Engine,
    series: Mapping[str, MacroSeries],
    symbols: Sequence[str],
    since: datetime | None,
    end: datetime | None,
    gold_symbol: str,
    interval: str = "1h",
) -> Inputs:
    """Read the run-wide inputs for rows of ``symbols`` in ``[since, end)``; ``interval`` is
    the price bars' (``settings.price_interval``)."""
    bar = timedelta(milliseconds=interval_ms(interval))
    used = {f: i for f, i in MACRO_INDICATORS.items() if f != GOLD_FEATURE and i in series}
    rows = db.macro_rows(engine, list(used.values()))
    macro = {
        feature: macro_events(rows.loc[rows["indicator_name"] == indicator])
        for feature, indicator in used.items()
    }
    ages = {feature: macro_max_age(series[indicator]) for feature, indicator in used.items()}
    ages[GOLD_FEATURE] = GOLD_MAX_AGE
    sources = {indicator: s.collectable for indicator, s in series.items()}
    history = History(warmup_cutoffs(engine, [*symbols, gold_symbol], FIRST_PRICES))
    gold_times = history.firsts.get(gold_symbol) or []
    gold = _gold_events(engine, gold_symbol, since, end) if gold_times else _no_events()
    news = db.articles(engine, None if since is None else since - SENTIMENT_WINDOW, end)
    return Inputs(
        macro=macro,
        macro_age=ages,
        macro_sources=sources,
        gold=gold,
        gold_first=gold_times[0] if gold_times else None,
        mentions=_mentions(news, symbols),
        news_seconds=np.sort(seconds_of(news["published_at"])),
        servable=Servable.from_availability(load_availability(engine, list(symbols))),
        history=history,
        bar=bar,
    )


def _gold_events(
    engine: Engine, symbol: str, since: datetime | None, end: datetime | None
) -> pd.DataFrame:
    start = None if since is None else since - GOLD_MAX_AGE
    rows = db.prices(engine, [symbol], start, end)
    rows = rows.loc[rows["current_price"] > 0]
    # A close is known at its bar's close time, which is the row's timestamp.
    events = pd.DataFrame(
        {
            KNOWN: rows["timestamp_iso"],
            OBSERVED: rows["timestamp_iso"],
            VALUE: rows["current_price"],
        }
    )
    return effective(events)


def _no_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KNOWN: pd.Series([], dtype="datetime64[us]"),
            OBSERVED: pd.Series([], dtype="datetime64[us]"),
            VALUE: pd.Series([], dtype=float),
        }
    )


def _mentions(news: pd.DataFrame, symbols: Sequence[str]) -> pd.DataFrame:
    """One row per (article, mentioned symbol of this run), sorted by symbol and time."""
    wanted = set(symbols)
    listed = news["symbols"].fillna("").astype(str).str.split(",")
    frame = news.assign(symbol=listed).explode("symbol")
    frame["symbol"] = frame["symbol"].str.strip().str.upper()
    frame = frame.loc[frame["symbol"].isin(wanted)]
    out = pd.DataFrame(
        {
            "symbol": frame["symbol"].astype(object).to_numpy(),
            "seconds": seconds_of(frame["published_at"]),
            "score": frame["sentiment_score"].to_numpy(dtype=float),
            "positive": (frame["sentiment_label"].astype(object) == POSITIVE).to_numpy(),
            "confidence": frame["sentiment_confidence"].to_numpy(dtype=float),
            # The model can read it (not another language, not empty): it should be scored.
            "scorable": frame["sentiment_skipped"].isna().to_numpy(dtype=bool),
        }
    )
    return out.sort_values(["symbol", "seconds"], kind="stable").reset_index(drop=True)
