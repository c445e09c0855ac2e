"""``coinfill run <collector>``: each collector's flow, in-process (the same flow objects the
Prefect deployments run)."""

from __future__ import annotations

from typing import Annotated

import typer

from coinfill.backfill import parse_symbols
from coinfill.cli.common import DateOpt
from coinfill.cli.flowrun import run_flow

run_app = typer.Typer(help="Run a collector's flow in-process.", no_args_is_help=True)

DaysOpt = Annotated[int | None, typer.Option(help="Trailing days; 0 = all history.")]
EnforceOpt = Annotated[
    bool,
    typer.Option(
        "--enforce-coverage/--no-enforce-coverage",
        help="Fail the run when coverage after it misses its target.",
    ),
]


def _names(text: str | None) -> list[str] | None:
    """``"a, b"`` → ``["a", "b"]``; nothing → None (the flow's default)."""
    return [n.strip() for n in (text or "").split(",") if n.strip()] or None


@run_app.command("technical")
def run_technical(
    days: DaysOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[
        str | None, typer.Option(help="e.g. BTC,ETH; default: active assets")
    ] = None,
    max_assets: int = 500,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and report, write nothing.")
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Backfill technical indicators (SMA 20/50, RSI 14, MACD, Bollinger), coverage checked."""
    run_flow(
        "flows.technical_indicators",
        "technical_indicators",
        days,
        start,
        end,
        lambda: dict(
            symbols=parse_symbols(symbols),
            max_assets=max_assets,
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )


@run_app.command("macro")
def run_macro(
    days: DaysOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    indicators: Annotated[
        str | None, typer.Option(help="e.g. VIX,US_INFLATION; default: every indicator")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (requests, time), write nothing.")
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Collect US macro indicators from FRED (gap-driven, ≤ 1 request/s), coverage checked."""
    run_flow(
        "flows.macro_indicators",
        "macro_indicators",
        days,
        start,
        end,
        lambda: dict(
            indicators=_names(indicators),
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )


@run_app.command("prices")
def run_prices(
    days: DaysOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[
        str | None, typer.Option(help="e.g. BTC,ETH; default: active assets with a source")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Bar interval, e.g. 1h (default), 15m, 1d")
    ] = None,
    max_assets: int = 500,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the plan (gaps, requests, time), write nothing."),
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Collect price bars from Binance (CoinGecko for the rest), gap-driven, coverage checked."""
    run_flow(
        "flows.crypto_prices",
        "crypto_prices",
        days,
        start,
        end,
        lambda: dict(
            symbols=parse_symbols(symbols),
            interval=interval,
            max_assets=max_assets,
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )


@run_app.command("onchain")
def run_onchain(
    days: DaysOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[str | None, typer.Option(help="e.g. BTC,ETH; default: active")] = None,
    max_assets: int = 500,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (gaps, requests), write nothing.")
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Collect on-chain metrics (CoinMetrics, blockchain.info fallback), coverage checked."""
    run_flow(
        "flows.onchain_metrics",
        "onchain_metrics",
        days,
        start,
        end,
        lambda: dict(
            symbols=parse_symbols(symbols),
            max_assets=max_assets,
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )


@run_app.command("features")
def run_features(
    days: Annotated[
        int | None, typer.Option(help="Rebuild the trailing days (0 = all); default: changes.")
    ] = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[str | None, typer.Option(help="e.g. BTC,ETH; default: active")] = None,
    max_assets: int = 500,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and report, write nothing.")
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Build the point-in-time feature table; without a window, only what changed."""
    run_flow(
        "flows.ml_features",
        "ml_features",
        days,
        start,
        end,
        lambda: dict(
            symbols=parse_symbols(symbols),
            max_assets=max_assets,
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )


@run_app.command("sentiment")
def run_sentiment(
    days: DaysOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Re-score articles another model version scored.")
    ] = False,
    feeds: Annotated[str | None, typer.Option(help="e.g. coindesk,decrypt; default: all")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (feeds, articles to score).")
    ] = False,
    enforce_coverage: EnforceOpt = True,
) -> None:
    """Collect news (RSS/Atom feeds, NewsAPI.org with a key) and score its sentiment."""
    run_flow(
        "flows.news_sentiment",
        "news_sentiment",
        days,
        start,
        end,
        lambda: dict(
            rescore=rescore,
            feeds=_names(feeds),
            dry_run=dry_run,
            enforce_coverage=enforce_coverage,
        ),
    )
