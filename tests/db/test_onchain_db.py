"""``crypto_onchain_data`` and ``onchain_availability`` on SQLite and MariaDB: the source-safe
write, its provenance columns, filled days, daily closes, stored availability, counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.onchain import (
    daily_closes,
    filled_days,
    load_availability,
    save_availability,
    source_counts,
    write_values,
)
from coinfill.db.upsert import UpsertCounts
from coinfill.onchain.availability import Availability
from coinfill.onchain.coverage import volatility_days
from coinfill.onchain.metrics import BLOCKCHAIN_INFO, COINMETRICS, MESSARI, available_at
from coinfill.onchain.volatility import daily_volatility
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 3, 10, 12)
D0 = date(2026, 3, 1)
ACT, TX, FLOW, VOL = (
    "active_addresses_24h",
    "transaction_count_24h",
    "exchange_net_flow_24h",
    "price_volatility_7d",
)
SRC = {ACT: "active_addresses_source", TX: "transaction_count_source",
       FLOW: "exchange_net_flow_source"}  # fmt: skip
DAY_MS = 86_400_000


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def frame(source: str | None, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows ``symbol, metric_date, <metric>...`` with each metric's source column set."""
    out = pd.DataFrame(rows)
    for metric, column in SRC.items():
        if metric in out:
            out[column] = source
    return out


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(
            text(
                "SELECT symbol, metric_date, timestamp_iso, active_addresses_24h, "
                "transaction_count_24h, exchange_net_flow_24h, price_volatility_7d, data_source, "
                "available_at, active_addresses_source, transaction_count_source, "
                "exchange_net_flow_source FROM crypto_onchain_data ORDER BY symbol, metric_date"
            )
        )
        table = pd.DataFrame(result.all(), columns=list(result.keys()))
    table["metric_date"] = [pd.Timestamp(d).date() for d in table["metric_date"]]
    for column in ("timestamp_iso", "available_at"):
        table[column] = [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()
                         for v in table[column]]  # fmt: skip
    return table.astype({ACT: float, TX: float, FLOW: float, VOL: float})


def row(engine: Engine, symbol: str, metric_date: date) -> dict[str, Any]:
    table = stored(engine)
    match = table[(table["symbol"] == symbol) & (table["metric_date"] == metric_date)]
    assert len(match) == 1
    return dict(match.iloc[0])


def written(engine: Engine, rows: pd.DataFrame, now: datetime = NOW) -> tuple[int, ...]:
    counts = write_values(engine, rows, now=now)
    w = counts.written
    return w.inserted, w.updated, w.unchanged, counts.other_source


