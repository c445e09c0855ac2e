"""``coinfill coverage`` and ``coinfill demo``: what the suites measure, and the offline tour."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from coinfill.cli.common import DateOpt, fail, out, settings_or_exit
from coinfill.cli.flowrun import Summary, run_flows
from coinfill.errors import CoinfillError

# The suites' names, spelled out so that `--help` need not load the contracts (SQLAlchemy,
# pandas); tests/unit/test_cli_imports.py checks them against expectations.contracts.
SUITES = ("prices", "technical", "macro", "onchain", "features", "sentiment")
DEMO_FLOWS = ("flows.technical_indicators", "flows.news_sentiment", "flows.ml_features")


def coverage(
    table: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(SUITES)}; default all")
    ] = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[str | None, typer.Option(help="e.g. BTC,ETH; default all")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    show_history: Annotated[
        bool, typer.Option("--history", help="Coverage run by run, as the flows stored it.")
    ] = False,
    runs: Annotated[int, typer.Option(help="With --history: how many runs.", min=1)] = 10,
    docs: Annotated[
        Path | None, typer.Option(help="Also build GX Data Docs (a static site) in this folder.")
    ] = None,
) -> None:
    """Coverage per column (non-null ÷ eligible rows) and validity, from the GX suites."""
    from coinfill.backfill import parse_symbols
    from coinfill.config import database_url
    from coinfill.db.engine import make_engine
    from coinfill.db.history import history
    from coinfill.validation.overview import measure_all, render_history, suites_for
    from coinfill.validation.report import render
    from expectations.contracts import contract_for

    settings = settings_or_exit()
    try:
        names = suites_for(table)
        engine = make_engine(database_url(settings))
        if show_history:
            tables = [contract_for(name).table for name in names] if table else None
            rows = history(engine, tables, runs)
            if as_json:
                sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            else:
                out.print(render_history(rows) if rows else "no coverage stored yet")
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        reports = measure_all(
            engine,
            names,
            start,
            end,
            parse_symbols(symbols),
            now,
            docs,
            settings.macro_series,
            settings.price_interval,
        )
    except CoinfillError as exc:
        raise fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], indent=2, default=str) + "\n")
        return
    for report in reports:
        out.print(f"\n[bold]{report.table}[/bold] ({report.name} suite)")
        out.print(render(report), highlight=False)
    if docs is not None:
        out.print(f"\nData Docs: {(docs / 'index.html').resolve()}")


def demo() -> None:
    """Offline demo: bundled prices and news → technical backfill, sentiment, feature table."""
    from coinfill.config import database_url
    from coinfill.db.engine import make_engine, safe_url
    from coinfill.db.migrate import upgrade
    from coinfill.demo import archive_feed_url, load_demo_prices

    settings = settings_or_exit()
    try:
        engine = make_engine(database_url(settings))
        upgrade(engine)
        loaded = load_demo_prices(engine, settings.demo_data_dir)
    except CoinfillError as exc:
        raise fail(exc) from None
    out.print(
        f"prices: {loaded.inserted:,} inserted, {loaded.updated:,} updated, "
        f"{loaded.unchanged:,} unchanged (real Bitfinex hourly bars, 2017-10..2019-10)"
    )
    # The demo reads the bundled news archive, never the live feeds (it runs offline); the
    # flow reads its settings itself, so the archive is set for this command only.
    configured = os.environ.get("COINFILL_NEWS_FEEDS")
    os.environ["COINFILL_NEWS_FEEDS"] = json.dumps({"demo-archive": archive_feed_url()})

    def run() -> tuple[Summary, Summary, Summary]:
        from flows.ml_features import ml_features
        from flows.news_sentiment import news_sentiment
        from flows.technical_indicators import technical_indicators

        return (
            technical_indicators(days=0),
            news_sentiment(days=0),
            # Offline there is no macro or on-chain data: the features suite reports the
            # gap instead of failing the demo.
            ml_features(days=0, enforce_coverage=False),
        )

    try:
        summary, news, features = run_flows(run, warm=DEMO_FLOWS)
    finally:
        if configured is None:
            os.environ.pop("COINFILL_NEWS_FEEDS", None)
        else:
            os.environ["COINFILL_NEWS_FEEDS"] = configured
    out.print(summary.markdown(), highlight=False)
    out.print(f"\ncoverage of technical_indicators on {safe_url(engine.url)} (before → after):")
    out.print(summary.coverage, highlight=False)
    out.print("\n" + news.markdown(), highlight=False)
    out.print("\n" + features.markdown(), highlight=False)
    out.print("\ncoverage of ml_features_materialized (before → after; macro and on-chain need "
              "`coinfill run macro|onchain` with network):")  # fmt: skip
    out.print(features.coverage, highlight=False)
