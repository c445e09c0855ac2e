"""Build the feature rows of one chunk of symbols, compare with what is stored, write changes.

The feature table is derived: a rebuilt row replaces the stored one, NULLs included
(``keep_stored=False``), and stored rows of the rebuilt scope with no valid price row any more
are removed. A re-run over unchanged sources writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from coinfill.db import features as db
from coinfill.db.bulkwrite import WriteMethod
from coinfill.db.diff import diff_rows
from coinfill.db.queries import stored_technical
from coinfill.db.schema import ml_features_materialized
from coinfill.db.upsert import apply_changes
from coinfill.features.catalog import RETURN_LAGS, VOLATILITY_WINDOWS
from coinfill.features.columns import FEATURE_COLUMNS, macro_columns, onchain_columns
from coinfill.features.eligibility import eligible_mask
from coinfill.features.inputs import Inputs
from coinfill.features.price_features import calendar_features, price_features, ratio_features
from coinfill.features.sentiment import news_in_window, sentiment_columns
from coinfill.prices.clean import clean_prices

KEYS = ("symbol", "timestamp_iso")
LOOKBACK = max([*RETURN_LAGS.values(), *(w for w, _ in VOLATILITY_WINDOWS.values())])
Intervals = Mapping[str, Sequence[tuple[datetime, datetime]]]


@dataclass(frozen=True)
class Scope:
    """Rows to rebuild: ``[start, end)`` for every symbol, or per-symbol intervals."""

    start: datetime | None
    end: datetime | None
    intervals: Intervals | None = None

    def span(self, symbols: Sequence[str]) -> tuple[datetime | None, datetime | None]:
        if self.intervals is None:
            return self.start, self.end
        found = [iv for s in symbols for iv in self.intervals.get(s, [])]
        return min(a for a, _ in found), max(b for _, b in found)

    def contains(self, frame: pd.DataFrame) -> np.ndarray:
        t = frame["timestamp_iso"].to_numpy(dtype="datetime64[us]")
        if self.intervals is None:
            inside = np.ones(len(frame), dtype=bool)
            if self.start is not None:
                inside &= t >= np.datetime64(self.start)
            if self.end is not None:
                inside &= t < np.datetime64(self.end)
            return inside
        inside = np.zeros(len(frame), dtype=bool)
        symbols = frame["symbol"].to_numpy(dtype=object)
        for symbol, spans in self.intervals.items():
            mine = symbols == symbol
            for a, b in spans:
                inside |= mine & (t >= np.datetime64(a)) & (t < np.datetime64(b))
        return inside


@dataclass
class FeatureReport:
    symbol: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    reason: str = ""

    def as_row(self) -> dict[str, object]:
        return asdict(self)


def compute(
    engine: Engine, symbols: Sequence[str], scope: Scope, inputs: Inputs
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The feature rows of ``symbols`` inside ``scope`` (``FEATURE_COLUMNS`` order), and the
    price problems found per symbol."""
    start, end = scope.span(symbols)
    since = None if start is None else start - LOOKBACK - timedelta(hours=1)
    raw = db.prices(engine, symbols, since, end)
    clean, issues = clean_prices(raw)
    clean = clean.reset_index(drop=True)
    derived = price_features(clean)
    rows = pd.concat([clean, derived], axis=1).loc[scope.contains(clean)].reset_index(drop=True)
    technical = stored_technical(engine, symbols, start, end).drop(columns="current_price")
    rows = rows.merge(technical, on=list(KEYS), how="left")
    rows = pd.concat(
        [
            rows,
            ratio_features(rows),
            calendar_features(rows["timestamp_iso"]),
            macro_columns(rows["timestamp_iso"], inputs),
            onchain_columns(engine, rows, start, end),
            sentiment_columns(rows, inputs.mentions),
        ],
        axis=1,
    )
    collected = news_in_window(rows["timestamp_iso"], inputs.news_seconds)
    rows["eligible_mask"] = eligible_mask(
        rows, inputs.history, inputs.servable, inputs.macro_sources, inputs.gold_first,
        collected, inputs.bar,
    )  # fmt: skip
    # A count only means something where news was collected: elsewhere it is NULL, not 0.
    rows["sentiment_count_24h"] = rows["sentiment_count_24h"].where(collected)
    return rows[list(FEATURE_COLUMNS)], {s: i.describe() for s, i in issues.items()}


def build_chunk(
    engine: Engine,
    symbols: Sequence[str],
    scope: Scope,
    inputs: Inputs,
    *,
    write_method: WriteMethod = "auto",
    dry_run: bool = False,
    now: datetime,
) -> list[FeatureReport]:
    """Rebuild ``symbols`` in ``scope``; one report per symbol."""
    reports = {s: FeatureReport(s) for s in symbols}
    fresh, issues = compute(engine, symbols, scope, inputs)
    for symbol, reason in issues.items():
        reports[symbol].reason = reason
    start, end = scope.span(symbols)
    existing = db.stored(engine, symbols, start, end, FEATURE_COLUMNS)
    existing = existing.loc[scope.contains(existing)]
    changes = diff_rows(fresh, existing, KEYS, keep_stored=False)
    orphans = existing[list(KEYS)].merge(fresh[list(KEYS)], how="left", indicator=True)
    orphans = orphans.loc[orphans["_merge"] == "left_only", list(KEYS)]
    if not dry_run:
        apply_changes(engine, ml_features_materialized, changes, KEYS, method=write_method,
                      now=now, keep_stored=False)  # fmt: skip
        if not orphans.empty:
            db.delete_rows(engine, orphans)
    counted: tuple[tuple[str, pd.DataFrame], ...] = (
        ("rows", fresh),
        ("inserted", changes.inserts),
        ("updated", changes.updates),
        ("unchanged", changes.unchanged),
        ("removed", orphans),
    )
    for field_name, frame in counted:
        for key, n in frame.groupby("symbol").size().items():
            setattr(reports[str(key)], field_name, int(n))
    for report in reports.values():
        if report.rows == 0 and not report.reason:
            report.reason = "no valid price rows in the scope"
    return list(reports.values())
