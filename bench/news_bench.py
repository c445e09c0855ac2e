"""Benchmark of the news collector and the lexicon scorer: 100,000 articles from one feed.

    make bench-news                                        # on MariaDB
    .venv/bin/python bench/news_bench.py --database-url sqlite:////tmp/news_bench.db

One recorded RSS 2.0 feed (``file://``) of synthetic crypto headlines over the last 60 days,
each naming one to three assets. Phases: the first run into an empty table (parse, match
assets, store, score), the unchanged re-run (stores and scores nothing), and a rescore of every
article after a model-version change — the backfill a model upgrade needs (the old system's
675K articles are extrapolated from it). Results go to ``bench/results-news.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from technical_bench import recreate_database  # noqa: E402

from tests.fakes.news_server import Item, rss  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_news_bench"
ASSETS = ["Bitcoin", "Ether", "Solana", "XRP", "Cardano", "Dogecoin", "Chainlink", "Litecoin",
          "Avalanche", "Polkadot", "Tron", "Uniswap", "BTC", "ETH", "SOL"]  # fmt: skip
VERBS = ["surges", "slides", "rallies", "tumbles", "holds steady", "climbs", "plunges",
         "edges higher", "drops", "hits a record high", "trades flat", "rebounds"]  # fmt: skip
REASONS = ["as ETF inflows climb", "after exchange hack", "ahead of Fed decision",
           "as traders take profit", "on upgrade news", "amid regulatory probe", "as volumes thin",
           "after short squeeze", "as miners sell", "on partnership news"]  # fmt: skip


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def feed(path: Path, n: int, now: datetime) -> None:
    rng = random.Random(7)
    items = []
    for i in range(n):
        names = rng.sample(ASSETS, rng.choice([1, 1, 2, 3]))
        title = (
            f"{' and '.join(names)} {rng.choice(VERBS)} {rng.randint(1, 25)}% {rng.choice(REASONS)}"
        )
        at = now - timedelta(seconds=rng.randint(60, 60 * 86_400))
        summary = f"{names[0]} moved as markets reacted; analysts watch {rng.choice(ASSETS)} next."
        items.append(Item(title, f"https://bench.example/news/{i}?utm_source=rss", at, summary))
    path.write_bytes(rss("bench wire", items))


def phase(name: str, run: Any) -> dict[str, Any]:
    reset_peak()
    began = time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - began
    source = summary.results[0] if summary.results else None
    scoring = summary.scoring
    row = {
        "phase": name,
        "seconds": round(seconds, 1),
        "feed_seconds": round(source.seconds, 1) if source else None,
        "new_articles": source.new if source else 0,
        "scoring_seconds": round(scoring.seconds, 1) if scoring else None,
        "scored": scoring.scored if scoring else 0,
        "peak_rss_mib": round(peak_rss_mib()),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.database_url.startswith("mysql"):
        recreate_database(args.database_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    folder = Path(tempfile.mkdtemp(prefix="news_bench_"))
    started = time.perf_counter()
    feed(folder / "wire.xml", args.articles, now)
    print(f"feed: {args.articles:,} items, {(folder / 'wire.xml').stat().st_size / 2**20:.0f} MiB, "
          f"written in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    os.environ.update({
        "COINFILL_DATABASE_URL": args.database_url,
        "COINFILL_NEWS_FEEDS": json.dumps({"wire": (folder / "wire.xml").as_uri()}),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    })  # fmt: skip
    from sqlalchemy import text

    from coinfill.db.engine import make_engine
    from coinfill.db.migrate import upgrade
    from flows.news_sentiment import news_sentiment

    engine = make_engine(args.database_url)
    upgrade(engine)
    news_sentiment(days=1, dry_run=True, enforce_coverage=False)  # start Prefect's server first
    results = [phase("first run, empty table", lambda: news_sentiment(days=0))]
    results.append(phase("unchanged re-run", lambda: news_sentiment(days=0)))
    with engine.begin() as conn:
        conn.execute(text("UPDATE news_articles SET sentiment_model_version = 'old'"))
    results.append(phase("rescore after a version change",
                         lambda: news_sentiment(days=0, rescore=True)))  # fmt: skip
    rate = results[-1]["scored"] / results[-1]["scoring_seconds"]
    report = {"articles": args.articles, "phases": results,
              "rescore_articles_per_second": round(rate),
              "old_system_675k_rescore_minutes": round(675_000 / rate / 60, 1),
              "database": args.database_url.split("://")[0],
              "measured": datetime.now(UTC).isoformat(timespec="minutes")}  # fmt: skip
    print(json.dumps(report, indent=2))
    (ROOT / "bench" / "results-news.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.database_url.startswith("mysql") and not args.keep:
        recreate_database(args.database_url, create=False)


if __name__ == "__main__":
    main()
