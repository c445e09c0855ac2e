import numpy as np
import pandas as pd

from coinfill.prices.clean import clean_prices


def _rows(symbol: str, stamps: list[int], prices: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(1, len(stamps) + 1),
            "symbol": symbol,
            "timestamp": [s * 3_600_000 for s in stamps],
            "timestamp_iso": pd.to_datetime([s * 3_600 for s in stamps], unit="s"),
            "current_price": prices,
        }
    )


def test_given_dirty_rows_when_cleaned_then_each_problem_is_counted_and_the_rest_kept() -> None:
    rows = _rows(
        "BTC",
        stamps=[0, 1, 3, 2, 4, 4, 5, 6, 7],
        prices=[10.0, 11.0, 13.0, 12.0, 14.0, 14.5, np.nan, 0.0, -1.0],
    )
    clean, issues = clean_prices(rows)
    assert list(clean["timestamp"] // 3_600_000) == [0, 1, 2, 3, 4]
    assert list(clean["current_price"]) == [10.0, 11.0, 12.0, 13.0, 14.5]  # last duplicate wins
    found = issues["BTC"]
    assert (found.out_of_order, found.duplicates, found.invalid) == (1, 1, 3)
    assert "3 invalid price" in found.describe()


def test_given_clean_rows_when_cleaned_then_no_issue_is_reported() -> None:
    clean, issues = clean_prices(_rows("ETH", [0, 1, 2], [1.0, 2.0, 3.0]))
    assert len(clean) == 3
    assert issues == {}
