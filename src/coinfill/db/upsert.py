"""The one upsert path: diff against what is stored, then write only what changed.

>>> counts = upsert(engine, technical_indicators, frame, keys=("symbol", "timestamp_iso"))
>>> counts.inserted, counts.updated, counts.unchanged
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, Table, and_, select

from coinfill.db.bulkwrite import WriteMethod, write_rows
from coinfill.db.diff import RowChanges, diff_rows
from coinfill.db.reads import read_frame

# Above this many distinct values a key column is bounded by min/max instead of IN (...).
MAX_IN_LIST = 1_000


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def upsert(
    engine: Engine,
    table: Table,
    frame: pd.DataFrame,
    keys: Sequence[str],
    *,
    existing: pd.DataFrame | None = None,
    atol: float | pd.Series = 1e-12,
    method: WriteMethod = "auto",
    dry_run: bool = False,
    now: datetime | None = None,
) -> UpsertCounts:
    """Upsert ``frame`` (key + value columns of ``table``) and count what happened.

    ``existing`` may be passed by a caller that already read the stored rows of its scope;
    otherwise the stored rows for ``frame``'s keys are read here.
    """
    if frame.empty:
        return UpsertCounts()
    if existing is None:
        existing = read_existing(engine, table, frame, keys)
    changes = diff_rows(frame, existing, keys, atol=atol)
    if not dry_run:
        apply_changes(engine, table, changes, keys, method=method, now=now)
    return count(changes)


def apply_changes(
    engine: Engine,
    table: Table,
    changes: RowChanges,
    keys: Sequence[str],
    *,
    method: WriteMethod = "auto",
    now: datetime | None = None,
    keep_stored: bool = True,
) -> None:
    stamp = now or datetime.now(UTC).replace(tzinfo=None)
    write_rows(
        engine,
        table,
        changes.inserts,
        changes.updates,
        keys,
        now=stamp,
        method=method,
        keep_stored=keep_stored,
    )


def count(changes: RowChanges) -> UpsertCounts:
    return UpsertCounts(len(changes.inserts), len(changes.updates), len(changes.unchanged))


def read_existing(
    engine: Engine, table: Table, frame: pd.DataFrame, keys: Sequence[str]
) -> pd.DataFrame:
    """Stored rows that may share a key with ``frame``: IN lists for few values, else ranges."""
    conditions = []
    for key in keys:
        column = table.c[key]
        values = frame[key].dropna().unique()
        if len(values) <= MAX_IN_LIST:
            conditions.append(column.in_([_plain(v) for v in values]))
        else:
            conditions.append(column.between(_plain(values.min()), _plain(values.max())))
    columns = [table.c[name] for name in frame.columns]
    stored = read_frame(engine, select(*columns).where(and_(*conditions)))
    return stored.merge(frame[list(keys)], on=list(keys), how="inner")


def _plain(value: object) -> object:
    """numpy/pandas scalars as the Python values SQLAlchemy binds."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    item = getattr(value, "item", None)
    return item() if callable(item) else value
