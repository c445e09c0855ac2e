"""Benchmark of the technical-indicators backfill against MariaDB/MySQL (DESIGN §9).

    make bench                                          # 500 symbols × 6,600 hours = 3.3M rows
    make bench BENCH_ARGS="--symbols 20 --hours 1000"   # a quick look

Creates (and drops) a scratch database, loads a synthetic price history ending at the current
hour, then times: full backfill (``days=0``), an unchanged re-run, an incremental pass over 2
new hours, the database floor (one ``LOAD DATA`` of the same indicator rows) and the naive
``read_sql`` / ``ta`` / ``to_sql`` way on a 10 % subset. Results go to ``bench/results.json``.
Peak RSS is this process's (VmHWM reset per phase), not the database's or Prefect's server's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pymysql
import ta
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.reads import read_frame
from coinfill.db.schema import TECHNICAL_COLUMNS, technical_indicators
from coinfill.validation.gxrun import validate
from expectations.contracts import contract_for

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_bench"
OLD_SYSTEM_SECONDS = 1_320.0  # the old technical-calculator's full backfill of 3.3M rows
GIB = 1 << 30
HOUR_MS = 3_600_000
TSV = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
TECH_COLUMNS = ["symbol", "timestamp_iso", "current_price", *TECHNICAL_COLUMNS]
PRICE_COLUMNS = "symbol, timestamp, timestamp_iso, current_price"
PRICE_SETS = "data_source = 'bench', created_at = NOW(), updated_at = NOW()"


@dataclass
class Phase:
    name: str
    rows: int
    seconds: float
    peak_rss: int | None
    target: str = ""
    ok: bool | None = None
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def measure(name: str, run: Callable[[], Any]) -> tuple[float, int | None, Any]:
    """Wall seconds, peak RSS during ``run`` (Linux: VmHWM after a reset) and its result."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    print(f"… {name}", flush=True)
    begin = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - begin
    status = Path("/proc/self/status").read_text().splitlines() if reset else []
    hwm = [int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")]
    # Without a reset: the lifetime peak, an upper bound for this phase.
    peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return seconds, peak, result


def recreate_database(url: str, create: bool = True) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    conn = pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
    )
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if create:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()


def execute(engine: Engine, sql: str, params: Any = None) -> int:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = int(cursor.execute(sql, params))
        raw.commit()
        return rows
    finally:
        raw.close()


