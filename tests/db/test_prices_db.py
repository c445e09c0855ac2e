"""``price_data_real`` on a bar grid and the source-safe price write, on SQLite and MariaDB."""

from __future__ import annotations

import random
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets
from coinfill.db.prices import PriceWriteCounts, grid_stats, stored_spans, write_prices
from coinfill.prices.coverage import expected_bars
from coinfill.prices.grid import DAY_MS, align_up, bars_between
from coinfill.prices.plan import AssetSource, GridStats, plan_symbol
from coinfill.prices.rows import rows_from_klines
from tests.helpers import real_prices, store_prices

H = 3_600_000
T1, T2, T3 = datetime(2026, 3, 10, 11), datetime(2026, 3, 10, 12), datetime(2026, 3, 10, 13)
VALUES = ["current_price", "high_24h", "low_24h", "volume_usd_24h"]


def ms(moment: str) -> int:
    return int(pd.Timestamp(moment, tz="UTC").value // 1_000_000)


NOW = ms("2026-03-10 10:30")
START = ms("2026-03-01")


def binance_rows(symbol: str, hours: int, start: int = START, seed: int = 0) -> pd.DataFrame:
    """Rows as the collector makes them: ``hours`` closed bars from ``start`` on."""
    rng = np.random.default_rng(seed)
    opens = np.arange(start - DAY_MS, start + (hours - 1) * H, H, dtype="int64")
    close = 100 + rng.normal(0, 1, len(opens)).cumsum()
    bars = pd.DataFrame(
        {
            "open_time": opens,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "quote_volume": rng.uniform(1e3, 1e4, len(opens)),
        }
    )
    return rows_from_klines(symbol, bars, H, start, start + hours * H, NOW)


def at_times(symbol: str, times: list[int], source: str | None = "binance") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": np.array(times, dtype="int64"),
            "timestamp_iso": pd.to_datetime(times, unit="ms").astype("datetime64[us]"),
            "current_price": 1.0 + np.arange(len(times), dtype=float),
            "data_source": source,
        }
    )


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(
            text(
                "SELECT symbol, timestamp, current_price, high_24h, low_24h, volume_usd_24h, "
                "data_source, created_at, updated_at FROM price_data_real "
                "ORDER BY symbol, timestamp"
            )
        )
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    return frame.astype({"timestamp": "int64", **dict.fromkeys(VALUES, float)})


def counts(
    inserted: int = 0, updated: int = 0, unchanged: int = 0, other: int = 0
) -> PriceWriteCounts:
    return PriceWriteCounts(inserted, updated, unchanged, other)


# -- write_prices ----------------------------------------------------------------------------------


def test_writing_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    rows = pd.concat([binance_rows("BTC", 48), binance_rows("ETH", 30, seed=1)], ignore_index=True)
    assert write_prices(engine, rows, now=T1) == {"BTC": counts(48), "ETH": counts(30)}
    assert write_prices(engine, rows, now=T2) == {
        "BTC": counts(unchanged=48),
        "ETH": counts(unchanged=30),
    }
    table = stored(engine)
    assert len(table) == 78 and (pd.to_datetime(table["updated_at"]) == T1).all()  # not rewritten
    np.testing.assert_allclose(table[VALUES].to_numpy(), rows[VALUES].to_numpy(), rtol=1e-12)
    assert set(table["data_source"]) == {"binance"}


def test_a_changed_close_is_updated_and_float_noise_is_not(engine: Engine) -> None:
    rows = binance_rows("BTC", 24)
    write_prices(engine, rows, now=T1)
    again = rows.copy()
    again.loc[5, "current_price"] *= 1.01
    again.loc[6, "current_price"] *= 1 + 1e-13
    assert write_prices(engine, again, now=T3) == {"BTC": counts(updated=1, unchanged=23)}
    table = stored(engine)
    assert table.loc[5, "current_price"] == pytest.approx(rows.loc[5, "current_price"] * 1.01)
    assert pd.Timestamp(table.loc[5, "updated_at"]) == T3
    assert pd.Timestamp(table.loc[5, "created_at"]) == T1
    assert pd.Timestamp(table.loc[6, "updated_at"]) == T1


