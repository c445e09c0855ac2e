"""``price_volatility_7d``, computed from ``price_data_real`` for every asset with prices.

Definition: for UTC day *D*, the sample standard deviation (ddof = 1) of the seven daily log
returns ``ln(C[d] / C[d−1])`` for d = D−6 … D, where ``C[d]`` is the close of day *d* — the price
row whose bar closes at midnight UTC ending *d* (``timestamp`` = (d + 1) 00:00, coinfill stores
bars by their close time). Not annualised (× √365 for an annual figure). It needs all eight
closes ``C[D−7] … C[D]``; a day missing one has no value (no source data, not a miss). The value
is known when day *D* closes, so ``available_at`` = (D + 1) 00:00.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

WINDOW = 7
CLOSES_NEEDED = WINDOW + 1


def daily_volatility(closes: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """``symbol, metric_date, price_volatility_7d`` for days in ``[start, end)`` that have
    their eight closes. ``closes`` holds ``symbol, day, close`` (the close of each UTC day)."""
    out = []
    for symbol, group in closes.groupby("symbol", sort=True):
        series = group.set_index("day")["close"].astype(float)
        series = series[series > 0]
        if series.empty:
            continue
        days = pd.Index([start + timedelta(days=i) for i in range((end - start).days)])
        full = series.reindex(
            pd.Index(
                [
                    start - timedelta(days=WINDOW) + timedelta(days=i)
                    for i in range((end - start).days + WINDOW)
                ]
            )
        )
        returns = pd.Series(np.log(full / full.shift(1)), index=full.index)
        vol = returns.rolling(WINDOW, min_periods=WINDOW).std(ddof=1)
        vol = vol.reindex(days).dropna()
        if not vol.empty:
            out.append(
                pd.DataFrame(
                    {"symbol": symbol, "metric_date": list(vol.index), "price_volatility_7d": vol}
                )
            )
    if not out:
        return pd.DataFrame(columns=["symbol", "metric_date", "price_volatility_7d"])
    return pd.concat(out, ignore_index=True)


def close_days(start: date, end: date) -> tuple[date, date]:
    """The close days a window ``[start, end)`` needs: ``[start − 7, end)``."""
    return start - timedelta(days=WINDOW), end
