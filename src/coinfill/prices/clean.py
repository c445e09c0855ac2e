"""Checks on price rows before indicators are computed from them.

Stored price history is not always clean (the old collectors wrote duplicates, zeros and rows
out of order). Each problem is counted per symbol and the remaining rows are still used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PriceIssues:
    """What was wrong with one symbol's rows; each count was left out or re-ordered."""

    out_of_order: int = 0
    duplicates: int = 0
    invalid: int = 0

    def describe(self) -> str:
        parts = [
            f"{self.invalid} invalid price (NaN, zero or negative)" if self.invalid else "",
            f"{self.duplicates} duplicate timestamp" if self.duplicates else "",
            f"{self.out_of_order} stored out of time order" if self.out_of_order else "",
        ]
        return "; ".join(p for p in parts if p)


def clean_prices(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, PriceIssues]]:
    """Rows ``id, symbol, timestamp, timestamp_iso, current_price`` → usable rows + issues.

    Out-of-order rows (a timestamp earlier than the row stored before it) are sorted into
    place; duplicates of (symbol, timestamp_iso) keep the last stored row; NaN, infinite,
    zero and negative prices are dropped. The result is sorted by symbol and time.
    """
    rows = rows.sort_values(["symbol", "id"], kind="stable")
    earlier = rows.groupby("symbol", sort=False)["timestamp"].diff() < 0
    price = pd.to_numeric(rows["current_price"], errors="coerce").astype(float)
    invalid = pd.Series(~np.isfinite(price.to_numpy()) | (price.to_numpy() <= 0), index=rows.index)
    valid = rows.loc[~invalid.to_numpy()].sort_values(["symbol", "timestamp", "id"], kind="stable")
    duplicated = valid.duplicated(["symbol", "timestamp_iso"], keep="last")
    clean = valid.loc[~duplicated].reset_index(drop=True)

    counts = pd.DataFrame(
        {
            "out_of_order": earlier.groupby(rows["symbol"]).sum(),
            "invalid": invalid.groupby(rows["symbol"]).sum(),
            "duplicates": duplicated.groupby(valid["symbol"]).sum(),
        }
    ).fillna(0)
    issues = {
        str(symbol): PriceIssues(int(r.out_of_order), int(r.duplicates), int(r.invalid))
        for symbol, r in counts.iterrows()
        if r.out_of_order or r.duplicates or r.invalid
    }
    return clean, issues
