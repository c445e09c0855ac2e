import numpy as np
import pandas as pd
import pytest

from coinfill.db.diff import _diff_merge, _locate, diff_rows

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


def _random_pair(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New rows (a column the table lacks, NULLs, a non-default index) and stored rows
    (equal, noisy, changed, NULL values, keys the new rows lack)."""
    rng = np.random.default_rng(seed)
    n = 300
    new = pd.DataFrame(
        {
            "symbol": rng.choice(["BTC", "ETH", "X.Y"], n),
            "timestamp_iso": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 150, n), "h"),
            "current_price": rng.uniform(1, 100, n),
            "sma_20": rng.normal(size=n),
            "extra": rng.normal(size=n),
        }
    ).drop_duplicates(list(KEYS))
    new.loc[rng.random(len(new)) < 0.2, "sma_20"] = np.nan
    new.index = rng.permutation(len(new)) + 1000
    stored = new.sample(frac=0.7, random_state=seed).drop(columns="extra")
    stored.loc[rng.random(len(stored)) < 0.2, "current_price"] = np.nan
    shift = rng.random(len(stored)) < 0.3
    stored.loc[shift, "sma_20"] += rng.choice([1e-14, 1.0], int(shift.sum()))
    gone = pd.DataFrame(
        {
            "symbol": ["ZZZ"],
            "timestamp_iso": [pd.Timestamp("2020-01-01")],
            "current_price": [1.0],
            "sma_20": [2.0],
        }
    )
    return new, pd.concat([stored, gone], ignore_index=True)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("keep_stored", [True, False])
@pytest.mark.parametrize("per_row_atol", [False, True])
def test_fast_float_path_gives_the_frames_of_the_merge_path(
    seed: int, keep_stored: bool, per_row_atol: bool
) -> None:
    new, stored = _random_pair(seed)
    atol: float | pd.Series = 1e-9 * new["current_price"] if per_row_atol else 1e-12
    values = [c for c in new.columns if c not in KEYS]
    fast = diff_rows(new, stored, KEYS, atol=atol, keep_stored=keep_stored)
    merge = _diff_merge(new, stored, KEYS, values, 1e-9, atol, keep_stored)
    for got, expected in zip(
        (fast.inserts, fast.updates, fast.unchanged),
        (merge.inserts, merge.updates, merge.unchanged),
        strict=True,
    ):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_fast_path_steps_aside_for_null_keys_and_duplicate_stored_keys() -> None:
    stored = _frame([("BTC", "2024-01-01 00:00", 100.0, 1.0)])
    fresh = _frame([("BTC", "2024-01-01 00:00", 100.0, 2.0), ("BTC", "2024-01-01 01:00", 1.0, 1.0)])
    assert _locate(fresh, stored, KEYS) is not None
    assert _locate(fresh, pd.concat([stored, stored]), KEYS) is None
    assert _locate(fresh.assign(symbol=[None, "BTC"]), stored, KEYS) is None
    changes = diff_rows(fresh, pd.concat([stored, stored], ignore_index=True), KEYS)
    assert len(changes.inserts) == 1  # the merge path, as before
