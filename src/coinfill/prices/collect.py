"""Fetch planned bars and store them: threads fetch symbols, one writer stores batches.

Inside a chunk of symbols, ``workers`` threads fetch (the weight budget paces them all) while
the calling thread writes finished symbols in batches of about ``batch_rows`` — so writing
overlaps fetching, and a crash loses at most the batch in flight (a re-run's plan skips what
was written). Writes of every chunk in the process take turns (``WRITE_LOCK``): two writers
inserting into one MariaDB table contend on its auto-increment lock (DESIGN §9).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import pandas as pd
from sqlalchemy import Engine

from coinfill.backfill import to_ms
from coinfill.db.prices import write_prices
from coinfill.interrupts import STOP
from coinfill.prices.grid import DAY_MS
from coinfill.prices.plan import SymbolPlan
from coinfill.prices.rows import empty_rows, finite, rows_from_klines, rows_from_points
from coinfill.sources.binance import PAGE_BARS, BinanceClient, KlinePage
from coinfill.sources.coingecko import ChartPoints, CoinGeckoClient
from coinfill.sources.faults import Fault, SourceError

WRITE_LOCK = threading.Lock()
T = TypeVar("T")


@dataclass
class SymbolResult:
    symbol: str
    source: str
    source_id: str
    requests: int = 0
    bars: int = 0
    malformed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    other_source: int = 0
    seconds: float = 0.0
    history_start_ms: int | None = None  # learned: the source has nothing before this
    error: str | None = None
    fault: Fault | None = None  # the kind of ``error`` when a source caused it

    def as_row(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "source": f"{self.source} {self.source_id}".strip(),
            "requests": self.requests,
            "bars received": self.bars,
            "malformed": self.malformed,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept (other source)": self.other_source,
            "seconds": round(self.seconds, 1),
            "error": self.error or "",
        }


@dataclass
class Clients:
    binance: BinanceClient | None = None
    coingecko: CoinGeckoClient | None = None


class PartialFetchError(Exception):
    """A later request of a range failed: the rows of the pages received before it are kept
    (written like any others) and the failure is reported as ``partial: n of m pages``."""

    def __init__(self, rows: pd.DataFrame, pages: int, expected: int, cause: SourceError):
        super().__init__(str(cause))
        self.rows, self.pages, self.expected, self.cause = rows, pages, expected, cause

    def describe(self) -> str:
        return f"partial: {self.pages} of {self.expected} pages, then {self.cause}"


def receive(pieces: Iterable[T], take: Callable[[T], None]) -> SourceError | None:
    """Hand each page to ``take`` as it arrives. A source error after at least one page is
    returned, so the caller keeps (and writes) what arrived; before any page it is raised."""
    received = 0
    try:
        for piece in pieces:
            take(piece)
            received += 1
    except SourceError as exc:
        if not received:
            raise
        return exc
    return None


@dataclass
class Fetched:
    rows: pd.DataFrame
    result: SymbolResult
    extra: list[str] = field(default_factory=list)


def fetch_symbol(
    plan: SymbolPlan, clients: Clients, interval: str, step: int, now_ms: int
) -> Fetched:
    """Every planned range of one symbol → rows; a source error becomes the result's error."""
    result = SymbolResult(plan.symbol, plan.source or "", plan.source_id)
    began = time.monotonic()
    frames = []
    fetch_range = _binance_range if plan.source == "binance" else _coingecko_range
    try:
        for write, fetch in zip(plan.ranges, plan.fetch_ranges, strict=True):
            if STOP:  # interrupted: what was fetched is written, the rest waits for a re-run
                break
            frames.append(fetch_range(clients, plan, result, interval, step, now_ms, write, fetch))
    except PartialFetchError as exc:
        frames.append(exc.rows)
        result.error, result.fault = exc.describe(), exc.cause.fault
    except SourceError as exc:
        result.error, result.fault = str(exc), exc.fault
    result.seconds = time.monotonic() - began
    rows = pd.concat(frames, ignore_index=True) if frames else empty_rows()
    return Fetched(finite(rows), result)


