"""Which source can serve which asset's metric on which days: the denominator of coverage.

Built each run from CoinMetrics' catalogue (what the community tier serves, with day spans),
the fixed span of blockchain.info's Bitcoin charts, and what Messari returned when a key is set;
stored in ``onchain_availability`` so ``coinfill coverage`` measures the same thing offline.
A metric no free source serves for an asset is stored too (``absent``, ``forbidden``,
``unknown``, ``no id``) — that is the honest answer to "why is this NULL".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from coinfill.onchain.metrics import (
    BITCOIN_GENESIS,
    BLOCKCHAIN_INFO,
    BLOCKCHAIN_INFO_SYMBOL,
    BY_COLUMN,
    COINMETRICS,
    METRICS,
)
from coinfill.sources.coinmetrics import Catalog
from coinfill.tables import markdown_table

AVAILABLE = "available"
FORBIDDEN = "forbidden"  # the provider's tier refuses it (CoinMetrics 403): "unavailable"


@dataclass(frozen=True)
class AssetIds:
    symbol: str
    coinmetrics_id: str | None = None
    messari_id: str | None = None


@dataclass(frozen=True)
class Availability:
    symbol: str
    metric: str
    source: str
    first: date | None
    last: date | None
    status: str = AVAILABLE
    detail: str = ""
    checked_at: datetime | None = None  # when the status was learned (kept while it holds)

    def days(self, start: date, end: date) -> list[date]:
        """The available days within ``[start, end)``."""
        if self.status != AVAILABLE or self.first is None or self.last is None:
            return []
        begin, stop = max(start, self.first), min(end, self.last + timedelta(days=1))
        return [begin + timedelta(days=i) for i in range(max(0, (stop - begin).days))]

    def covers(self, day: date) -> bool:
        return (
            self.status == AVAILABLE
            and self.first is not None
            and self.last is not None
            and self.first <= day <= self.last
        )


def from_catalog(
    assets: Sequence[AssetIds], catalog: Catalog, forbidden: Iterable[tuple[str, str]] = ()
) -> list[Availability]:
    """One entry per asset and metric: CoinMetrics' span, or why it has none."""
    refused = set(forbidden)
    out = []
    for asset in assets:
        cm = (asset.coinmetrics_id or "").lower()
        for metric in METRICS:
            status, detail, first, last = _catalog_entry(cm, metric.coinmetrics, catalog, refused)
            out.append(
                Availability(asset.symbol, metric.column, COINMETRICS, first, last, status, detail)
            )
    return out


def _catalog_entry(
    cm: str, names: tuple[str, ...], catalog: Catalog, refused: set[tuple[str, str]]
) -> tuple[str, str, date | None, date | None]:
    if not cm:
        return "no id", "crypto_assets.coinmetrics_id is empty", None, None
    if cm in catalog.unknown:
        return "unknown", f"CoinMetrics does not know asset '{cm}'", None, None
    blocked = [n for n in names if (cm, n) in refused]
    if blocked:
        return "forbidden", f"{', '.join(blocked)}: 403, not in the free tier", None, None
    spans = [catalog.spans.get(cm, {}).get(n) for n in names]
    if any(s is None for s in spans):
        missing = [n for n, s in zip(names, spans, strict=True) if s is None]
        return "absent", f"{', '.join(missing)} not in the community catalogue", None, None
    firsts = [s.first for s in spans if s is not None]
    lasts = [s.last for s in spans if s is not None]
    return AVAILABLE, "", max(firsts), min(lasts)


def hold_unavailable(
    entries: Sequence[Availability],
    stored: Iterable[Availability],
    now: datetime,
    recheck_days: int,
) -> list[Availability]:
    """``entries`` with the series a provider refused within the last ``recheck_days`` kept
    refused (with the date it refused them): they are not asked again before their re-check,
    even though the catalogue lists them (DESIGN §10, "unavailable")."""
    cutoff = now - timedelta(days=recheck_days)
    held = {
        (e.symbol, e.metric, e.source): e
        for e in stored
        if e.status == FORBIDDEN and e.checked_at is not None and e.checked_at > cutoff
    }
    return [held.get((e.symbol, e.metric, e.source), e) for e in entries]


def refused(entry: Availability, reason: str, now: datetime, recheck_days: int) -> Availability:
    """The entry of a series the provider refused just now, with when it is asked again."""
    again = (now + timedelta(days=recheck_days)).date()
    detail = f"{reason}; unavailable since {now:%Y-%m-%d}, asked again from {again}"
    return replace(entry, first=None, last=None, status=FORBIDDEN, detail=detail, checked_at=now)


def blockchain_info(assets: Sequence[AssetIds], today: date) -> list[Availability]:
    """blockchain.info's Bitcoin charts: every day from the genesis block to yesterday."""
    yesterday = today - timedelta(days=1)
    return [
        Availability(a.symbol, m.column, BLOCKCHAIN_INFO, BITCOIN_GENESIS, yesterday)
        for a in assets
        if a.symbol == BLOCKCHAIN_INFO_SYMBOL
        for m in METRICS
        if m.blockchain_chart
    ]


def by_series(entries: Iterable[Availability]) -> dict[tuple[str, str], list[Availability]]:
    """Per (symbol, metric) the entries of each source, in the order the sources are tried."""
    order = {COINMETRICS: 0, BLOCKCHAIN_INFO: 1}
    grouped: dict[tuple[str, str], list[Availability]] = {}
    for entry in entries:
        grouped.setdefault((entry.symbol, entry.metric), []).append(entry)
    for items in grouped.values():
        items.sort(key=lambda e: order.get(e.source, 9))
    return grouped


def eligible_days(
    entries: Iterable[Availability], start: date, end: date
) -> dict[str, dict[str, list[date]]]:
    """Per metric, per symbol: the days in ``[start, end)`` some source can serve."""
    days: dict[str, dict[str, set[date]]] = {}
    for entry in entries:
        days.setdefault(entry.metric, {}).setdefault(entry.symbol, set()).update(
            entry.days(start, end)
        )
    return {m: {s: sorted(d) for s, d in per.items() if d} for m, per in days.items()}


def summary(entries: Iterable[Availability]) -> list[dict[str, object]]:
    """Per metric and source (with its status when not available): how many assets."""
    counts: dict[tuple[str, str], int] = {}
    for e in entries:
        source = e.source if e.status == AVAILABLE else f"{e.source} ({e.status})"
        counts[(e.metric, source)] = counts.get((e.metric, source), 0) + 1
    return [{"metric": m, "source": s, "assets": n} for (m, s), n in sorted(counts.items())]


def learn_forbidden(
    entries: list[Availability],
    assets: tuple[AssetIds, ...],
    forbidden: set[tuple[str, str]],
    now: datetime,
    recheck_days: int,
) -> None:
    """A 403 for an asset's metric: that series has no free CoinMetrics source after all."""
    symbols = {(a.coinmetrics_id or "").lower(): a.symbol for a in assets}
    for asset, metric_name in forbidden:
        for i, entry in enumerate(entries):
            if (
                entry.source == COINMETRICS
                and symbols.get(asset) == entry.symbol
                and metric_name in BY_COLUMN[entry.metric].coinmetrics
            ):
                reason = f"{metric_name}: 403, not in the free tier"
                entries[i] = refused(entry, reason, now, recheck_days)


def sources_markdown(entries: list[Availability]) -> str:
    table = markdown_table(summary(entries))
    return "**Which source can serve what** (assets per metric):\n\n" + "\n".join(table)