def test_a_missing_volume_never_erases_a_stored_one(engine: Engine) -> None:
    rows = binance_rows("BTC", 24)
    write_prices(engine, rows, now=T1)
    again = pd.concat([rows, binance_rows("BTC", 2, start=START + 24 * H)], ignore_index=True)
    again.loc[:9, "volume_usd_24h"] = np.nan
    again.loc[0, "current_price"] += 1.0
    again.loc[25, "volume_usd_24h"] = np.nan  # a new bar without a volume is stored as NULL
    assert write_prices(engine, again, now=T2) == {"BTC": counts(2, 1, 23)}
    table = stored(engine)
    np.testing.assert_allclose(table["volume_usd_24h"][:24], rows["volume_usd_24h"], rtol=1e-12)
    assert table.loc[0, "current_price"] == pytest.approx(rows.loc[0, "current_price"] + 1.0)
    assert np.isnan(table.loc[25, "volume_usd_24h"])


def test_a_bar_another_source_stored_is_kept_and_counted(
    engine: Engine, real_bars: pd.DataFrame
) -> None:
    demo = real_prices(real_bars, ["BTC"], hours=10)
    store_prices(engine, demo)
    start = int(demo["timestamp"].iloc[5])
    mine = binance_rows("BTC", 15, start=start)  # 5 keys the demo holds, 10 new ones
    assert write_prices(engine, mine, now=T2) == {"BTC": counts(inserted=10, other=5)}
    table = stored(engine)
    assert len(table) == 20
    assert list(table["data_source"]) == ["bitfinex-demo"] * 10 + ["binance"] * 10
    np.testing.assert_allclose(table["current_price"][:10], demo["current_price"], rtol=1e-12)
    assert write_prices(engine, mine, now=T3) == {"BTC": counts(unchanged=10, other=5)}


def test_a_bar_without_a_source_is_claimed_and_dry_runs_write_nothing(engine: Engine) -> None:
    rows = binance_rows("BTC", 4)
    store_prices(engine, at_times("BTC", [int(rows["timestamp"][0])], source=None))
    assert write_prices(engine, rows, now=T1, dry_run=True) == {"BTC": counts(3, 1)}
    assert len(stored(engine)) == 1 and stored(engine)["data_source"].isna().all()
    assert write_prices(engine, rows, now=T1) == {"BTC": counts(3, 1)}
    assert list(stored(engine)["data_source"]) == ["binance"] * 4
    assert write_prices(engine, rows.iloc[:0], now=T1) == {}


# -- grid_stats and stored_spans -------------------------------------------------------------------


def test_grid_stats_without_holes_is_one_aggregate(engine: Engine) -> None:
    times = list(range(START, START + 48 * H, H))
    store_prices(engine, pd.concat([at_times("BTC", times), at_times("ETH", times[:5])]))
    stats = grid_stats(engine, ["BTC", "ETH", "XRP"], None, None, H)
    assert stats == {
        "BTC": GridStats(48, times[0], times[-1]),
        "ETH": GridStats(5, times[0], times[4]),
    }
    window = grid_stats(engine, ["BTC"], times[10], times[20], H)  # end is exclusive
    assert window == {"BTC": GridStats(10, times[10], times[19])}
    daily = grid_stats(engine, ["BTC"], None, None, DAY_MS)  # 1 and 2 March 00:00 only
    assert daily == {"BTC": GridStats(2, START, START + DAY_MS)}
    assert grid_stats(engine, [], None, None, H) == {}


def test_grid_stats_ignores_off_grid_rows_and_spans_include_them(engine: Engine) -> None:
    complete = list(range(START, START + 10 * H, H))
    store_prices(engine, at_times("BTC", [*complete, START + 3 * H + 1, START + 20 * H + 5]))
    assert grid_stats(engine, ["BTC"], START, None, H) == {
        "BTC": GridStats(10, complete[0], complete[-1])  # complete on the grid: no times read
    }
    store_prices(engine, at_times("ETH", [START + H]))
    assert stored_spans(engine, ["BTC"]) == {"BTC": (START, START + 20 * H + 5)}  # any row
    assert stored_spans(engine, None) == {
        "BTC": (START, START + 20 * H + 5),
        "ETH": (START + H, START + H),
    }


