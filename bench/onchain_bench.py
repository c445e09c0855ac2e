"""Benchmark of the on-chain collector: 100 assets × 180 days against local servers that enforce
each provider's limit.

    make bench-onchain                                   # on MariaDB
    .venv/bin/python bench/onchain_bench.py --database-url sqlite:////tmp/onchain_bench.db

A CoinMetrics imitation (``tests/fakes/coinmetrics_server.py``: catalogue, paging, 403s) answers
429 to more than 10 requests in any 6 s; a blockchain.info imitation answers 429 to a request
sooner than 10 s after the previous one. CoinMetrics has five holes in Bitcoin's history, which
blockchain.info fills. Daily prices for every asset feed ``price_volatility_7d``. Phases: a
180-day backfill into an empty table, the unchanged re-run, and the scheduled 7-day window.

"What the limits require" per phase: CoinMetrics lets 10 requests through at once, then one
per 0.6 s — max(0, n − 10) × 0.6 s; blockchain.info (n − 1) × 10 s; the phases run one after
the other. The fetch span (first request to last, both servers) is compared with it: target
within 10 %. Results go to ``bench/results-onchain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the imitations live with the tests

from technical_bench import recreate_database  # noqa: E402

from tests.fakes.blockchain_server import FakeBlockchainInfo  # noqa: E402
from tests.fakes.coinmetrics_server import AssetSpec, FakeCoinMetrics  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_onchain_bench"
ASSETS, DAYS = 100, 180


@dataclass
class Phase:
    name: str
    seconds: float
    coinmetrics_requests: int
    blockchain_requests: int
    rejected_429: int
    fetch_span: float
    required: float
    rows_written: int

    @property
    def ratio(self) -> float:
        return self.fetch_span / self.required if self.required else 0.0


def universe(today: date) -> tuple[list[dict[str, Any]], dict[str, AssetSpec]]:
    holes = frozenset(today - timedelta(days=d) for d in (20, 21, 60, 100, 150))
    last = today - timedelta(days=2)
    assets = [{"symbol": "BTC", "coinmetrics_id": "btc"}]
    specs = {"btc": AssetSpec(date(2010, 7, 17), last, gaps=holes)}
    for i in range(1, ASSETS):
        cm = f"a{i:03d}"
        assets.append({"symbol": cm.upper(), "coinmetrics_id": cm})
        # One asset in five has no exchange flows in the free tier; one in ten listed 90 days ago.
        metrics = ("AdrActCnt", "TxCnt") if i % 5 == 0 else ("AdrActCnt", "TxCnt", "FlowInExNtv",
                                                                   "FlowOutExNtv")  # fmt: skip
        first = today - timedelta(days=90) if i % 10 == 0 else date(2016, 1, 1)
        specs[cm] = AssetSpec(first, last, metrics=metrics)
    return assets, specs


def daily_prices(symbols: list[str], today: date) -> Any:
    import math

    import pandas as pd

    rows = []
    for n, symbol in enumerate(symbols):
        for d in range(DAYS + 10, 0, -1):
            close = datetime.combine(today - timedelta(days=d - 1), datetime.min.time())
            price = 10.0 + n + math.sin(d * 0.7 + n)
            ms = int(close.replace(tzinfo=UTC).timestamp()) * 1000
            rows.append({"symbol": symbol, "timestamp": ms, "timestamp_iso": close,
                         "current_price": price, "high_24h": price, "low_24h": price,
                         "volume_usd_24h": 1.0, "data_source": "bench"})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the on-chain collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("results-onchain.json")
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
    from coinfill.db.schema import price_data_real
    from coinfill.db.upsert import upsert
    from flows.onchain_metrics import onchain_metrics as flow

    if args.database_url.startswith("mysql"):
        recreate_database(args.database_url)
    engine = make_engine(args.database_url)
    upgrade(engine)
    today = datetime.now(UTC).date()
    assets, specs = universe(today)
    add_assets(
        engine, pd.DataFrame([{**a, "name": a["symbol"], "is_active": True} for a in assets])
    )
    symbols = [a["symbol"] for a in assets]
    upsert(engine, price_data_real, daily_prices(symbols, today), ("symbol", "timestamp"))
    phases: list[Phase] = []
    with FakeCoinMetrics(specs) as cm, FakeBlockchainInfo(min_interval=10.0) as bi:
        os.environ["COINFILL_COINMETRICS_BASE_URL"] = cm.url
        os.environ["COINFILL_BLOCKCHAIN_INFO_BASE_URL"] = bi.url
        begin = time.perf_counter()
        flow(days=7, symbols=["BTC"], dry_run=True)
        print(f"warm-up: dry run, {time.perf_counter() - begin:.1f} s, not counted (Prefect)")
        time.sleep(6.5)  # let the warm-up's catalogue request leave CoinMetrics' window

        def run(name: str, **params: Any) -> Phase:
            print(f"… {name}", flush=True)
            c0, b0 = len(cm.requests), len(bi.requests)
            r0 = cm.rate_limited + bi.count_429
            begin = time.perf_counter()
            summary = flow(symbols=symbols, **params)
            seconds = time.perf_counter() - begin
            c_times = [r.time for r in cm.requests[c0:]]
            b_times = [r.time for r in bi.requests[b0:]]
            times = sorted(c_times + b_times)
            required = max(0, len(c_times) - 10) * 0.6 + max(0, len(b_times) - 1) * 10.0
            phase = Phase(
                name, seconds, len(c_times), len(b_times),
                cm.rate_limited + bi.count_429 - r0,
                (times[-1] - times[0]) if times else 0.0, required,
                sum(r.inserted + r.updated for r in summary.results),
            )  # fmt: skip
            print(f"  {seconds:.1f} s, {len(times)} requests, {phase.rows_written:,} rows")
            phases.append(phase)
            time.sleep(10.5)  # the next phase starts with both providers' windows empty
            return phase

        run(f"{DAYS}-day backfill, {ASSETS} assets, empty table", days=DAYS)
        run("re-run (only CoinMetrics' holes are asked again)", days=DAYS)
        run("scheduled 7-day window", days=7)
    if args.database_url.startswith("mysql") and not args.keep:
        recreate_database(args.database_url, create=False)
    print_table(phases)
    args.results.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "database": args.database_url.split("://")[0],
                "machine": f"{os.cpu_count()} cores",
                "phases": [{**asdict(p), "ratio": p.ratio} for p in phases],
            },
            indent=2,
        )
    )


def print_table(phases: list[Phase]) -> None:
    print(
        "\n| phase | wall s | CoinMetrics requests | blockchain.info requests | 429s "
        "| fetch span s | limits need s | rows written |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        print(
            f"| {p.name} | {p.seconds:.1f} | {p.coinmetrics_requests} | {p.blockchain_requests} "
            f"| {p.rejected_429} | {p.fetch_span:.2f} | {p.required:.1f} | {p.rows_written:,} |"
        )


if __name__ == "__main__":
    main()
