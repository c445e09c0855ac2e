"""The technical-indicators backfill of one chunk of symbols: read, check, compute, diff, write.

A window ``[start, end)`` is computed with ``lookback_rows`` of history before ``start`` so
that its values equal a computation over the symbol's full history (see ``indicators``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from coinfill.backfill import Window
from coinfill.db.bulkwrite import WriteMethod
from coinfill.db.diff import diff_rows
from coinfill.db.queries import lookback_start_ms, price_rows, stored_technical
from coinfill.db.schema import technical_indicators
from coinfill.db.upsert import apply_changes
from coinfill.indicators import MIN_HISTORY_ROWS, compute_indicators
from coinfill.prices.clean import clean_prices

KEYS = ("symbol", "timestamp_iso")
# Values equal to this fraction of the price level count as unchanged: a recompute from a
# different look-back start differs by ~1e-12 (EMA) and ~1e-9 (rolling std), never more.
PRICE_RELATIVE_TOLERANCE = 1e-9


@dataclass
class SymbolReport:
    """One symbol's line in the run's table artifact."""

    symbol: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    reason: str = ""

    def as_row(self) -> dict[str, object]:
        return asdict(self)


def backfill_chunk(
    engine: Engine,
    symbols: Sequence[str],
    window: Window,
    *,
    lookback_rows: int,
    write_method: WriteMethod = "auto",
    dry_run: bool = False,
    now: datetime,
) -> list[SymbolReport]:
    """Compute and store the indicators of ``symbols`` in ``window``; one report per symbol."""
    reports = {symbol: SymbolReport(symbol) for symbol in symbols}
    since = None
    if window.start_ms is not None:
        since = lookback_start_ms(engine, symbols, window.start_ms, lookback_rows)
    rows = price_rows(engine, symbols, since, window.end_ms)
    for symbol, read in rows.groupby("symbol").size().items():
        reports[str(symbol)].rows_read = int(read)
    clean, issues = clean_prices(rows)
    for symbol, found in issues.items():
        reports[symbol].reason = found.describe()
        reports[symbol].skipped = found.invalid + found.duplicates

    computed = []
    for symbol, prices in clean.groupby("symbol", sort=False):
        report = reports[str(symbol)]
        if len(prices) < MIN_HISTORY_ROWS:
            report.skipped += len(prices)
            report.reason = _join(
                report.reason,
                f"only {len(prices)} valid price rows; SMA 50 needs {MIN_HISTORY_ROWS}",
            )
            continue
        values = compute_indicators(prices["current_price"])
        values.insert(0, "timestamp_iso", prices["timestamp_iso"])
        values.insert(0, "symbol", str(symbol))
        if window.start_ms is not None:
            values = values.loc[(prices["timestamp"] >= window.start_ms).to_numpy()]
        computed.append(values)
    for report in reports.values():
        if report.rows_read == 0:
            report.reason = "no price rows in the window"

    fresh = pd.concat(computed, ignore_index=True) if computed else _empty()
    stored = stored_technical(engine, symbols, window.start, window.end)
    changes = diff_rows(
        fresh, stored, KEYS, atol=PRICE_RELATIVE_TOLERANCE * fresh["current_price"].abs()
    )
    if not dry_run:
        apply_changes(engine, technical_indicators, changes, KEYS, method=write_method, now=now)
    for name, frame in (
        ("inserted", changes.inserts),
        ("updated", changes.updates),
        ("unchanged", changes.unchanged),
    ):
        for symbol, n in frame.groupby("symbol").size().items():
            setattr(reports[str(symbol)], name, int(n))
    return list(reports.values())


def _empty() -> pd.DataFrame:
    frame = compute_indicators(pd.Series([], dtype=float))
    frame.insert(0, "timestamp_iso", pd.Series([], dtype="datetime64[us]"))
    frame.insert(0, "symbol", pd.Series([], dtype=object))
    return frame


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