def test_grid_stats_with_holes_lists_every_stored_time(engine: Engine) -> None:
    times = [t for t in range(START, START + 48 * H, H) if t not in (START + 7 * H, START + 30 * H)]
    off_grid = [START + 7 * H + 30 * 60_000, START + 60 * H + 1]
    store_prices(engine, at_times("ETH", times + off_grid))
    stats = grid_stats(engine, ["ETH"], START, None, H)
    assert stats["ETH"] == GridStats(46, times[0], times[-1], tuple(times))


@pytest.mark.parametrize("seed", [1, 2])
def test_plans_from_grid_stats_fetch_exactly_what_is_missing(engine: Engine, seed: int) -> None:
    if seed == 1:
        rng = random.Random(seed)
    start, end = START, START + 6 * DAY_MS
    grid = list(range(start, end, H))
    kept = sorted(rng.sample(grid, 100)) if seed == 1 else grid[20:90]  # holes / edges only
    store_prices(engine, at_times("BTC", kept))
    stats = grid_stats(engine, ["BTC"], start, end, H)["BTC"]
    assert (stats.times is None) == (seed == 2)
    plan = plan_symbol(AssetSource("BTC", "BTCUSDT"), stats, start, end, H, "1h", NOW)
    assert (plan.expected, plan.present) == (len(grid), len(kept))
    covered = {t for a, b in plan.ranges for t in range(align_up(a, H), b, H)}
    assert set(grid) - set(kept) <= covered <= set(grid)


# -- expected_bars: the coverage denominator -------------------------------------------------------

LAST_CLOSE_END = ms("2026-03-10 11:00")  # exclusive end: the 10:00 bar is the newest closed


def registry(engine: Engine) -> None:
    add_assets(
        engine,
        pd.DataFrame(
            {
                "symbol": ["BTC", "NEW", "OLD", "XMR", "IDLE"],
                "binance_symbol": ["BTCUSDT", "NEWUSDT", None, None, "IDLEUSDT"],
                "coingecko_id": ["bitcoin", None, None, "monero", None],
                "price_history_start": [None, datetime(2026, 3, 3), None, None, None],
                "is_active": True,
            }
        ),
    )
    store_prices(engine, at_times("BTC", list(range(START + 5 * H, START + 30 * H, H))))
    old = [t for t in range(START, START + 10 * H, H) if t != START + 4 * H]
    store_prices(engine, at_times("OLD", old, source="bitfinex-demo"))


def test_expected_bars_follow_sources_and_hold_sourceless_symbols_to_their_span(
    engine: Engine,
) -> None:
    registry(engine)
    names = ["BTC", "NEW", "OLD", "XMR", "IDLE", "GONE"]
    wide = expected_bars(engine, names, START - 2 * DAY_MS, None, "1h", NOW)
    assert wide == {
        "BTC": bars_between(START + 5 * H, LAST_CLOSE_END, H),  # from its first stored bar
        "NEW": bars_between(ms("2026-03-03"), LAST_CLOSE_END, H),  # from its learned start
        "OLD": 10,  # no source: its own span, its hole included, nothing after its last bar
        "XMR": bars_between(START - 2 * DAY_MS, LAST_CLOSE_END, H),  # inside CoinGecko's year
        "IDLE": bars_between(START - 2 * DAY_MS, LAST_CLOSE_END, H),
        "GONE": 0,  # neither registered nor stored
    }
    assert wide["BTC"] == 9 * 24 - 5 + 11
    inside = expected_bars(engine, ["OLD", "BTC"], START + 3 * H, START + 7 * H, "1h", NOW)
    assert inside == {"OLD": 4, "BTC": 2}
    open_start = expected_bars(engine, ["BTC", "NEW", "IDLE"], None, None, "1h", NOW)
    assert open_start == {"BTC": wide["BTC"], "NEW": wide["NEW"], "IDLE": 0}  # IDLE: unknown


def test_expected_bars_for_every_symbol_include_active_sourced_assets(engine: Engine) -> None:
    registry(engine)
    every = expected_bars(engine, None, START, None, "1h", NOW)
    assert {"BTC", "OLD"} <= set(every)
    assert every.get("NEW") == bars_between(ms("2026-03-03"), LAST_CLOSE_END, H)
