"""What ``crypto_onchain_data`` holds, the daily closes volatility needs, what each source can
serve (``onchain_availability``), and the write that keeps sources apart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Engine, and_, delete, func, select

from coinfill.db.reads import read_frame
from coinfill.db.schema import (
    crypto_assets,
    crypto_onchain_data,
    onchain_availability,
    price_data_real,
)
from coinfill.db.upsert import UpsertCounts, upsert
from coinfill.onchain.availability import AssetIds, Availability
from coinfill.onchain.metrics import COMPUTED, METRICS, VOLATILITY, available_at

O = crypto_onchain_data  # noqa: E741
KEYS = ("symbol", "metric_date")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class OnchainWriteCounts:
    written: UpsertCounts
    other_source: int = 0  # values kept because another source stored them first


def asset_ids(engine: Engine, symbols: Sequence[str]) -> dict[str, AssetIds]:
    a = crypto_assets
    query = select(a.c.symbol, a.c.coinmetrics_id, a.c.messari_id).where(
        a.c.symbol.in_(list(symbols))
    )
    with engine.connect() as conn:
        return {
            str(s): AssetIds(str(s), cm or None, ms or None) for s, cm, ms in conn.execute(query)
        }


def filled_days(
    engine: Engine, symbols: Sequence[str], start: date, end: date
) -> dict[tuple[str, str], set[date]]:
    """Per (symbol, metric column): the days in ``[start, end)`` that hold a value."""
    columns = [m.column for m in METRICS] + [VOLATILITY]
    frame = read_frame(
        engine,
        select(O.c.symbol, O.c.metric_date, *(O.c[c] for c in columns)).where(
            O.c.symbol.in_(list(symbols)), O.c.metric_date >= start, O.c.metric_date < end
        ),
    )
    out: dict[tuple[str, str], set[date]] = {}
    days = as_dates(frame["metric_date"])
    for column in columns:
        has = frame[column].notna().to_numpy()
        for symbol, day in zip(frame["symbol"][has], days[has], strict=True):
            out.setdefault((str(symbol), column), set()).add(day)
    return out


def daily_closes(engine: Engine, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
    """``symbol, day, close``: the price row closing at midnight UTC after each day in
    ``[start, end)`` (bars are stored by close time)."""
    p = price_data_real
    low = (_ms(start) + DAY_MS, _ms(end) + DAY_MS)
    frame = read_frame(
        engine,
        select(p.c.symbol, p.c.timestamp, p.c.current_price).where(
            p.c.symbol.in_(list(symbols)),
            p.c.timestamp >= low[0],
            p.c.timestamp < low[1],
            p.c.timestamp % DAY_MS == 0,
        ),
    )
    days = [date.fromordinal(date(1970, 1, 1).toordinal() + int(ms) // DAY_MS - 1)
            for ms in frame["timestamp"]]  # fmt: skip
    return pd.DataFrame(
        {"symbol": frame["symbol"], "day": days, "close": frame["current_price"].astype(float)}
    )


def write_values(
    engine: Engine, frame: pd.DataFrame, *, now: datetime, dry_run: bool = False
) -> OnchainWriteCounts:
    """Upsert ``symbol, metric_date`` rows of some metric columns (with their ``*_source``).

    A stored value from another source is kept (counted in ``other_source``); NULL never
    overwrites; ``data_source`` and ``available_at`` are recomputed from the row's sources.
    """
    if frame.empty:
        return OnchainWriteCounts(UpsertCounts())
    rows = frame.copy()
    rows["metric_date"] = as_dates(rows["metric_date"])
    value_cols = [m for m in METRICS if m.column in rows]
    existing = _stored(engine, rows)
    renamed = existing.rename(columns={c: f"{c}__old" for c in existing.columns if c not in KEYS})
    merged = rows.merge(renamed, on=list(KEYS), how="left")
    kept = 0
    for metric in value_cols:
        old_value = merged[f"{metric.column}__old"]
        old_source = merged[f"{metric.source_column}__old"]
        clash = (
            merged[metric.column].notna() & old_value.notna() & old_source.notna()
            & (old_source != merged[metric.source_column])
        )  # fmt: skip
        kept += int(clash.sum())
        merged.loc[clash, [metric.column, metric.source_column]] = [np.nan, None]
    for metric in METRICS:
        old = merged[f"{metric.source_column}__old"]
        if metric in value_cols:
            fresh = merged[metric.source_column]
            merged[metric.source_column] = fresh.where(merged[metric.column].notna(), old)
        else:
            merged[metric.source_column] = old
    vol = merged[VOLATILITY] if VOLATILITY in rows else merged[f"{VOLATILITY}__old"]
    vol = vol.where(vol.notna(), merged[f"{VOLATILITY}__old"])
    merged["data_source"] = _row_source(merged, vol)
    merged["available_at"] = _available(merged, vol)
    merged["timestamp_iso"] = [datetime.combine(d, time()) for d in merged["metric_date"]]
    out_cols = [*KEYS, "timestamp_iso", *(m.column for m in value_cols)]
    out_cols += [m.source_column for m in METRICS] + ["data_source", "available_at"]
    if VOLATILITY in rows:
        out_cols.append(VOLATILITY)
    stored = existing[[c for c in out_cols if c in existing.columns]]
    counts = upsert(engine, O, merged[out_cols], KEYS, existing=stored, now=now, dry_run=dry_run)
    return OnchainWriteCounts(counts, kept)


def _stored(engine: Engine, rows: pd.DataFrame) -> pd.DataFrame:
    """The stored rows sharing a key with ``rows`` (dates normalised for the merge)."""
    columns = [*KEYS, "timestamp_iso", VOLATILITY, "data_source", "available_at"]
    columns += [c for m in METRICS for c in (m.column, m.source_column)]
    query = select(*(O.c[c] for c in columns)).where(
        O.c.symbol.in_(rows["symbol"].unique().tolist()),
        O.c.metric_date >= min(rows["metric_date"]),
        O.c.metric_date <= max(rows["metric_date"]),
    )
    stored = read_frame(engine, query)
    stored["metric_date"] = as_dates(stored["metric_date"])
    return stored.merge(rows[list(KEYS)], on=list(KEYS), how="inner")


def _row_source(merged: pd.DataFrame, vol: pd.Series) -> pd.Series:
    source = pd.Series([None] * len(merged), index=merged.index, dtype=object)
    for metric in METRICS:
        source = source.where(source.notna(), merged[metric.source_column])
    return source.where(source.notna() | vol.isna(), COMPUTED)


def _available(merged: pd.DataFrame, vol: pd.Series) -> list[datetime | None]:
    out: list[datetime | None] = []
    sources = [merged[m.source_column] for m in METRICS]
    for i, day in enumerate(merged["metric_date"]):
        known = [available_at(day, str(s.iloc[i])) for s in sources if pd.notna(s.iloc[i])]
        if pd.notna(vol.iloc[i]):
            known.append(available_at(day, COMPUTED))
        out.append(max(known) if known else None)
    return out


def save_availability(engine: Engine, entries: Iterable[Availability], now: datetime) -> None:
    """Replace what is stored for the (symbol, source) pairs of ``entries``."""
    frame = pd.DataFrame(
        [
            {
                "symbol": e.symbol, "metric": e.metric, "source": e.source,
                "first_date": e.first, "last_date": e.last, "status": e.status,
                "detail": e.detail[:255], "checked_at": e.checked_at or now,
            }
            for e in entries
        ]
    )  # fmt: skip
    if frame.empty:
        return
    v = onchain_availability
    with engine.begin() as conn:
        for source, group in frame.groupby("source"):
            symbols = group["symbol"].unique().tolist()
            conn.execute(delete(v).where(v.c.source == source, v.c.symbol.in_(symbols)))
        records = [
            {str(k): (None if pd.isna(x) else x) for k, x in row.items()}
            for row in frame.to_dict("records")
        ]
        conn.execute(v.insert(), records)


def load_availability(engine: Engine, symbols: Sequence[str] | None) -> list[Availability]:
    v = onchain_availability
    query = select(v.c.symbol, v.c.metric, v.c.source, v.c.first_date, v.c.last_date,
                   v.c.status, v.c.detail, v.c.checked_at)  # fmt: skip
    if symbols is not None:
        query = query.where(v.c.symbol.in_(list(symbols)))
    with engine.connect() as conn:
        return [
            Availability(s, m, src, _date(a), _date(b), st, d or "", checked)
            for s, m, src, a, b, st, d, checked in conn.execute(query)
        ]


def source_counts(
    engine: Engine, symbols: Sequence[str] | None, start: date | None, end: date | None
) -> list[dict[str, object]]:
    """Values per metric and source in the window: which source serves what."""
    where: list[ColumnElement[bool]] = []
    if symbols is not None:
        where.append(O.c.symbol.in_(list(symbols)))
    if start is not None:
        where.append(O.c.metric_date >= start)
    if end is not None:
        where.append(O.c.metric_date < end)
    rows = []
    with engine.connect() as conn:
        for metric in METRICS:
            query = (
                select(O.c[metric.source_column], func.count(O.c[metric.column]),
                       func.count(func.distinct(O.c.symbol)))
                .where(and_(*where, O.c[metric.column].is_not(None)))
                .group_by(O.c[metric.source_column])
            )  # fmt: skip
            for source, values, assets in conn.execute(query):
                rows.append({"metric": metric.column, "source": source or "(unrecorded)",
                             "values": int(values), "assets": int(assets)})  # fmt: skip
        vol = select(func.count(O.c[VOLATILITY]), func.count(func.distinct(O.c.symbol))).where(
            and_(*where, O.c[VOLATILITY].is_not(None))
        )
        values, assets = conn.execute(vol).one()
    rows.append({"metric": VOLATILITY, "source": COMPUTED + " (price_data_real)",
                 "values": int(values), "assets": int(assets)})  # fmt: skip
    return rows


def as_dates(values: pd.Series) -> np.ndarray:
    return np.array([_date(v) for v in values], dtype=object)


def _date(value: object) -> date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS
