"""What a price run reports: the plan, each symbol's result, notes and coverage."""

from __future__ import annotations

from dataclasses import dataclass, field

from coinfill.outcomes import ItemFailure, failure_line
from coinfill.prices.collect import SymbolResult
from coinfill.tables import markdown_table

SHOWN = 60  # symbol rows in the markdown summary (the table artifact has them all)


@dataclass
class PriceRunSummary:
    window: str
    interval: str
    dry_run: bool
    plan: str
    symbols: int = 0  # symbols the run covered, complete ones included
    results: list[SymbolResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    coverage: str = ""

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.results)

    @property
    def failed(self) -> list[SymbolResult]:
        return [r for r in self.results if r.error]

    def failure_message(self) -> str | None:
        failures = [ItemFailure(r.symbol, r.error or "", r.fault) for r in self.failed]
        return failure_line("symbols", failures, max(self.symbols, len(self.results)))

    def markdown(self) -> str:
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [f"### crypto-prices {self.window}, {self.interval} bars{dry}", "", self.plan, ""]
        if self.results:
            lines.append(
                f"**Written**: {self.total('inserted'):,} inserted, {self.total('updated'):,} "
                f"updated, {self.total('unchanged'):,} unchanged, {self.total('other_source'):,} "
                f"kept from another source; {self.total('requests'):,} requests; "
                f"{len(self.failed)} symbols failed."
            )
            lines.append("")
            shown = sorted(self.results, key=lambda r: (r.error is None, r.symbol))[:SHOWN]
            lines += markdown_table([r.as_row() for r in shown])
            if len(self.results) > SHOWN:
                lines.append(f"\n… {len(self.results) - SHOWN} more in the table artifact")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)
