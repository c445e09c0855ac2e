"""CoinMetrics' answers as data: catalogue entries as day spans, timeseries records as frames
(``asset, day, <metric>…`` floats)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from coinfill.sources.faults import SourceResponseError

PROVIDER = "coinmetrics"


@dataclass(frozen=True)
class Span:
    """Days a source has for one asset and metric (inclusive)."""

    first: date
    last: date


@dataclass
class Catalog:
    """Per asset, the daily metrics the community tier serves and their day spans."""

    spans: dict[str, dict[str, Span]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)

    def has(self, asset: str, metric: str) -> bool:
        return metric in self.spans.get(asset, {})


def read_catalog_item(item: Mapping[str, Any], catalog: Catalog) -> None:
    asset = str(item.get("asset", ""))
    for metric in item.get("metrics") or []:
        for frequency in metric.get("frequencies") or []:
            if frequency.get("frequency") != "1d":
                continue
            first, last = _day(frequency.get("min_time")), _day(frequency.get("max_time"))
            if first is not None and last is not None:
                catalog.spans.setdefault(asset, {})[str(metric["metric"])] = Span(first, last)


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_rows(
    records: Sequence[Mapping[str, Any]], metrics: Sequence[str], what: str = "a request"
) -> tuple[pd.DataFrame, int]:
    """Rows as ``asset, day, <metric>…`` floats; a value that is not a number becomes NaN and is
    counted (``null`` and a missing key are "no data", not malformed)."""
    frame = pd.DataFrame.from_records(list(records))
    if frame.empty:
        return empty_rows(metrics), 0
    if "asset" not in frame or "time" not in frame:
        raise SourceResponseError(
            f"coinmetrics: {what} answered rows without asset/time: {records[:1]!r}",
            provider=PROVIDER,
        )
    out = pd.DataFrame({"asset": frame["asset"].astype(str)})
    out["day"] = pd.to_datetime(frame["time"].astype(str).str[:10], errors="coerce").dt.date
    malformed = int(out["day"].isna().sum())
    for metric in metrics:
        raw = frame[metric] if metric in frame else pd.Series(None, index=frame.index)
        values = pd.to_numeric(raw, errors="coerce")
        malformed += int((values.isna() & raw.notna()).sum())
        out[metric] = values.astype(float).where(np.isfinite(values.astype(float)))
    return out.dropna(subset=["day"]).reset_index(drop=True), malformed


def empty_rows(metrics: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({"asset": pd.Series(dtype=str), "day": pd.Series(dtype=object)}).assign(
        **{m: pd.Series(dtype=float) for m in metrics}
    )


def combine(frames: list[pd.DataFrame], metrics: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_rows(metrics)
    merged = pd.concat(frames, ignore_index=True)
    for metric in metrics:
        if metric not in merged:
            merged[metric] = np.nan
    # A split request may return an asset-day twice, once per metric subset: keep every value.
    grouped = merged.groupby(["asset", "day"], as_index=False, sort=True)[list(metrics)].first()
    return grouped
