"""Benchmark of ``coinfill run features`` as users run it, against MariaDB/MySQL.

    make bench-features                                                   # 500 × 6,600 rows
    make bench-features FEATURES_BENCH_ARGS="--symbols 40 --hours 1000"   # a quick look

Creates (and drops) a scratch database with a synthetic hourly price history ending a few hours
before the current one (high/low/volume included), its technical indicators (``coinfill run
technical --days 0``, not timed), eight FRED-like macro series with publication times, on-chain
days for 100 assets with their availability, and PAXG. Then, per API mode (``own``: the command
starts its own temporary Prefect API; ``configured``: the bench's ``prefect server start``),
times whole processes: ``run features --days 0`` into an empty feature table, the same again
(nothing may change), and ``run features`` (the scheduled refresh: only changes) after 30
minutes of new data (one new hourly bar and its indicators for every asset, a new VIX close).
Results are checked in the database. Targets: full ≤ 180 s, refresh ≤ 10 s, peak ≤ 3 GiB.
Results: ``bench/results-features.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from common import (
    BENCH,
    GIB,
    HOUR_MS,
    TSV,
    Checks,
    Row,
    drop_database,
    execute,
    fresh_database,
    load_sql,
    report,
    row,
    table_state,
    utc_now,
    written_since,
)  # fmt: skip
from process import COINFILL, MODES, Bench, Run, run_command
from sqlalchemy import Engine

from coinfill.db.onchain import save_availability
from coinfill.db.schema import crypto_onchain_data, macro_indicators
from coinfill.db.upsert import upsert
from coinfill.macro.calendar import known_at, observation_dates
from coinfill.macro.catalog import catalog
from coinfill.onchain.availability import Availability

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_features_bench"
TABLE = "ml_features_materialized"
FULL_S, REFRESH_S = 180.0, 10.0
PRICE_COLUMNS = "symbol, timestamp, timestamp_iso, current_price, high_24h, low_24h, volume_usd_24h"
PRICE_SETS = "data_source = 'bench', created_at = %s, updated_at = %s"
LEVELS = {"US_UNEMPLOYMENT": 4.1, "US_INFLATION": 2.9, "US_GDP": 2.3, "FEDERAL_FUNDS_RATE": 4.3,
          "10Y_YIELD": 4.2, "VIX": 17.0, "DXY": 121.0, "OIL_PRICE": 68.0}  # fmt: skip


def load_prices(
    engine: Engine, symbols: list[str], start_ms: int, log_prices: np.ndarray, stamp: datetime
) -> None:
    n_sym, hours = log_prices.shape
    stamps = np.tile(start_ms + HOUR_MS * np.arange(hours, dtype=np.int64), n_sym)
    price = np.exp(log_prices).ravel()
    table = pa.table(
        {
            "symbol": pa.array(np.repeat(np.array(symbols), hours)),
            "timestamp": stamps,
            "timestamp_iso": pa.array(stamps // 1000).cast(pa.timestamp("s")),
            "current_price": price,
            "high_24h": price * 1.02,
            "low_24h": price * 0.98,
            "volume_usd_24h": np.round(price * 1e5, 2),
        }
    )
    with tempfile.NamedTemporaryFile(suffix=".tsv") as handle:
        pacsv.write_csv(table, handle.name, TSV)
        sql = load_sql("price_data_real", PRICE_COLUMNS, PRICE_SETS)
        execute(engine, sql, (handle.name, stamp, stamp))


def macro_frame(first: date, last: date, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for name, series in catalog().items():
        if not series.collectable:
            continue
        for day in observation_dates(series.frequency, first, last):
            published = known_at(
                day
                + timedelta(
                    days=series.lag_days - 3 if series.frequency != "daily" else series.lag_days
                )
            )
            value = LEVELS[name] * (1 + rng.normal(0, 0.01))
            rows.append({"indicator_name": name, "indicator_date": day, "value": value,
                         "first_value": value, "series_id": series.series_id,
                         "frequency": series.frequency, "data_source": "bench",
                         "published_at": published, "value_known_at": published,
                         "missing_at_source": False})  # fmt: skip
    return pd.DataFrame(rows)


def onchain_frame(symbols: list[str], first: date, last: date) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D").date
    frame = pd.DataFrame([(s, d) for s in symbols for d in days], columns=["symbol", "metric_date"])
    n = len(frame)
    frame["timestamp_iso"] = pd.to_datetime(frame["metric_date"])
    frame["active_addresses_24h"] = np.arange(n, dtype=float) % 1000 + 1000
    frame["transaction_count_24h"] = np.arange(n, dtype=float) % 700 + 5000
    frame["active_addresses_source"] = "coinmetrics"
    frame["transaction_count_source"] = "coinmetrics"
    frame["data_source"] = "coinmetrics"
    return frame


def technical(bench: Bench, url: str, days: str) -> None:
    """The indicators the feature table reads, as users compute them (not timed)."""
    run = run_command(
        COINFILL,
        ["run", "technical", "--days", days],
        bench.env(bench.modes[0], COINFILL_DATABASE_URL=url),
        bench.modes[0],
    )
    print(f"set-up: coinfill run technical --days {days}, {run.whole_s:.1f} s (not timed)")
    if run.exit:
        raise SystemExit(f"coinfill run technical failed: {run.stderr[:3]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the ml-features flow on MariaDB.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--hours", type=int, default=6_600)
    parser.add_argument("--onchain-assets", type=int, default=100)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-features.json")
    args = parser.parse_args()
    url = args.database_url
    modes = tuple(args.modes.split(","))

    # The series ends one hour per mode before the current hour; each refresh adds one.
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    end_ms = int(now_hour.replace(tzinfo=UTC).timestamp() * 1000) - len(modes) * HOUR_MS
    start_ms = end_ms - (args.hours - 1) * HOUR_MS
    first_day = datetime.fromtimestamp(start_ms / 1000, UTC).date()
    engine = fresh_database(url)
    begin = time.perf_counter()
    rng = np.random.default_rng(20_261_121)
    symbols = [f"B{i:04d}" for i in range(args.symbols - 1)] + ["PAXG"]
    levels = rng.uniform(np.log(1e-2), np.log(5e4), size=(len(symbols), 1))
    walk = levels + np.cumsum(rng.normal(0.0, 0.01, size=(len(symbols), args.hours)), axis=1)
    setup_stamp = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=2)
    load_prices(engine, symbols, start_ms, walk, setup_stamp)
    execute(engine, "INSERT INTO crypto_assets (symbol, name, is_active, created_at, updated_at)"
            " SELECT DISTINCT symbol, symbol, 1, NOW(), NOW() FROM price_data_real")  # fmt: skip
    execute(engine, "ANALYZE TABLE price_data_real")
    upsert(engine, macro_indicators, macro_frame(first_day - timedelta(days=400), now_hour.date(),
           rng), ("indicator_name", "indicator_date"), now=setup_stamp)  # fmt: skip
    chain = symbols[: args.onchain_assets]
    upsert(engine, crypto_onchain_data, onchain_frame(chain, first_day, now_hour.date()),
           ("symbol", "metric_date"), now=setup_stamp)  # fmt: skip
    save_availability(engine, [
        Availability(s, m, "coinmetrics", first_day, now_hour.date() - timedelta(days=1))
        for s in chain for m in ("active_addresses_24h", "transaction_count_24h")
    ], setup_stamp)  # fmt: skip
    n_rows = len(symbols) * args.hours
    print(f"set-up {n_rows:,} price rows + macro + on-chain in "
          f"{time.perf_counter() - begin:.1f} s (not timed)")  # fmt: skip

    rows: list[Row] = []
    checks = Checks()
    db = {"COINFILL_DATABASE_URL": url}
    last = walk[:, -1:]
    with Bench("features", modes) as bench:
        technical(bench, url, "0")
        bench.warm_up(["run", "features", "--days", "1", "--symbols", symbols[0], "--dry-run",
                       "--no-enforce-coverage"], **db)  # fmt: skip

        def phase(name: str, mode: str, args_: list[str], limit: float) -> Run:
            run = bench.coinfill(["run", "features", *args_], mode, **db)
            checks.ran(run, f"{name} [{mode}]")
            ok = run.whole_s <= limit and run.peak_rss <= 3 * GIB
            rows.append(row(run, name, basis="target", basis_s=limit,
                            target=f"≤ {limit:g} s, ≤ 3 GiB", ok=ok))  # fmt: skip
            return run

        for n, mode in enumerate(modes):
            if n:
                execute(engine, f"DELETE FROM {TABLE}")
                execute(engine, "DELETE FROM feature_refresh_state")
            prices = table_state(engine, "price_data_real").rows
            phase("full rebuild, empty table", mode, ["--days", "0"], FULL_S)
            before = table_state(engine, TABLE)
            checks.expect(before.rows == prices, f"full rebuild [{mode}]: {before.rows:,} rows, "
                          f"expected {prices:,} (one per price row)")  # fmt: skip
            phase("full rebuild, unchanged", mode, ["--days", "0"], FULL_S)
            after = table_state(engine, TABLE)
            checks.expect(after == before, f"unchanged rebuild [{mode}] changed {TABLE}: "
                          f"{before} → {after}")  # fmt: skip
            # 30 minutes later: one new bar per asset, its indicators, yesterday's VIX close.
            last = last + rng.normal(0.0, 0.01, size=(len(symbols), 1))
            stamp = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            load_prices(engine, symbols, end_ms + (n + 1) * HOUR_MS, last, stamp)
            technical(bench, url, "1")
            vix = macro_frame(now_hour.date() - timedelta(days=1), now_hour.date(), rng)
            published = stamp - timedelta(minutes=10)
            vix = vix.loc[vix["indicator_name"] == "VIX"]
            vix = vix.assign(published_at=published, value_known_at=published)
            upsert(engine, macro_indicators, vix, ("indicator_name", "indicator_date"), now=stamp)
            since = utc_now()
            phase("scheduled refresh after 30 min", mode, [], REFRESH_S)
            grown = table_state(engine, TABLE).rows - after.rows
            written = written_since(engine, TABLE, since)
            checks.expect(
                grown == len(symbols) and written >= len(symbols),
                f"refresh [{mode}]:"
                f" {grown} new rows, {written} written; expected {len(symbols)} new",
            )
    engine.dispose()
    if not args.keep:
        drop_database(url)
    report("features", rows, checks, args.results, symbols=len(symbols), hours=args.hours,
           price_rows=n_rows)  # fmt: skip


if __name__ == "__main__":
    main()
