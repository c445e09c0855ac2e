"""What ``price_data_real`` holds on a bar grid, and the write that keeps sources apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, func, select

from coinfill.db.diff import diff_rows
from coinfill.db.reads import read_frame
from coinfill.db.schema import price_data_real
from coinfill.db.upsert import apply_changes, read_existing
from coinfill.prices.plan import GridStats

P = price_data_real
KEYS = ("symbol", "timestamp")


@dataclass
class PriceWriteCounts:
    """Per symbol: inserted, updated, unchanged, and bars another source wrote (kept)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    other_source: int = 0


def grid_stats(
    engine: Engine, symbols: Sequence[str], start_ms: int | None, end_ms: int | None, step: int
) -> dict[str, GridStats]:
    """Per symbol: stored bars on the grid in ``[start, end)``; every time only for symbols
    with holes between their first and last bar (one aggregate query covers the rest)."""
    if not symbols:
        return {}
    on_grid = [P.c.symbol.in_(list(symbols)), P.c.timestamp % step == 0]
    if start_ms is not None:
        on_grid.append(P.c.timestamp >= start_ms)
    if end_ms is not None:
        on_grid.append(P.c.timestamp < end_ms)
    query = (
        select(P.c.symbol, func.count(), func.min(P.c.timestamp), func.max(P.c.timestamp))
        .where(and_(*on_grid))
        .group_by(P.c.symbol)
    )
    with engine.connect() as conn:
        aggregates = [(str(s), int(n), int(lo), int(hi)) for s, n, lo, hi in conn.execute(query)]
    out: dict[str, GridStats] = {}
    holed = []
    for symbol, count, first, last in aggregates:
        if count == (last - first) // step + 1:
            out[symbol] = GridStats(count, first, last)
        else:
            holed.append(symbol)
    if holed:
        times = read_frame(
            engine,
            select(P.c.symbol, P.c.timestamp).where(and_(*on_grid[1:], P.c.symbol.in_(holed))),
        )
        for name, group in times.groupby("symbol"):
            values = tuple(sorted(int(t) for t in group["timestamp"]))
            out[str(name)] = GridStats(len(values), values[0], values[-1], values)
    return out


def stored_spans(engine: Engine, symbols: Sequence[str] | None) -> dict[str, tuple[int, int]]:
    """The first and last stored timestamp of each symbol with prices (``None``: every one)."""
    query = select(P.c.symbol, func.min(P.c.timestamp), func.max(P.c.timestamp))
    if symbols is not None:
        query = query.where(P.c.symbol.in_(list(symbols)))
    with engine.connect() as conn:
        return {str(s): (int(a), int(b)) for s, a, b in conn.execute(query.group_by(P.c.symbol))}


def write_prices(
    engine: Engine, rows: pd.DataFrame, *, now: datetime, dry_run: bool = False
) -> dict[str, PriceWriteCounts]:
    """Upsert bars of one or more symbols. A bar another source already stored is kept as it
    is and counted: two sources never both write one (symbol, timestamp). NULLs never replace
    stored values; values equal within float noise are not rewritten."""
    if rows.empty:
        return {}
    existing = read_existing(engine, P, rows, KEYS)
    theirs = existing.loc[existing["data_source"].notna(), [*KEYS, "data_source"]]
    mine = rows[[*KEYS, "data_source"]].merge(
        theirs, on=list(KEYS), how="left", suffixes=("", "_stored")
    )
    stored = mine["data_source_stored"]
    clash = (stored.notna() & (stored != mine["data_source"])).to_numpy()
    keep = rows.loc[~clash].reset_index(drop=True)
    changes = diff_rows(keep, existing, KEYS)
    if not dry_run:
        apply_changes(engine, P, changes, KEYS, now=now)
    out: dict[str, PriceWriteCounts] = {}
    tallies = (
        ("inserted", changes.inserts),
        ("updated", changes.updates),
        ("unchanged", changes.unchanged),
        ("other_source", rows.loc[clash]),
    )
    for name, frame in tallies:
        for symbol, n in frame["symbol"].value_counts().items():
            counts = out.setdefault(str(symbol), PriceWriteCounts())
            setattr(counts, name, int(n))
    return out
