"""Which assets a price run covers, and where each one's history starts at its source."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sqlalchemy import Engine

from coinfill.backfill import check_cap, parse_symbols
from coinfill.db.assets import active_sourced, price_sources
from coinfill.db.schema import crypto_assets
from coinfill.prices.plan import AssetSource
from coinfill.sources.binance import BinanceClient
from coinfill.sources.http import SourceError

A = crypto_assets


def choose_assets(
    engine: Engine, requested: str | Sequence[str] | None, max_assets: int
) -> tuple[list[AssetSource], list[str]]:
    """The asked-for assets (and the asked-for symbols the registry does not know), or the
    active assets that have a price source, at most ``max_assets``."""
    check_cap(max_assets)
    symbols = parse_symbols(requested)
    if symbols is None:
        symbols = sorted(active_sourced(engine))[:max_assets]
    check_cap(max_assets, symbols)
    known = price_sources(engine, symbols)
    return [known[s] for s in symbols if s in known], [s for s in symbols if s not in known]


def unknown_symbol_message(symbol: str) -> str:
    return (
        f"unknown symbol {symbol}: not in crypto_assets — add it with `coinfill assets add "
        f"{symbol} --binance {symbol}USDT` (or --coingecko <id>)"
    )


def learn_listings(
    client: BinanceClient, assets: Sequence[AssetSource], interval: str, step: int, workers: int
) -> tuple[list[AssetSource], dict[str, int], dict[str, SourceError]]:
    """Ask Binance for the first bar of each pair whose history start is not known yet (one
    weight-2 request each, once per asset): a coin listed in March then has no missing
    January bars. Returns the assets with their starts, the starts learned, and errors."""
    unknown = [a for a in assets if a.source == "binance" and a.history_start_ms is None]
    if not unknown:
        return list(assets), {}, {}

    def probe(asset: AssetSource) -> tuple[str, int | None, SourceError | None]:
        try:
            first = client.first_open(asset.source_id, interval)
        except SourceError as exc:
            return asset.symbol, None, exc
        return asset.symbol, None if first is None else first + step, None

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="listing") as pool:
        found = list(pool.map(probe, unknown))
    learned = {s: start for s, start, _ in found if start is not None}
    errors = {s: error for s, _, error in found if error is not None}
    updated = [
        replace(a, history_start_ms=learned[a.symbol]) if a.symbol in learned else a for a in assets
    ]
    return updated, learned, errors
