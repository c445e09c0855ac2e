"""Benchmark of the macro collector against a local FRED that enforces 1 request/s.

    make bench                                          # both benches
    .venv/bin/python bench/macro_bench.py               # this one, on MariaDB
    .venv/bin/python bench/macro_bench.py --database-url sqlite:////tmp/macro_bench.db

A FRED imitation (``tests/fakes/fred_server.py``: FRED's JSON, vintages, ``"."`` holidays)
answers on 127.0.0.1 and rejects with 429 any request sooner than 1 s after the last one. The
phases: a 730-day backfill of every series into an empty table, an unchanged re-run and an
all-history backfill (every series since it began; tens of thousands of rows). For each, the
fetch span (first request to last) is compared with what the rate limit alone requires,
(requests − 1) s; the target is within 10 %. Results go to ``bench/results-macro.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the FRED imitation lives with the tests

from technical_bench import recreate_database  # noqa: E402

from tests.fakes.fred_server import FakeFred, SeriesSpec  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_macro_bench"
HOLIDAYS = frozenset(
    date(y, m, d) for y in range(1990, 2027) for m, d in ((1, 1), (7, 4), (12, 25))
)


@dataclass
class Phase:
    name: str
    seconds: float
    requests: int
    rejected_429: int
    fetch_span: float
    required: float
    rows_written: int
    unchanged: int

    @property
    def ratio(self) -> float:
        return self.fetch_span / self.required if self.required else 0.0


def series(today: date) -> list[SeriesSpec]:
    """The catalogue's eight FRED series, with their real start dates and publication lags."""
    return [
        SeriesSpec("UNRATE", "m", date(1948, 1, 1), base=4.0, lag_days=35, revisions=2),
        SeriesSpec("CPIAUCSL", "m", date(1947, 1, 1), base=250.0, lag_days=44, revisions=2),
        SeriesSpec("A191RO1Q156NBEA", "q", date(1948, 1, 1), base=2.0, lag_days=120),
        SeriesSpec("FEDFUNDS", "m", date(1954, 7, 1), base=3.0, lag_days=2, revisions=1),
        SeriesSpec("DGS10", "d", date(1962, 1, 2), base=4.0, holidays=HOLIDAYS),
        SeriesSpec("VIXCLS", "d", date(1990, 1, 2), base=15.0, holidays=HOLIDAYS),
        SeriesSpec("DTWEXBGS", "d", date(2006, 1, 2), base=110.0, lag_days=6, holidays=HOLIDAYS),
        SeriesSpec("DCOILWTICO", "d", date(1986, 1, 2), base=60.0, lag_days=6, holidays=HOLIDAYS),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the macro collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("results-macro.json")
    )
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="coinfill-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["COINFILL_DATABASE_URL"] = args.database_url
    os.environ["COINFILL_FRED_API_KEY"] = "bench-key"
    os.environ["COINFILL_FRED_REQUESTS_PER_SECOND"] = "1"
    os.environ["COINFILL_RATE_LIMITER"] = "local"
    from coinfill.db.engine import make_engine
    from coinfill.db.migrate import upgrade
    from flows.macro_indicators import macro_indicators as flow

    if args.database_url.startswith("mysql"):
        recreate_database(args.database_url)
    upgrade(make_engine(args.database_url))
    today = datetime.now(UTC).date()
    phases: list[Phase] = []
    with FakeFred(series(today), api_key="bench-key", today=today, requests_per_second=1.0) as fake:
        os.environ["COINFILL_FRED_BASE_URL"] = fake.url
        begin = time.perf_counter()
        flow(days=730, dry_run=True)
        print(
            f"warm-up: dry run, {time.perf_counter() - begin:.1f} s, not counted (Prefect server)"
        )

        def run(name: str, **params: Any) -> Phase:
            print(f"… {name}", flush=True)
            first, rejected = len(fake.requests), fake.too_many
            begin = time.perf_counter()
            summary = flow(**params)
            seconds = time.perf_counter() - begin
            times = [t for t, _ in fake.requests[first:]]
            phase = Phase(
                name,
                seconds,
                len(times),
                fake.too_many - rejected,
                (times[-1] - times[0]) if times else 0.0,
                float(max(0, len(times) - 1)),
                summary.total("inserted") + summary.total("updated"),
                summary.total("unchanged"),
            )
            print(f"  {seconds:.1f} s, {phase.requests} requests, {phase.rows_written:,} rows")
            phases.append(phase)
            return phase

        run("730-day backfill, empty table", days=730)
        rerun = run("re-run, no changes", days=730)
        assert rerun.rows_written == 0, "a re-run must write nothing"
        run("all-history backfill", days=0)
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
        "\n| phase | wall s | requests | 429s | fetch span s | rate limit needs s | span ÷ need "
        "| rows written | unchanged |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        mark = "✅" if p.required and p.ratio <= 1.10 else ("" if not p.required else "❌")
        print(
            f"| {p.name} | {p.seconds:.1f} | {p.requests} | {p.rejected_429} | "
            f"{p.fetch_span:.2f} | {p.required:.0f} | {p.ratio:.3f} {mark} | "
            f"{p.rows_written:,} | {p.unchanged:,} |"
        )


if __name__ == "__main__":
    main()
