"""Many symbols in one pass give, bit for bit, what ``ta`` gives one symbol at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from coinfill import indicators
from coinfill.indicators import OUTPUT_COLUMNS, compute_indicators, compute_many
from tests.golden.reference import GOLDEN


def ta_reference(close: np.ndarray) -> pd.DataFrame:
    """The indicators as ``ta`` 0.11 computes them for one symbol (the pre-batch code)."""
    price = pd.Series(close, dtype=float)
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
        }
    )[OUTPUT_COLUMNS]


def series() -> list[np.ndarray]:
    """Real BTC closes, random walks at price levels from 1e-4 to 5e4 of many lengths
    (shorter than every warm-up, exactly at them, long), and a flat stretch (RSI's 0/0)."""
    rng = np.random.default_rng(7)
    walks = [
        np.exp(rng.uniform(-9, 10) + np.cumsum(rng.normal(0, 0.02, n)))
        for n in (1, 2, 13, 14, 26, 34, 50, 51, 700, 3000)
    ]
    flat = np.r_[np.full(40, 5.0), np.linspace(5.0, 6.0, 30), np.full(20, 6.0)]
    return [pd.read_csv(GOLDEN)["close"].to_numpy(dtype=float), *walks, flat]


@pytest.mark.parametrize("batch_cells", [indicators.MAX_BATCH_CELLS, 500])
def test_many_symbols_in_one_pass_equal_ta_per_symbol_bit_for_bit(
    batch_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indicators, "MAX_BATCH_CELLS", batch_cells)  # 500: a batch per series
    closes = series()
    got = compute_many(np.concatenate(closes), [len(c) for c in closes])
    expected = pd.concat([ta_reference(c) for c in closes], ignore_index=True)
    for column in OUTPUT_COLUMNS:
        assert np.array_equal(got[column].to_numpy(), expected[column].to_numpy(), equal_nan=True)


def test_one_series_keeps_its_index_and_an_empty_one_has_the_columns() -> None:
    close = pd.Series(np.linspace(1.0, 2.0, 60), index=range(100, 160))
    assert list(compute_indicators(close).index) == list(close.index)
    empty = compute_indicators(pd.Series([], dtype=float))
    assert empty.empty and list(empty.columns) == OUTPUT_COLUMNS


def test_lengths_must_cover_the_closes() -> None:
    with pytest.raises(ValueError, match="lengths add up to 3, not 4"):
        compute_many(np.ones(4), [1, 2])
