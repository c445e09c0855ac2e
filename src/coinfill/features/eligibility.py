"""Which cells of a feature row can have a value: the denominator of the features suite.

A NULL is a miss only where a value could exist: the bars' interval has a bar at the return's
lag (1 d bars have no 1 h return, nor the hourly log returns volatility needs) and the price
history reaches back far enough for it, the technical warm-up is over, the macro series has a
source, a source's catalogue serves the asset's on-chain metric for the days usable at t, news
was collected in the window.
The answer is one bit per measured column (``catalog.BIT``), stored as ``eligible_mask``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from coinfill.db.schema import TECHNICAL_COLUMNS
from coinfill.features.catalog import (
    BIT,
    GOLD_FEATURE,
    LOG_RETURN_STEP,
    MACRO_INDICATORS,
    ONCHAIN_MAX_AGE,
    RATIOS,
    RETURN_LAGS,
    VOLATILITY_WINDOWS,
)
from coinfill.features.sentiment import SCORABLE_MENTIONS
from coinfill.indicators import WARMUP
from coinfill.onchain.availability import Availability
from coinfill.onchain.metrics import PUBLICATION_DELAY, VOLATILITY

ALWAYS = ("current_price", "high_24h", "low_24h", "volume_usd_24h")
NEVER = datetime(9999, 12, 31)
# price_volatility_7d needs the 8 midnight closes ending on its day.
VOLATILITY_HISTORY = timedelta(days=8)
HOURLY = timedelta(hours=1)


def on_grid(lag: timedelta, bar: timedelta) -> bool:
    """Whether bars ``bar`` apart (closing on multiples of it) have one exactly ``lag`` before
    each bar: a lag that is a whole number of bars."""
    return lag % bar == timedelta(0)


@dataclass(frozen=True)
class History:
    """Per symbol, the times of its first valid prices (as many as the longest warm-up + 1)."""

    firsts: Mapping[str, Sequence[datetime]]

    def nth(self, symbols: pd.Series, n: int) -> np.ndarray:
        """Per row, the time of its symbol's n-th valid price (0-based); far future if none."""
        lookup = {s: (times[n] if n < len(times) else NEVER) for s, times in self.firsts.items()}
        return np.asarray(
            symbols.map(lookup).fillna(NEVER).to_numpy(dtype="datetime64[us]"),
        )


@dataclass(frozen=True)
class Servable:
    """On-chain spans per (symbol, metric) that some source serves, with that source's delay."""

    spans: Mapping[tuple[str, str], list[tuple[date, date, timedelta]]] = field(
        default_factory=dict
    )

    @classmethod
    def from_availability(cls, entries: Sequence[Availability]) -> Servable:
        spans: dict[tuple[str, str], list[tuple[date, date, timedelta]]] = {}
        for e in entries:
            if e.status == "available" and e.first is not None and e.last is not None:
                delay = PUBLICATION_DELAY.get(e.source, timedelta(days=1))
                spans.setdefault((e.symbol, e.metric), []).append((e.first, e.last, delay))
        return cls(spans)

    def eligible(self, symbols: pd.Series, times: np.ndarray, metric: str) -> np.ndarray:
        """Rows whose usable days — ended at least the source's delay before t, at most
        ``ONCHAIN_MAX_AGE`` before it — meet a served span."""
        out = np.zeros(len(times), dtype=bool)
        for symbol in pd.unique(symbols):
            rows = (symbols == symbol).to_numpy()
            for first, last, delay in self.spans.get((str(symbol), metric), []):
                t = times[rows]
                newest = (t - np.timedelta64(delay) - np.timedelta64(1, "D")).astype(
                    "datetime64[D]"
                )
                oldest = (t - np.timedelta64(ONCHAIN_MAX_AGE) - np.timedelta64(1, "D")).astype(
                    "datetime64[D]"
                )
                hit = (newest >= np.datetime64(first)) & (oldest <= np.datetime64(last))
                out[rows] |= hit
        return out


def eligible_mask(
    rows: pd.DataFrame,
    history: History,
    servable: Servable,
    macro_sources: Mapping[str, bool],
    gold_first: datetime | None,
    news_in_window: np.ndarray,
    bar: timedelta = HOURLY,
) -> np.ndarray:
    """``rows`` (symbol, timestamp_iso and the computed values) → int64 mask per row.

    ``macro_sources``: per macro indicator, whether it has a source; ``news_in_window``: per
    row, whether any article was collected in its trailing 24 hours; ``bar``: the interval of
    the price bars (``price_features`` only computes a return whose lag is a whole number of
    bars, and volatility only from hourly log returns).
    """
    n = len(rows)
    t = rows["timestamp_iso"].to_numpy(dtype="datetime64[us]")
    symbols = rows["symbol"]
    mask = np.zeros(n, dtype=np.int64)

    def add(name: str, where: np.ndarray | bool) -> None:
        mask[np.broadcast_to(where, (n,))] |= BIT[name]

    for name in ALWAYS:
        add(name, True)
    first = history.nth(symbols, 0)
    for name, lag in RETURN_LAGS.items():
        add(name, on_grid(lag, bar) & (first <= t - np.timedelta64(lag)))
    for name, (span, _) in VOLATILITY_WINDOWS.items():
        add(name, on_grid(LOG_RETURN_STEP, bar) & (first <= t - np.timedelta64(span)))
    warm = {name: t >= history.nth(symbols, WARMUP[name]) for name in TECHNICAL_COLUMNS}
    for name in TECHNICAL_COLUMNS:
        add(name, warm[name])
    for name, inputs in RATIOS.items():
        ok = np.logical_and.reduce([warm[i] for i in inputs])
        if name == "bollinger_percent_b":
            band = (rows["bollinger_upper"] - rows["bollinger_lower"]).to_numpy(dtype=float)
            ok &= ~(band <= 0)  # a flat band has no %B (NULL band: the miss is the band's)
        add(name, ok)
    for name, indicator in MACRO_INDICATORS.items():
        if name == GOLD_FEATURE:
            add(name, gold_first is not None and t >= np.datetime64(gold_first or NEVER))
        else:
            add(name, bool(macro_sources.get(indicator)))
    for metric in ("active_addresses_24h", "transaction_count_24h", "exchange_net_flow_24h"):
        add(metric, servable.eligible(symbols, t, metric))
    add(VOLATILITY, first <= t - np.timedelta64(VOLATILITY_HISTORY))
    add("sentiment_count_24h", news_in_window)
    # An article in a language the model does not read is counted, but has no score to average.
    readable = SCORABLE_MENTIONS if SCORABLE_MENTIONS in rows else "sentiment_count_24h"
    mentioned = rows[readable].fillna(0).to_numpy() > 0
    for name in ("sentiment_mean_24h", "sentiment_positive_share_24h",
                 "sentiment_confidence_mean_24h"):  # fmt: skip
        add(name, mentioned)
    return mask
