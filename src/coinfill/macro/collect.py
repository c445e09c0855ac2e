"""Fetch one planned series from FRED and store it; what happened, as a result row."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from coinfill.db.macro import write_rows
from coinfill.macro.plan import SeriesPlan
from coinfill.macro.rows import to_rows
from coinfill.outcomes import ItemFailure, failure_line
from coinfill.sources.faults import Fault, SourceError
from coinfill.sources.fred import FredClient, Observation
from coinfill.tables import markdown_table


@dataclass
class SeriesResult:
    indicator: str
    series_id: str
    requests: int = 0
    observations: int = 0
    values: int = 0
    no_value: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    error: str | None = None
    fault: Fault | None = None

    def as_row(self) -> dict[str, object]:
        return {
            "indicator": self.indicator,
            "series": self.series_id,
            "requests": self.requests,
            "observations": self.observations,
            "values": self.values,
            "'.' (no value)": self.no_value,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 1),
            "error": self.error or "",
        }


def collect_series(
    client: FredClient,
    engine: Engine,
    plan: SeriesPlan,
    now: datetime,
    before_write: Callable[[], object] = lambda: None,
) -> SeriesResult:
    """Fetch the planned range (every page) and upsert it.

    A source error ends the series with its kind in the result (the flow decides what it means
    for the run); pages received before it are written all the same (``partial: n of m
    pages``). ``before_write`` blocks until writing may start (the "before" coverage ran).
    """
    series = plan.series
    result = SeriesResult(series.indicator_name, series.series_id or "")
    began, requests = time.monotonic(), client.requests
    observations: list[Observation] = []
    received = expected = 0
    try:
        for page in client.pages(
            series.series_id or "",
            plan.fetch_start,
            plan.fetch_end,
            units=series.units,
            vintages=series.point_in_time == "first_release",
        ):
            observations += page.observations
            received, expected = page.number, page.pages
    except SourceError as exc:
        result.fault = exc.fault
        result.error = str(exc)
        if not observations:
            result.requests = client.requests - requests
            result.seconds = time.monotonic() - began
            return result
        result.error = f"partial: {received} of {max(expected, received + 1)} pages, then {exc}"
        # The last day received may be cut between its vintages: leave it to the re-run.
        last = observations[-1].day
        observations = [o for o in observations if o.day != last]
    rows = to_rows(series, observations)
    before_write()
    counts = write_rows(engine, rows, now=now)
    result.requests = client.requests - requests
    result.observations = len(observations)
    result.values = int(rows["value"].notna().sum()) if not rows.empty else 0
    result.no_value = int(rows["missing_at_source"].sum()) if not rows.empty else 0
    result.inserted, result.updated, result.unchanged = (
        counts.inserted,
        counts.updated,
        counts.unchanged,
    )
    result.seconds = time.monotonic() - began
    return result


@dataclass
class MacroRunSummary:
    """The outcome of one macro run: the plan, each series' result, coverage before → after."""

    window: str
    dry_run: bool
    plan: str
    results: list[SeriesResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    coverage: str = ""

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.results)

    @property
    def failed(self) -> list[SeriesResult]:
        return [r for r in self.results if r.error]

    def failure_message(self) -> str | None:
        failures = [ItemFailure(r.indicator, r.error or "", r.fault) for r in self.failed]
        return failure_line("series", failures, len(self.results))

    def markdown(self) -> str:
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [f"### macro-indicators {self.window}{dry}", "", self.plan, ""]
        lines += markdown_table([r.as_row() for r in self.results])
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)
