"""Technical indicators on close prices ordered by time, many symbols in one pass.

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

``ta`` computes one symbol per call, and its per-call overhead (~5 ms) made 500 short series
cost more than reading them. :func:`compute_many` runs the same pandas operations ``ta`` runs,
in the same order, on a frame with one *column* per symbol: pandas applies its rolling and
EWM kernels column by column, so every value is bit-for-bit ``ta``'s (a test holds it to
that). Series are padded with trailing NaN to a common length; padding after a series cannot
change its values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
OUTPUT_COLUMNS = ["current_price", *TECHNICAL_COLUMNS]
# Padded cells per batch of symbols: bounds memory when one long history shares a chunk with
# short ones (~15 intermediate frames of this many float64 cells are alive at once).
MAX_BATCH_CELLS = 2_000_000


def compute_indicators(close: pd.Series) -> pd.DataFrame:
    """All technical columns for one symbol's closes (ordered by time, no NaN, all > 0).

    Returns a frame aligned with ``close``'s index; the input is not modified.
    """
    values = compute_many(close.to_numpy(dtype=float), [len(close)])
    return values.set_axis(close.index, axis=0)


def compute_many(close: np.ndarray, lengths: Sequence[int]) -> pd.DataFrame:
    """All technical columns for consecutive series in ``close``: the first ``lengths[0]``
    values are one symbol's closes in time order, the next ``lengths[1]`` the next one's, ….

    Returns a frame with a RangeIndex aligned with ``close``; each series is computed on its
    own, exactly as :func:`compute_indicators` would.
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    if int(sizes.sum()) != len(close):
        raise ValueError(f"lengths add up to {int(sizes.sum())}, not {len(close)} closes")
    out = np.full((len(close), len(OUTPUT_COLUMNS)), np.nan)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for first, last in _batches(sizes):
        begin, end = int(offsets[first]), int(offsets[last])
        out[begin:end] = _compute_batch(close[begin:end], sizes[first:last])
    return pd.DataFrame(out, columns=OUTPUT_COLUMNS)


def _batches(sizes: np.ndarray) -> list[tuple[int, int]]:
    """``[first, last)`` ranges of series whose padded grid stays under MAX_BATCH_CELLS."""
    batches, first, longest = [], 0, 0
    for i, size in enumerate(sizes.tolist()):
        grown = max(longest, size)
        if i > first and grown * (i - first + 1) > MAX_BATCH_CELLS:
            batches.append((first, i))
            first, grown = i, size
        longest = grown
    if len(sizes):
        batches.append((first, len(sizes)))
    return batches


def _compute_batch(close: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Rows of ``close`` (series back to back) → a (rows, columns) array of indicator values."""
    series = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(len(close)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    grid = np.full((int(sizes.max()), len(sizes)), np.nan)
    grid[position, series] = close
    price = pd.DataFrame(grid)
    # From here on, the operations of ta 0.11's wrappers (ta/trend.py, momentum.py,
    # volatility.py) with fillna=False, one column per symbol. Do not reorder or "simplify":
    # bit-for-bit equality with ta depends on the same float operations in the same order.
    diff = price.diff(1)
    up = diff.where(diff > 0, 0.0)
    down = -diff.where(diff < 0, 0.0)
    gains = up.ewm(alpha=1 / 14, min_periods=14, adjust=False).mean()
    losses = down.ewm(alpha=1 / 14, min_periods=14, adjust=False).mean()
    rsi = np.where(losses == 0, 100, 100 - (100 / (1 + gains / losses)))
    fast = price.ewm(span=12, min_periods=12, adjust=False).mean()
    slow = price.ewm(span=26, min_periods=26, adjust=False).mean()
    macd = fast - slow
    signal = macd.ewm(span=9, min_periods=9, adjust=False).mean()
    middle = price.rolling(20, min_periods=20).mean()  # ta's SMA 20 too: the same operation
    std = price.rolling(20, min_periods=20).std(ddof=0)
    columns = {
        "current_price": price,
        "sma_20": middle,
        "sma_50": price.rolling(window=50, min_periods=50).mean(),
        "rsi_14": rsi,
        "macd": macd,
        "macd_signal": signal,
        "macd_histogram": macd - signal,
        "bollinger_upper": middle + 2 * std,
        "bollinger_middle": middle,
        "bollinger_lower": middle - 2 * std,
    }
    return np.column_stack([np.asarray(columns[name])[position, series] for name in OUTPUT_COLUMNS])