def cm_rows(days: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return frame(COINMETRICS, [
        {"symbol": s, "metric_date": day(i), ACT: float(rng.integers(1, 10**6)),
         TX: float(rng.integers(1, 10**6)), FLOW: float(rng.normal(0, 1e3))}
        for s in ("BTC", "ETH") for i in range(days)
    ])  # fmt: skip


# -- write_values ------------------------------------------------------------------------------


def test_writing_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    rows = cm_rows()
    assert written(engine, rows) == (6, 0, 0, 0)
    assert written(engine, rows) == (0, 0, 6, 0)
    table = stored(engine)
    np.testing.assert_allclose(table[[ACT, TX, FLOW]], rows[[ACT, TX, FLOW]], rtol=1e-12)
    assert table[VOL].isna().all() and set(table[SRC[FLOW]]) == {COINMETRICS}
    vol = pd.DataFrame({"symbol": "BTC", "metric_date": [day(0), day(5)], VOL: [0.02, 0.03]})
    assert written(engine, vol) == (1, 1, 0, 0)
    assert written(engine, vol) == (0, 0, 2, 0)
    assert write_values(engine, rows.iloc[:0], now=NOW).written == UpsertCounts()


def test_a_null_never_overwrites_a_stored_value(engine: Engine) -> None:
    written(engine, frame(COINMETRICS, [{"symbol": "BTC", "metric_date": day(0), ACT: 5.0}]))
    again = frame(COINMETRICS, [{"symbol": "BTC", "metric_date": day(0), ACT: np.nan, TX: 7.0}])
    assert written(engine, again) == (0, 1, 0, 0)
    got = row(engine, "BTC", day(0))
    assert (got[ACT], got[TX]) == (5.0, 7.0)
    assert (got[SRC[ACT]], got[SRC[TX]]) == (COINMETRICS, COINMETRICS)
    blank = frame(BLOCKCHAIN_INFO, [{"symbol": "BTC", "metric_date": day(0), ACT: np.nan}])
    assert written(engine, blank) == (0, 0, 1, 0)
    assert row(engine, "BTC", day(0))[SRC[ACT]] == COINMETRICS  # a NULL claims nothing


def test_a_value_of_another_source_is_kept_and_the_rest_of_the_row_written(
    engine: Engine,
) -> None:
    fallback = frame(BLOCKCHAIN_INFO, [
        {"symbol": "BTC", "metric_date": day(i), ACT: 100.0 + i} for i in range(3)
    ])  # fmt: skip
    assert written(engine, fallback) == (3, 0, 0, 0)
    cm = frame(COINMETRICS, [
        {"symbol": "BTC", "metric_date": day(i), ACT: 900.0 + i, TX: 50.0 + i, FLOW: -1.5}
        for i in range(4)
    ])  # fmt: skip
    assert written(engine, cm) == (1, 3, 0, 3)
    table = stored(engine)
    assert list(table[ACT]) == [100.0, 101.0, 102.0, 903.0]
    assert list(table[SRC[ACT]]) == [BLOCKCHAIN_INFO] * 3 + [COINMETRICS]
    assert list(table[TX]) == [50.0, 51.0, 52.0, 53.0] and set(table[SRC[TX]]) == {COINMETRICS}
    assert list(table[FLOW]) == [-1.5] * 4 and set(table[SRC[FLOW]]) == {COINMETRICS}
    assert written(engine, cm) == (0, 0, 4, 3)  # still kept, nothing rewritten
    assert written(engine, fallback.assign(**{ACT: [1.0, 2.0, 3.0]})) == (0, 3, 0, 0)
    assert list(stored(engine)[ACT]) == [1.0, 2.0, 3.0, 903.0]  # a source updates its own


def test_data_source_available_at_and_timestamp_follow_the_row_sources(engine: Engine) -> None:
    def midnight(d: date, days: int = 0, hours: int = 0) -> datetime:
        return datetime(d.year, d.month, d.day) + timedelta(days=days, hours=hours)

    written(engine, frame(BLOCKCHAIN_INFO, [{"symbol": "BTC", "metric_date": day(0), TX: 9.0}]))
    got = row(engine, "BTC", day(0))
    assert got["data_source"] == BLOCKCHAIN_INFO and got["timestamp_iso"] == midnight(day(0))
    assert got["available_at"] == midnight(day(0), 1, 1) == available_at(day(0), BLOCKCHAIN_INFO)
    written(engine, frame(COINMETRICS, [{"symbol": "BTC", "metric_date": day(0), ACT: 3.0}]))
    got = row(engine, "BTC", day(0))
    assert got["data_source"] == COINMETRICS  # the active addresses' source comes first
    assert got["available_at"] == midnight(day(0), 2) == available_at(day(0), COINMETRICS)
    vol = pd.DataFrame({"symbol": ["BTC", "ETH"], "metric_date": [day(0), day(1)], VOL: 0.1})
    written(engine, vol)
    assert row(engine, "BTC", day(0))["available_at"] == midnight(day(0), 2)
    eth = row(engine, "ETH", day(1))
    assert (eth["data_source"], eth["available_at"]) == ("coinfill", midnight(day(1), 1))
    assert eth["timestamp_iso"] == midnight(day(1))
    written(engine, frame(MESSARI, [{"symbol": "ETH", "metric_date": day(1), FLOW: 2.0}]))
    eth = row(engine, "ETH", day(1))
    assert (eth["data_source"], eth["available_at"]) == (MESSARI, midnight(day(1), 2))


def test_filled_days_per_series(engine: Engine) -> None:
    written(engine, cm_rows(5))
    written(engine, frame(COINMETRICS, [{"symbol": "SOL", "metric_date": day(2), TX: 1.0}]))
    written(engine, pd.DataFrame({"symbol": "ETH", "metric_date": [day(3), day(9)], VOL: 0.1}))
    got = filled_days(engine, ["BTC", "ETH", "SOL"], day(1), day(4))
    assert got[("BTC", ACT)] == got[("ETH", FLOW)] == {day(1), day(2), day(3)}
    assert got[("SOL", TX)] == {day(2)} and ("SOL", ACT) not in got
    assert got[("ETH", VOL)] == {day(3)} and ("BTC", VOL) not in got
    assert filled_days(engine, ["XRP"], day(0), day(9)) == {}


# -- daily closes and volatility days ----------------------------------------------------------


def ms(d: date, hours: int = 0) -> int:
    return (d - date(1970, 1, 1)).days * DAY_MS + hours * 3_600_000


def prices(symbol: str, times: list[int], closes: list[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "symbol": symbol, "timestamp": np.array(times, dtype="int64"),
        "timestamp_iso": pd.to_datetime(times, unit="ms").astype("datetime64[us]"),
        "current_price": closes, "data_source": "test",
    })  # fmt: skip


def test_daily_closes_read_midnight_rows_as_the_day_they_end(engine: Engine) -> None:
    midnights = [ms(day(i)) for i in range(1, 11)]  # the closes of days 0..9
    store_prices(engine, prices("BTC", midnights, [float(i) for i in range(10)]))
    store_prices(engine, prices("BTC", [ms(day(3), 1), ms(day(4), 23)], [99.0, 99.0]))
    store_prices(engine, prices("ETH", [ms(day(5)) + 1, ms(day(6))], [7.0, 8.0]))
    got = daily_closes(engine, ["BTC", "ETH"], day(2), day(6))
    got = got.sort_values(["symbol", "day"]).reset_index(drop=True)
    assert list(got["symbol"]) == ["BTC"] * 4 + ["ETH"]
    assert list(got["day"]) == [day(2), day(3), day(4), day(5), day(5)]
    assert list(got["close"]) == [2.0, 3.0, 4.0, 5.0, 8.0]
    assert daily_closes(engine, ["BTC"], day(10), day(20)).empty


def test_volatility_days_are_the_days_with_eight_stored_closes(engine: Engine) -> None:
    closes = {i: 100.0 + i for i in range(-1, 30)}  # day i's close, at midnight of day i + 1
    del closes[9]
    closes[20] = 0.0
    store_prices(engine, prices("BTC", [ms(day(i + 1)) for i in closes], list(closes.values())))
    store_prices(engine, prices("BTC", [ms(day(9), 12)], [50.0]))  # not a daily close
    store_prices(engine, prices("ETH", [ms(day(i + 1)) for i in range(4)], [1.0] * 4))
    got = volatility_days(engine, ["BTC", "ETH", "XRP"], day(3), day(28))
    holes = {day(n + k) for n in (9, 20) for k in range(8)}
    assert got == {"BTC": [d for d in (day(i) for i in range(6, 28)) if d not in holes]}
    assert volatility_days(engine, ["BTC"], day(5), day(5)) == {}


def test_volatility_days_match_the_computed_values_on_real_prices(
    engine: Engine, real_bars: pd.DataFrame
) -> None:
    store_prices(engine, real_prices(real_bars, ["BTC", "ETH"], hours=24 * 40))
    start = pd.Timestamp(int(real_bars["timestamp"].min()), unit="ms").date()
    end = start + timedelta(days=45)
    got = volatility_days(engine, ["BTC", "ETH"], start, end)
    closes = daily_closes(engine, ["BTC", "ETH"], start - timedelta(days=7), end)
    values = daily_volatility(closes, start, end)
    assert sum(len(d) for d in got.values()) > 40
    for symbol, days in got.items():
        assert days == list(values.loc[values["symbol"] == symbol, "metric_date"])


# -- onchain_availability and source counts ----------------------------------------------------


def test_availability_round_trips_and_is_replaced_per_symbol_and_source(engine: Engine) -> None:
    learned = NOW - timedelta(days=3)  # a refusal keeps the date it was learned
    first = [
        Availability("BTC", ACT, COINMETRICS, date(2010, 7, 17), day(0)),
        Availability("BTC", FLOW, COINMETRICS, None, None, "forbidden", "x" * 300, learned),
        Availability("BTC", ACT, BLOCKCHAIN_INFO, date(2009, 1, 3), day(1)),
        Availability("ETH", ACT, COINMETRICS, date(2015, 8, 8), day(0)),
    ]
    save_availability(engine, first, NOW)
    stamped = [e if e.checked_at else replace(e, checked_at=NOW) for e in first]
    got = sorted(load_availability(engine, None), key=repr)
    assert got == sorted([*stamped[:1], *stamped[2:], replace(stamped[1], detail="x" * 255)],
                         key=repr)  # fmt: skip
    assert load_availability(engine, ["ETH"]) == [stamped[3]]
    newer = [Availability("BTC", TX, COINMETRICS, day(-5), day(2))]
    save_availability(engine, newer, NOW)
    assert sorted(load_availability(engine, ["BTC"]), key=repr) == sorted(
        [stamped[2], replace(newer[0], checked_at=NOW)], key=repr
    )
    save_availability(engine, [], NOW)
    assert len(load_availability(engine, None)) == 3


def test_source_counts_per_metric_and_source(engine: Engine) -> None:
    written(engine, cm_rows(3))
    written(engine, frame(BLOCKCHAIN_INFO, [{"symbol": "BTC", "metric_date": day(5), ACT: 1.0}]))
    written(engine, pd.DataFrame({"symbol": "ETH", "metric_date": [day(0), day(7)], VOL: 0.1}))
    got = {(r["metric"], r["source"]): (r["values"], r["assets"])
           for r in source_counts(engine, None, None, None)}  # fmt: skip
    assert got == {
        (ACT, COINMETRICS): (6, 2), (ACT, BLOCKCHAIN_INFO): (1, 1), (TX, COINMETRICS): (6, 2),
        (FLOW, COINMETRICS): (6, 2), (VOL, "coinfill (price_data_real)"): (2, 1),
    }  # fmt: skip
    window = {(r["metric"], r["source"]): (r["values"], r["assets"])
              for r in source_counts(engine, ["BTC"], day(1), day(6))}  # fmt: skip
    assert window == {
        (ACT, COINMETRICS): (2, 1), (ACT, BLOCKCHAIN_INFO): (1, 1), (TX, COINMETRICS): (2, 1),
        (FLOW, COINMETRICS): (2, 1), (VOL, "coinfill (price_data_real)"): (0, 0),
    }  # fmt: skip


@pytest.mark.parametrize("source", [COINMETRICS, BLOCKCHAIN_INFO])
def test_a_dry_run_writes_nothing(engine: Engine, source: str) -> None:
    rows = frame(source, [{"symbol": "BTC", "metric_date": day(0), ACT: 1.0}])
    assert write_values(engine, rows, now=NOW, dry_run=True).written == UpsertCounts(1)
    assert stored(engine).empty
