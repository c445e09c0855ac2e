"""Technical indicators with the ``ta`` library, on close prices ordered by time.

Definitions (as ``ta`` 0.11 implements them; pinned in pyproject and checked by golden tests):

- SMA n: arithmetic mean of the last n closes.
- RSI 14: Wilder's RSI, 100 − 100/(1 + RS) with RS the ratio of exponentially smoothed gains
  and losses, alpha = 1/14 (J. Welles Wilder, *New Concepts in Technical Trading Systems*, 1978).
- MACD 12/26/9: EMA12 − EMA26 (EMAs with span n, not adjusted); signal = EMA9 of MACD;
  histogram = MACD − signal (Gerald Appel).
- Bollinger 20/2: middle = SMA 20; upper/lower = middle ± 2 × population std (ddof = 0) of
  the last 20 closes (John Bollinger).

The first rows of a symbol's history cannot have a value (``WARMUP`` rows per column); they
stay NULL and coverage counts them as not eligible.
"""

from __future__ import annotations

import pandas as pd
import ta

from coinfill.db.schema import TECHNICAL_COLUMNS

# Leading rows of a series that are NaN by construction, per output column.
WARMUP: dict[str, int] = {
    "current_price": 0,
    "sma_20": 19,
    "sma_50": 49,
    "rsi_14": 13,
    "macd": 25,
    "macd_signal": 33,
    "macd_histogram": 33,
    "bollinger_upper": 19,
    "bollinger_middle": 19,
    "bollinger_lower": 19,
}
# A symbol with fewer valid prices than the longest window (SMA 50) is skipped, not failed.
MIN_HISTORY_ROWS = 50
assert set(WARMUP) == {"current_price", *TECHNICAL_COLUMNS}


def compute_indicators(close: pd.Series) -> pd.DataFrame:
    """All technical columns for one symbol's closes (ordered by time, no NaN, all > 0).

    Returns a frame aligned with ``close``'s index; the input is not modified.
    """
    price = close.astype(float).copy()  # ta's wrappers may mutate their input
    macd = ta.trend.MACD(price, window_slow=26, window_fast=12, window_sign=9)
    bands = ta.volatility.BollingerBands(price, window=20, window_dev=2)
    return pd.DataFrame(
        {
            "current_price": price,
            "sma_20": ta.trend.sma_indicator(price, window=20),
            "sma_50": ta.trend.sma_indicator(price, window=50),
            "rsi_14": ta.momentum.rsi(price, window=14),
            "macd": macd.macd(),
            "macd_signal": macd.macd_signal(),
            "macd_histogram": macd.macd_diff(),
            "bollinger_upper": bands.bollinger_hband(),
            "bollinger_middle": bands.bollinger_mavg(),
            "bollinger_lower": bands.bollinger_lband(),
        },
        index=close.index,
    )
