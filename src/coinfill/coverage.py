"""Coverage tables: what ``coinfill coverage`` prints and the demo shows before → after.

Coverage = non-NULL ÷ eligible rows per column (DESIGN §6). Targets are the old runbook's
success criteria; Great Expectations suites take these over in the coverage issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine

from coinfill.db.coverage import table_counts, technical_counts
from coinfill.errors import InputError
from coinfill.indicators import WARMUP

TABLES = {
    "technical": "technical_indicators",
    "prices": "price_data_real",
    "macro": "macro_indicators",
    "onchain": "crypto_onchain_data",
    "features": "ml_features_materialized",
    "sentiment": "news_articles",
}
TARGETS = {"technical": 95.0, "macro": 95.0, "onchain": 40.0, "features": 80.0, "sentiment": 96.0}


@dataclass(frozen=True)
class ColumnCoverage:
    table: str
    column: str
    records: int
    eligible: int
    non_null: int

    @property
    def percent(self) -> float | None:
        return None if self.eligible == 0 else 100.0 * self.non_null / self.eligible

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "percent": self.percent}


def measure(
    engine: Engine,
    table: str,
    start: datetime | None = None,
    end: datetime | None = None,
    symbols: Sequence[str] | None = None,
) -> list[ColumnCoverage]:
    if table not in TABLES:
        raise InputError(f"unknown table '{table}'; choose one of {', '.join(TABLES)}")
    if table == "technical":
        counts = technical_counts(engine, WARMUP, start, end, symbols)
    else:
        counts = table_counts(engine, TABLES[table], start, end)
    return [ColumnCoverage(TABLES[table], *row) for row in counts]


def fmt_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def render(rows: Sequence[ColumnCoverage], before: Sequence[ColumnCoverage] | None = None) -> str:
    """The runbook's tracking table; with ``before``, a before → after column."""
    head = "| column | records | eligible | non-null | coverage |"
    if before is not None:
        head = "| column | records | eligible | non-null before | non-null after | before → after |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    earlier = {row.column: row for row in before or []}
    for row in rows:
        if before is None:
            lines.append(
                f"| {row.column} | {row.records:,} | {row.eligible:,} | {row.non_null:,} "
                f"| {fmt_percent(row.percent)} |"
            )
        else:
            old = earlier.get(row.column)
            old_nn = old.non_null if old else 0
            old_pct = old.percent if old else None
            lines.append(
                f"| {row.column} | {row.records:,} | {row.eligible:,} | {old_nn:,} | "
                f"{row.non_null:,} | {fmt_percent(old_pct)} → {fmt_percent(row.percent)} |"
            )
    return "\n".join(lines)
