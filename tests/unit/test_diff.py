import numpy as np
import pandas as pd

from coinfill.db.diff import diff_rows

KEYS = ("symbol", "timestamp_iso")


def _frame(values: list[tuple[str, str, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [v[0] for v in values],
            "timestamp_iso": pd.to_datetime([v[1] for v in values]),
            "current_price": [np.nan if v[2] is None else v[2] for v in values],
            "sma_20": [np.nan if v[3] is None else v[3] for v in values],
        }
    )


def test_given_new_changed_and_equal_rows_when_diffed_then_each_lands_in_its_bucket() -> None:
    stored = _frame(
        [("BTC", "2024-01-01 00:00", 100.0, 1.0), ("BTC", "2024-01-01 01:00", 101.0, 2.0)]
    )
    fresh = _frame(
        [
            ("BTC", "2024-01-01 00:00", 100.0, 1.0 + 1e-13),  # float noise: unchanged
            ("BTC", "2024-01-01 01:00", 101.0, 2.5),  # changed
            ("BTC", "2024-01-01 02:00", 102.0, 3.0),  # new
        ]
    )
    changes = diff_rows(fresh, stored, KEYS)
    assert len(changes.inserts) == 1 and changes.inserts["current_price"].item() == 102.0
    assert len(changes.updates) == 1 and changes.updates["sma_20"].item() == 2.5
    assert len(changes.unchanged) == 1


def test_given_null_in_new_rows_when_diffed_then_stored_value_is_kept() -> None:
    stored = _frame([("BTC", "2024-01-01 00:00", 100.0, 1.0)])
    fresh = _frame([("BTC", "2024-01-01 00:00", 100.0, None)])
    changes = diff_rows(fresh, stored, KEYS)
    assert changes.updates.empty and len(changes.unchanged) == 1


def test_given_null_and_a_change_when_diffed_then_update_carries_the_stored_value() -> None:
    stored = _frame([("BTC", "2024-01-01 00:00", 100.0, 1.0)])
    fresh = _frame([("BTC", "2024-01-01 00:00", 200.0, None)])
    update = diff_rows(fresh, stored, KEYS).updates
    assert (update["current_price"].item(), update["sma_20"].item()) == (200.0, 1.0)


def test_given_stored_null_when_value_arrives_then_it_is_an_update() -> None:
    stored = _frame([("BTC", "2024-01-01 00:00", 100.0, None)])
    fresh = _frame([("BTC", "2024-01-01 00:00", 100.0, 5.0)])
    assert len(diff_rows(fresh, stored, KEYS).updates) == 1


def test_per_row_tolerance_scales_with_price_level() -> None:
    stored = _frame([("SHIB", "2024-01-01 00:00", 1e-5, 1e-12)])
    fresh = _frame([("SHIB", "2024-01-01 00:00", 1e-5, 1e-12 + 1e-16)])
    loose = diff_rows(fresh, stored, KEYS, rtol=0, atol=1e-9 * fresh["current_price"])
    strict = diff_rows(fresh, stored, KEYS, rtol=0, atol=0.0)
    assert len(loose.unchanged) == 1 and len(strict.updates) == 1
