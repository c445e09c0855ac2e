"""What a suite run found: coverage per column and validity rules, and how to show it.

``render`` prints the runbook's tracking table (before → after per column) for the terminal
and the Prefect markdown artifact; ``table_rows`` feeds the Prefect table artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ColumnCoverage:
    """Coverage of one column (or ``(rows)``: stored rows ÷ expected rows)."""

    table: str
    column: str
    total: int
    eligible: int
    non_null: int
    target: float | None = None
    passed: bool | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return None if self.eligible == 0 else 100.0 * self.non_null / self.eligible

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "percent": self.percent}


OVERALL = "(all columns)"


def overall_coverage(table: str, columns: list[ColumnCoverage], target: float) -> ColumnCoverage:
    """Every measured cell together: Σ non-null ÷ Σ eligible over the columns."""
    eligible = sum(c.eligible for c in columns)
    non_null = sum(c.non_null for c in columns)
    total = max((c.total for c in columns), default=0)
    percent = None if eligible == 0 else 100.0 * non_null / eligible
    passed = percent is None or percent >= target
    return ColumnCoverage(table, OVERALL, total, eligible, non_null, target, passed)


@dataclass(frozen=True)
class RuleResult:
    """A validity rule: how many checked rows broke it, with a few of them as examples."""

    table: str
    rule: str
    checked: int
    unexpected: int
    passed: bool
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class SuiteReport:
    name: str
    table: str
    start: datetime | None
    end: datetime | None
    columns: list[ColumnCoverage]
    rules: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.columns) and all(
            r.passed for r in self.rules
        )

    def misses(self) -> list[str]:
        """Columns under target and broken rules, named for a failure message."""
        out = [
            f"{c.column} {fmt_percent(c.percent)} < {c.target:g} %"
            for c in self.columns
            if c.passed is False and c.target is not None
        ]
        out += [f"{r.rule} ({r.unexpected:,} rows)" for r in self.rules if not r.passed]
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "suite": self.name,
            "table": self.table,
            "window_start": self.start.isoformat() if self.start else None,
            "window_end": self.end.isoformat() if self.end else None,
            "passed": self.passed,
            "columns": [c.as_dict() for c in self.columns],
            "rules": [r.as_dict() for r in self.rules],
        }


def fmt_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def _mark(passed: bool | None) -> str:
    return {True: "✅", False: "❌", None: ""}[passed]


def render(after: SuiteReport, before: SuiteReport | None = None) -> str:
    """The runbook's tracking table; with ``before``, non-NULL and coverage before → after."""
    if before is None:
        head = "| column | rows | eligible | non-null | coverage | target | |"
    else:
        head = "| column | eligible | non-null before → after | before → after | target | |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    earlier = {c.column: c for c in before.columns} if before else {}
    for c in after.columns:
        target = "" if c.target is None else f"≥ {c.target:g} %"
        if before is None:
            lines.append(
                f"| {c.column} | {c.total:,} | {c.eligible:,} | {c.non_null:,} "
                f"| {fmt_percent(c.percent)} | {target} | {_mark(c.passed)} |"
            )
            continue
        old = earlier.get(c.column)
        old_n = f"{old.non_null:,}" if old else "–"
        old_p = fmt_percent(old.percent if old else None)
        lines.append(
            f"| {c.column} | {c.eligible:,} | {old_n} → {c.non_null:,} "
            f"| {old_p} → {fmt_percent(c.percent)} | {target} | {_mark(c.passed)} |"
        )
    lines += ["", "| validity rule | rows checked | violations | |", "|---|---|---|---|"]
    lines += [
        f"| {r.rule} | {r.checked:,} | {r.unexpected:,} | {_mark(r.passed)} |" for r in after.rules
    ]
    for name, examples in [(c.column, c.examples) for c in after.columns] + [
        (r.rule, r.examples) for r in after.rules
    ]:
        if examples:
            lines.append(f"\n{name} — examples: " + "; ".join(map(_example, examples)))
    return "\n".join(lines)


def _example(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items())


def table_rows(after: SuiteReport, before: SuiteReport | None = None) -> list[dict[str, object]]:
    earlier = {c.column: c for c in before.columns} if before else {}
    rows: list[dict[str, object]] = []
    for c in after.columns:
        old = earlier.get(c.column)
        rows.append(
            {
                "table": c.table,
                "column": c.column,
                "eligible": c.eligible,
                "non_null_before": old.non_null if old else None,
                "non_null_after": c.non_null,
                "percent_before": _round(old.percent) if old else None,
                "percent_after": _round(c.percent),
                "target": c.target,
                "passed": c.passed,
            }
        )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarize(reports: Sequence[SuiteReport]) -> str:
    return "; ".join(f"{r.name}: {'passed' if r.passed else 'missed'}" for r in reports)
