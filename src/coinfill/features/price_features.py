"""Features from a symbol's own price rows: returns, rolling volatility, calendar.

All of it is vectorised over a chunk of symbols at once. Rows are addressed by one sorted
integer key per row (symbol code, unix seconds), so "the row exactly 4 h earlier" and "the rows
in (t − 24 h, t]" are binary searches, whatever gaps the history has — no dense grid, no
per-symbol Python loop.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from coinfill.features.catalog import LOG_RETURN_STEP, RETURN_LAGS, VOLATILITY_WINDOWS

# Symbol code × this + unix seconds: sorted by symbol, then time (seconds < 1e10 until 2286).
SYMBOL_STRIDE = 10**10


def row_keys(symbols: pd.Series, seconds: np.ndarray) -> np.ndarray:
    """One int64 key per row; ``symbols`` must be sorted so the keys are ascending."""
    codes, _ = pd.factorize(symbols, sort=True)
    return codes.astype(np.int64) * SYMBOL_STRIDE + seconds.astype(np.int64)


def seconds_of(times: pd.Series) -> np.ndarray:
    return np.asarray(times.to_numpy(dtype="datetime64[s]").astype(np.int64))


def lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each ``wanted`` key in ``keys`` (ascending), or −1 where absent."""
    at = np.searchsorted(keys, wanted)
    inside = at < len(keys)
    found = np.full(len(wanted), -1, dtype=np.int64)
    hit = inside.copy()
    hit[inside] = keys[at[inside]] == wanted[inside]
    found[hit] = at[hit]
    return found


def window_start(keys: np.ndarray, span: timedelta) -> np.ndarray:
    """Index of each row's first row inside (t − span, t] of the same symbol."""
    return np.searchsorted(keys, keys - int(span.total_seconds()), side="right")


def price_features(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (clean, sorted by symbol and time, with ``current_price``) → returns and
    volatilities, one row each, aligned with ``rows``."""
    keys = row_keys(rows["symbol"], seconds_of(rows["timestamp_iso"]))
    price = rows["current_price"].to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {}
    for name, lag in RETURN_LAGS.items():
        earlier = lookup(keys, keys - int(lag.total_seconds()))
        value = np.full(len(keys), np.nan)
        has = earlier >= 0
        value[has] = price[has] / price[earlier[has]] - 1.0
        out[name] = value

    previous = lookup(keys, keys - int(LOG_RETURN_STEP.total_seconds()))
    log_return = np.full(len(keys), np.nan)
    has = previous >= 0
    log_return[has] = np.log(price[has] / price[previous[has]])
    present = ~np.isnan(log_return)
    filled = np.where(present, log_return, 0.0)
    # Cumulative sums with a leading 0: the sum over rows [a, b] is cs[b + 1] − cs[a].
    count = np.concatenate([[0], np.cumsum(present)])
    total = np.concatenate([[0.0], np.cumsum(filled)])
    squares = np.concatenate([[0.0], np.cumsum(filled * filled)])
    end = np.arange(1, len(keys) + 1)
    for name, (span, least) in VOLATILITY_WINDOWS.items():
        first = window_start(keys, span)
        n = count[end] - count[first]
        s = total[end] - total[first]
        ss = squares[end] - squares[first]
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = (ss - s * s / n) / (n - 1)
        value = np.sqrt(np.clip(variance, 0.0, None))
        value[n < least] = np.nan
        out[name] = value
    return pd.DataFrame(out, index=rows.index)


def calendar_features(times: pd.Series) -> pd.DataFrame:
    """Hour, weekday (0 = Monday), day of month, month and weekend flag of ``t`` in UTC."""
    dt = times.dt
    return pd.DataFrame(
        {
            "hour_of_day": dt.hour.astype("int64"),
            "day_of_week": dt.day_of_week.astype("int64"),
            "day_of_month": dt.day.astype("int64"),
            "month": dt.month.astype("int64"),
            "is_weekend": (dt.day_of_week >= 5).astype(bool),
        },
        index=times.index,
    )


def ratio_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Price/SMA, SMA/SMA, Bollinger %B and width from the row's own technical values."""
    price = frame["current_price"].to_numpy(dtype=float)

    def col(name: str) -> np.ndarray:
        return np.asarray(frame[name].to_numpy(dtype=float, na_value=np.nan))

    upper, middle, lower = col("bollinger_upper"), col("bollinger_middle"), col("bollinger_lower")
    band = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "price_to_sma_20": price / col("sma_20"),
            "price_to_sma_50": price / col("sma_50"),
            "sma_20_to_sma_50": col("sma_20") / col("sma_50"),
            "bollinger_percent_b": np.where(band > 0, (price - lower) / band, np.nan),
            "bollinger_width": np.where(middle > 0, band / middle, np.nan),
        }
    return pd.DataFrame({k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()},
                        index=frame.index)  # fmt: skip
