"""What a feature run rebuilds: a window, or — scheduled — only what changed since the last run.

A scheduled run with no saved state (the first one) rebuilds all history. The state (per source
table, the newest ``updated_at`` seen) is saved after an incremental run or a full rebuild of
every active symbol; a window rebuild leaves it alone, so changes outside its window stay due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from coinfill.db.feature_state import Mark, changed_rows, current_marks, stored_marks
from coinfill.db.onchain import load_availability
from coinfill.features.build import Scope
from coinfill.features.changes import affected, availability_snapshot, intervals
from coinfill.macro.catalog import MacroSeries


@dataclass
class FeaturePlan:
    mode: str  # "rebuild" | "incremental" | "first run: all history"
    scope: Scope
    symbols: list[str]
    marks: dict[str, Mark] | None  # saved when the run succeeds
    snapshot: str
    changed: dict[str, int] = field(default_factory=dict)

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """The hull of what is rebuilt: the window coverage is measured over."""
        if self.scope.intervals is None:
            return self.scope.start, self.scope.end
        if not self.symbols:
            return None, None
        return self.scope.span(self.symbols)

    def rows_per_symbol(self, now: datetime) -> dict[str, float]:
        """Hours each symbol rebuilds (≈ rows of hourly bars), for sizing chunks."""
        if self.scope.intervals is None:
            start, end = self.scope.start, self.scope.end or now
            hours = None if start is None else (end - start).total_seconds() / 3600
            return {s: hours if hours is not None else float("inf") for s in self.symbols}
        return {
            s: sum((min(b, now) - a).total_seconds() / 3600 for a, b in self.scope.intervals[s])
            for s in self.symbols
        }


def plan_features(
    engine: Engine,
    series: Mapping[str, MacroSeries],
    symbols: Sequence[str],
    window: tuple[datetime | None, datetime | None] | None,
    gold_symbol: str,
    *,
    all_active: bool,
    changed_since: datetime | None = None,
) -> FeaturePlan:
    """``window`` None: the scheduled, incremental refresh; else rebuild that window.

    ``changed_since`` replaces the saved state as "since" and leaves it unsaved.
    """
    until = current_marks(engine)
    snapshot = availability_snapshot(load_availability(engine, None))
    if window is not None:
        start, end = window
        full = start is None and end is None and all_active
        return FeaturePlan("rebuild", Scope(start, end), list(symbols),
                           until if full else None, snapshot)  # fmt: skip
    since, old_snapshot = stored_marks(engine)
    if changed_since is not None:
        # Just before the stamp: rows stamped exactly then are changes too.
        since = {name: Mark(changed_since - timedelta(microseconds=1)) for name in until}
        all_active = False
    if not since:
        return FeaturePlan("first run: all history", Scope(None, None), list(symbols),
                           until if all_active else None, snapshot)  # fmt: skip
    changed = {
        name: changed_rows(engine, name, since.get(name, Mark(None)), mark)
        for name, mark in until.items()
    }
    found = affected(changed, series, gold_symbol, old_snapshot, snapshot)
    spans = intervals(found, symbols)
    chosen = [s for s in symbols if s in spans]
    return FeaturePlan(
        "incremental",
        Scope(None, None, spans),
        chosen,
        until if all_active else None,
        snapshot,
        {name: len(rows) for name, rows in changed.items()},
    )


def chunk_symbols(rows: Mapping[str, float], target_rows: int, minimum: int) -> list[list[str]]:
    """Greedy chunks of about ``target_rows`` rows (at least ``minimum`` symbols for all-history
    rebuilds, whose size is unknown up front)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    total = 0.0
    for symbol, n in rows.items():
        size = target_rows / minimum if n == float("inf") else max(n, 1.0)
        if current and total + size > target_rows:
            chunks.append(current)
            current, total = [], 0.0
        current.append(symbol)
        total += size
    if current:
        chunks.append(current)
    return chunks
