"""Benchmark of the technical-indicators backfill as users run it, against MariaDB/MySQL.

    make bench-technical                                        # 500 symbols × 6,600 hours
    make bench-technical BENCH_ARGS="--symbols 20 --hours 1000" # a quick look

Creates (and drops) a scratch database with a synthetic price history ending a few hours before
the current one, then, per API mode (``own``: the command starts its own temporary Prefect API;
``configured``: PREFECT_API_URL names the bench's ``prefect server start``), times as whole
processes: ``coinfill run technical --days 0`` into an empty table, the same again (nothing may
change), and ``--days 2`` after 2 new hours. Also ``coinfill --help``, the GX suite over the
whole table (``coinfill coverage --table technical``; in-process ``validate`` beside it), the
floor (one ``LOAD DATA`` of the same rows, in this run), the naive ``read_sql``/``ta``/``to_sql``
way on a subset, and, when the local stack answers on 127.0.0.1:4200, a deployment run from
``prefect deployment run`` to its final state. Every result is checked in the database.
Results: ``bench/results-technical.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH,
    GIB,
    HOUR_MS,
    TSV,
    Checks,
    Row,
    execute,
    load_sql,
    recreate_database,
    report,
    row,
    scalar,
    table_state,
    utc_now,
    written_since,
)  # fmt: skip
from process import COINFILL, MODES, Bench, clean_env, run_command
from technical_extra import deployment_run, naive, naive_mismatches

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.reads import read_frame
from coinfill.db.schema import TECHNICAL_COLUMNS, technical_indicators
from coinfill.validation.gxrun import validate
from expectations.contracts import contract_for

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_bench"
STACK_API = "http://127.0.0.1:4200/api"
TECH_COLUMNS = ["symbol", "timestamp_iso", "current_price", *TECHNICAL_COLUMNS]
PRICE_COLUMNS = "symbol, timestamp, timestamp_iso, current_price"
PRICE_SETS = "data_source = 'bench', created_at = NOW(), updated_at = NOW()"
TABLE = "technical_indicators"
FULL_S, RERUN_S, GX_S, HELP_S = 60.0, 30.0, 10.0, 1.0
INCREMENTAL_S = {"configured": 5.0, "own": 10.0}
FIRST_LINE_S = {"configured": 3.0, "own": 8.0}


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


def floor_seconds(engine: Engine, last: datetime) -> tuple[float, int]:
    """One LOAD DATA of the full backfill's rows into an empty keyed copy of the table."""
    t = technical_indicators
    query = select(*(t.c[c] for c in TECH_COLUMNS)).where(t.c.timestamp_iso <= last)
    stored = read_frame(engine, query.order_by(t.c.id))
    execute(engine, "CREATE TABLE technical_floor LIKE technical_indicators")
    variables = ", ".join(f"@v{i}" for i in range(len(TECH_COLUMNS)))
    sets = ", ".join(f"`{c}` = NULLIF(@v{i}, '')" for i, c in enumerate(TECH_COLUMNS))
    sql = load_sql("technical_floor", variables, f"{sets}, {PRICE_SETS.split(', ', 1)[1]}")
    with tempfile.NamedTemporaryFile(suffix=".tsv") as handle:
        pacsv.write_csv(pa.Table.from_pandas(stored, preserve_index=False), handle.name, TSV)
        del stored
        print("… floor: one LOAD DATA of the same rows", flush=True)
        began = time.perf_counter()
        loaded = execute(engine, sql, (handle.name,))
        return time.perf_counter() - began, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the technical backfill on MariaDB.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--hours", type=int, default=6_600)
    parser.add_argument("--naive-share", type=float, default=0.1)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--stack-api", default=STACK_API, help="the local stack's Prefect API")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-technical.json")
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    url = args.database_url

    # The series ends 2 hours per mode before the current hour; each incremental adds 2.
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end_ms = int(now_hour.timestamp() * 1000) - 2 * len(modes) * HOUR_MS
    n_rows = args.symbols * args.hours
    recreate_database(url)
    engine = make_engine(url)
    upgrade(engine)
    begin = time.perf_counter()
    rng = np.random.default_rng(20_241_121)
    symbols = [f"B{i:04d}" for i in range(args.symbols)]
    levels = rng.uniform(np.log(1e-4), np.log(5e4), size=(args.symbols, 1))  # 1e-4 .. 5e4
    walk = levels + np.cumsum(rng.normal(0.0, 0.01, size=(args.symbols, args.hours)), axis=1)
    load_prices(engine, symbols, end_ms - (args.hours - 1) * HOUR_MS, walk)
    execute(engine, "INSERT INTO crypto_assets (symbol, name, is_active, created_at, updated_at) "
            "SELECT DISTINCT symbol, symbol, 1, NOW(), NOW() FROM price_data_real")  # fmt: skip
    execute(engine, "ANALYZE TABLE price_data_real")
    print(f"generated {n_rows:,} price rows in {time.perf_counter() - begin:.1f} s (not timed)")

    rows: list[Row] = []
    checks = Checks()
    db = {"COINFILL_DATABASE_URL": url}
    last_price = walk[:, -1:]
    with Bench("technical", modes) as bench:
        bench.warm_up(["run", "technical", "--days", "2", "--symbols", symbols[0], "--dry-run"],
                      **db)  # fmt: skip
        helps = [run_command(COINFILL, ["--help"], clean_env()) for _ in range(3)]
        help_s = statistics.median(h.whole_s for h in helps)
        print(f"coinfill --help: {', '.join(f'{h.whole_s:.2f}' for h in helps)} s")
        rows.append(Row("coinfill --help (median of 3)", "–", round(help_s, 2), None,
                        target=f"≤ {HELP_S:g} s", ok=help_s <= HELP_S))  # fmt: skip
        full_rows = []
        for n, mode in enumerate(modes):
            if n:
                execute(engine, f"TRUNCATE TABLE {TABLE}")
            prices = scalar(engine, "SELECT COUNT(*) FROM price_data_real")
            full = bench.coinfill(["run", "technical", "--days", "0"], mode, **db)
            checks.ran(full, f"full backfill [{mode}]")
            before = table_state(engine, TABLE)
            checks.expect(before.rows == prices, f"full backfill [{mode}]: {before.rows:,} rows,"
                          f" expected {prices:,} (one per price row)")  # fmt: skip
            ok = full.whole_s <= FULL_S and full.peak_rss <= 2 * GIB
            full_rows.append(row(full, "full backfill, days=0", basis="floor", ok=ok))
            rows.append(full_rows[-1])

            rerun = bench.coinfill(["run", "technical", "--days", "0"], mode, **db)
            checks.ran(rerun, f"unchanged re-run [{mode}]")
            after = table_state(engine, TABLE)
            checks.expect(after == before, f"unchanged re-run [{mode}] changed the table: "
                          f"{before} → {after}")  # fmt: skip
            ok = rerun.whole_s <= RERUN_S and rerun.peak_rss <= 2 * GIB
            rows.append(row(rerun, "unchanged re-run, days=0", target=f"≤ {RERUN_S:g} s, "
                            "≤ 2 GiB", ok=ok))  # fmt: skip

            step = np.random.default_rng(7 + n).normal(0.0, 0.01, size=(args.symbols, 2))
            new_ms = end_ms + (2 * n + 1) * HOUR_MS
            last_price = last_price[:, -1:] + np.cumsum(step, axis=1)
            load_prices(engine, symbols, new_ms, last_price)
            since = utc_now()
            incr = bench.coinfill(["run", "technical", "--days", "2"], mode, **db)
            checks.ran(incr, f"incremental [{mode}]")
            grown = table_state(engine, TABLE).rows - after.rows
            at_new = scalar(
                engine,
                f"SELECT COUNT(*) FROM {TABLE} WHERE timestamp_iso >= :t",
                t=datetime.fromtimestamp(new_ms / 1000, UTC).replace(tzinfo=None),
            )
            written = written_since(engine, TABLE, since)  # fmt: skip
            expected = 2 * args.symbols
            checks.expect(grown == at_new == written == expected, f"incremental [{mode}]: "
                          f"{grown} new rows, {at_new} at the new hours, {written} written; "
                          f"expected {expected}")  # fmt: skip
            limit = INCREMENTAL_S[mode]
            rows.append(row(incr, f"incremental, days=2, {args.symbols} × 2 new hours",
                            target=f"≤ {limit:g} s, ≤ 2 GiB",
                            ok=incr.whole_s <= limit and incr.peak_rss <= 2 * GIB))  # fmt: skip
            limit = FIRST_LINE_S[mode]
            first = None if incr.first_line_s is None else round(incr.first_line_s, 2)
            rows.append(
                Row(
                    "to the first flow line (incremental)",
                    mode,
                    first,
                    None,
                    target=f"≤ {limit:g} s",
                    ok=first is not None and first <= limit,
                )
            )

        gx = bench.coinfill(["coverage", "--table", "technical"], modes[0], **db)
        checks.ran(gx, "coinfill coverage --table technical")
        began = time.perf_counter()
        report_ = validate(engine, contract_for("technical"), None, None, None, utc_now())
        in_process = round(time.perf_counter() - began, 2)
        checks.expect(report_.passed, f"technical suite: {report_.misses()}")
        rows.append(row(gx, "GX technical suite, whole table (in flow: in-process validate)",
                        target=f"≤ {GX_S:g} s", ok=gx.whole_s <= GX_S))  # fmt: skip
        rows[-1].in_flow_s = in_process

        deployed = deployment_run(args.stack_api, bench.home("stack"))
        if deployed is not None:
            rows.append(deployed)
            checks.expect(deployed.ok is True, f"deployment run: {deployed.detail}")

    last = datetime.fromtimestamp(end_ms / 1000, UTC).replace(tzinfo=None)
    floor_s, loaded = floor_seconds(engine, last)
    checks.expect(loaded == n_rows, f"floor loaded {loaded:,} rows, expected {n_rows:,}")
    rows.append(Row("floor: one LOAD DATA of the same rows", "–", round(floor_s, 2), None))
    for full in full_rows:
        full.basis_s = round(floor_s, 2)
        full.target = f"≤ {FULL_S:g} s, ≤ 1.5× floor, ≤ 2 GiB"
        full.ok = bool(full.ok) and (full.ratio or 99) <= 1.5

    execute(engine, "CREATE TABLE technical_naive LIKE technical_indicators")
    subset = symbols[: max(1, round(args.symbols * args.naive_share))]
    print(f"… naive: read_sql → ta → to_sql, {len(subset)} symbols", flush=True)
    began = time.perf_counter()
    written = naive(url, subset)
    naive_s = time.perf_counter() - began
    naive_full = naive_s * n_rows / written
    rows.append(Row(f"naive way, {len(subset)} symbols (in-process)", "–", round(naive_s, 2), None,
                    detail={"extrapolated_to_all_rows_s": round(naive_full)}))  # fmt: skip
    wrong = naive_mismatches(engine)
    checks.expect(wrong == 0, f"{wrong} indicator values differ from ta's (SMA, Bollinger)")
    engine.dispose()
    if not args.keep:
        recreate_database(url, create=False)
    print(f"naive extrapolated to {n_rows:,} rows: {naive_full:,.0f} s")
    report("technical", rows, checks, args.results,
           symbols=args.symbols, hours=args.hours, price_rows=n_rows, modes=modes,
           configured_api_start_s=round(bench.server_start_s, 1),
           peak_rss_note="ru_maxrss of the command (max, not sum, with children it reaped)",
           naive_extrapolated_s=round(naive_full), floor_rows=loaded)  # fmt: skip


if __name__ == "__main__":
    main()
