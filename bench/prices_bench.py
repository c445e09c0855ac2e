"""Benchmark of ``coinfill run prices`` as users run it: a year of hourly bars for 500 assets.

    make bench-prices                                              # on MariaDB, both API modes
    make bench-prices PRICES_BENCH_ARGS="--assets 20 --days 30"    # a quick look

A Binance imitation (``tests/fakes/binance_server.py``: klines in Binance's format, weight 2
per request, 6,000 per clock minute, ``X-MBX-USED-WEIGHT-1M``, 429 past the limit, 418 for a
client that ignores it) runs in its own process on 127.0.0.1. Per API mode, from an empty
table, whole ``coinfill`` processes: ``run prices --days N`` (listing probes included), the same
again, and ``run prices --days 2`` (the scheduled window). Each is set against what the weight
limit alone requires (total weight ÷ 6,000 per minute); target for the backfill: the whole
command within 10 % of it. Results are checked in the database (every pair, every hour of the
window, closes against the imitation's). Results go to ``bench/results-prices.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the imitations: tests/fakes

import pandas as pd
from common import (
    BENCH,
    HOUR_MS,
    Checks,
    Row,
    drop_database,
    fresh_database,
    report,
    row,
    utc_now,
    written_since,
)  # fmt: skip
from process import MODES, Bench
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets
from tests.fakes.binance_server import FakeBinance, PairSpec, serve_in_subprocess
from tests.fakes.fake_http import fetch_stats

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_prices_bench"
TABLE = "price_data_real"
DAY_MS = 86_400_000
WEIGHT_PER_MINUTE = 6000
KLINES_WEIGHT = 2


def pairs(count: int, now_ms: int) -> list[PairSpec]:
    """``count`` pairs, one in ten listed 100 days ago (the rest two years ago)."""
    out = []
    for i in range(count):
        listed = now_ms - (100 if i % 10 == 9 else 730) * DAY_MS
        out.append(PairSpec(f"C{i:03d}USDT", listed_ms=listed, base_price=1.0 + i))
    return out


def seed(url: str, specs: list[PairSpec]) -> Engine:
    engine = fresh_database(url)
    symbols = [s.symbol.removesuffix("USDT") for s in specs]
    add_assets(engine, pd.DataFrame({"symbol": symbols, "is_active": True,
                                     "binance_symbol": [s.symbol for s in specs]}))  # fmt: skip
    return engine


def holes(engine: Engine, specs: list[PairSpec], days: int, now_ms: int) -> list[str]:
    """Pairs whose stored hours do not run, without a gap, from the window's (or the listing's)
    first bar to the last closed one."""
    with engine.connect() as conn:
        stored = {s: (n, lo, hi) for s, n, lo, hi in conn.execute(text(
            f"SELECT symbol, COUNT(*), MIN(timestamp), MAX(timestamp) FROM {TABLE} "
            "GROUP BY symbol"))}  # fmt: skip
    last_close = now_ms // HOUR_MS * HOUR_MS
    wrong = []
    for spec in specs:
        symbol = spec.symbol.removesuffix("USDT")
        n, lo, hi = stored.get(symbol, (0, 0, 0))
        first = max(spec.listed_ms, now_ms - days * DAY_MS) + 2 * HOUR_MS
        if not n or (hi - lo) // HOUR_MS + 1 != n or lo > first or hi < last_close - HOUR_MS:
            wrong.append(f"{symbol}: {n} rows {lo}..{hi}, window from {first}, to {last_close}")
    return wrong


def wrong_closes(engine: Engine, specs: list[PairSpec], sample: int = 48) -> list[str]:
    """The newest ``sample`` stored closes of a few pairs against the imitation's bars."""
    reference = FakeBinance(specs)
    wrong = []
    with engine.connect() as conn:
        for spec in specs[:: max(1, len(specs) // 5)]:
            symbol = spec.symbol.removesuffix("USDT")
            got = conn.execute(text(f"SELECT timestamp, current_price FROM {TABLE} WHERE "
                                    "symbol = :s ORDER BY timestamp DESC LIMIT :n"),
                               {"s": symbol, "n": sample}).all()  # fmt: skip
            bars = reference.expected_bars(spec.symbol, "1h", got[-1][0] - HOUR_MS, got[0][0])
            close = {int(b[0]) + HOUR_MS: float(b[4]) for b in bars}
            wrong += [f"{symbol} {t}: {p} vs {close.get(t)}" for t, p in got
                      if close.get(t) is None or abs(p - close[t]) > 1e-9 * close[t]]  # fmt: skip
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the price collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-prices.json")
    args = parser.parse_args()
    url = args.database_url
    specs = pairs(args.assets, int(time.time() * 1000))
    rows: list[Row] = []
    checks = Checks()
    engine = seed(url, specs)
    limits = {"weight_limit": WEIGHT_PER_MINUTE}
    with Bench("prices", tuple(args.modes.split(","))) as bench:
        env = {"COINFILL_DATABASE_URL": url, "COINFILL_RATE_LIMITER": "local"}
        with serve_in_subprocess(specs, **limits) as fake:
            warm_up = "run prices --days 1 --symbols C000 --dry-run --no-enforce-coverage"
            bench.warm_up(warm_up.split(), **env, COINFILL_BINANCE_BASE_URL=fake)
        command = ["run", "prices", "--max-assets", str(args.assets), "--days"]

        def phase(name: str, mode: str, days: int, backfill: bool) -> dict[str, Any]:
            # A new imitation per command: its first and last request are the command's.
            with serve_in_subprocess(specs, **limits) as fake:
                since = utc_now()
                run = bench.coinfill(
                    [*command, str(days)], mode, **env, COINFILL_BINANCE_BASE_URL=fake
                )
                checks.ran(run, f"{name} [{mode}]")
                stats = fetch_stats(fake)
            requests = stats["requests"]
            span = float(stats["last_request"] - stats["first_request"]) if requests else 0.0
            required = requests * KLINES_WEIGHT * 60.0 / WEIGHT_PER_MINUTE
            written = written_since(engine, TABLE, since)
            detail = {"requests": requests, "weight": requests * KLINES_WEIGHT,
                      "rejected_429": stats["count_429"], "banned_418": stats["count_418"],
                      "max_window_weight": stats["max_window_weight"],
                      "fetch_span_s": round(span, 2), "rows_written": written,
                      "rows_per_s": round(written / run.whole_s)}  # fmt: skip
            print(f"  {requests} requests, fetch {span:.1f} s vs {required:.1f} s required, "
                  f"{written:,} rows written")  # fmt: skip
            rows.append(row(run, name, basis="rate limit", basis_s=round(required, 2),
                            target="≤ 1.1× rate limit" if backfill else "",
                            ok=run.whole_s <= 1.1 * required if backfill else None,
                            detail=detail))  # fmt: skip
            checks.expect(detail["banned_418"] == 0, f"{name} [{mode}]: banned (418)")
            return detail

        for n, mode in enumerate(bench.modes):
            if n:
                engine.dispose()
                engine = seed(url, specs)
            now_ms = int(time.time() * 1000)
            phase(f"{args.days}-day backfill, {args.assets} assets", mode, args.days, True)
            gaps = holes(engine, specs, args.days, now_ms)
            checks.expect(not gaps, f"backfill [{mode}]: {len(gaps)} pairs incomplete: {gaps[:3]}")
            wrong = wrong_closes(engine, specs)
            checks.expect(not wrong, f"backfill [{mode}]: closes differ: {wrong[:3]}")
            for name, days in (("re-run, nothing new", args.days), ("scheduled window", 2)):
                detail = phase(name, mode, days, False)
                checks.expect(detail["rows_written"] <= 2 * args.assets, f"{name} [{mode}] "
                              f"wrote {detail['rows_written']:,} rows, at most the newest 2 "
                              "bars per pair may change")  # fmt: skip
            gaps = holes(engine, specs, args.days, int(time.time() * 1000))
            checks.expect(not gaps, f"after the window [{mode}]: {gaps[:3]}")
    engine.dispose()
    if not args.keep:
        drop_database(url)
    report("prices", rows, checks, args.results, database=url.split("://")[0],
           assets=args.assets, days=args.days,
           required="weight ÷ 6,000 per minute (klines weight 2)")  # fmt: skip


if __name__ == "__main__":
    main()
