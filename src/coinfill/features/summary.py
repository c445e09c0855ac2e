"""The outcome of one ``ml-features`` run: what was rebuilt, per symbol, and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from coinfill.features.build import FeatureReport
from coinfill.runs import ChunkFailure

COUNTS = ("rows", "inserted", "updated", "unchanged", "removed")


@dataclass
class FeaturesSummary:
    window: str
    mode: str
    dry_run: bool
    symbols: int
    chunks: int
    changed: dict[str, int] = field(default_factory=dict)  # changed source rows per table
    reports: list[FeatureReport] = field(default_factory=list)
    failures: list[ChunkFailure] = field(default_factory=list)
    coverage: str = ""

    def total(self, name: str) -> int:
        return sum(int(getattr(report, name)) for report in self.reports)

    @property
    def totals(self) -> dict[str, int]:
        return {name: self.total(name) for name in COUNTS}

    def table_rows(self) -> list[dict[str, object]]:
        rows = [r.as_row() for r in self.reports]
        for failure in self.failures:
            rows += [{"symbol": s, "reason": f"FAILED: {failure.error}"} for s in failure.symbols]
        return rows

    def markdown(self) -> str:
        t = self.totals
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [
            f"### ml-features {self.window} — {self.mode}{dry}",
            "",
            "| symbols | chunks | rows built | inserted | updated | unchanged | removed "
            "| failed chunks |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {self.symbols} | {self.chunks} | {t['rows']:,} | {t['inserted']:,} | "
            f"{t['updated']:,} | {t['unchanged']:,} | {t['removed']:,} | {len(self.failures)} |",
        ]
        if self.changed:
            seen = ", ".join(f"{name} {n:,}" for name, n in self.changed.items())
            lines.append(f"\nchanged source rows since the last run: {seen}")
        lines += [f"- failed: {failure.describe()}" for failure in self.failures]
        notes = [r for r in self.reports if r.reason]
        lines += [f"- {r.symbol}: {r.reason}" for r in notes[:50]]
        return "\n".join(lines)
