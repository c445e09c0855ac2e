"""Benchmark of the price collector: a year of hourly bars for 500 assets (≈ 4.4M rows).

    make bench                                          # every bench
    .venv/bin/python bench/prices_bench.py              # this one, on MariaDB
    .venv/bin/python bench/prices_bench.py --assets 50 --days 30   # a quick look

A Binance imitation (``tests/fakes/binance_server.py``: klines in Binance's format, weight 2
per request, 6,000 per clock minute, ``X-MBX-USED-WEIGHT-1M``, 429 past the limit, 418 for a
client that ignores it) runs in its own process on 127.0.0.1. Phases: the backfill into an
empty table (listing probes included), an unchanged re-run, and the scheduled 2-day window.
For each, the fetch span (first request to last) is compared with what the weight limit alone
requires (total weight ÷ 6,000 per minute); the target is within 15 %. The write side is
reported as rows written per second of the run. Results go to ``bench/results-prices.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the Binance imitation lives with the tests

from technical_bench import recreate_database  # noqa: E402

from tests.fakes.binance_server import PairSpec, serve_in_subprocess  # noqa: E402
from tests.fakes.fake_http import fetch_stats  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_prices_bench"
DAY_MS = 86_400_000
WEIGHT_PER_MINUTE = 6000
KLINES_WEIGHT = 2


@dataclass
class Phase:
    name: str
    seconds: float
    requests: int
    weight: int
    rejected_429: int
    banned_418: int
    max_window_weight: int
    fetch_span: float
    required: float
    rows_written: int
    unchanged: int

    @property
    def ratio(self) -> float:
        return self.fetch_span / self.required if self.required else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.seconds if self.seconds else 0.0


def pairs(count: int, now_ms: int) -> list[PairSpec]:
    """``count`` pairs, one in ten listed 100 days ago (the rest two years ago)."""
    out = []
    for i in range(count):
        listed = now_ms - (100 if i % 10 == 9 else 730) * DAY_MS
        out.append(PairSpec(f"C{i:03d}USDT", listed_ms=listed, base_price=1.0 + i))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the price collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("results-prices.json")
    )
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="coinfill-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["COINFILL_DATABASE_URL"] = args.database_url
    os.environ["COINFILL_RATE_LIMITER"] = "local"
    import pandas as pd

    from coinfill.db.assets import add_assets
    from coinfill.db.engine import make_engine
    from coinfill.db.migrate import upgrade
    from flows.crypto_prices import crypto_prices as flow

    if args.database_url.startswith("mysql"):
        recreate_database(args.database_url)
    engine = make_engine(args.database_url)
    upgrade(engine)
    now_ms = int(time.time() * 1000)
    specs = pairs(args.assets, now_ms)
    registry = pd.DataFrame(
        {
            "symbol": [s.symbol.removesuffix("USDT") for s in specs],
            "is_active": True,
            "binance_symbol": [s.symbol for s in specs],
        }
    )
    add_assets(engine, registry)
    phases: list[Phase] = []
    with serve_in_subprocess(specs, weight_limit=WEIGHT_PER_MINUTE) as url:
        os.environ["COINFILL_BINANCE_BASE_URL"] = url
        begin = time.perf_counter()
        flow(days=1, symbols=["C000"], enforce_coverage=False)
        print(f"warm-up: 1 symbol, 1 day, {time.perf_counter() - begin:.1f} s, not counted")

        def run(name: str, **params: Any) -> Phase:
            print(f"… {name}", flush=True)
            before = fetch_stats(url)
            begin = time.perf_counter()
            summary = flow(**params)
            seconds = time.perf_counter() - begin
            after = fetch_stats(url)
            requests = after["requests"] - before["requests"]
            first = after["first_request"] if not before["requests"] else None
            span = _span(url, before, after, first)
            weight = requests * KLINES_WEIGHT
            phase = Phase(
                name,
                seconds,
                requests,
                weight,
                after["count_429"] - before["count_429"],
                after["count_418"] - before["count_418"],
                after["max_window_weight"],
                span,
                weight * 60.0 / WEIGHT_PER_MINUTE,
                summary.total("inserted") + summary.total("updated"),
                summary.total("unchanged"),
            )
            print(
                f"  {seconds:.1f} s, {requests} requests, {phase.rows_written:,} rows "
                f"({phase.rows_per_second:,.0f} rows/s), fetch {span:.1f} s vs "
                f"{phase.required:.1f} s required, 429s {phase.rejected_429}"
            )
            phases.append(phase)
            return phase

        run(f"{args.days}-day backfill, {args.assets} assets, empty table", days=args.days)
        rerun = run("re-run, nothing new", days=args.days)
        assert rerun.rows_written <= 2 * args.assets, "a re-run writes at most the newest bars"
        run("scheduled window (2 days)", days=2)
    if args.database_url.startswith("mysql") and not args.keep:
        recreate_database(args.database_url, create=False)
    print_table(phases)
    args.results.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "database": args.database_url.split("://")[0],
                "machine": f"{os.cpu_count()} cores",
                "assets": args.assets,
                "days": args.days,
                "phases": [
                    {**asdict(p), "ratio": p.ratio, "rows_per_second": p.rows_per_second}
                    for p in phases
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {args.results}")


def _span(url: str, before: dict[str, Any], after: dict[str, Any], first: float | None) -> float:
    """First to last request of the phase, in the server's clock."""
    start = first if first is not None else before["last_request"]
    return float(after["last_request"] - start) if after["last_request"] else 0.0


def print_table(phases: list[Phase]) -> None:
    print(
        "\n| phase | wall s | requests | weight | fetch span s | required s | span ÷ required "
        "| 429s | peak weight/min | rows written | rows/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in phases:
        print(
            f"| {p.name} | {p.seconds:.1f} | {p.requests} | {p.weight} | {p.fetch_span:.1f} "
            f"| {p.required:.1f} | {p.ratio:.2f} | {p.rejected_429} | {p.max_window_weight} "
            f"| {p.rows_written:,} | {p.rows_per_second:,.0f} |"
        )


if __name__ == "__main__":
    main()
