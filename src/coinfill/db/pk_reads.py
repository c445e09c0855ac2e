"""Reading known rows in primary-key order on MySQL/MariaDB: ids first, then id ranges.

InnoDB stores a table's rows in primary-key order. A read through the ``(symbol, timestamp)``
index pays one primary-key lookup per row (~3 µs); reading the same rows as id ranges walks
the stored rows in order, 3–4x cheaper (25 symbols, 165k rows: 0.72 s → 0.22 s, plus 0.05 s
for the index-only query that lists their ids). It pays off when a chunk's rows are stored
together — written by one bulk load, as a backfill writes them — and a tail written later in
small pieces does not spoil it: those rows are looked up by id. When most rows are scattered
the caller reads through the index as before (:func:`plan` returns ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, Engine, select

from coinfill.db.reads import literal_sql

MAX_GAP = 4  # ids apart that still continue a run (autoincrement holes, a few foreign rows)
MIN_RUN = 64  # rows a run needs to be read as a range; shorter runs are looked up by id
MAX_SPAN = 2.0  # a range may read at most this many stored rows per wanted row
MIN_COVERED = 0.5  # below this share of rows in ranges, the index read is as cheap
POINTS_PER_TERM = 500  # ids per ``id IN (…)``: under MariaDB's 1,000 that turns IN into a join


@dataclass(frozen=True)
class Plan:
    """Id ranges ``[first, last]`` and single ids that together hold the wanted rows."""

    ranges: list[tuple[int, int]]
    points: np.ndarray
    wanted: np.ndarray  # sorted ids of the rows asked for; ranges may hold others too


def plan(ids: np.ndarray) -> Plan | None:
    """How to read the rows with these ids, or ``None`` when most are scattered."""
    wanted = np.sort(np.asarray(ids, dtype=np.int64), kind="stable")  # timsort: runs are cheap
    if len(wanted) and not (np.diff(wanted) > 0).all():
        wanted = np.unique(wanted)  # overlapping terms listed an id twice
    if not len(wanted):
        return None
    breaks = np.flatnonzero(np.diff(wanted) > MAX_GAP) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(wanted)]])  # exclusive, into ``wanted``
    counts = ends - starts
    spans = wanted[ends - 1] - wanted[starts] + 1
    dense = (counts >= MIN_RUN) & (spans <= MAX_SPAN * counts)
    if counts[dense].sum() < MIN_COVERED * len(wanted):
        return None
    ranges = [
        (int(wanted[s]), int(wanted[e - 1]))
        for s, e in zip(starts[dense], ends[dense], strict=True)
    ]
    scattered = np.repeat(~dense, counts)
    return Plan(ranges, wanted[scattered], wanted)


def statements(
    engine: Engine, columns: Sequence[Column[Any]], id_column: Column[Any], found: Plan, parts: int
) -> list[str]:
    """SQL reading ``columns`` of the planned rows, split into ``parts`` statements of about
    equal rows (connectorx runs them at once). Rows outside ``wanted`` come along: drop them
    with :func:`only_wanted`.

    Each range is its own ``UNION ALL`` term: MariaDB re-checks every row it reads against
    the whole WHERE clause, so one SELECT with 250 OR-ed ranges took 0.5 s where 250 terms
    of one range each took 0.13 s. The text is put together here from ints, not compiled
    by SQLAlchemy term by term (~0.4 ms each).
    """
    base = literal_sql(engine, select(*columns))
    key = literal_sql(engine, id_column)
    pieces = [(b - a + 1, f"{key} BETWEEN {a} AND {b}") for a, b in found.ranges]
    for i in range(0, len(found.points), POINTS_PER_TERM):
        ids = found.points[i : i + POINTS_PER_TERM].tolist()
        pieces.append((len(ids), f"{key} IN ({', '.join(str(int(v)) for v in ids)})"))
    total = sum(rows for rows, _ in pieces)
    groups: list[list[str]] = [[]]
    done = 0
    for rows, condition in pieces:
        if groups[-1] and done >= total * len(groups) / parts:
            groups.append([])
        groups[-1].append(condition)
        done += rows
    return [
        f"{base} WHERE {group[0]}"
        if len(group) == 1
        else " UNION ALL ".join(f"({base} WHERE {condition})" for condition in group)
        for group in groups
    ]


def only_wanted(frame: pd.DataFrame, found: Plan, id_name: str = "id") -> pd.DataFrame:
    """``frame`` without the rows a range read along with the wanted ones."""
    keep = np.isin(frame[id_name].to_numpy(dtype=np.int64), found.wanted, assume_unique=True)
    return frame if keep.all() else frame.loc[keep].reset_index(drop=True)
