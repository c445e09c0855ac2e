"""Benchmark of the ``ml-features`` flow against MariaDB/MySQL (issue 7).

    make bench-features                                         # 500 × 6,600 = 3.3M rows
    make bench-features FEATURES_BENCH_ARGS="--symbols 40 --hours 1000"   # a quick look

Creates (and drops) a scratch database with a synthetic hourly price history ending at the
current hour (high/low/volume included), its technical indicators (computed by the technical
flow, not timed), eight FRED-like macro series with publication times, on-chain days for 100
assets with their availability, and PAXG. Then times: the full rebuild into an empty feature
table (with coverage before/after), an unchanged full re-run, and the scheduled refresh after
30 minutes of new data (one new hourly bar and its indicators for every asset, a new VIX close).
Peak RSS is this process's (VmHWM reset per phase). Results: ``bench/results-features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent))
from technical_bench import HOUR_MS, TSV, execute, load_sql, measure, recreate_database

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.onchain import save_availability
from coinfill.db.schema import crypto_onchain_data, macro_indicators
from coinfill.db.upsert import upsert
from coinfill.macro.calendar import known_at, observation_dates
from coinfill.macro.catalog import catalog
from coinfill.onchain.availability import Availability

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_features_bench"
GIB = 1 << 30
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the ml-features flow on MariaDB.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--hours", type=int, default=6_600)
    parser.add_argument("--onchain-assets", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("results-features.json")
    )
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="coinfill-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["COINFILL_DATABASE_URL"] = args.database_url
    from flows.ml_features import ml_features
    from flows.technical_indicators import technical_indicators

    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    end_ms = int(now_hour.replace(tzinfo=UTC).timestamp() * 1000) - HOUR_MS
    start_ms = end_ms - (args.hours - 1) * HOUR_MS
    first_day = datetime.fromtimestamp(start_ms / 1000, UTC).date()
    recreate_database(args.database_url)
    engine = make_engine(args.database_url)
    upgrade(engine)
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
    technical_indicators(days=0)
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
    print(f"set-up {n_rows:,} price rows + indicators + macro + on-chain in "
          f"{time.perf_counter() - begin:.1f} s (not timed)")  # fmt: skip
    ml_features(days=1, symbols=symbols[:1], dry_run=True, enforce_coverage=False)  # warm-up

    phases: list[dict[str, Any]] = []

    def phase(name: str, target_s: float, **params: Any) -> Any:
        seconds, peak, summary = measure(name, lambda: ml_features(**params))
        ok = seconds <= target_s and (peak or 0) <= 3 * GIB
        phases.append({"phase": name, "seconds": round(seconds, 1), "peak_rss_mib":
                       round((peak or 0) / 2**20), "totals": summary.totals, "mode": summary.mode,
                       "target": f"≤ {target_s:g} s, ≤ 3 GiB", "ok": ok,
                       "coverage_all": summary.coverage.splitlines()[2]})  # fmt: skip
        print(f"  {seconds:.1f} s, peak {(peak or 0) / 2**20:,.0f} MiB, {summary.totals}")
        return summary

    full = phase("full rebuild, empty table", 180, days=0)
    assert full.totals["inserted"] == n_rows, full.totals
    rerun = phase("full rebuild, unchanged", 180, days=0)
    assert rerun.totals["inserted"] == rerun.totals["updated"] == 0, rerun.totals
    # 30 minutes later: one new bar per asset, its indicators, and yesterday's VIX close.
    step = walk[:, -1:] + rng.normal(0.0, 0.01, size=(len(symbols), 1))
    stamp = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    load_prices(engine, symbols, end_ms + HOUR_MS, step, stamp)
    technical_indicators(days=1)
    vix = macro_frame(now_hour.date() - timedelta(days=1), now_hour.date(), rng)
    published = stamp - timedelta(minutes=10)
    vix = vix.loc[vix["indicator_name"] == "VIX"]
    vix = vix.assign(published_at=published, value_known_at=published)
    upsert(engine, macro_indicators, vix, ("indicator_name", "indicator_date"), now=stamp)
    incremental = phase("scheduled refresh after 30 min", 10)
    assert incremental.totals["inserted"] == len(symbols), incremental.totals
    engine.dispose()
    if not args.keep:
        recreate_database(args.database_url, create=False)
    results = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "symbols": len(symbols), "hours": args.hours, "rows": n_rows,
               "cpus": os.cpu_count(), "phases": phases}  # fmt: skip
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nml-features bench: {n_rows:,} rows, {os.cpu_count()} CPUs")
    for p in phases:
        mark = "✅" if p["ok"] else "❌"
        print(f"{p['phase']:<34}{p['seconds']:>8.1f} s{p['peak_rss_mib']:>8,} MiB  "
              f"{p['target']} {mark}  {p['totals']}")  # fmt: skip
    print(f"results written to {args.results}")


if __name__ == "__main__":
    main()
