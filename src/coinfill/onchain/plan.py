"""Gap-driven on-chain plans: which days each series misses, and the requests that fill them.

A series is (symbol, metric). Its gap days are the days of the window some source can serve
(``coinfill.onchain.availability``) that hold no value yet. CoinMetrics is asked first, many
assets per request: assets are batched (``assets_per_request``) and each batch asks the union of
its gap spans and metrics — a few days asked twice cost nothing (stored rows compare equal),
while every extra request costs 0.6 s of the community tier's 10 requests / 6 s.

blockchain.info fills Bitcoin days CoinMetrics has not delivered once CoinMetrics had its chance
(``fallback_after_days``: a day CoinMetrics publishes late is not taken from the fallback, or the
series would switch definitions every morning). Messari, with a key, is asked for gaps of
series no free source serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from coinfill.onchain.availability import AssetIds, Availability
from coinfill.onchain.metrics import (
    BLOCKCHAIN_INFO,
    BY_COLUMN,
    COINMETRICS,
    COINMETRICS_NAMES,
    MESSARI,
    METRICS,
)
from coinfill.tables import markdown_table

Series = tuple[str, str]  # (symbol, metric column)


@dataclass(frozen=True)
class CoinMetricsRequest:
    assets: tuple[AssetIds, ...]
    metrics: tuple[str, ...]  # CoinMetrics names
    start: date
    end: date  # exclusive
    rows: int  # asset-days the answer holds at most
    pages: int


@dataclass(frozen=True)
class MessariRequest:
    symbol: str
    asset_key: str
    metric: str  # column
    start: date
    end: date


@dataclass
class OnchainPlan:
    start: date
    end: date
    gaps: dict[Series, list[date]]
    coinmetrics: list[CoinMetricsRequest]
    fallback: dict[str, list[date]]  # blockchain.info: metric column → BTC days predicted
    messari: list[MessariRequest]
    notes: list[str] = field(default_factory=list)

    @property
    def coinmetrics_requests(self) -> int:
        return sum(r.pages for r in self.coinmetrics)

    def markdown(self, window: str, rates: Mapping[str, str]) -> str:
        missing = sum(len(d) for d in self.gaps.values())
        series = sum(1 for d in self.gaps.values() if d)
        fallback = sum(len(d) for d in self.fallback.values())
        lines = [
            f"**Plan for {window}**: {missing} missing asset-day value(s) in {series} series.",
            "",
            *markdown_table(
                [
                    {
                        "source": COINMETRICS,
                        "requests": self.coinmetrics_requests,
                        "covers": f"{len(self.coinmetrics)} batch(es) of up to "
                        f"{max((len(r.assets) for r in self.coinmetrics), default=0)} assets",
                        "rate limit": rates.get(COINMETRICS, ""),
                    },
                    {
                        "source": BLOCKCHAIN_INFO,
                        "requests": "≥ " + str(sum(1 for d in self.fallback.values() if d)),
                        "covers": f"{fallback} BTC day(s) CoinMetrics does not serve; more if "
                        "CoinMetrics leaves holes",
                        "rate limit": rates.get(BLOCKCHAIN_INFO, ""),
                    },
                    {
                        "source": MESSARI,
                        "requests": len(self.messari),
                        "covers": f"{len(self.messari)} series no free source serves",
                        "rate limit": rates.get(MESSARI, ""),
                    },
                ]
            ),
        ]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def gap_days(
    series: Mapping[Series, Sequence[Availability]],
    filled: Mapping[Series, set[date]],
    start: date,
    end: date,
) -> dict[Series, list[date]]:
    """Per series, the servable days of ``[start, end)`` without a value."""
    gaps = {}
    for key, entries in series.items():
        servable = {d for e in entries for d in e.days(start, end)}
        gaps[key] = sorted(servable - filled.get(key, set()))
    return gaps


def plan_onchain(
    assets: Sequence[AssetIds],
    series: Mapping[Series, Sequence[Availability]],
    filled: Mapping[Series, set[date]],
    start: date,
    end: date,
    today: date,
    *,
    assets_per_request: int,
    page_size: int,
    fallback_after_days: int,
    messari: bool,
) -> OnchainPlan:
    gaps = gap_days(series, filled, start, end)
    ids = {a.symbol: a for a in assets}
    wants: dict[str, tuple[set[str], list[date]]] = {}
    for (symbol, metric), days in gaps.items():
        cm = _source(series[(symbol, metric)], COINMETRICS)
        cm_days = [d for d in days if cm is not None and cm.covers(d)]
        if cm_days and ids[symbol].coinmetrics_id:
            names, span = wants.setdefault(symbol, (set(), []))
            names.update(BY_COLUMN[metric].coinmetrics)
            span.extend(cm_days)
    batches = _batches(ids, wants, series, assets_per_request, page_size)
    fallback = {
        metric: fallback_days(gaps.get((symbol, metric), []), series, symbol, metric, today,
                              fallback_after_days)
        for (symbol, metric) in gaps
        if _source(series[(symbol, metric)], BLOCKCHAIN_INFO) is not None
    }  # fmt: skip
    return OnchainPlan(start, end, gaps, batches, fallback, _messari(ids, gaps, series, messari))


def fallback_days(
    gaps: Sequence[date],
    series: Mapping[Series, Sequence[Availability]],
    symbol: str,
    metric: str,
    today: date,
    after_days: int,
) -> list[date]:
    """Gap days blockchain.info may fill: it serves them and they are older than ``after_days``
    (CoinMetrics, when it serves the series, has had its chance to publish them)."""
    entries = series[(symbol, metric)]
    fallback = _source(entries, BLOCKCHAIN_INFO)
    settled = today - timedelta(days=after_days)
    return [d for d in gaps if fallback is not None and fallback.covers(d) and d < settled]


def _batches(
    ids: Mapping[str, AssetIds],
    wants: Mapping[str, tuple[set[str], list[date]]],
    series: Mapping[Series, Sequence[Availability]],
    size: int,
    page_size: int,
) -> list[CoinMetricsRequest]:
    order = sorted(wants, key=lambda s: (min(wants[s][1]), max(wants[s][1]), s))
    requests = []
    for i in range(0, len(order), size):
        group = order[i : i + size]
        first = min(min(wants[s][1]) for s in group)
        last = max(max(wants[s][1]) for s in group)
        names = set().union(*(wants[s][0] for s in group))
        rows = sum(_servable(series, s, first, last) for s in group)
        requests.append(
            CoinMetricsRequest(
                tuple(ids[s] for s in group),
                tuple(n for n in COINMETRICS_NAMES if n in names),
                first,
                last + timedelta(days=1),
                rows,
                max(1, -(-rows // page_size)),
            )
        )
    return requests


def _servable(
    series: Mapping[Series, Sequence[Availability]], symbol: str, a: date, b: date
) -> int:
    days = set()
    for metric in METRICS:
        cm = _source(series.get((symbol, metric.column), []), COINMETRICS)
        if cm is not None:
            days.update(cm.days(a, b + timedelta(days=1)))
    return len(days)


def _messari(
    ids: Mapping[str, AssetIds],
    gaps: Mapping[Series, Sequence[date]],
    series: Mapping[Series, Sequence[Availability]],
    enabled: bool,
) -> list[MessariRequest]:
    """With a key: series that no free source serves, over their whole gap span."""
    if not enabled:
        return []
    out = []
    for (symbol, metric), days in sorted(gaps.items()):
        free = [e for e in series[(symbol, metric)] if e.source != MESSARI and e.first]
        if days and not free and BY_COLUMN[metric].messari:
            key = ids[symbol].messari_id or symbol.lower()
            out.append(MessariRequest(symbol, key, metric, days[0], days[-1] + timedelta(days=1)))
    return out


def _source(entries: Sequence[Availability], source: str) -> Availability | None:
    for entry in entries:
        if entry.source == source and entry.first is not None:
            return entry
    return None
