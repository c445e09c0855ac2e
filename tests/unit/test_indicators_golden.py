"""Each indicator against golden values on a real BTC hourly series (see tests/golden)."""

import numpy as np
import pandas as pd
import pytest

from coinfill.indicators import WARMUP, compute_indicators
from tests.golden.reference import COLUMNS, GOLDEN, indicators


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(GOLDEN)


@pytest.mark.parametrize("column", COLUMNS)
def test_given_real_btc_closes_when_computed_then_each_indicator_matches_golden(
    golden: pd.DataFrame, column: str
) -> None:
    computed = compute_indicators(golden["close"])[column]
    expected = golden[column]
    assert computed.isna().equals(expected.isna()), f"{column}: NULL pattern differs"
    assert int(computed.isna().sum()) == WARMUP[column]
    np.testing.assert_allclose(computed.dropna(), expected.dropna(), rtol=1e-9, atol=1e-9)


def test_golden_file_agrees_with_the_reference_formulas(golden: pd.DataFrame) -> None:
    values = indicators([float(c) for c in golden["close"]])
    for column in COLUMNS:
        expected = pd.Series([np.nan if v is None else v for v in values[column]])
        np.testing.assert_allclose(golden[column], expected, rtol=1e-12, equal_nan=True)


def test_hand_checked_values(golden: pd.DataFrame) -> None:
    closes = golden["close"]
    out = compute_indicators(closes)
    assert out["sma_20"].iloc[19] == pytest.approx(closes.iloc[:20].mean(), rel=1e-12)
    window = closes.iloc[30:50]
    assert out["bollinger_upper"].iloc[49] == pytest.approx(
        window.mean() + 2 * window.std(ddof=0), rel=1e-12
    )
    assert ((out["rsi_14"].dropna() >= 0) & (out["rsi_14"].dropna() <= 100)).all()
    assert (out["bollinger_upper"].dropna() >= out["bollinger_lower"].dropna()).all()


def test_input_is_not_modified(golden: pd.DataFrame) -> None:
    closes = golden["close"].copy()
    compute_indicators(closes)
    pd.testing.assert_series_equal(closes, golden["close"])


def test_window_with_lookback_equals_full_history(golden: pd.DataFrame) -> None:
    """600 rows of look-back reproduce full-history values to ~1e-12 of the price level."""
    closes = golden["close"]
    full = compute_indicators(closes)
    start, lookback = 1200, 600
    part = compute_indicators(closes.iloc[start - lookback :]).loc[start:]
    scale = closes.loc[start:].abs().to_numpy()[:, None]
    assert (np.abs(part.to_numpy() - full.loc[start:].to_numpy()) / scale).max() < 1e-9
