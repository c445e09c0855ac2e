"""Gap-driven price plans: per symbol, which bars are missing and what fetching them costs.

For each symbol the plan takes the grid of bars the window should hold at its source — from
the later of the window start and the source's first bar (a coin listed in March has no
January bars, so they are not missing), to the newest closed bar — subtracts the stored bars
and asks only for the gaps. Gaps closer together than a page are fetched in one range (a few
stored bars fetched again cost less than another request). Each range also fetches the 24
hours before it: the rolling 24-hour values of its first bars need them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coinfill.prices.grid import (
    COINGECKO_INTERVALS,
    DAY_MS,
    align_up,
    bars_between,
    gaps,
    last_closed,
    merge_close,
)
from coinfill.sources.binance import KLINES_WEIGHT, PAGE_BARS
from coinfill.sources.coingecko import DAILY_SPAN_MS, FREE_HISTORY_DAYS, HOURLY_SPAN_MS
from coinfill.tables import markdown_table

SHOWN_SYMBOLS = 40  # rows of the per-symbol plan table in the markdown report


@dataclass(frozen=True)
class AssetSource:
    """A registry row as the price collector sees it."""

    symbol: str
    binance_symbol: str | None = None
    coingecko_id: str | None = None
    history_start_ms: int | None = None  # close time of the source's first bar, when known

    @property
    def source(self) -> str | None:
        return "binance" if self.binance_symbol else "coingecko" if self.coingecko_id else None

    @property
    def source_id(self) -> str:
        return self.binance_symbol or self.coingecko_id or ""


@dataclass(frozen=True)
class GridStats:
    """Stored bars of a symbol on the grid in the window: count, first, last, and (only when
    there are holes between first and last) every stored time."""

    count: int = 0
    first: int | None = None
    last: int | None = None
    times: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SymbolPlan:
    symbol: str
    source: str | None
    source_id: str
    span: tuple[int, int] | None  # grid [start, end) the source should have
    expected: int = 0
    present: int = 0
    ranges: tuple[tuple[int, int], ...] = ()  # close-time ranges to write
    fetch_ranges: tuple[tuple[int, int], ...] = ()  # open-time ranges to request
    requests: int = 0
    error: str | None = None
    note: str | None = None

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.present)

    def as_row(self, step: int) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "source": f"{self.source} {self.source_id}" if self.source else "—",
            "expected bars": self.expected,
            "stored": self.present,
            "missing": self.missing,
            "ranges": len(self.ranges),
            "requests": self.requests,
            "why": self.error or self.note or ("complete" if not self.ranges else "gaps"),
        }


@dataclass(frozen=True)
class PricePlan:
    interval: str
    step: int
    symbols: tuple[SymbolPlan, ...]
    weight_per_minute: int
    coingecko_per_second: float
    notes: list[str] = field(default_factory=list)

    def requests(self, source: str) -> int:
        return sum(p.requests for p in self.symbols if p.source == source)

    @property
    def seconds_at_limit(self) -> float:
        binance = self.requests("binance") * KLINES_WEIGHT * 60.0 / self.weight_per_minute
        coingecko = self.requests("coingecko") / self.coingecko_per_second
        return max(binance, coingecko)  # the two providers are fetched side by side

    @property
    def to_fetch(self) -> list[SymbolPlan]:
        return [p for p in self.symbols if p.ranges and not p.error]

    def markdown(self, label: str) -> str:
        missing = sum(p.missing for p in self.symbols)
        lines = [
            f"**Plan {label}, {self.interval} bars**: {len(self.symbols)} symbols, "
            f"{len(self.to_fetch)} with gaps, {missing:,} bars missing; requests: "
            f"{self.requests('binance')} Binance (weight "
            f"{self.requests('binance') * KLINES_WEIGHT:,}), {self.requests('coingecko')} "
            f"CoinGecko; ≈ {self.seconds_at_limit:,.0f} s at the rate limits.",
            "",
        ]
        worth = [p for p in self.symbols if p.ranges or p.error or p.note]
        lines += markdown_table([p.as_row(self.step) for p in worth[:SHOWN_SYMBOLS]])
        if len(worth) > SHOWN_SYMBOLS:
            lines.append(f"\n… and {len(worth) - SHOWN_SYMBOLS} more symbols")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def plan_symbol(
    asset: AssetSource,
    stored: GridStats,
    start_ms: int | None,
    end_ms: int | None,
    step: int,
    interval: str,
    now_ms: int,
) -> SymbolPlan:
    """The gaps of one symbol in ``[start_ms, end_ms)`` (``None`` = open) and their cost."""
    source, source_id = asset.source, asset.source_id
    if source is None:
        return SymbolPlan(
            asset.symbol, None, "", None,
            note="no price source: set binance_symbol or coingecko_id in crypto_assets",
        )  # fmt: skip
    if source == "coingecko" and interval not in COINGECKO_INTERVALS:
        return SymbolPlan(
            asset.symbol, source, source_id, None,
            error=f"interval {interval} is not offered by CoinGecko (the source of "
            f"{asset.symbol}: not on Binance); it has {' and '.join(COINGECKO_INTERVALS)} bars",
        )  # fmt: skip
    floor = _source_floor(asset, now_ms, step)
    begin = max(x for x in (start_ms, floor, 0) if x is not None)
    finish = min(end_ms if end_ms is not None else now_ms + step, last_closed(now_ms, step) + step)
    if finish <= begin:
        before_free_year = source == "coingecko" and floor is not None and finish <= floor
        note: str | None = _free_tier_note() if before_free_year else "nothing due yet"
        return SymbolPlan(asset.symbol, source, source_id, (begin, begin), note=note)
    expected = bars_between(begin, finish, step)
    present, holes = _present_and_gaps(stored, begin, finish, step)
    warmup = max(DAY_MS - step, 0)
    ranges = merge_close(holes, (PAGE_BARS * step - warmup) if source == "binance" else DAY_MS)
    fetch = tuple((a - step - warmup, b - step) for a, b in ranges)
    note = None
    if source == "coingecko" and start_ms is not None and floor is not None and start_ms < floor:
        note = _free_tier_note()
    return SymbolPlan(
        asset.symbol,
        source,
        source_id,
        (begin, finish),
        expected,
        present,
        tuple(ranges),
        fetch,
        sum(_requests(source, a, b, step, interval) for a, b in fetch),
        note=note,
    )


def _free_tier_note() -> str:
    return f"CoinGecko's free tier serves the last {FREE_HISTORY_DAYS} days only"


def _source_floor(asset: AssetSource, now_ms: int, step: int) -> int | None:
    """The first close time the source can give, when known."""
    floor = asset.history_start_ms
    if asset.source == "coingecko":
        # A day inside the free window, so the first request is not refused at its edge.
        free = align_up(now_ms - (FREE_HISTORY_DAYS - 1) * DAY_MS, step)
        floor = max(floor or free, free)
    return None if floor is None else align_up(floor, step)


def _present_and_gaps(
    stored: GridStats, begin: int, finish: int, step: int
) -> tuple[int, list[tuple[int, int]]]:
    if stored.times is not None:
        inside = [t for t in stored.times if begin <= t < finish]
        return len(inside), gaps(inside, begin, finish, step)
    if not stored.count or stored.first is None or stored.last is None:
        return 0, gaps(None, begin, finish, step)
    # No holes between first and last (the reader checked): gaps lie only at the two ends.
    first, last = max(stored.first, begin), min(stored.last, finish - step)
    present = bars_between(first, last + step, step) if last >= first else 0
    return present, _edge_gaps(begin, finish, first, last, step, present)


def _edge_gaps(
    begin: int, finish: int, first: int, last: int, step: int, present: int
) -> list[tuple[int, int]]:
    if not present:
        return gaps(None, begin, finish, step)
    out = []
    if align_up(begin, step) < first:
        out.append((align_up(begin, step), first))
    if last + step < finish:
        out.append((last + step, align_up(finish, step)))
    return out


def _requests(source: str, open_start: int, open_end: int, step: int, interval: str) -> int:
    if source == "binance":
        bars = max(1, -(-(open_end - open_start) // step))
        return -(-bars // PAGE_BARS)
    span = HOURLY_SPAN_MS if interval != "1d" else DAILY_SPAN_MS
    return max(1, -(-(open_end - open_start) // span))


def plan_all(
    assets: Sequence[AssetSource],
    stored: Mapping[str, GridStats],
    start_ms: int | None,
    end_ms: int | None,
    interval: str,
    step: int,
    now_ms: int,
    *,
    weight_per_minute: int,
    coingecko_per_second: float,
) -> PricePlan:
    plans = tuple(
        plan_symbol(a, stored.get(a.symbol, GridStats()), start_ms, end_ms, step, interval, now_ms)
        for a in assets
    )
    return PricePlan(interval, step, plans, weight_per_minute, coingecko_per_second)
