"""Bars and CoinGecko points → ``price_data_real`` rows, checked against plain-loop recomputes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coinfill.prices.grid import DAY_MS
from coinfill.prices.rows import ROW_COLUMNS, finite, rows_from_klines, rows_from_points

H = 3_600_000
M = 60_000


def ms(moment: str) -> int:
    return int(pd.Timestamp(moment, tz="UTC").value // 1_000_000)


NOW = ms("2026-03-10 10:30")


def klines(opens: list[int], seed: int = 1) -> pd.DataFrame:
    """Bars with random but consistent values (low ≤ close ≤ high), in a shuffled order."""
    rng = np.random.default_rng(seed)
    close = 100 + rng.normal(0, 5, len(opens)).cumsum()
    frame = pd.DataFrame(
        {
            "open_time": np.array(opens, dtype="int64"),
            "high": close + rng.uniform(0, 3, len(opens)),
            "low": close - rng.uniform(0, 3, len(opens)),
            "close": close,
            "quote_volume": rng.uniform(1e3, 1e6, len(opens)),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def brute_klines(bars: pd.DataFrame, step: int) -> dict[int, tuple[float, float, float, float]]:
    """Per close time t: close, and high/low/volume over bars closing in (t − 24h, t]."""
    plain = [
        (
            int(r.open_time) + step,
            float(r.high),
            float(r.low),
            float(r.close),
            float(r.quote_volume),
        )
        for r in bars.itertuples()
    ]
    out = {}
    for t, _, _, close, _ in plain:
        window = [b for b in plain if t - DAY_MS < b[0] <= t]
        out[t] = (
            close,
            max(b[1] for b in window),
            min(b[2] for b in window),
            sum(b[4] for b in window),
        )
    return out


def assert_rows_match(rows: pd.DataFrame, expected: dict[int, tuple[float, ...]]) -> None:
    assert list(rows["timestamp"]) == sorted(expected)
    got = rows[["current_price", "high_24h", "low_24h", "volume_usd_24h"]].to_numpy()
    want = np.array([expected[t] for t in rows["timestamp"]])
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -- Binance klines --------------------------------------------------------------------------------


def test_rows_are_stamped_at_bar_close_in_utc() -> None:
    opens = list(range(ms("2026-03-09 00:00"), ms("2026-03-09 06:00"), H))
    rows = rows_from_klines("BTC", klines(opens), H, 0, NOW, NOW)
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert list(rows["timestamp"]) == [t + H for t in opens]
    assert rows["timestamp_iso"].dtype == "datetime64[us]"
    assert rows.loc[0, "timestamp_iso"] == pd.Timestamp("2026-03-09 01:00")
    assert set(rows["symbol"]) == {"BTC"} and set(rows["data_source"]) == {"binance"}


def test_open_bar_is_left_out_and_a_bar_closing_now_is_kept() -> None:
    opens = list(range(ms("2026-03-10 00:00"), ms("2026-03-10 11:00"), H))  # last opens 10:00
    rows = rows_from_klines("BTC", klines(opens), H, 0, ms("2026-03-11"), NOW)
    assert rows["timestamp"].max() == ms("2026-03-10 10:00")  # 10:00-11:00 is still open
    on_close = rows_from_klines(
        "BTC", klines(opens), H, 0, ms("2026-03-11"), ms("2026-03-10 11:00")
    )
    assert on_close["timestamp"].max() == ms("2026-03-10 11:00")


def test_only_the_write_range_is_emitted_and_warm_up_feeds_the_rolling_values() -> None:
    write_from, write_to = ms("2026-03-05 00:00"), ms("2026-03-07 00:00")
    opens = list(range(write_from - DAY_MS, write_to - H, H))  # 23 warm-up bars + the range
    bars = klines(opens)
    rows = rows_from_klines("BTC", bars, H, write_from, write_to, NOW)
    assert rows["timestamp"].min() == write_from and rows["timestamp"].max() == write_to - H
    assert len(rows) == 48
    brute = {t: v for t, v in brute_klines(bars, H).items() if write_from <= t < write_to}
    assert_rows_match(rows, brute)
    ordered = bars.sort_values("open_time")["quote_volume"].to_numpy()
    assert len(ordered) == 23 + 48
    # the first row sums 24 bars: the 23 warm-up ones and its own
    assert rows.loc[0, "volume_usd_24h"] == pytest.approx(ordered[:24].sum())


@pytest.mark.parametrize(("step", "days"), [(H, 4), (15 * M, 2), (4 * H, 10), (DAY_MS, 30)])
def test_rolling_24h_values_equal_a_plain_loop_even_across_outages(step: int, days: int) -> None:
    start = ms("2026-02-01")
    opens = list(range(start, start + days * DAY_MS, step))
    outage = set(opens[len(opens) // 3 : len(opens) // 3 + max(1, len(opens) // 10)])
    bars = klines([t for t in opens if t not in outage], seed=step % 97)
    rows = rows_from_klines("ETH", bars, step, 0, NOW, NOW)
    assert_rows_match(rows, brute_klines(bars, step))


def test_near_listing_the_24h_values_use_the_bars_that_exist() -> None:
    listed = ms("2026-03-01 00:00")
    bars = klines(list(range(listed, listed + 5 * H, H)))
    rows = rows_from_klines("NEW", bars, H, 0, NOW, NOW)
    ordered = bars.sort_values("open_time").reset_index(drop=True)
    assert len(rows) == 5
    for i in range(5):
        assert rows.loc[i, "high_24h"] == ordered["high"][: i + 1].max()
        assert rows.loc[i, "low_24h"] == ordered["low"][: i + 1].min()
        assert rows.loc[i, "volume_usd_24h"] == pytest.approx(
            ordered["quote_volume"][: i + 1].sum()
        )


def test_duplicate_bars_count_once_and_the_last_copy_wins() -> None:
    opens = list(range(ms("2026-03-01"), ms("2026-03-02"), H))
    bars = klines(opens)
    again = bars.iloc[[3]].assign(close=bars["close"].iloc[3] + 1, high=1e6, quote_volume=5.0)
    doubled = pd.concat([bars, again], ignore_index=True)
    rows = rows_from_klines("BTC", doubled, H, 0, NOW, NOW)
    assert len(rows) == 24 and rows["timestamp"].is_unique
    deduped = pd.concat([bars.drop(index=3), again], ignore_index=True)
    assert_rows_match(rows, brute_klines(deduped, H))
    assert rows["high_24h"].iloc[-1] == 1e6


def test_no_bars_give_no_rows_with_the_row_columns() -> None:
    rows = rows_from_klines("BTC", pd.DataFrame(), H, 0, NOW, NOW)
    assert rows.empty and list(rows.columns) == list(ROW_COLUMNS)


def test_finite_drops_unusable_prices_and_keeps_missing_volumes() -> None:
    bars = klines(list(range(ms("2026-03-01"), ms("2026-03-01 06:00"), H)))
    rows = rows_from_klines("BTC", bars, H, 0, NOW, NOW)
    rows.loc[0, "current_price"] = np.nan
    rows.loc[1, "current_price"] = 0.0
    rows.loc[2, "current_price"] = -3.0
    rows.loc[3, "current_price"] = np.inf
    rows.loc[4, "volume_usd_24h"] = np.nan
    kept = finite(rows)
    assert list(kept["timestamp"]) == list(rows["timestamp"][4:])
    assert np.isnan(kept.loc[0, "volume_usd_24h"])


# -- CoinGecko points ------------------------------------------------------------------------------


def points(times: list[int], seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ms": np.array(times, dtype="int64"),
            "price": 50 + rng.normal(0, 2, len(times)).cumsum(),
            "volume_24h": rng.uniform(1e6, 1e8, len(times)),
        }
    )


def brute_points(pts: pd.DataFrame, step: int) -> dict[int, tuple[float, float, float, float]]:
    """Per grid close T: the last point at or before T (and after T − step) gives the price
    and volume; high/low over every point in (T − 24h, T]."""
    plain = sorted((int(r.ms), float(r.price), float(r.volume_24h)) for r in pts.itertuples())
    out = {}
    for close in sorted({-(-t // step) * step for t, _, _ in plain}):
        last = [p for p in plain if close - step < p[0] <= close][-1]
        window = [p[1] for p in plain if close - DAY_MS < p[0] <= close]
        out[close] = (last[1], max(window), min(window), last[2])
    return out


def test_a_point_belongs_to_the_next_close_and_the_last_point_of_a_bucket_wins() -> None:
    times = [
        ms("2026-03-09 10:03"),
        ms("2026-03-09 10:45"),
        ms("2026-03-09 11:00"),
        ms("2026-03-09 11:00") + 1,
    ]
    pts = points(times)
    rows = rows_from_points("XMR", pts, H, 0, NOW, NOW)
    assert list(rows["timestamp"]) == [ms("2026-03-09 11:00"), ms("2026-03-09 12:00")]
    assert rows.loc[0, "current_price"] == pts["price"][2]  # 11:00 exactly closes the 11:00 bar
    assert rows.loc[0, "volume_usd_24h"] == pts["volume_24h"][2]  # CoinGecko's own 24h volume
    assert rows.loc[1, "current_price"] == pts["price"][3]
    assert set(rows["data_source"]) == {"coingecko"}


def test_bucket_high_and_low_see_every_raw_point_not_only_the_kept_one() -> None:
    times = [
        ms("2026-03-09 09:10"),
        ms("2026-03-09 10:03"),
        ms("2026-03-09 10:20"),
        ms("2026-03-09 10:50"),
    ]
    pts = points(times).assign(price=[10.0, 12.0, 99.0, 11.0])
    rows = rows_from_points("XMR", pts, H, 0, NOW, NOW)
    row = rows.set_index("timestamp").loc[ms("2026-03-09 11:00")]
    assert (row["current_price"], row["high_24h"], row["low_24h"]) == (11.0, 99.0, 10.0)


def test_points_rows_equal_a_plain_loop_over_three_days_of_hourly_points() -> None:
    start = ms("2026-03-05 00:03")
    times = [start + i * H for i in range(72)]
    # two extra points inside buckets (late enough that no later bar's 24 hours reach them)
    times += [ms("2026-03-07 05:40"), ms("2026-03-07 12:50")]
    pts = points(times).sample(frac=1.0, random_state=5)
    rows = rows_from_points("XMR", pts, H, ms("2026-03-06"), ms("2026-03-08"), NOW)
    brute = {
        t: v for t, v in brute_points(pts, H).items() if ms("2026-03-06") <= t < ms("2026-03-08")
    }
    assert len(brute) == 48
    assert_rows_match(rows, brute)


def test_points_older_than_24h_before_the_close_do_not_count() -> None:
    stale = ms("2026-03-08 10:30")  # 24.5 hours before the 11:00 close below
    times = [stale, ms("2026-03-08 12:00"), ms("2026-03-09 10:03")]
    pts = points(times).assign(price=[500.0, 20.0, 21.0])
    rows = rows_from_points("XMR", pts, H, 0, NOW, NOW)
    row = rows.set_index("timestamp").loc[ms("2026-03-09 11:00")]
    assert row["high_24h"] == 21.0


def test_open_bucket_and_points_outside_the_write_range_are_left_out() -> None:
    times = [ms("2026-03-10 08:30"), ms("2026-03-10 09:30"), ms("2026-03-10 10:20")]
    rows = rows_from_points("XMR", points(times), H, ms("2026-03-10 10:00"), ms("2026-03-11"), NOW)
    assert list(rows["timestamp"]) == [ms("2026-03-10 10:00")]  # 11:00 is open, 09:00 too early


def test_duplicate_points_keep_the_last_and_daily_points_map_to_midnight() -> None:
    pts = points([ms("2026-03-01"), ms("2026-03-02"), ms("2026-03-02")])
    rows = rows_from_points("XMR", pts, DAY_MS, 0, NOW, NOW)
    assert list(rows["timestamp"]) == [ms("2026-03-01"), ms("2026-03-02")]
    assert rows.loc[1, "current_price"] == pts["price"][2]
    assert rows_from_points("XMR", pd.DataFrame(), H, 0, NOW, NOW).empty
