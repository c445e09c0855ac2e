"""The ``coinfill`` command. It runs the same flow objects the Prefect deployments run."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from coinfill.backfill import parse_symbols, plan_window
from coinfill.coverage import TABLES, measure, render
from coinfill.db.engine import make_engine, safe_url
from coinfill.db.migrate import upgrade
from coinfill.errors import BackfillFailedError, CoinfillError
from coinfill.settings import Settings, load_settings

app = typer.Typer(
    help="coinfill: collect, backfill and validate crypto ML data.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
run_app = typer.Typer(help="Run a collector's flow in-process.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")
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


@run_app.command("technical")
def run_technical(
    days: Annotated[int | None, typer.Option(help="Trailing days; 0 = all history.")] = None,
    start: DateOpt = None,
    end: DateOpt = None,
    symbols: Annotated[
        str | None, typer.Option(help="e.g. BTC,ETH; default: active assets")
    ] = None,
    max_assets: int = 500,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and report, write nothing.")
    ] = False,
) -> None:
    """Backfill technical indicators (SMA 20/50, RSI 14, MACD, Bollinger)."""
    from flows.technical_indicators import technical_indicators

    try:  # check the request before Prefect starts, so a typo fails fast and plainly
        plan_window(days, start, end, now=datetime.now(UTC).replace(tzinfo=None))
        symbol_list = parse_symbols(symbols)
        summary = technical_indicators(
            days=days,
            start=start,
            end=end,
            symbols=symbol_list,
            max_assets=max_assets,
            dry_run=dry_run,
        )
    except BackfillFailedError as exc:
        raise _fail(exc, code=1) from None
    except CoinfillError as exc:
        raise _fail(exc) from None
    out.print(summary.markdown())


@app.command()
def coverage(
    table: Annotated[str, typer.Option(help=f"One of: {', '.join(TABLES)}")] = "technical",
    start: DateOpt = None,
    end: DateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per column: records, eligible rows, non-null rows and coverage %."""
    settings = _settings()
    try:
        if start and end and start >= end:
            raise CoinfillError(f"start {start:%Y-%m-%d} is not before end {end:%Y-%m-%d}")
        rows = measure(make_engine(settings.database_url.get_secret_value()), table, start, end)
    except CoinfillError as exc:
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    else:
        out.print(render(rows), highlight=False)


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
        before = measure(engine, "technical")
        summary = technical_indicators(days=0)
        after = measure(engine, "technical")
    except CoinfillError as exc:
        raise _fail(exc) from None
    out.print(summary.markdown(), highlight=False)
    out.print(f"\ncoverage of technical_indicators on {safe_url(engine.url)} (before → after):")
    out.print(render(after, before), highlight=False)


def main() -> None:
    """Console entry point. The ephemeral Prefect server must not try to phone home offline."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()
