"""The clean-rows shortcut of the technical chunk returns what ``clean_prices`` returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coinfill.prices.clean import clean_prices
from coinfill.technical import clean_sorted


def price_rows(seed: int) -> pd.DataFrame:
    """Rows as a read returns them: symbols mixed, not in time order, ids rising with time."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in ("ETH", "BTC", "A-B", "A.B", "Z_9"):
        n = int(rng.integers(1, 60))
        stamps = 1_700_000_000_000 + 3_600_000 * np.arange(n)
        frames.append(
            pd.DataFrame(
                {
                    "id": rng.integers(0, 10**6) + np.arange(n),
                    "symbol": symbol,
                    "timestamp": stamps,
                    "timestamp_iso": pd.to_datetime(stamps, unit="ms").astype("datetime64[us]"),
                    "current_price": rng.uniform(0.1, 10, n),
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    return rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def dirty(rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    rows = rows.copy()
    if kind == "invalid price":
        rows.loc[3, "current_price"] = 0.0
    elif kind == "duplicate time":
        rows = pd.concat([rows, rows.iloc[[3]].assign(id=rows["id"].max() + 1)], ignore_index=True)
    elif kind == "out of order":
        first = rows["symbol"] == rows.loc[3, "symbol"]
        rows.loc[first, "id"] = rows.loc[first, "id"].to_numpy()[::-1]
    elif kind == "NULL price":
        rows.loc[3, "current_price"] = np.nan
    return rows


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "kind", ["clean", "invalid price", "duplicate time", "out of order", "NULL price"]
)
def test_clean_sorted_equals_clean_prices(seed: int, kind: str) -> None:
    rows = dirty(price_rows(seed), kind)
    got, got_issues = clean_sorted(rows)
    expected, expected_issues = clean_prices(rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got_issues == expected_issues
    assert bool(got_issues) == (kind != "clean")
