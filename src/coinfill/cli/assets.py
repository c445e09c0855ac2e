"""``coinfill assets``: list, add, activate/deactivate, load the bundled list, sync with
Binance. Every command works on the configured database's ``crypto_assets``.

The database, pandas and the Binance client load in the commands' bodies, not for ``--help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coinfill.backfill import parse_symbols
from coinfill.cli.common import fail, out, settings_or_exit
from coinfill.errors import CoinfillError, InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

assets_app = typer.Typer(help="The asset registry (crypto_assets).", no_args_is_help=True)


def _engine() -> Engine:
    from coinfill.config import database_url
    from coinfill.db.engine import make_engine

    return make_engine(database_url(settings_or_exit()))


@assets_app.command("list")
def list_command(
    all_assets: Annotated[bool, typer.Option("--all", help="Include inactive assets.")] = False,
) -> None:
    """The registry: symbol, name, active, Binance pair, CoinGecko and CoinMetrics ids."""
    from coinfill.db.assets import list_assets

    try:
        frame = list_assets(_engine(), include_inactive=all_assets)
    except CoinfillError as exc:
        raise fail(exc) from None
    if frame.empty:
        out.print("no assets registered: `coinfill assets init` loads the bundled list")
        return
    out.print(frame.fillna("").to_string(index=False), highlight=False)
    out.print(f"\n{len(frame)} assets")


@assets_app.command("add")
def add_command(
    symbol: str,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    binance: Annotated[str | None, typer.Option(help="Binance pair, e.g. SOLUSDT")] = None,
    coingecko: Annotated[str | None, typer.Option(help="CoinGecko id, e.g. solana")] = None,
    coinmetrics: Annotated[str | None, typer.Option(help="CoinMetrics id, e.g. sol")] = None,
    messari: Annotated[str | None, typer.Option(help="Messari asset key, e.g. solana")] = None,
) -> None:
    """Add an asset, or set ids of a registered one (options left out keep their value)."""
    import pandas as pd

    from coinfill.db.assets import add_assets

    try:
        (checked,) = parse_symbols([symbol]) or [symbol]
        row = {
            "symbol": checked,
            "name": name,
            "is_active": True,
            "binance_symbol": binance.upper() if binance else None,
            "coingecko_id": coingecko,
            "coinmetrics_id": coinmetrics.lower() if coinmetrics else None,
            "messari_id": messari,
        }
        counts = add_assets(_engine(), pd.DataFrame([row]))
    except CoinfillError as exc:
        raise fail(exc) from None
    verb = "added" if counts.inserted else "updated" if counts.updated else "unchanged"
    out.print(f"{checked}: {verb} (active)")


def _set_active(symbols: str, active: bool) -> None:
    from coinfill.db.assets import set_active

    try:
        wanted = parse_symbols(symbols) or []
        unknown = set_active(_engine(), wanted, active)
        if unknown:
            raise InputError(f"not in the registry: {', '.join(unknown)}")
    except CoinfillError as exc:
        raise fail(exc) from None
    state = "active" if active else "inactive (no longer collected; its data stays)"
    out.print(f"{', '.join(wanted)}: {state}")


@assets_app.command("deactivate")
def deactivate_command(symbols: Annotated[str, typer.Argument(help="e.g. EOS,LUNA")]) -> None:
    """Stop collecting assets (nothing is deleted)."""
    _set_active(symbols, False)


@assets_app.command("activate")
def activate_command(symbols: Annotated[str, typer.Argument(help="e.g. EOS,LUNA")]) -> None:
    """Collect assets again."""
    _set_active(symbols, True)


@assets_app.command("init")
def init_command() -> None:
    """Load the bundled list of ~500 assets; registered assets are left as they are."""
    from coinfill.db.assets import add_missing_defaults

    try:
        added = add_missing_defaults(_engine())
    except CoinfillError as exc:
        raise fail(exc) from None
    out.print(f"{added} assets added from the bundled list")


@assets_app.command("sync")
def sync_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove pairs that do not trade, add pairs that do.")
    ] = False,
) -> None:
    """Check the registry's Binance pairs against Binance's exchangeInfo."""
    from coinfill.config import database_url
    from coinfill.db.assets import list_assets, set_pairs
    from coinfill.db.engine import make_engine
    from coinfill.prices.sync import compare
    from coinfill.sources.binance import BinanceClient
    from coinfill.sources.binance_weight import WeightBudget

    settings = settings_or_exit()
    try:
        engine = make_engine(database_url(settings))
        assets = list_assets(engine, include_inactive=True)
        budget = WeightBudget(settings.binance_weight_per_minute)
        with BinanceClient(settings.binance_base_url, budget) as client:
            report = compare(assets, client.exchange_info())
        if apply and report.changes():
            set_pairs(engine, report.changes())
    except CoinfillError as exc:
        raise fail(exc) from None
    for line in report.lines():
        out.print(line, highlight=False)
    if report.changes():
        out.print("applied" if apply else "run with --apply to change the registry")
