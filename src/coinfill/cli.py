"""The ``coinfill`` command. It runs the same flow objects the Prefect deployments run."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.console import Console

from coinfill.assets_cli import assets_app
from coinfill.backfill import parse_symbols, plan_window
from coinfill.db.engine import make_engine, safe_url
from coinfill.db.history import history
from coinfill.db.migrate import upgrade
from coinfill.errors import BackfillFailedError, CoinfillError
from coinfill.settings import Settings, load_settings
from coinfill.validation.overview import measure_all, render_history, suites_for
from coinfill.validation.report import render
from expectations.contracts import CONTRACTS, contract_for

app = typer.Typer(
    help="coinfill: collect, backfill and validate crypto ML data.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
run_app = typer.Typer(help="Run a collector's flow in-process.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")
app.add_typer(assets_app, name="assets")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])]


def _fail(exc: CoinfillError, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except CoinfillError as exc:
        raise _fail(exc) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (adopts a database of the old system as it is)."""
    settings = _settings()
    try:
        engine = make_engine(settings.database_url.get_secret_value())
        changes = upgrade(engine)
    except CoinfillError as exc:
        raise _fail(exc) from None
    for change in changes:
        out.print(f"  {change}")
    out.print(f"schema is current on {safe_url(engine.url)}")


DaysOpt = Annotated[int | None, typer.Option(help="Trailing days; 0 = all history.")]
EnforceOpt = Annotated[
    bool,
    typer.Option(
        "--enforce-coverage/--no-enforce-coverage",
        help="Fail the run when coverage after it misses its target.",
    ),
]


class _Summary(Protocol):
    coverage: str

    def markdown(self) -> str: ...


def _run_flow(
    days: int | None, start: datetime | None, end: datetime | None, run: Callable[[], _Summary]
) -> None:
    """Check the window before Prefect starts (a typo fails fast and plainly), run, report."""
    try:
        plan_window(days, start, end, now=datetime.now(UTC).replace(tzinfo=None))
        summary = run()
    except BackfillFailedError as exc:
        raise _fail(exc, code=1) from None
    except CoinfillError as exc:
        raise _fail(exc) from None
    out.print(summary.markdown(), highlight=False)
    out.print("\ncoverage before → after:", highlight=False)
    out.print(summary.coverage, highlight=False)


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
    from flows.technical_indicators import technical_indicators

    _run_flow(
        days,
        start,
        end,
        lambda: technical_indicators(
            days=days,
            start=start,
            end=end,
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
    from flows.macro_indicators import macro_indicators

    names = [n for n in (indicators or "").split(",") if n.strip()] or None
    _run_flow(
        days,
        start,
        end,
        lambda: macro_indicators(
            days=days,
            start=start,
            end=end,
            indicators=names,
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
    from flows.crypto_prices import crypto_prices

    _run_flow(
        days,
        start,
        end,
        lambda: crypto_prices(
            days=days,
            start=start,
            end=end,
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
    from flows.onchain_metrics import onchain_metrics

    _run_flow(
        days,
        start,
        end,
        lambda: onchain_metrics(
            days=days, start=start, end=end, symbols=parse_symbols(symbols),
            max_assets=max_assets, dry_run=dry_run, enforce_coverage=enforce_coverage,
        ),
    )  # fmt: skip


@app.command()
def coverage(
    table: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(CONTRACTS)}; default all")
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
    settings = _settings()
    try:
        names = suites_for(table)
        engine = make_engine(settings.database_url.get_secret_value())
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
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], indent=2, default=str) + "\n")
        return
    for report in reports:
        out.print(f"\n[bold]{report.table}[/bold] ({report.name} suite)")
        out.print(render(report), highlight=False)
    if docs is not None:
        out.print(f"\nData Docs: {(docs / 'index.html').resolve()}")


@app.command()
def demo() -> None:
    """Offline demo: bundled real prices → technical backfill → coverage before → after."""
    from coinfill.demo import load_demo_prices
    from flows.technical_indicators import technical_indicators

    settings = _settings()
    try:
        engine = make_engine(settings.database_url.get_secret_value())
        upgrade(engine)
        loaded = load_demo_prices(engine, settings.demo_data_dir)
        out.print(
            f"prices: {loaded.inserted:,} inserted, {loaded.updated:,} updated, "
            f"{loaded.unchanged:,} unchanged (real Bitfinex hourly bars, 2017-10..2019-10)"
        )
        summary = technical_indicators(days=0)
    except CoinfillError as exc:
        raise _fail(exc) from None
    out.print(summary.markdown(), highlight=False)
    out.print(f"\ncoverage of technical_indicators on {safe_url(engine.url)} (before → after):")
    out.print(summary.coverage, highlight=False)


def main() -> None:
    """Console entry point. The ephemeral Prefect server must not try to phone home offline."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()
