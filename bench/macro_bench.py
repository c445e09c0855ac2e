"""Benchmark of ``coinfill run macro`` as users run it, against a local FRED that enforces
1 request/s.

    make bench-macro                                    # on MariaDB, both API modes
    .venv/bin/python bench/macro_bench.py --database-url sqlite:////tmp/macro_bench.db
    .venv/bin/python bench/macro_bench.py --modes own   # one API mode

A FRED imitation (``tests/fakes/fred_server.py``: FRED's JSON, vintages, ``"."`` holidays)
answers on 127.0.0.1 and rejects with 429 any request sooner than 1 s after the last one. Per API
mode, from an empty database, whole ``coinfill`` processes: ``run macro --days 730``, the same
again (must write nothing), ``run macro --days 0`` (every series since it began). Each is set
against what the rate limit alone requires, (requests − 1) s; target for the backfills: the
whole command within 10 % of it. Results are checked in the database (series, dates, values
against the imitation's). Results go to ``bench/results-macro.json``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the imitations: tests/fakes

from common import (
    BENCH,
    Checks,
    Row,
    drop_database,
    fresh_database,
    report,
    row,
    scalar,
    table_state,
    utc_now,
    written_since,
)  # fmt: skip
from process import MODES, Bench
from sqlalchemy import Engine, text

from coinfill.macro.catalog import catalog
from tests.fakes.fred_server import FakeFred, SeriesSpec

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_macro_bench"
TABLE = "macro_indicators"
HOLIDAYS = frozenset(
    date(y, m, d) for y in range(1990, 2027) for m, d in ((1, 1), (7, 4), (12, 25))
)


def series() -> list[SeriesSpec]:
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


def wrong_values(engine: Engine, fake: FakeFred, sample: int = 20) -> list[str]:
    """The newest ``sample`` stored values of each series against what the imitation serves."""
    units = {s.series_id: s.units for s in catalog().values() if s.series_id}
    wrong = []
    query = text(f"SELECT indicator_date, value FROM {TABLE} WHERE series_id = :s "
                 "ORDER BY indicator_date DESC LIMIT :n")  # fmt: skip
    with engine.connect() as conn:
        for series_id in fake.series:
            for day, value in conn.execute(query, {"s": series_id, "n": sample}):
                day = day.date() if isinstance(day, datetime) else day
                try:
                    want = fake.expected_value(series_id, day, units=units.get(series_id, "lin"))
                except KeyError:
                    want = "not served"
                if not (
                    (value is None and want is None)
                    or (
                        value is not None
                        and isinstance(want, float)
                        and abs(value - want) <= 1e-9 * max(1.0, abs(want))
                    )
                ):
                    wrong.append(f"{series_id} {day}: stored {value}, served {want}")  # fmt: skip
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the macro collector.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-macro.json")
    args = parser.parse_args()
    url = args.database_url
    today = datetime.now(UTC).date()
    specs = series()
    rows: list[Row] = []
    checks = Checks()
    with (
        Bench("macro", tuple(args.modes.split(","))) as bench,
        FakeFred(specs, api_key="bench-key", today=today, requests_per_second=1.0) as fake,
    ):
        env = {"COINFILL_DATABASE_URL": url, "COINFILL_FRED_API_KEY": "bench-key",
               "COINFILL_FRED_REQUESTS_PER_SECOND": "1", "COINFILL_RATE_LIMITER": "local",
               "COINFILL_FRED_BASE_URL": fake.url}  # fmt: skip
        engine = fresh_database(url)
        bench.warm_up(["run", "macro", "--days", "730", "--dry-run"], **env)

        def phase(name: str, mode: str, days: int, backfill: bool) -> tuple[int, int]:
            first, rejected = len(fake.requests), fake.too_many
            before = table_state(engine, TABLE).rows
            since = utc_now()
            run = bench.coinfill(["run", "macro", "--days", str(days)], mode, **env)
            checks.ran(run, f"{name} [{mode}]")
            times = [t for t, _ in fake.requests[first:]]
            required = float(max(0, len(times) - 1))
            written = written_since(engine, TABLE, since)
            after = table_state(engine, TABLE).rows
            ok = run.whole_s <= 1.1 * required if backfill else None
            rows.append(row(run, name, basis="rate limit", basis_s=required,
                            target="≤ 1.1× rate limit" if backfill else "", ok=ok, detail={
                                "requests": len(times), "rejected_429": fake.too_many - rejected,
                                "fetch_span_s": round(times[-1] - times[0], 2) if times else 0,
                                "rows_written": written, "rows_added": after - before,
                            }))  # fmt: skip
            print(
                f"  {len(times)} requests over {rows[-1].detail['fetch_span_s']} s, "
                f"{written:,} rows written ({after - before:,} new)"
            )
            return after - before, written

        for n, mode in enumerate(bench.modes):
            if n:
                engine.dispose()
                engine = fresh_database(url)
            added, _ = phase("730-day backfill, empty table", mode, 730, backfill=True)
            names = scalar(engine, f"SELECT COUNT(DISTINCT series_id) FROM {TABLE}")
            checks.expect(added > 0 and names == len(specs), f"730-day backfill [{mode}]: "
                          f"{added} rows of {names} series, expected all {len(specs)}")  # fmt: skip
            before = table_state(engine, TABLE)
            phase("re-run, no changes", mode, 730, backfill=False)
            after = table_state(engine, TABLE)
            checks.expect(after == before, f"re-run [{mode}] changed {TABLE}: {before} → {after}")
            added, _ = phase("all-history backfill", mode, 0, backfill=True)
            checks.expect(added > 0, f"all-history backfill [{mode}] added no rows")
            for spec in specs:
                first = scalar(engine, f"SELECT MIN(indicator_date) FROM {TABLE} "
                               "WHERE series_id = :s", s=spec.series_id)  # fmt: skip
                first = first.date() if isinstance(first, datetime) else first
                checks.expect(first is not None and first <= spec.start + timedelta(days=7),
                              f"all-history [{mode}]: {spec.series_id} starts {first}, "
                              f"the source at {spec.start}")  # fmt: skip
            wrong = wrong_values(engine, fake)
            checks.expect(not wrong, f"[{mode}] values differ from FRED's: {wrong[:5]}")
        engine.dispose()
    if not args.keep:
        drop_database(url)
    report("macro", rows, checks, args.results, database=url.split("://")[0],
           required="(requests − 1) × 1 s")  # fmt: skip


if __name__ == "__main__":
    main()
