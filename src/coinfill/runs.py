"""What a backfill run reports: per-symbol lines, totals and the artifacts' contents."""

from __future__ import annotations

from dataclasses import dataclass, field

from coinfill.technical import SymbolReport


@dataclass
class ChunkFailure:
    index: int
    symbols: list[str]
    error: str

    def describe(self) -> str:
        span = (
            self.symbols[0] if len(self.symbols) == 1 else f"{self.symbols[0]}..{self.symbols[-1]}"
        )
        return f"chunk {self.index + 1} ({span}, {len(self.symbols)} symbols): {self.error}"


@dataclass
class RunSummary:
    """The outcome of one technical backfill run."""

    window: str
    dry_run: bool
    symbols: int
    chunks: int
    reports: list[SymbolReport] = field(default_factory=list)
    failures: list[ChunkFailure] = field(default_factory=list)
    # The coverage suite's before → after table (markdown), filled at the end of the run.
    coverage: str = ""

    def total(self, name: str) -> int:
        return sum(int(getattr(report, name)) for report in self.reports)

    @property
    def totals(self) -> dict[str, int]:
        names = ("rows_read", "inserted", "updated", "unchanged", "skipped")
        return {name: self.total(name) for name in names}

    def table_rows(self) -> list[dict[str, object]]:
        rows = [report.as_row() for report in self.reports]
        for failure in self.failures:
            rows += [
                {"symbol": symbol, "reason": f"FAILED: {failure.error}"}
                for symbol in failure.symbols
            ]
        return rows

    def markdown(self) -> str:
        t = self.totals
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [
            f"### technical-indicators {self.window}{dry}",
            "",
            "| symbols | chunks | rows read | inserted | updated | unchanged | skipped "
            "| failed chunks |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {self.symbols} | {self.chunks} | {t['rows_read']:,} | {t['inserted']:,} | "
            f"{t['updated']:,} | {t['unchanged']:,} | {t['skipped']:,} | {len(self.failures)} |",
        ]
        lines += [f"- failed: {failure.describe()}" for failure in self.failures]
        notes = [r for r in self.reports if r.reason]
        lines += [f"- {r.symbol}: {r.reason}" for r in notes[:50]]
        return "\n".join(lines)
