"""Fetch planned on-chain values from each source, compute volatility, store; one result row
per request batch, chart, series or computation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from coinfill.db.onchain import OnchainWriteCounts, daily_closes, write_values
from coinfill.onchain.metrics import (
    BY_COLUMN,
    COINMETRICS,
    COMPUTED,
    MESSARI,
    METRICS,
    VOLATILITY,
)
from coinfill.onchain.plan import CoinMetricsRequest, MessariRequest
from coinfill.onchain.volatility import close_days, daily_volatility
from coinfill.outcomes import ItemFailure, failure_line
from coinfill.sources.coinmetrics import CoinMetricsClient
from coinfill.sources.faults import Fault, SourceError
from coinfill.sources.messari import MessariClient
from coinfill.tables import markdown_table


@dataclass
class Sink:
    """Where a run's steps write ``crypto_onchain_data``: not before ``ready`` returns (the
    "before" coverage has been measured), and one write at a time.

    The providers' lanes fetch in parallel, but their writes take turns: ``write_values`` reads
    the stored rows, merges and upserts, so two writers on one row could each put back the
    other's old ``*_source``; and two inserting writers deadlock on MariaDB's auto-increment
    lock (DESIGN §9). Writes are short next to the rate limits, so nothing is lost by it.
    """

    engine: Engine
    now: datetime
    ready: Callable[[], object] = lambda: None
    _turn: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def write(self, frame: pd.DataFrame) -> OnchainWriteCounts:
        self.ready()
        with self._turn:
            return write_values(self.engine, frame, now=self.now)


@dataclass
class SourceResult:
    source: str
    what: str
    requests: int = 0
    values: int = 0
    malformed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    other_source: int = 0
    seconds: float = 0.0
    error: str | None = None
    fault: Fault | None = None
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)

    def as_row(self) -> dict[str, object]:
        return {
            "source": self.source,
            "what": self.what,
            "requests": self.requests,
            "values": self.values,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept (other source)": self.other_source,
            "malformed": self.malformed,
            "seconds": round(self.seconds, 1),
            "error": self.error or "",
        }

    def failed(self, exc: SourceError, pieces: int = 0) -> None:
        """A source error ended this step; ``pieces`` received before it are still written."""
        self.fault = exc.fault
        self.error = f"partial: {pieces} request(s) received, then {exc}" if pieces else str(exc)

    def record(self, frame: pd.DataFrame, sink: Sink) -> None:
        counts = sink.write(frame)
        self.inserted += counts.written.inserted
        self.updated += counts.written.updated
        self.unchanged += counts.written.unchanged
        self.other_source += counts.other_source


def collect_coinmetrics(
    client: CoinMetricsClient,
    sink: Sink,
    request: CoinMetricsRequest,
    answered: Callable[[pd.DataFrame], object] | None = None,
) -> SourceResult:
    """One planned batch, every page; what arrived is written even when a later page failed.
    ``answered`` sees the rows as soon as they are in, before they wait for their write turn
    (the blockchain.info lane learns Bitcoin's holes from it)."""
    symbols = {(a.coinmetrics_id or "").lower(): a.symbol for a in request.assets}
    result = SourceResult(COINMETRICS, f"{len(symbols)} assets {request.start}..{request.end}")
    began, requests = time.monotonic(), client.requests
    try:
        rows = client.asset_metrics(list(symbols), request.metrics, request.start, request.end)
    except SourceError as exc:
        result.failed(exc)
        result.requests = client.requests - requests
        return result
    if rows.error is not None:  # a later page failed: what arrived is written
        result.failed(rows.error, rows.pages)
    result.requests = client.requests - requests
    result.malformed, result.forbidden, result.unknown = (
        rows.malformed,
        rows.forbidden,
        rows.unknown,
    )
    asked = [m for m in METRICS if set(m.coinmetrics) <= set(request.metrics)]
    frame = rows.frame
    out = pd.DataFrame({"symbol": frame["asset"].map(symbols), "metric_date": frame["day"]})
    for metric in asked:
        values = frame[list(metric.coinmetrics)]
        value = (
            values.iloc[:, 0] - values.iloc[:, 1]
            if len(metric.coinmetrics) == 2
            else values.iloc[:, 0]
        )
        out[metric.column] = value.astype(float)
        out[metric.source_column] = COINMETRICS
        result.values += int(value.notna().sum())
    out = out.dropna(subset=["symbol"])
    if answered is not None:
        answered(out)
    result.record(out, sink)
    result.seconds = time.monotonic() - began
    return result


def collect_messari(client: MessariClient, sink: Sink, request: MessariRequest) -> SourceResult:
    metric = BY_COLUMN[request.metric]
    result = SourceResult(MESSARI, f"{request.symbol} {metric.messari}")
    began, requests = time.monotonic(), client.requests
    frames = []
    try:
        for piece in client.series(
            request.asset_key, metric.messari or "", request.start, request.end
        ):
            result.malformed += piece.malformed
            frames.append(piece.values)
    except SourceError as exc:
        result.failed(exc, len(frames))
    result.requests = client.requests - requests
    out = series_rows(request.symbol, metric.column, MESSARI, frames)
    result.values = len(out)
    result.record(out, sink)
    result.seconds = time.monotonic() - began
    return result


def series_rows(symbol: str, metric: str, source: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``day, value`` pieces of one series as ``crypto_onchain_data`` rows labelled by source."""
    got = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["day", "value"])
    return pd.DataFrame(
        {
            "symbol": symbol,
            "metric_date": list(got["day"]),
            metric: got["value"].astype(float).to_numpy(),
            BY_COLUMN[metric].source_column: source,
        }
    )


def compute_volatility(sink: Sink, symbols: Sequence[str], start: date, end: date) -> SourceResult:
    """``price_volatility_7d`` for ``[start, end)`` from the stored daily closes."""
    result = SourceResult(COMPUTED, f"{VOLATILITY} for {len(symbols)} symbol(s)")
    began = time.monotonic()
    first, stop = close_days(start, end)
    frame = daily_volatility(daily_closes(sink.engine, symbols, first, stop), start, end)
    result.values = len(frame)
    result.record(frame, sink)
    result.seconds = time.monotonic() - began
    return result


def day_ranges(days: Sequence[date], merge_gap: int) -> list[tuple[date, date]]:
    """``[start, end)`` ranges covering ``days``; ranges closer than ``merge_gap`` days join."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days < merge_gap:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


@dataclass
class OnchainRunSummary:
    window: str
    dry_run: bool
    plan: str
    results: list[SourceResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    coverage: str = ""

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.error]

    def failure_message(self) -> str | None:
        failures = [ItemFailure(f"{r.source} {r.what}", r.error or "", r.fault)
                    for r in self.failed]  # fmt: skip
        return failure_line("steps", failures, len(self.results))

    def markdown(self) -> str:
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [f"### onchain-metrics {self.window}{dry}", "", self.plan, ""]
        lines += markdown_table([r.as_row() for r in self.results])
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)
