"""How many bars the prices suite expects: the denominator of price coverage.

A symbol with a price source is expected to have every bar of the interval from the later of
the window start and its source's first bar (learned by the collector; else its first stored
bar) up to the newest closed bar or the window end. A symbol nobody collects any more (no
source in the registry) is held only to the span it has: its holes count, the time after its
last bar does not. CoinGecko symbols are expected only within the free tier's 365 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Engine

from coinfill.db.assets import active_sourced, price_sources
from coinfill.db.prices import stored_spans
from coinfill.prices.grid import bars_between, interval_ms
from coinfill.prices.plan import AssetSource, GridStats, plan_symbol


def with_known_start(asset: AssetSource, first_stored: int | None) -> AssetSource:
    """The source's first bar if learned, else the first stored bar (if any)."""
    if asset.history_start_ms is not None or first_stored is None:
        return asset
    return replace(asset, history_start_ms=first_stored)


def expected_bars(
    engine: Engine,
    symbols: Sequence[str] | None,
    start_ms: int | None,
    end_ms: int | None,
    interval: str,
    now_ms: int,
) -> dict[str, int]:
    """Per symbol (``None``: every symbol with prices or an active source), bars expected."""
    step = interval_ms(interval)
    spans = stored_spans(engine, symbols)
    names = list(symbols) if symbols is not None else sorted({*spans, *active_sourced(engine)})
    sources = price_sources(engine, names)
    out: dict[str, int] = {}
    for symbol in names:
        first, last = spans.get(symbol, (None, None))
        asset = with_known_start(sources.get(symbol, AssetSource(symbol)), first)
        if asset.source is None:
            if first is None or last is None:
                out[symbol] = 0
                continue
            begin = max(first, start_ms or first)
            finish = min(last + 1, end_ms if end_ms is not None else last + 1)
            out[symbol] = bars_between(begin, finish, step)
            continue
        if asset.history_start_ms is None and start_ms is None:
            out[symbol] = 0  # never collected, start unknown: nothing to hold it to yet
            continue
        plan = plan_symbol(asset, GridStats(), start_ms, end_ms, step, interval, now_ms)
        out[symbol] = plan.expected
    return out