def _binance_range(
    clients: Clients,
    plan: SymbolPlan,
    result: SymbolResult,
    interval: str,
    step: int,
    now_ms: int,
    write: tuple[int, int],
    fetch: tuple[int, int],
) -> pd.DataFrame:
    client = clients.binance
    assert client is not None, "a Binance plan without a Binance client"
    pages: list[pd.DataFrame] = []

    def take(page: KlinePage) -> None:
        result.requests += 1
        result.malformed += page.malformed
        pages.append(page.bars)

    failed = receive(client.klines(plan.source_id, interval, *fetch), take)
    bars = pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()
    result.bars += len(bars)
    if failed is not None:
        # Rows up to the last bar received (its close, included): later ones wait for a re-run.
        last = int(bars["open_time"].max()) + step + 1
        rows = rows_from_klines(plan.symbol, bars, step, write[0], min(write[1], last), now_ms)
        expected = max(len(pages) + 1, -(-(fetch[1] - fetch[0]) // (step * PAGE_BARS)))
        raise PartialFetchError(rows, len(pages), expected, failed)
    newest = int(bars["open_time"].max()) + step if not bars.empty else None
    due = min(write[1], (now_ms // step) * step + step) - step
    if plan.span is not None and write[1] >= plan.span[1] and (newest or 0) < due - DAY_MS:
        since = (
            "ever" if newest is None else pd.Timestamp(newest, unit="ms").strftime("%Y-%m-%d %H:%M")
        )
        result.error = (
            f"binance pair {plan.source_id} has no bars since {since} (UTC): delisted or halted "
            f"— `coinfill assets deactivate {plan.symbol}`, or give it another source"
        )
    return (
        rows_from_klines(plan.symbol, bars, step, *write, now_ms)
        if not bars.empty
        else empty_rows()
    )


def _coingecko_range(
    clients: Clients,
    plan: SymbolPlan,
    result: SymbolResult,
    interval: str,
    step: int,
    now_ms: int,
    write: tuple[int, int],
    fetch: tuple[int, int],
) -> pd.DataFrame:
    client = clients.coingecko
    assert client is not None, "a CoinGecko plan without a CoinGecko client"
    charts: list[pd.DataFrame] = []

    def take(chart: ChartPoints) -> None:
        result.requests += 1
        result.malformed += chart.malformed
        charts.append(chart.points)

    failed = receive(
        client.chart(plan.source_id, fetch[0], fetch[1] + step, daily=interval == "1d"), take
    )
    points = pd.concat(charts, ignore_index=True) if charts else pd.DataFrame()
    result.bars += len(points)
    if failed is not None:
        last = -(-int(points["ms"].max()) // step) * step + 1 if not points.empty else write[0]
        rows = (
            rows_from_points(plan.symbol, points, step, write[0], min(write[1], last), now_ms)
            if not points.empty
            else empty_rows()
        )
        raise PartialFetchError(rows, len(charts), len(charts) + 1, failed)
    if plan.span is not None and write[0] == plan.span[0] and not points.empty:
        first = -(-int(points["ms"].min()) // step) * step
        if first > write[0] + DAY_MS:  # nothing for a day after the asked start: the listing
            result.history_start_ms = first
    return (
        rows_from_points(plan.symbol, points, step, *write, now_ms)
        if not points.empty
        else empty_rows()
    )


def collect_chunk(
    plans: Sequence[SymbolPlan],
    clients: Clients,
    engine: Engine,
    interval: str,
    step: int,
    now: datetime,
    *,
    workers: int,
    batch_rows: int,
    before_write: Callable[[], object] = lambda: None,
    on_symbol: Callable[[SymbolResult], None] = lambda r: None,
) -> list[SymbolResult]:
    """Fetch ``plans`` with ``workers`` threads and write as symbols finish."""
    now_ms = to_ms(now)
    results: list[SymbolResult] = []
    batch: list[Fetched] = []

    def flush() -> None:
        if not batch:
            return
        before_write()
        rows = pd.concat([f.rows for f in batch], ignore_index=True)
        with WRITE_LOCK:
            counts = write_prices(engine, rows, now=now)
        for f in batch:
            c = counts.get(f.result.symbol)
            if c is not None:
                r = f.result
                r.inserted, r.updated, r.unchanged, r.other_source = (
                    c.inserted, c.updated, c.unchanged, c.other_source
                )  # fmt: skip
            results.append(f.result)
            on_symbol(f.result)
        batch.clear()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prices") as pool:
        pending: set[Future[Fetched]] = {
            pool.submit(fetch_symbol, plan, clients, interval, step, now_ms) for plan in plans
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    batch.append(future.result())
                if sum(len(f.rows) for f in batch) >= batch_rows:
                    flush()
            flush()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results
