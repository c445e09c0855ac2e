"""What the feature table's incremental refresh has already seen of each source table.

Collectors stamp ``updated_at`` with their run's start time on every row they insert or change
(``coinfill.db.bulkwrite``), so "changed since the last refresh" is ``updated_at`` after the
watermark. A collector may still be committing rows carrying the watermark itself when a refresh
reads it: the number of rows at the watermark is stored too, and when it has grown those rows
are read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table, delete, func, select

from coinfill.db.reads import read_frame
from coinfill.db.schema import (
    crypto_onchain_data,
    feature_refresh_state,
    macro_indicators,
    news_articles,
    price_data_real,
    technical_indicators,
)

S = feature_refresh_state
# Source table → the columns that say which feature rows a changed row affects.
TRACKED: dict[str, tuple[Table, tuple[str, ...]]] = {
    "price_data_real": (price_data_real, ("symbol", "timestamp_iso", "timestamp")),
    "technical_indicators": (technical_indicators, ("symbol", "timestamp_iso")),
    "macro_indicators": (
        macro_indicators,
        ("indicator_name", "indicator_date", "published_at", "value_known_at"),
    ),
    "crypto_onchain_data": (crypto_onchain_data, ("symbol", "metric_date")),
    "news_articles": (news_articles, ("published_at", "symbols")),
}
AVAILABILITY = "onchain_availability"


@dataclass(frozen=True)
class Mark:
    watermark: datetime | None
    at_watermark: int = 0


def current_marks(engine: Engine) -> dict[str, Mark]:
    """The newest ``updated_at`` of each tracked table and how many rows carry it."""
    marks = {}
    with engine.connect() as conn:
        for name, (table, _) in TRACKED.items():
            newest = conn.execute(select(func.max(table.c.updated_at))).scalar_one()
            count = 0
            if newest is not None:
                count = conn.execute(
                    select(func.count()).where(table.c.updated_at == newest)
                ).scalar_one()
            marks[name] = Mark(_dt(newest), int(count))
    return marks


def stored_marks(engine: Engine) -> tuple[dict[str, Mark], str | None]:
    """The marks saved by the last refresh (empty if none) and the availability snapshot."""
    with engine.connect() as conn:
        rows = conn.execute(select(S.c.source_table, S.c.watermark, S.c.at_watermark, S.c.snapshot))
        found = list(rows)
    marks = {name: Mark(_dt(w), int(n or 0)) for name, w, n, _ in found if name in TRACKED}
    snapshot = next((snap for name, _, _, snap in found if name == AVAILABILITY), None)
    return marks, snapshot


def save_marks(engine: Engine, marks: Mapping[str, Mark], snapshot: str, now: datetime) -> None:
    rows: list[dict[str, Any]] = [
        {"source_table": name, "watermark": m.watermark, "at_watermark": m.at_watermark,
         "snapshot": None, "refreshed_at": now}
        for name, m in marks.items()
    ]  # fmt: skip
    rows.append({"source_table": AVAILABILITY, "watermark": None, "at_watermark": None,
                 "snapshot": snapshot, "refreshed_at": now})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(delete(S))
        conn.execute(S.insert(), rows)


def changed_rows(engine: Engine, name: str, since: Mark, until: Mark) -> pd.DataFrame:
    """Rows of ``name`` stamped after ``since`` and at or before ``until`` (this run's start).

    Rows stamped exactly at ``since`` are included when more of them exist now than then.
    """
    table, columns = TRACKED[name]
    query = select(*(table.c[c] for c in columns))
    if until.watermark is None:
        return read_frame(engine, query.where(table.c.updated_at.is_(None)).limit(0))
    query = query.where(table.c.updated_at <= until.watermark)
    if since.watermark is not None:
        with engine.connect() as conn:
            now_at = conn.execute(
                select(func.count()).where(table.c.updated_at == since.watermark)
            ).scalar_one()
        grew = int(now_at) > since.at_watermark
        stamp = table.c.updated_at
        query = query.where(stamp >= since.watermark if grew else stamp > since.watermark)
    return read_frame(engine, query)


def _dt(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return pd.Timestamp(str(value)).to_pydatetime()