def load_sql(into: str, columns: str, sets: str) -> str:
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{into}` CHARACTER SET utf8mb4 FIELDS "
        f"TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n' ({columns}) SET {sets}"
    )


def load_prices(engine: Engine, symbols: list[str], start_ms: int, log_prices: np.ndarray) -> None:
    """Hourly rows from ``start_ms``, one row of ``log_prices`` per symbol (not timed)."""
    n_sym, hours = log_prices.shape
    stamps = np.tile(start_ms + HOUR_MS * np.arange(hours, dtype=np.int64), n_sym)
    table = pa.table(
        {
            "symbol": pa.array(np.repeat(np.array(symbols), hours)),
            "timestamp": stamps,
            "timestamp_iso": pa.array(stamps // 1000).cast(pa.timestamp("s")),
            "current_price": np.exp(log_prices).ravel(),
        }
    )
    with tempfile.NamedTemporaryFile(suffix=".tsv") as handle:
        pacsv.write_csv(table, handle.name, TSV)
        execute(engine, load_sql("price_data_real", PRICE_COLUMNS, PRICE_SETS), (handle.name,))


def naive(url: str, symbols: list[str]) -> int:
    """pandas.read_sql over SQLAlchemy+PyMySQL, ``ta`` per symbol, ``to_sql`` in 10k chunks."""
    engine = create_engine(url)
    names = ", ".join(f"'{s}'" for s in symbols)
    prices = pd.read_sql(
        "SELECT symbol, timestamp_iso, current_price FROM price_data_real "
        f"WHERE symbol IN ({names}) ORDER BY symbol, timestamp",
        engine,
    )
    frames = []
    for _, group in prices.groupby("symbol"):
        close = group["current_price"]
        macd = ta.trend.MACD(close, window_slow=26, window_fast=12, window_sign=9)
        bands = ta.volatility.BollingerBands(close, window=20, window_dev=2)
        frames.append(
            group.assign(
                sma_20=ta.trend.sma_indicator(close, window=20),
                sma_50=ta.trend.sma_indicator(close, window=50),
                rsi_14=ta.momentum.rsi(close, window=14),
                macd=macd.macd(),
                macd_signal=macd.macd_signal(),
                macd_histogram=macd.macd_diff(),
                bollinger_upper=bands.bollinger_hband(),
                bollinger_middle=bands.bollinger_mavg(),
                bollinger_lower=bands.bollinger_lband(),
            )
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    result = pd.concat(frames).assign(created_at=now, updated_at=now)
    result.to_sql(
        "technical_naive", engine, if_exists="append", index=False, chunksize=10_000, method=None
    )
    engine.dispose()
    return len(result)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the technical backfill on MariaDB.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--hours", type=int, default=6_600)
    parser.add_argument("--naive-share", type=float, default=0.1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="coinfill-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["COINFILL_DATABASE_URL"] = args.database_url
    from flows.technical_indicators import technical_indicators as flow  # after PREFECT_HOME

    # The series ends 2 hours before the current hour; the incremental pass adds those 2.
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end_ms = int(now_hour.timestamp() * 1000) - 2 * HOUR_MS
    n_rows = args.symbols * args.hours
    recreate_database(args.database_url)
    engine = make_engine(args.database_url)
    upgrade(engine)
    begin = time.perf_counter()
    rng = np.random.default_rng(20_241_121)
    symbols = [f"B{i:04d}" for i in range(args.symbols)]
    levels = rng.uniform(np.log(1e-4), np.log(5e4), size=(args.symbols, 1))  # 1e-4 .. 5e4
    walk = levels + np.cumsum(rng.normal(0.0, 0.01, size=(args.symbols, args.hours)), axis=1)
    load_prices(engine, symbols, end_ms - (args.hours - 1) * HOUR_MS, walk)
    execute(
        engine,
        "INSERT INTO crypto_assets (symbol, name, is_active, created_at, updated_at) "
        "SELECT DISTINCT symbol, symbol, 1, NOW(), NOW() FROM price_data_real",
    )
    execute(engine, "ANALYZE TABLE price_data_real")
    print(f"generated {n_rows:,} price rows in {time.perf_counter() - begin:.1f} s (not timed)")

    begin = time.perf_counter()
    flow(days=2, symbols=symbols[:1], dry_run=True)
    warm_up = time.perf_counter() - begin
    print(f"warm-up: dry run on 1 symbol, {warm_up:.1f} s, not counted (starts Prefect's server)")
    phases: list[Phase] = []

    def run_flow(name: str, rows_key: str, expect: dict[str, int], **params: Any) -> Phase:
        seconds, peak, summary = measure(name, lambda: flow(**params))
        totals = dict(summary.totals)
        print(f"  {seconds:.1f} s, totals: {totals}")
        for key, value in expect.items():
            assert totals[key] == value, f"{name}: {key} = {totals[key]:,}, expected {value:,}"
        phases.append(Phase(name, totals[rows_key], seconds, peak, totals=totals))
        return phases[-1]

    full = run_flow("full backfill", "inserted", {"inserted": n_rows, "updated": 0}, days=0)
    rerun = run_flow("re-run, no changes", "unchanged", {"inserted": 0, "updated": 0}, days=0)
    step = np.random.default_rng(7).normal(0.0, 0.01, size=(args.symbols, 2))
    load_prices(engine, symbols, end_ms + HOUR_MS, walk[:, -1:] + np.cumsum(step, axis=1))
    expect = {"inserted": 2 * args.symbols, "updated": 0}
    incr = run_flow("incremental, days=2", "inserted", expect, days=2)

    # The technical GX suite over the whole table (every symbol's warm-up is in the window).
    moment = datetime.now(UTC).replace(tzinfo=None)
    seconds, peak, report = measure(
        "validate technical suite",
        lambda: validate(engine, contract_for("technical"), None, None, None, moment),
    )
    assert report.passed, report.misses()
    check = Phase("GX technical suite", report.columns[0].non_null, seconds, peak)
    phases.append(check)

    t = technical_indicators
    last = datetime.fromtimestamp(end_ms / 1000, UTC).replace(tzinfo=None)
    query = select(*(t.c[c] for c in TECH_COLUMNS)).where(t.c.timestamp_iso <= last)
    stored = read_frame(engine, query.order_by(t.c.id))
    execute(engine, "CREATE TABLE technical_floor LIKE technical_indicators")
    variables = ", ".join(f"@v{i}" for i in range(len(TECH_COLUMNS)))
    sets = ", ".join(f"`{c}` = NULLIF(@v{i}, '')" for i, c in enumerate(TECH_COLUMNS))
    floor_sql = load_sql("technical_floor", variables, f"{sets}, {PRICE_SETS.split(', ', 1)[1]}")
    with tempfile.NamedTemporaryFile(suffix=".tsv") as handle:
        pacsv.write_csv(pa.Table.from_pandas(stored, preserve_index=False), handle.name, TSV)
        del stored
        seconds, peak, loaded = measure(
            "floor: LOAD DATA", lambda: execute(engine, floor_sql, (handle.name,))
        )
    floor = Phase("floor: one LOAD DATA", loaded, seconds, peak)
    phases.append(floor)

    execute(engine, "CREATE TABLE technical_naive LIKE technical_indicators")
    subset = symbols[: max(1, round(args.symbols * args.naive_share))]
    seconds, peak, written = measure("naive", lambda: naive(args.database_url, subset))
    phases.append(Phase(f"naive, {len(subset)} symbols", written, seconds, peak))
    naive_full = seconds * n_rows / written
    engine.dispose()
    if not args.keep:
        recreate_database(args.database_url, create=False)

    full_vs_floor = full.seconds / floor.seconds
    full.target, full.ok = "≤ 60 s, ≤ 1.5× floor", full.seconds <= 60 and full_vs_floor <= 1.5
    rerun.target, rerun.ok = "≤ 30 s", rerun.seconds <= 30
    incr.target, incr.ok = "≤ 5 s", incr.seconds <= 5
    check.target, check.ok = "≤ 10 s", check.seconds <= 10
    for phase in (full, rerun, incr):
        phase.target += ", ≤ 2 GiB"
        phase.ok = bool(phase.ok) and (phase.peak_rss or 0) <= 2 * GIB
    ratios = {
        "full / floor (target ≤ 1.5)": full_vs_floor,
        f"naive extrapolated to {n_rows:,} rows ({naive_full:,.0f} s) / full": (
            naive_full / full.seconds
        ),
        f"old system {OLD_SYSTEM_SECONDS:,.0f} s / full": OLD_SYSTEM_SECONDS / full.seconds,
    }
    print_table(phases, ratios, n_rows)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{"symbols": args.symbols, "hours": args.hours, "rows": n_rows, "cpus": os.cpu_count()},
        "warm_up_seconds": warm_up,
        "phases": [asdict(p) | {"rows_per_s": p.rate} for p in phases],
        "naive_extrapolated_seconds": naive_full,
        "ratios": ratios,
    }
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.results}")


def print_table(phases: list[Phase], ratios: dict[str, float], n_rows: int) -> None:
    print(f"\ntechnical-indicators bench: {n_rows:,} price rows, {os.cpu_count()} CPUs")
    head = f"{'phase':<22}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'peak MiB':>10}  target"
    print(f"{head}\n{'-' * (len(head) + 30)}")
    for p in phases:
        peak = "?" if p.peak_rss is None else f"{p.peak_rss / (1 << 20):,.0f}"
        mark = "" if p.ok is None else ("  ok" if p.ok else "  MISSED")
        figures = f"{p.rows:>11,}{p.seconds:>9.1f}{p.rate:>11,.0f}{peak:>10}"
        print(f"{p.name:<22}{figures}  {p.target}{mark}")
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}×")


if __name__ == "__main__":
    main()
