"""Benchmark of ``coinfill run sentiment`` (news collector and lexicon scorer) as users run it:
100,000 articles from one feed.

    make bench-news                                                 # on MariaDB, both API modes
    make bench-news NEWS_BENCH_ARGS="--articles 2000"               # a quick look
    .venv/bin/python bench/news_bench.py --database-url sqlite:////tmp/news_bench.db

One recorded RSS 2.0 feed (``file://``) of synthetic crypto headlines over the last 60 days,
each naming one to three assets. Per API mode, from an empty database, whole ``coinfill``
processes: ``run sentiment --days 0`` into an empty table (parse, match assets, store, score),
the same again (stores and scores nothing), and ``run sentiment --days 0 --rescore`` after every
stored version was changed — the backfill a model upgrade needs. The feed/scoring split is read
from the command's summary tables. Results are checked in the database. Results:
``bench/results-news.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the imitations: tests/fakes

from common import (
    BENCH,
    Checks,
    Row,
    drop_database,
    execute,
    fresh_database,
    markdown_rows,
    report,
    row,
    scalar,
    table_state,
    utc_now,
    written_since,
)  # fmt: skip
from process import MODES, Bench, Run

from tests.fakes.news_server import Item, rss

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_news_bench"
TABLE = "news_articles"
ASSETS = ["Bitcoin", "Ether", "Solana", "XRP", "Cardano", "Dogecoin", "Chainlink", "Litecoin",
          "Avalanche", "Polkadot", "Tron", "Uniswap", "BTC", "ETH", "SOL"]  # fmt: skip
VERBS = ["surges", "slides", "rallies", "tumbles", "holds steady", "climbs", "plunges",
         "edges higher", "drops", "hits a record high", "trades flat", "rebounds"]  # fmt: skip
REASONS = ["as ETF inflows climb", "after exchange hack", "ahead of Fed decision",
           "as traders take profit", "on upgrade news", "amid regulatory probe", "as volumes thin",
           "after short squeeze", "as miners sell", "on partnership news"]  # fmt: skip


def feed(path: Path, n: int, now: datetime, prefix: str = "news") -> None:
    rng = random.Random(7)
    items = []
    for i in range(n):
        names = rng.sample(ASSETS, rng.choice([1, 1, 2, 3]))
        title = (
            f"{' and '.join(names)} {rng.choice(VERBS)} {rng.randint(1, 25)}% {rng.choice(REASONS)}"
        )
        at = now - timedelta(seconds=rng.randint(60, 60 * 86_400))
        summary = f"{names[0]} moved as markets reacted; analysts watch {rng.choice(ASSETS)} next."
        items.append(Item(title, f"https://bench.example/{prefix}/{i}?utm_source=rss", at, summary))
    path.write_bytes(rss("bench wire", items))


def split(run: Run) -> dict[str, object]:
    """The feed's and the scorer's seconds, from the summary tables the command prints."""
    source = markdown_rows(run.stdout, "entries")
    scoring = markdown_rows(run.stdout, "scored")
    return {
        "feed_seconds": source[0].get("seconds") if source else None,
        "new_articles": source[0].get("new") if source else None,
        "scoring_seconds": scoring[0].get("seconds") if scoring else None,
        "scored": scoring[0].get("scored") if scoring else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--modes", default=",".join(MODES), help="own,configured or one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--results", type=Path, default=BENCH / "results-news.json")
    args = parser.parse_args()
    url = args.database_url
    now = datetime.now(UTC).replace(tzinfo=None)
    folder = Path(tempfile.mkdtemp(prefix="news_bench_"))
    started = time.perf_counter()
    feed(folder / "wire.xml", args.articles, now)
    feed(folder / "warm-up.xml", 20, now, prefix="warm-up")
    print(f"feed: {args.articles:,} items, {(folder / 'wire.xml').stat().st_size / 2**20:.0f} MiB, "
          f"written in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    feeds = json.dumps({"wire": (folder / "wire.xml").as_uri()})
    rows: list[Row] = []
    checks = Checks()
    with Bench("news", tuple(args.modes.split(","))) as bench:
        engine = fresh_database(url)
        warm_up = json.dumps({"wire": (folder / "warm-up.xml").as_uri()})
        bench.warm_up(["run", "sentiment", "--days", "1", "--dry-run", "--no-enforce-coverage"],
                      COINFILL_DATABASE_URL=url, COINFILL_NEWS_FEEDS=warm_up)  # fmt: skip
        env = {"COINFILL_DATABASE_URL": url, "COINFILL_NEWS_FEEDS": feeds}

        def phase(name: str, mode: str, *extra: str) -> Run:
            run = bench.coinfill(["run", "sentiment", "--days", "0", *extra], mode, **env)
            checks.ran(run, f"{name} [{mode}]")
            detail = split(run)
            print(f"  {detail}")
            rows.append(row(run, name, detail=detail))
            return run

        for n, mode in enumerate(bench.modes):
            if n:
                engine.dispose()
                engine = fresh_database(url)
            phase(f"first run, {args.articles:,} new articles", mode)
            stored = table_state(engine, TABLE)
            unscored = scalar(engine, f"SELECT COUNT(*) FROM {TABLE} WHERE sentiment_model_version"
                              " IS NULL AND sentiment_skipped IS NULL")  # fmt: skip
            checks.expect(stored.rows == args.articles and unscored == 0, f"first run [{mode}]: "
                          f"{stored.rows:,} stored, {unscored:,} unscored; expected "
                          f"{args.articles:,}, all scored")  # fmt: skip
            phase("unchanged re-run", mode)
            after = table_state(engine, TABLE)
            checks.expect(after == stored, f"re-run [{mode}] changed {TABLE}: {stored} → {after}")
            scored = execute(engine, f"UPDATE {TABLE} SET sentiment_model_version = 'old' "
                             "WHERE sentiment_model_version IS NOT NULL")  # fmt: skip
            since = utc_now()
            phase(f"rescore of {args.articles:,} after a version change", mode, "--rescore")
            old = scalar(engine, f"SELECT COUNT(*) FROM {TABLE} "
                         "WHERE sentiment_model_version = 'old'")  # fmt: skip
            written = written_since(engine, TABLE, since)
            checks.expect(old == 0 and written == scored, f"rescore [{mode}]: {old:,} left at "
                          f"the old version, {written:,} written of {scored:,}")  # fmt: skip
        engine.dispose()
    if not args.keep:
        drop_database(url)
    report("news", rows, checks, args.results, articles=args.articles,
           database=url.split("://")[0])  # fmt: skip


if __name__ == "__main__":
    main()
