"""Benchmark of ``coinfill run onchain`` as users run it: 100 assets × 180 days against local
servers that enforce each provider's limit.

    make bench-onchain                                                 # on MariaDB
    make bench-onchain ONCHAIN_BENCH_ARGS="--assets 10 --days 30"      # a quick look
    .venv/bin/python bench/onchain_bench.py --database-url sqlite:////tmp/onchain_bench.db

A CoinMetrics imitation (``tests/fakes/coinmetrics_server.py``: catalogue, paging, 403s) answers
429 to more than 10 requests in any 6 s; a blockchain.info imitation answers 429 to a request
sooner than 10 s after the previous one. CoinMetrics has five holes in Bitcoin's history, which
blockchain.info fills. Daily prices for every asset feed ``price_volatility_7d``. Per API mode,
from an empty database, whole ``coinfill`` processes: ``run onchain --days N``, the same again,
and ``--days 7`` (the scheduled window).

What the limits require: CoinMetrics allows 10 requests in any 6 s (a sliding window from an
empty start), so requests k and k + 10 are ≥ 6 s apart — floor((n − 1) / 10) × 6 s;
blockchain.info (n − 1) × 10 s. The providers' limits are independent, so a run that overlaps
them needs the larger of the two (the floor); the sum, what a run asking one after the other
needs, is shown beside. Target for the backfill: the whole command within
10 % of the floor. Results are checked in the database. Results: ``bench/results-onchain.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the imitations: tests/fakes

import pandas as pd
from common import (
    BENCH,
    Checks,
    Row,
    drop_database,
    fresh_database,
    report,
    row,
    scalar,
    utc_now,
    written_since,
)  # fmt: skip
from process import MODES, Bench
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets
from coinfill.db.schema import price_data_real
from coinfill.db.upsert import upsert
from tests.fakes.blockchain_server import FakeBlockchainInfo
from tests.fakes.coinmetrics_server import AssetSpec, FakeCoinMetrics

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_onchain_bench"
TABLE = "crypto_onchain_data"
HOLE_DAYS = (20, 21, 60, 100, 150)


def universe(today: date, count: int) -> tuple[list[dict[str, Any]], dict[str, AssetSpec]]:
    holes = frozenset(today - timedelta(days=d) for d in HOLE_DAYS)
    last = today - timedelta(days=2)
    assets = [{"symbol": "BTC", "coinmetrics_id": "btc"}]
    specs = {"btc": AssetSpec(date(2010, 7, 17), last, gaps=holes)}
    for i in range(1, count):
        cm = f"a{i:03d}"
        assets.append({"symbol": cm.upper(), "coinmetrics_id": cm})
        # One asset in five has no exchange flows in the free tier; one in ten listed 90 days ago.
        metrics = ("AdrActCnt", "TxCnt") if i % 5 == 0 else ("AdrActCnt", "TxCnt", "FlowInExNtv",
                                                                   "FlowOutExNtv")  # fmt: skip
        first = today - timedelta(days=90) if i % 10 == 0 else date(2016, 1, 1)
        specs[cm] = AssetSpec(first, last, metrics=metrics)
    return assets, specs


def daily_prices(symbols: list[str], today: date, days: int) -> pd.DataFrame:
    rows = []
    for n, symbol in enumerate(symbols):
        for d in range(days + 10, 0, -1):
            close = datetime.combine(today - timedelta(days=d - 1), datetime.min.time())
            price = 10.0 + n + math.sin(d * 0.7 + n)
            ms = int(close.replace(tzinfo=UTC).timestamp()) * 1000
            rows.append({"symbol": symbol, "timestamp": ms, "timestamp_iso": close,
                         "current_price": price, "high_24h": price, "low_24h": price,
                         "volume_usd_24h": 1.0, "data_source": "bench"})  # fmt: skip
    return pd.DataFrame(rows)


def seed(url: str, assets: list[dict[str, Any]], today: date, days: int) -> Engine:
    engine = fresh_database(url)
    add_assets(engine, pd.DataFrame([{**a, "name": a["symbol"], "is_active": True}
                                     for a in assets]))  # fmt: skip
    prices = daily_prices([a["symbol"] for a in assets], today, days)
    upsert(engine, price_data_real, prices, ("symbol", "timestamp"))
    return engine


def incomplete(engine: Engine, assets: list[dict[str, Any]], specs: dict[str, AssetSpec],
               today: date, days: int) -> list[str]:  # fmt: skip
    """Assets whose stored days do not run, without a gap, from the window's (or the listing's)
    first day to the source's last; Bitcoin's holes must be filled from blockchain.info."""
    with engine.connect() as conn:
        stored = {s: (n, lo, hi) for s, n, lo, hi in conn.execute(text(
            f"SELECT symbol, COUNT(*), MIN(metric_date), MAX(metric_date) FROM {TABLE} "
            "GROUP BY symbol"))}  # fmt: skip
    wrong = []
    for asset in assets:
        spec = specs[asset["coinmetrics_id"]]
        n, lo, hi = stored.get(asset["symbol"], (0, None, None))
        lo, hi = (pd.Timestamp(v).date() if v is not None else None for v in (lo, hi))
        first = max(spec.first, today - timedelta(days=days - 1))
        if (
            not n
            or lo is None
            or hi is None
            or (hi - lo).days + 1 != n
            or lo > first
            or hi < spec.last
        ):
            wrong.append(f"{asset['symbol']}: {n} days {lo}..{hi}, expected {first}..{spec.last}")
    for d in HOLE_DAYS:
        if d < days:
            source = scalar(
                engine,
                f"SELECT active_addresses_source FROM {TABLE} WHERE "
                "symbol = 'BTC' AND metric_date = :d",
                d=today - timedelta(days=d),
            )
            if source != "blockchain.info":
                wrong.append(f"BTC {today - timedelta(days=d)}: source {source}, expected "
                             "blockchain.info")  # fmt: skip
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the on-chain collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-onchain.json")
    args = parser.parse_args()
    url = args.database_url
    today = datetime.now(UTC).date()
    assets, specs = universe(today, args.assets)
    symbols = ",".join(a["symbol"] for a in assets)
    rows: list[Row] = []
    checks = Checks()
    engine = seed(url, assets, today, args.days)
    with (
        Bench("onchain", tuple(args.modes.split(","))) as bench,
        FakeCoinMetrics(specs) as cm,
        FakeBlockchainInfo(min_interval=10.0) as bi,
    ):
        env = {"COINFILL_DATABASE_URL": url, "COINFILL_RATE_LIMITER": "local",
               "COINFILL_COINMETRICS_BASE_URL": cm.url,
               "COINFILL_BLOCKCHAIN_INFO_BASE_URL": bi.url}  # fmt: skip
        bench.warm_up(["run", "onchain", "--days", "7", "--symbols", "BTC", "--dry-run"], **env)
        time.sleep(10.5)  # let the warm-up's requests leave both providers' windows

        def phase(name: str, mode: str, days: int, backfill: bool) -> int:
            c0, b0, r0 = len(cm.requests), len(bi.requests), cm.rate_limited + bi.count_429
            before = scalar(engine, f"SELECT COUNT(*) FROM {TABLE}")
            since = utc_now()
            run = bench.coinfill(["run", "onchain", "--days", str(days), "--symbols", symbols],
                                 mode, **env)  # fmt: skip
            checks.ran(run, f"{name} [{mode}]")
            c_times = [r.time for r in cm.requests[c0:]]
            b_times = [r.time for r in bi.requests[b0:]]
            times = sorted(c_times + b_times)
            need_cm = max(0, len(c_times) - 1) // 10 * 6.0
            need_bi = max(0, len(b_times) - 1) * 10.0
            required = max(need_cm, need_bi)
            added = scalar(engine, f"SELECT COUNT(*) FROM {TABLE}") - before
            detail = {"coinmetrics_requests": len(c_times), "blockchain_requests": len(b_times),
                      "rejected_429": cm.rate_limited + bi.count_429 - r0,
                      "fetch_span_s": round(times[-1] - times[0], 2) if times else 0.0,
                      "coinmetrics_needs_s": need_cm, "blockchain_needs_s": need_bi,
                      "sum_of_limits_s": need_cm + need_bi, "rows_added": added,
                      "rows_written": written_since(engine, TABLE, since)}  # fmt: skip
            print(
                f"  requests: {len(c_times)} CoinMetrics, {len(b_times)} blockchain.info; "
                f"limits need max({need_cm:.1f}, {need_bi:.1f}) = {required:.1f} s "
                f"(sum {need_cm + need_bi:.1f} s); {detail['rows_written']:,} rows written"
            )
            rows.append(row(run, name, basis="limits, the larger", basis_s=required,
                            target="≤ 1.1× limits" if backfill else "",
                            ok=run.whole_s <= 1.1 * required if backfill else None,
                            detail=detail))  # fmt: skip
            time.sleep(10.5)  # the next phase starts with both providers' windows empty
            return int(added)

        for n, mode in enumerate(bench.modes):
            if n:
                engine.dispose()
                engine = seed(url, assets, today, args.days)
            phase(f"{args.days}-day backfill, {args.assets} assets", mode, args.days, True)
            wrong = incomplete(engine, assets, specs, today, args.days)
            checks.expect(not wrong, f"backfill [{mode}]: {len(wrong)} wrong: {wrong[:3]}")
            added = phase("re-run (only CoinMetrics' holes asked again)", mode, args.days, False)
            checks.expect(added == 0, f"re-run [{mode}] added {added} rows")
            added = phase("scheduled 7-day window", mode, 7, False)
            checks.expect(added <= args.assets, f"7-day window [{mode}] added {added} rows")
            wrong = incomplete(engine, assets, specs, today, args.days)
            checks.expect(not wrong, f"after the window [{mode}]: {wrong[:3]}")
    engine.dispose()
    if not args.keep:
        drop_database(url)
    report(
        "onchain",
        rows,
        checks,
        args.results,
        database=url.split("://")[0],
        assets=args.assets,
        days=args.days,
        required="max(CoinMetrics floor((n − 1) / 10) × 6 s, blockchain.info (n − 1) × 10 s)",
    )


if __name__ == "__main__":
    main()
