"""Bars → ``price_data_real`` rows.

- ``timestamp``: the bar's close time in unix ms (open time + interval), on the interval grid;
  ``timestamp_iso`` the same instant as naive UTC.
- ``current_price``: the bar's close, the last trade at ``timestamp``.
- ``high_24h`` / ``low_24h``: the highest high and lowest low of the bars that closed in the
  trailing 24 hours ``(timestamp − 24 h, timestamp]`` — with hourly bars, this bar and the 23
  before it. Near a pair's listing, the bars since the listing.
- ``volume_usd_24h``: the quote-asset volume of those bars summed (USDT pairs: US dollars).

CoinGecko gives prices at points in time, not bars: a bar's close is the last point at or
before its close time, its 24-hour high/low come from every point of the trailing 24 hours,
and ``volume_usd_24h`` is CoinGecko's own trailing 24-hour volume at that point.

Only bars that have closed by ``now`` become rows: an open bar's close is not a price yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROW_COLUMNS = (
    "symbol",
    "timestamp",
    "timestamp_iso",
    "current_price",
    "high_24h",
    "low_24h",
    "volume_usd_24h",
    "data_source",
)
WINDOW = "24h"


def rows_from_klines(
    symbol: str, bars: pd.DataFrame, step: int, write_from: int, write_to: int, now_ms: int
) -> pd.DataFrame:
    """Bars (``open_time, high, low, close, quote_volume``, any order, warm-up included) →
    rows closing in ``[write_from, write_to)`` and by ``now_ms``."""
    if bars.empty:
        return empty_rows()
    bars = bars.drop_duplicates("open_time", keep="last").sort_values("open_time")
    close_ms = bars["open_time"].to_numpy(dtype="int64") + step
    indexed = bars.set_index(pd.to_datetime(close_ms, unit="ms"))
    rolling = indexed.rolling(WINDOW)
    frame = pd.DataFrame(
        {
            "timestamp": close_ms,
            "current_price": bars["close"].to_numpy(dtype=float),
            "high_24h": rolling["high"].max().to_numpy(),
            "low_24h": rolling["low"].min().to_numpy(),
            "volume_usd_24h": rolling["quote_volume"].sum().to_numpy(),
        }
    )
    return _finish(symbol, frame, "binance", write_from, write_to, now_ms)


def rows_from_points(
    symbol: str, points: pd.DataFrame, step: int, write_from: int, write_to: int, now_ms: int
) -> pd.DataFrame:
    """CoinGecko points (``ms, price, volume_24h``) → one row per grid close time."""
    if points.empty:
        return empty_rows()
    points = points.drop_duplicates("ms", keep="last").sort_values("ms")
    ms = points["ms"].to_numpy(dtype="int64")
    # A point at 10:03 is the last known price at 11:00: it belongs to that close.
    closes = -(-ms // step) * step
    last = pd.DataFrame(
        {
            "timestamp": closes,
            "current_price": points["price"].to_numpy(dtype=float),
            "volume_usd_24h": points["volume_24h"].to_numpy(dtype=float),
        }
    ).drop_duplicates("timestamp", keep="last")
    # The 24 hours end at the close, not at the last point: markers without a price at each
    # close time read the rolling max/min over (close − 24 h, close].
    at = np.concatenate([ms, last["timestamp"].to_numpy()])
    prices = np.concatenate([points["price"].to_numpy(dtype=float), np.full(len(last), np.nan)])
    marker = np.concatenate([np.zeros(len(ms), bool), np.ones(len(last), bool)])
    order = np.argsort(at, kind="stable")  # a point exactly at a close comes before its marker
    series = pd.Series(prices[order], index=pd.to_datetime(at[order], unit="ms"))
    rolling = series.rolling(WINDOW)
    is_marker = marker[order]
    frame = last.assign(
        high_24h=rolling.max().to_numpy()[is_marker],
        low_24h=rolling.min().to_numpy()[is_marker],
    )[["timestamp", "current_price", "high_24h", "low_24h", "volume_usd_24h"]]
    return _finish(symbol, frame, "coingecko", write_from, write_to, now_ms)


def _finish(
    symbol: str, frame: pd.DataFrame, source: str, write_from: int, write_to: int, now_ms: int
) -> pd.DataFrame:
    ts = frame["timestamp"].to_numpy()
    keep = (ts >= write_from) & (ts < write_to) & (ts <= now_ms)
    frame = frame.loc[keep].reset_index(drop=True)
    frame.insert(0, "symbol", symbol)
    frame.insert(2, "timestamp_iso", pd.to_datetime(frame["timestamp"], unit="ms"))
    frame["data_source"] = source
    frame["timestamp_iso"] = frame["timestamp_iso"].astype("datetime64[us]")
    return frame[list(ROW_COLUMNS)]


def empty_rows() -> pd.DataFrame:
    frame = pd.DataFrame({name: [] for name in ROW_COLUMNS})
    return frame.astype(
        {
            "symbol": object,
            "timestamp": "int64",
            "timestamp_iso": "datetime64[us]",
            "current_price": float,
            "high_24h": float,
            "low_24h": float,
            "volume_usd_24h": float,
            "data_source": object,
        }
    )


def finite(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a usable price (NaN volumes stay NULL)."""
    price = frame["current_price"].to_numpy(dtype=float)
    usable: pd.DataFrame = frame.loc[np.isfinite(price) & (price > 0)]
    return usable.reset_index(drop=True)
